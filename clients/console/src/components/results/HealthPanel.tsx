/** Data health: sample ratio mismatch, traffic skew against the weights, rejected, duplicate and pending events. */
import type { Report } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import { EventErrorCode } from "../../../../../gen/lotty/events/v1/events_pb.js";
import { enumLabel } from "../../format/labels.js";
import {
  formatCount,
  formatPercent,
  formatPoints,
  formatPValue,
  formatNumber,
} from "../../format/numbers.js";
import { Empty } from "../Status.js";
import { TableHead } from "../Table.js";

/** Observed share off the expected one by at least this much (fraction) is flagged as skew. */
export const SKEW_THRESHOLD = 0.02;
/** Rejected or duplicate shares above this get a warning. */
export const SHARE_WARNING = 0.05;
const MIN_SUBJECTS_FOR_SKEW = 100;

export function HealthPanel(props: { report: Report | undefined; headingLevel?: 2 | 3 }) {
  const { report } = props;
  const H = props.headingLevel === 3 ? "h3" : "h2";
  const heading = (
    <H id="data-health" tabIndex={-1}>
      Data health
    </H>
  );
  if (report === undefined) {
    return (
      <section aria-labelledby="data-health" className="health">
        {heading}
        <Empty>No data health figures yet.</Empty>
      </section>
    );
  }
  const health = report.dataHealth;
  const srm = report.srm;
  const skewed = (health?.traffic ?? []).filter(
    (t) =>
      report.subjects >= MIN_SUBJECTS_FOR_SKEW &&
      Math.abs(t.observedShare - t.expectedShare) >= SKEW_THRESHOLD,
  );

  return (
    <section aria-labelledby="data-health" className="health">
      {heading}
      {srm?.mismatch === true ? (
        <div className="banner bad" role="alert">
          <strong>Sample ratio mismatch.</strong> Subjects did not split between the variants as the
          weights say ({formatPValue(srm.pValue)}, χ² = {formatNumber(srm.chiSquare)}). Assignment
          or logging is likely broken: do not trust the comparisons until the cause is found.
        </div>
      ) : report.subjects < MIN_SUBJECTS_FOR_SKEW ? (
        <p className="health-ok">
          <span className="badge">Sample ratio not checked yet</span>{" "}
          <span className="muted">
            the check starts at 100 subjects (now {formatCount(report.subjects)})
          </span>
        </p>
      ) : (
        <p className="health-ok">
          <span className="badge good">No sample ratio mismatch</span>{" "}
          <span className="muted">
            {`${formatPValue(srm?.pValue)}, χ² = ${formatNumber(srm?.chiSquare)}`}
          </span>
        </p>
      )}
      {skewed.length > 0 && (
        <div className="banner warn">
          <strong>Traffic skew:</strong>{" "}
          {skewed
            .map(
              (t) =>
                `${t.variantKey} gets ${formatPercent(t.observedShare)} instead of ${formatPercent(t.expectedShare)}`,
            )
            .join("; ")}
          .
        </div>
      )}
      <div className="grid-2">
        <div>
          <h3>Traffic against the weights</h3>
          {health === undefined || health.traffic.length === 0 ? (
            <Empty>No traffic figures.</Empty>
          ) : (
            <table className="compact" data-testid="traffic-table">
              <TableHead
                columns={[
                  "Variant",
                  { label: "Expected", num: true },
                  { label: "Observed", num: true },
                  { label: "Off by", num: true },
                ]}
              />
              <tbody>
                {health.traffic.map((t) => {
                  const skew = skewed.includes(t);
                  return (
                    <tr key={t.variantKey}>
                      <th scope="row">{t.variantKey}</th>
                      <td className="num">{formatPercent(t.expectedShare)}</td>
                      <td className="num">{formatPercent(t.observedShare)}</td>
                      <td className="num">
                        {formatPoints(t.observedShare - t.expectedShare, 1)}
                        {skew && (
                          <>
                            {" "}
                            <span className="badge warn">skewed</span>
                          </>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </div>
        <div>
          <h3>Events</h3>
          {health === undefined ? (
            <Empty>No event figures.</Empty>
          ) : (
            <>
              <dl className="props">
                <dt>Received</dt>
                <dd>{formatCount(health.receivedEvents)}</dd>
                <dt>Rejected</dt>
                <dd>
                  {formatCount(health.rejectedEvents)} ({formatPercent(health.rejectedShare)})
                  {health.rejectedShare > SHARE_WARNING && (
                    <>
                      {" "}
                      <span className="badge warn">high</span>
                    </>
                  )}
                </dd>
                <dt>Duplicates</dt>
                <dd>
                  {formatCount(health.duplicateEvents)} ({formatPercent(health.duplicateShare)})
                  {health.duplicateShare > SHARE_WARNING && (
                    <>
                      {" "}
                      <span className="badge warn">high</span>
                    </>
                  )}
                </dd>
                <dt>Waiting for attribution</dt>
                <dd>{formatCount(health.pendingAttributionEvents)}</dd>
              </dl>
              <h4 className="small-heading">Top rejection reasons</h4>
              {health.topRejectionReasons.length === 0 ? (
                <p className="muted">None rejected.</p>
              ) : (
                <ol className="reasons">
                  {health.topRejectionReasons.map((r) => (
                    <li key={r.code}>
                      {enumLabel(EventErrorCode, r.code)}: {formatCount(r.count)}
                    </li>
                  ))}
                </ol>
              )}
              <p className="help">Counted over whole UTC days of receipt covering the window.</p>
            </>
          )}
        </div>
      </div>
    </section>
  );
}
