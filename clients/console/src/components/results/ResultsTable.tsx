/** One metric's results per variant: value, differences, intervals, p-values and a verdict in words. */
import type { Report } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import { Empty, ErrorMessage } from "../Status.js";
import {
  formatCount,
  formatPValue,
  formatProbability,
  formatSignedPercent,
} from "../../format/numbers.js";
import {
  diffUnit,
  fallbackInfo,
  formatDiff,
  formatDiffInterval,
  formatValue,
  kindLabel,
  verdict,
  type MetricInfo,
} from "./metrics.js";

export interface ResultsTableProps {
  report: Report | undefined;
  metricKey: string;
  info?: MetricInfo;
  error?: unknown;
  /** Correction name as the report gives it ("holm"). */
  correction?: string;
  /** data-testid of the table; a second table on the page needs another one. */
  testId?: string;
}

export function correctionLabel(correction: string | undefined): string {
  if (correction === undefined || correction === "") return "none reported";
  if (correction.toLowerCase() === "holm") return "Holm–Bonferroni";
  return correction;
}

export function ResultsTable(props: ResultsTableProps) {
  const { report, metricKey } = props;
  if (props.error !== undefined) return <ErrorMessage error={props.error} title="Results" />;
  if (report === undefined || report.variants.length === 0) {
    return <Empty>No results yet: the report has no variants to show.</Empty>;
  }
  if (report.subjects === 0) {
    return <Empty>No data yet: no subject has been exposed in this window.</Empty>;
  }
  const info = props.info ?? fallbackInfo(metricKey);
  const kind = kindLabel(info);
  const isPrimary = report.primaryMetricKey === metricKey;
  const correction = correctionLabel(props.correction ?? report.correction);

  return (
    <div className="results-table-wrap">
      <table data-testid={props.testId ?? "results-table"} className="results-table">
        <caption>
          <span className="results-caption-name">{info.name}</span>{" "}
          {info.name !== metricKey && (
            <>
              <code className="results-caption-key">{metricKey}</code>{" "}
            </>
          )}
          <span className="results-caption-meta">
            {[
              isPrimary ? "primary metric" : undefined,
              kind || undefined,
              `differences in ${diffUnit(info)}`,
              info.lowerIsBetter ? "lower is better" : undefined,
            ]
              .filter((x) => x !== undefined)
              .join(" · ")}
          </span>
        </caption>
        <thead>
          <tr>
            <th scope="col">Variant</th>
            <th scope="col" className="num">
              Subjects
            </th>
            <th scope="col" className="num">
              Exposures
            </th>
            <th scope="col" className="num">
              Value
            </th>
            <th scope="col" className="num">
              Difference
              <span className="th-sub">absolute · relative</span>
            </th>
            <th scope="col" className="num">
              95 % interval
              <span className="th-sub">classical · sequential</span>
            </th>
            <th scope="col" className="num">
              p-value
              <span className="th-sub">raw · adjusted</span>
            </th>
            <th scope="col" className="num">
              Chance to beat control
            </th>
            <th scope="col">Significance</th>
          </tr>
        </thead>
        <tbody>
          {report.variants.map((variant) => {
            const result = variant.metrics.find((m) => m.metricKey === metricKey);
            const c = result?.comparison;
            const v = verdict(info, c);
            const chance =
              c === undefined
                ? undefined
                : info.lowerIsBetter
                  ? 1 - c.chanceToBeatControl
                  : c.chanceToBeatControl;
            return (
              <tr key={variant.variantKey} data-variant={variant.variantKey}>
                <th scope="row">
                  <span className="variant-key">{variant.variantKey}</span>
                  {variant.control && <span className="badge control-badge">control</span>}
                  <span className="th-sub">weight {formatCount(variant.weight)} %</span>
                </th>
                <td className="num">{formatCount(variant.subjects)}</td>
                <td className="num">{formatCount(variant.exposures)}</td>
                <td className="num">
                  {formatValue(info, result?.value)}
                  <span className="cell-sub">n = {formatCount(result?.sampleSize)}</span>
                </td>
                {c === undefined ? (
                  <td className="num muted" colSpan={4}>
                    {variant.control
                      ? "Baseline for the comparisons"
                      : "No comparison: not enough data on one side"}
                  </td>
                ) : (
                  <>
                    <td className="num">
                      <span data-field="absolute">{formatDiff(info, c.absoluteDiff)}</span>
                      <span className="cell-sub" data-field="relative">
                        {formatSignedPercent(c.relativeDiff)}
                      </span>
                    </td>
                    <td className="num">
                      <span data-field="ci">{formatDiffInterval(info, c.ciLow, c.ciHigh)}</span>
                      <span className="cell-sub" data-field="sequential">
                        seq. {formatDiffInterval(info, c.sequentialCiLow, c.sequentialCiHigh)}
                      </span>
                    </td>
                    <td className="num">
                      <span data-field="p">{formatPValue(c.pValue)}</span>
                      <span className="cell-sub" data-field="adjusted">
                        adj. {formatPValue(c.adjustedPValue)}
                      </span>
                    </td>
                    <td className="num" data-field="chance">
                      {formatProbability(chance)}
                    </td>
                  </>
                )}
                <td>
                  {c === undefined ? (
                    <span className="muted">{variant.control ? "Control" : "No comparison"}</span>
                  ) : (
                    <span className={`verdict ${v.tone}`} data-field="significance">
                      <span aria-hidden="true" className="verdict-icon">
                        {v.tone === "good" ? "✓" : v.tone === "bad" ? "✗" : "○"}
                      </span>{" "}
                      {v.label}
                    </span>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p className="help">
        Differences are variant − control. Significance is decided on the p-value adjusted with the{" "}
        {correction} correction across every variant and metric in this report (α = 0.05). The
        sequential interval stays valid however often you look.
        {info.lowerIsBetter && " Chance to beat control is the chance of a lower value."}
      </p>
    </div>
  );
}
