/**
 * A breakdown's results: one results table per segment for the chosen
 * metric, each under its own heading, with the correction across segments
 * stated once (docs/segments.md).
 */
import { create } from "@bufbuild/protobuf";
import { ReportSchema, type Report } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import { formatCount } from "../../format/numbers.js";
import { Empty } from "../Status.js";
import { ResultsTable, correctionLabel } from "./ResultsTable.js";
import type { MetricInfo } from "./metrics.js";

export function BreakdownTables(props: { report: Report; metricKey: string; info: MetricInfo }) {
  const { report } = props;
  if (report.breakdownDimension === "") return null;
  return (
    <section aria-labelledby="breakdown-heading" data-testid="breakdown">
      <h2 id="breakdown-heading">
        By <code>{report.breakdownDimension}</code>
      </h2>
      <p className="help">
        {formatCount(report.segmentsCompared)}{" "}
        {report.segmentsCompared === 1 ? "segment" : "segments"} compared; adjusted p-values are
        corrected ({correctionLabel(report.correction)}) across every segment, variant and metric.
      </p>
      {report.segments.length === 0 && (
        <Empty>No subject of this window has a value of this dimension yet.</Empty>
      )}
      {report.segments.map((segment) => {
        // A Report-shaped view of the segment, for the same table.
        const view = create(ReportSchema, {
          experimentId: report.experimentId,
          variants: segment.variants,
          metrics: segment.metrics,
          subjects: segment.subjects,
          exposures: segment.exposures,
          srm: segment.srm,
          primaryMetricKey: report.primaryMetricKey,
          correction: report.correction,
        });
        return (
          <section
            key={segment.value}
            aria-label={`${report.breakdownDimension} = ${segment.value}`}
          >
            <h3>
              {segment.value}{" "}
              <span className="muted">
                · {formatCount(segment.subjects)} subjects · {formatCount(segment.exposures)}{" "}
                exposures
                {segment.srm?.mismatch === true ? " · sample ratio mismatch" : ""}
              </span>
            </h3>
            <ResultsTable
              report={view}
              metricKey={props.metricKey}
              info={props.info}
              testId={`breakdown-table-${segment.value}`}
            />
          </section>
        );
      })}
    </section>
  );
}
