/**
 * The primary metric over time: one cumulative line per variant, with its
 * data as a table too. The ramp's step changes, when given, are dashed
 * vertical lines labelled with the new share, and a list under the chart.
 */
import { forwardRef } from "react";
import { ChartFrame } from "./ChartFrame.js";
import { scaleLinear, scaleUtc } from "@visx/scale";
import { AxisBottom, AxisLeft } from "@visx/axis";
import { Group } from "@visx/group";
import { LinePath } from "@visx/shape";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Report } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import { Empty } from "../Status.js";
import { formatCount } from "../../format/numbers.js";
import { fallbackInfo, formatValue, type MetricInfo } from "./metrics.js";
import { formatTime } from "../../format/dates.js";
import { BOTTOM_AXIS, LEFT_AXIS } from "./axis.js";
import { formatStepPercent, labelRows, type StepBoundary } from "../experiments/ramp.js";

/** Colour-blind-safe palette (Okabe–Ito), control first. */
export const SERIES_COLOURS = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#000000",
];
const DASHES = [undefined, "6 3", "2 3", "8 3 2 3"];

export interface SeriesChartProps {
  report: Report | undefined;
  info?: MetricInfo;
  width?: number;
  /** The ramp's step changes (oldest first); those inside the chart's time span are marked. */
  steps?: readonly StepBoundary[];
}

const MARGIN = { top: 16, right: 24, bottom: 40, left: 72 };
/** Step labels: height of a row, rows at most, least horizontal distance in a row. */
const MARK_ROW = 14;
const MARK_ROWS = 3;
const MARK_GAP = 44;
const MARK_COLOUR = "#505a66";

function markLabel(m: StepBoundary): string {
  return `${m.toPercent > m.fromPercent ? "↑" : "↓"} ${formatStepPercent(m.toPercent)}`;
}

function tickTime(d: Date, spanMs: number): string {
  const iso = d.toISOString();
  if (spanMs <= 2 * 86_400_000) return iso.slice(11, 16);
  return iso.slice(5, 10);
}

export const SeriesChart = forwardRef<SVGSVGElement, SeriesChartProps>(
  function SeriesChart(props, ref) {
    const { report } = props;
    const series = (report?.series ?? []).filter((s) => s.points.length > 0);
    if (report === undefined || series.length === 0) {
      return <Empty>No time series yet: nothing has been measured in this window.</Empty>;
    }
    const info = props.info ?? fallbackInfo(report.primaryMetricKey);
    const width = props.width ?? 760;
    const height = 280;
    const innerW = width - MARGIN.left - MARGIN.right;
    const points = series.flatMap((s) =>
      s.points.map((p) => ({
        t: p.end === undefined ? 0 : timestampDate(p.end).getTime(),
        v: p.value,
      })),
    );
    const tMin = Math.min(
      ...series.map((s) =>
        s.points[0]?.start === undefined ? Infinity : timestampDate(s.points[0].start).getTime(),
      ),
      ...points.map((p) => p.t),
    );
    const tMax = Math.max(...points.map((p) => p.t));
    const tEnd = Math.max(tMax, tMin + 60_000);
    const marks = (props.steps ?? []).filter(
      (m) => m.at.getTime() >= tMin && m.at.getTime() <= tEnd,
    );
    const x = scaleUtc<number>({
      domain: [new Date(tMin), new Date(tEnd)],
      range: [0, innerW],
    });
    const markXs = marks.map((m) => x(m.at));
    const markRows = labelRows(markXs, MARK_GAP, MARK_ROWS);
    const usedRows = marks.length === 0 ? 0 : Math.max(0, ...markRows) + 1;
    // The labels sit in rows above the plot, which moves down to make room.
    const top = MARGIN.top + usedRows * MARK_ROW;
    const innerH = height - top - MARGIN.bottom;
    const vMax = Math.max(0, ...points.map((p) => p.v));
    const vMin = Math.min(0, ...points.map((p) => p.v));
    const y = scaleLinear<number>({
      domain: [vMin, vMax === vMin ? vMin + 1 : vMax * 1.08],
      range: [innerH, 0],
      nice: true,
    });
    const colourOf = (key: string) => {
      const i = report.variants.findIndex((v) => v.variantKey === key);
      return SERIES_COLOURS[(i < 0 ? 0 : i) % SERIES_COLOURS.length] ?? "#000000";
    };
    const dashOf = (key: string) => {
      const i = report.variants.findIndex((v) => v.variantKey === key);
      return DASHES[(i < 0 ? 0 : i) % DASHES.length];
    };
    const title = `${info.name} over time, cumulative, per variant`;
    const last = series
      .map((s) => `${s.variantKey} ${formatValue(info, s.points[s.points.length - 1]?.value)}`)
      .join(", ");
    const marksText =
      marks.length === 0
        ? ""
        : ` Dashed vertical lines mark ${marks.length} ramp step change${marks.length === 1 ? "" : "s"}: ${marks
            .map((m) => `to ${formatStepPercent(m.toPercent)} at ${formatTime(m.at)}`)
            .join(", ")}.`;

    return (
      <figure className="series-figure">
        <ul className="legend" aria-hidden="true">
          {series.map((s) => (
            <li key={s.variantKey}>
              <svg width={28} height={10} aria-hidden="true">
                <line
                  x1={1}
                  x2={27}
                  y1={5}
                  y2={5}
                  stroke={colourOf(s.variantKey)}
                  strokeWidth={3}
                  strokeDasharray={dashOf(s.variantKey)}
                />
              </svg>
              {s.variantKey}
            </li>
          ))}
          {marks.length > 0 && (
            <li>
              <svg width={14} height={14} aria-hidden="true">
                <line
                  x1={7}
                  x2={7}
                  y1={0}
                  y2={14}
                  stroke={MARK_COLOUR}
                  strokeWidth={1.5}
                  strokeDasharray="4 3"
                />
              </svg>
              ramp step
            </li>
          )}
        </ul>
        <ChartFrame
          ref={ref}
          testId="series-chart"
          title={title}
          label={`${title}. Latest values: ${last}.${marksText}`}
          width={width}
          height={height}
        >
          <Group left={MARGIN.left} top={top}>
            {y.ticks(5).map((t) => (
              <line key={t} x1={0} x2={innerW} y1={y(t)} y2={y(t)} stroke="#eaeef2" />
            ))}
            {series.map((s) => (
              <LinePath
                key={s.variantKey}
                data={s.points}
                x={(p) => x(p.end === undefined ? new Date(tMin) : timestampDate(p.end))}
                y={(p) => y(p.value)}
                stroke={colourOf(s.variantKey)}
                strokeWidth={2.5}
                strokeDasharray={dashOf(s.variantKey)}
                fill="none"
              />
            ))}
            {marks.map((m, i) => {
              const mx = markXs[i] ?? 0;
              const row = markRows[i] ?? -1;
              const labelY = 12 + row * MARK_ROW - top;
              const anchor = mx < 20 ? "start" : mx > innerW - 20 ? "end" : "middle";
              return (
                <g key={`${m.at.getTime()}-${i}`} data-testid="ramp-mark">
                  <line
                    x1={mx}
                    x2={mx}
                    y1={row < 0 ? 0 : labelY + 3}
                    y2={innerH}
                    stroke={MARK_COLOUR}
                    strokeWidth={1.5}
                    strokeDasharray="4 3"
                  />
                  {row >= 0 && (
                    <text
                      x={mx}
                      y={labelY}
                      fontSize={11}
                      fill={MARK_COLOUR}
                      textAnchor={anchor}
                      fontWeight={600}
                    >
                      {markLabel(m)}
                    </text>
                  )}
                </g>
              );
            })}
            <AxisLeft
              scale={y}
              numTicks={5}
              tickFormat={(v) => formatValue(info, Number(v))}
              {...LEFT_AXIS}
            />
            <AxisBottom
              top={innerH}
              scale={x}
              numTicks={6}
              tickFormat={(v) => tickTime(v instanceof Date ? v : new Date(Number(v)), tMax - tMin)}
              {...BOTTOM_AXIS}
              label="UTC"
              labelProps={{ fill: "#505a66", fontSize: 11, textAnchor: "middle" }}
            />
          </Group>
        </ChartFrame>
        {marks.length > 0 && (
          <div className="ramp-marks">
            <p className="help" id="ramp-marks-heading">
              Ramp step changes in this chart (dashed lines), oldest first:
            </p>
            <ol aria-labelledby="ramp-marks-heading" data-testid="ramp-marks">
              {marks.map((m, i) => (
                <li key={i}>
                  <time dateTime={m.at.toISOString()}>{formatTime(m.at)}</time>:{" "}
                  {formatStepPercent(m.fromPercent)} → {formatStepPercent(m.toPercent)} ({m.what},
                  by {m.who})
                </li>
              ))}
            </ol>
          </div>
        )}
        <details className="series-data">
          <summary>Show the series as a table</summary>
          <table>
            <caption className="visually-hidden">{title}</caption>
            <thead>
              <tr>
                <th scope="col">Until</th>
                {series.map((s) => (
                  <th scope="col" className="num" key={s.variantKey}>
                    {s.variantKey}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {(series[0]?.points ?? []).map((p, i) => (
                <tr key={i}>
                  <th scope="row">{formatTime(p.end)}</th>
                  {series.map((s) => (
                    <td className="num" key={s.variantKey}>
                      {formatValue(info, s.points[i]?.value)}{" "}
                      <span className="muted">(n = {formatCount(s.points[i]?.sampleSize)})</span>
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      </figure>
    );
  },
);
