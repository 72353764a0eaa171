/**
 * Funnel and retention figures of one metric: for a funnel, one bar chart
 * per variant (a bar per step: its share of exposed subjects, with the step
 * conversion and drop-off) and the same numbers as a table; for retention,
 * a bar per variant of the retained share with the maturing subjects, and
 * its table. The charts are pictures of the tables (role="img" with a
 * label); the tables carry every number for screen readers.
 */
import type { MetricResult, Report } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import { formatCount, formatPValue, formatPercent, formatPoints } from "../../format/numbers.js";
import { ChartFrame } from "./ChartFrame.js";
import type { MetricInfo } from "./metrics.js";

const BAR_COLOURS = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c"];
const ROW = 30;
const LABEL_WIDTH = 150;

function resultOf(report: Report, variantKey: string, metricKey: string): MetricResult | undefined {
  return report.variants
    .find((v) => v.variantKey === variantKey)
    ?.metrics.find((m) => m.metricKey === metricKey);
}

function interval(low: number | undefined, high: number | undefined): string {
  if (low === undefined || high === undefined) return "—";
  return `${formatPercent(low, 1)} to ${formatPercent(high, 1)}`;
}

export function FunnelChart(props: { report: Report; metricKey: string; info: MetricInfo }) {
  const { report, metricKey, info } = props;
  const rows = report.variants.map((v) => ({
    variant: v,
    funnel: resultOf(report, v.variantKey, metricKey)?.funnel,
  }));
  if (rows.every((r) => r.funnel === undefined)) return null;
  const width = 560;
  return (
    <section aria-labelledby="funnel-heading" data-testid="funnel">
      <h2 id="funnel-heading">Funnel: {info.name}</h2>
      <p className="help">
        Share of each variant&apos;s exposed subjects reaching each step within the conversion
        window; step conversion is relative to the previous step.
      </p>
      <div className="funnel-charts">
        {rows.map(({ variant, funnel }, vi) => {
          if (funnel === undefined) return null;
          const height = funnel.steps.length * ROW + 34;
          const barSpace = width - LABEL_WIDTH - 150;
          const summary = funnel.steps
            .map(
              (s, i) =>
                `step ${i + 1} ${s.eventTypeKey}: ${formatPercent(s.share, 1)} (${formatCount(s.subjects)})`,
            )
            .join("; ");
          return (
            <figure key={variant.variantKey} className="chart-box">
              <ChartFrame
                testId={`funnel-chart-${variant.variantKey}`}
                title={`${info.name}, ${variant.variantKey}`}
                label={`Funnel for ${variant.variantKey} of ${formatCount(funnel.subjects)} exposed subjects: ${summary}`}
                width={width}
                height={height}
              >
                <text x={8} y={18} fontSize={13} fontWeight={600} fill="#1f2933">
                  {variant.variantKey}
                  {variant.control ? " (control)" : ""} · {formatCount(funnel.subjects)} subjects
                </text>
                {funnel.steps.map((s, i) => {
                  const y = 28 + i * ROW;
                  return (
                    <g key={i}>
                      <text x={8} y={y + 16} fontSize={12} fill="#1f2933">
                        {i + 1}. {s.eventTypeKey}
                      </text>
                      <rect
                        x={LABEL_WIDTH}
                        y={y + 3}
                        width={Math.max(1, s.share * barSpace)}
                        height={ROW - 8}
                        fill={BAR_COLOURS[vi % BAR_COLOURS.length]}
                      />
                      <text
                        x={LABEL_WIDTH + Math.max(1, s.share * barSpace) + 6}
                        y={y + 16}
                        fontSize={12}
                        fill="#1f2933"
                      >
                        {formatPercent(s.share, 1)}
                        {i > 0 ? ` · −${formatPercent(s.dropOff, 0)}` : ""}
                      </text>
                    </g>
                  );
                })}
              </ChartFrame>
            </figure>
          );
        })}
      </div>
      <div className="results-table-wrap">
        <table data-testid="funnel-table" className="results-table">
          <caption>{info.name}: funnel steps per variant</caption>
          <thead>
            <tr>
              <th scope="col">Variant</th>
              <th scope="col">Step</th>
              <th scope="col">Subjects</th>
              <th scope="col">Share (95 % interval)</th>
              <th scope="col">Step conversion</th>
              <th scope="col">Drop-off</th>
              <th scope="col">Difference vs control</th>
              <th scope="col">p-value</th>
            </tr>
          </thead>
          <tbody>
            {rows.flatMap(({ variant, funnel }) =>
              (funnel?.steps ?? []).map((s, i) => (
                <tr key={`${variant.variantKey}-${i}`}>
                  <th scope="row">{i === 0 ? variant.variantKey : ""}</th>
                  <td>
                    {i + 1}. {s.eventTypeKey}
                  </td>
                  <td>{formatCount(s.subjects)}</td>
                  <td>
                    {formatPercent(s.share, 1)} (
                    {interval(s.shareInterval?.low, s.shareInterval?.high)})
                  </td>
                  <td>{formatPercent(s.stepConversion, 1)}</td>
                  <td>{formatPercent(s.dropOff, 1)}</td>
                  <td>
                    {s.comparison === undefined ? "—" : formatPoints(s.comparison.absoluteDiff)}
                  </td>
                  <td>{s.comparison === undefined ? "—" : formatPValue(s.comparison.pValue)}</td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function RetentionChart(props: { report: Report; metricKey: string; info: MetricInfo }) {
  const { report, metricKey, info } = props;
  const rows = report.variants.map((v) => ({
    variant: v,
    result: resultOf(report, v.variantKey, metricKey),
  }));
  if (rows.every((r) => r.result?.retention === undefined)) return null;
  const width = 560;
  const height = rows.length * ROW + 14;
  const barSpace = width - LABEL_WIDTH - 150;
  return (
    <section aria-labelledby="retention-heading" data-testid="retention">
      <h2 id="retention-heading">Retention: {info.name}</h2>
      <p className="help">
        Share of exposed subjects whose counted days have passed that came back; subjects whose days
        have not ended yet are still maturing and are left out.
      </p>
      <div className="chart-box">
        <ChartFrame
          testId="retention-chart"
          title={info.name}
          label={`Retention per variant: ${rows
            .map(
              (r) =>
                `${r.variant.variantKey} ${formatPercent(r.result?.value, 1)}, ${formatCount(r.result?.retention?.maturingSubjects)} maturing`,
            )
            .join("; ")}`}
          width={width}
          height={height}
        >
          {rows.map(({ variant, result }, i) => {
            const y = 8 + i * ROW;
            const share = result?.value ?? 0;
            return (
              <g key={variant.variantKey}>
                <text x={8} y={y + 16} fontSize={12} fill="#1f2933">
                  {variant.variantKey}
                </text>
                <rect
                  x={LABEL_WIDTH}
                  y={y + 3}
                  width={Math.max(1, share * barSpace)}
                  height={ROW - 8}
                  fill={BAR_COLOURS[i % BAR_COLOURS.length]}
                />
                <text
                  x={LABEL_WIDTH + Math.max(1, share * barSpace) + 6}
                  y={y + 16}
                  fontSize={12}
                  fill="#1f2933"
                >
                  {formatPercent(share, 1)} · {formatCount(result?.retention?.maturingSubjects)}{" "}
                  maturing
                </text>
              </g>
            );
          })}
        </ChartFrame>
      </div>
      <div className="results-table-wrap">
        <table data-testid="retention-table" className="results-table">
          <caption>{info.name}: retention per variant</caption>
          <thead>
            <tr>
              <th scope="col">Variant</th>
              <th scope="col">Retained</th>
              <th scope="col">Eligible</th>
              <th scope="col">Share (95 % interval)</th>
              <th scope="col">Maturing</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ variant, result }) => (
              <tr key={variant.variantKey}>
                <th scope="row">{variant.variantKey}</th>
                <td>{formatCount(result?.retention?.retainedSubjects)}</td>
                <td>{formatCount(result?.retention?.eligibleSubjects)}</td>
                <td>
                  {formatPercent(result?.value, 1)} (
                  {interval(result?.interval?.low, result?.interval?.high)})
                </td>
                <td>{formatCount(result?.retention?.maturingSubjects)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
