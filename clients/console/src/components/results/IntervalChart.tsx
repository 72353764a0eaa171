/**
 * Each non-control variant's difference from the control as a horizontal
 * bar (classical 95 % interval) over a thinner one (sequential interval),
 * with the estimate as a dot and a zero line. Colours are set as SVG
 * attributes (not CSS) so the exported SVG and PNG look the same.
 */
import { forwardRef } from "react";
import { ChartFrame } from "./ChartFrame.js";
import { scaleLinear } from "@visx/scale";
import { AxisBottom } from "@visx/axis";
import { Group } from "@visx/group";
import type { Report } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import { Empty, ErrorMessage } from "../Status.js";
import { formatSignedPercent } from "../../format/numbers.js";
import {
  diffUnit,
  fallbackInfo,
  formatDiff,
  formatDiffInterval,
  verdict,
  type MetricInfo,
} from "./metrics.js";

export const TONE_COLOURS = { good: "#1a7f37", bad: "#cf222e", neutral: "#57606a" } as const;

export interface IntervalChartProps {
  report: Report | undefined;
  metricKey: string;
  info?: MetricInfo;
  error?: unknown;
  width?: number;
}

const MARGIN = { top: 36, right: 28, bottom: 64, left: 132 };
const ROW = 46;

export const IntervalChart = forwardRef<SVGSVGElement, IntervalChartProps>(
  function IntervalChart(props, ref) {
    const { report, metricKey } = props;
    if (props.error !== undefined) return <ErrorMessage error={props.error} title="Chart" />;
    const info = props.info ?? fallbackInfo(metricKey);
    const rows = (report?.variants ?? [])
      .filter((v) => !v.control)
      .map((v) => ({
        key: v.variantKey,
        comparison: v.metrics.find((m) => m.metricKey === metricKey)?.comparison,
      }))
      .filter(
        (r): r is { key: string; comparison: NonNullable<typeof r.comparison> } =>
          r.comparison !== undefined,
      );
    if (report === undefined || rows.length === 0) {
      return <Empty>No comparison to draw yet: no variant has enough data on both sides.</Empty>;
    }

    const width = props.width ?? 760;
    const height = MARGIN.top + MARGIN.bottom + rows.length * ROW;
    const innerWidth = width - MARGIN.left - MARGIN.right;
    const bounds = rows.flatMap((r) => [
      r.comparison.ciLow,
      r.comparison.ciHigh,
      r.comparison.sequentialCiLow,
      r.comparison.sequentialCiHigh,
      r.comparison.absoluteDiff,
    ]);
    const finite = bounds.filter((x) => Number.isFinite(x));
    let lo = Math.min(0, ...finite);
    let hi = Math.max(0, ...finite);
    if (lo === hi) {
      lo -= 1;
      hi += 1;
    }
    const pad = (hi - lo) * 0.06;
    const x = scaleLinear<number>({
      domain: [lo - pad, hi + pad],
      range: [0, innerWidth],
      nice: true,
    });
    const clampX = (v: number) => Math.min(innerWidth, Math.max(0, x(v)));

    const summary = rows
      .map((r) => {
        const c = r.comparison;
        return `${r.key}: ${formatDiff(info, c.absoluteDiff)} (${formatSignedPercent(c.relativeDiff)}), 95 % interval ${formatDiffInterval(info, c.ciLow, c.ciHigh)}, ${verdict(info, c).label.toLowerCase()}`;
      })
      .join("; ");
    const title = `Difference from control in ${info.name} (${diffUnit(info)})`;

    return (
      <ChartFrame
        ref={ref}
        testId="interval-chart"
        title={title}
        label={`${title}. ${summary}.`}
        width={width}
        height={height}
      >
        <text x={12} y={20} fontSize={14} fontWeight={600} fill="#1b1f24">
          {title}
        </text>
        <g transform={`translate(${MARGIN.left}, ${height - 20})`} fontSize={12} fill="#505a66">
          <rect x={0} y={2} width={22} height={10} rx={2} fill="#57606a" />
          <text x={28} y={11}>
            95 % interval
          </text>
          <rect x={118} y={5} width={22} height={4} rx={2} fill="#57606a" opacity={0.35} />
          <text x={146} y={11}>
            sequential
          </text>
          <circle cx={228} cy={7} r={4.5} fill="#ffffff" stroke="#1b1f24" strokeWidth={2} />
          <text x={238} y={11}>
            estimate
          </text>
        </g>
        <Group left={MARGIN.left} top={MARGIN.top}>
          {rows.map((r, i) => {
            const c = r.comparison;
            const colour = TONE_COLOURS[verdict(info, c).tone];
            const cy = i * ROW + ROW / 2;
            const ciX = clampX(c.ciLow);
            const seqX = clampX(c.sequentialCiLow);
            return (
              <g key={r.key} data-variant={r.key}>
                {i % 2 === 0 && (
                  <rect
                    x={-MARGIN.left + 4}
                    y={i * ROW}
                    width={width - 8}
                    height={ROW}
                    fill="#f5f7fa"
                  />
                )}
                <text
                  x={-12}
                  y={cy + 4}
                  textAnchor="end"
                  fontSize={13}
                  fontWeight={600}
                  fill="#1b1f24"
                >
                  {r.key.length > 16 ? `${r.key.slice(0, 15)}…` : r.key}
                </text>
                <rect
                  data-testid={`seq-${r.key}`}
                  x={seqX}
                  y={cy - 3}
                  width={Math.max(1, clampX(c.sequentialCiHigh) - seqX)}
                  height={6}
                  rx={3}
                  fill={colour}
                  opacity={0.35}
                />
                <rect
                  data-testid={`ci-${r.key}`}
                  x={ciX}
                  y={cy - 8}
                  width={Math.max(1, clampX(c.ciHigh) - ciX)}
                  height={16}
                  rx={3}
                  fill={colour}
                />
                <circle
                  data-testid={`estimate-${r.key}`}
                  cx={clampX(c.absoluteDiff)}
                  cy={cy}
                  r={5}
                  fill="#ffffff"
                  stroke="#1b1f24"
                  strokeWidth={2}
                />
              </g>
            );
          })}
          <line
            data-testid="zero-line"
            x1={x(0)}
            x2={x(0)}
            y1={-6}
            y2={rows.length * ROW + 2}
            stroke="#1b1f24"
            strokeWidth={1.5}
            strokeDasharray="4 3"
          />
          <AxisBottom
            top={rows.length * ROW + 2}
            scale={x}
            numTicks={6}
            tickFormat={(v) => formatDiff(info, Number(v))}
            stroke="#8c959f"
            tickStroke="#8c959f"
            tickLabelProps={() => ({
              fill: "#505a66",
              fontSize: 11,
              textAnchor: "middle",
              fontFamily: "system-ui, sans-serif",
            })}
          />
        </Group>
      </ChartFrame>
    );
  },
);
