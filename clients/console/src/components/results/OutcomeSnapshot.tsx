/** The decision recorded when the experiment was completed, and the report it was made on. */
import type { GetOutcomeReportResponse } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import {
  Outcome,
  type Experiment,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { formatTime } from "../../format/dates.js";
import { Empty, ErrorMessage, Loading } from "../Status.js";
import { ResultsTable } from "./ResultsTable.js";
import type { MetricInfo } from "./metrics.js";

export function outcomeText(outcome: Outcome, winner: string): string {
  switch (outcome) {
    case Outcome.ROLLOUT:
      return winner === "" ? "Roll out the winning variant" : `Roll out ${winner}`;
    case Outcome.ROLLBACK:
      return "Roll back to control";
    case Outcome.NO_EFFECT:
      return "No meaningful difference";
    default:
      return "No outcome recorded";
  }
}

export function OutcomeSnapshot(props: {
  snapshot: GetOutcomeReportResponse | undefined;
  experiment: Experiment | undefined;
  error?: unknown;
  loading?: boolean;
  infoFor(key: string): MetricInfo | undefined;
}) {
  const { snapshot, experiment } = props;
  const outcome = snapshot?.outcome ?? experiment?.outcome ?? Outcome.UNSPECIFIED;
  const winner = snapshot?.winnerVariantKey ?? experiment?.winnerVariantKey ?? "";
  const justification = snapshot?.justification || experiment?.justification || "";
  const report = snapshot?.report;
  const primary = report?.primaryMetricKey ?? experiment?.primaryMetricKey ?? "";
  return (
    <section className="panel outcome" aria-labelledby="outcome-heading">
      <h2 id="outcome-heading">Outcome</h2>
      <dl className="props">
        <dt>Decision</dt>
        <dd>
          <strong>{outcomeText(outcome, winner)}</strong>
        </dd>
        <dt>Completed</dt>
        <dd>{formatTime(snapshot?.completedAt ?? experiment?.completedAt)}</dd>
        <dt>Justification</dt>
        <dd className="justification">{justification || "—"}</dd>
        {report !== undefined && (
          <>
            <dt>Decided on data</dt>
            <dd>
              {formatTime(report.from)} – {formatTime(report.to)}
            </dd>
          </>
        )}
      </dl>
      {props.error !== undefined && props.error !== null ? (
        <ErrorMessage error={props.error} title="Outcome snapshot" />
      ) : props.loading === true ? (
        <Loading what="the outcome snapshot" />
      ) : report === undefined ? (
        <Empty>No snapshot was stored for this experiment.</Empty>
      ) : (
        <details className="snapshot">
          <summary>Snapshot of the primary metric at completion (never changes)</summary>
          <ResultsTable
            report={report}
            metricKey={primary}
            info={props.infoFor(primary)}
            testId="snapshot-table"
          />
        </details>
      )}
    </section>
  );
}
