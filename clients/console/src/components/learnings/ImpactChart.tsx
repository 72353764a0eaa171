/**
 * The summed impact on one metric across shipped experiments: a cumulative
 * line (one point per experiment, oldest first) with the same figures as a
 * table for screen readers and for reading exact values.
 */
import { Link } from "react-router";
import { scaleLinear } from "@visx/scale";
import { AxisBottom, AxisLeft } from "@visx/axis";
import { Group } from "@visx/group";
import { LinePath } from "@visx/shape";
import type { MetricImpact } from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { formatTime } from "../../format/dates.js";
import { formatSigned, formatSignedPercent } from "../../format/numbers.js";
import { ChartFrame } from "../results/ChartFrame.js";
import { useWidth } from "../results/useWidth.js";
import { TableHead } from "../Table.js";
import { Empty } from "../Status.js";
import { EffectSummary } from "./bits.js";
import { cumulativeImpact } from "./impact.js";
import { BOTTOM_AXIS, LEFT_AXIS } from "../results/axis.js";

const MARGIN = { top: 16, right: 24, bottom: 40, left: 72 };
const LINE = "#0072B2";

export function ImpactChart(props: { impact: MetricImpact }) {
  const { impact } = props;
  const [ref, width] = useWidth<HTMLDivElement>(760);
  const points = cumulativeImpact(impact.contributions);
  if (points.length === 0) {
    return <Empty>No shipped experiment measured {impact.metricKey}.</Empty>;
  }
  const height = 260;
  const innerW = width - MARGIN.left - MARGIN.right;
  const innerH = height - MARGIN.top - MARGIN.bottom;
  const values = [0, ...points.map((p) => p.cumulativeRelative)];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = hi === lo ? 0.01 : (hi - lo) * 0.1;
  const x = scaleLinear<number>({ domain: [0, points.length], range: [0, innerW] });
  const y = scaleLinear<number>({ domain: [lo - pad, hi + pad], range: [innerH, 0], nice: true });
  const line = [{ i: 0, v: 0 }, ...points.map((p, i) => ({ i: i + 1, v: p.cumulativeRelative }))];
  const title = `Cumulative relative effect on ${impact.metricKey}, one step per shipped experiment`;
  const last = points[points.length - 1]!;
  return (
    <figure className="series-figure" ref={ref}>
      <ChartFrame
        testId="impact-chart"
        title={title}
        label={`${title}. After ${points.length} experiment${points.length === 1 ? "" : "s"}: ${formatSignedPercent(last.cumulativeRelative)}. The table below has every value.`}
        width={width}
        height={height}
      >
        <Group left={MARGIN.left} top={MARGIN.top}>
          {y.ticks(5).map((t) => (
            <line key={t} x1={0} x2={innerW} y1={y(t)} y2={y(t)} stroke="#eaeef2" />
          ))}
          <line x1={0} x2={innerW} y1={y(0)} y2={y(0)} stroke="#505a66" strokeDasharray="4 3" />
          <LinePath
            data={line}
            x={(d) => x(d.i)}
            y={(d) => y(d.v)}
            stroke={LINE}
            strokeWidth={2.5}
            fill="none"
          />
          {line.slice(1).map((d) => (
            <circle key={d.i} cx={x(d.i)} cy={y(d.v)} r={4} fill={LINE} />
          ))}
          <AxisLeft
            scale={y}
            numTicks={5}
            tickFormat={(v) => formatSignedPercent(Number(v))}
            {...LEFT_AXIS}
          />
          <AxisBottom
            top={innerH}
            scale={x}
            numTicks={Math.min(points.length, 10)}
            tickFormat={(v) => String(Math.round(Number(v)))}
            {...BOTTOM_AXIS}
            label="Shipped experiments, oldest first"
            labelProps={{ fill: "#505a66", fontSize: 11, textAnchor: "middle" }}
          />
        </Group>
      </ChartFrame>
      <table data-testid="impact-table">
        <caption>Contributions to the summed effect on {impact.metricKey}, oldest first</caption>
        <TableHead
          columns={[
            { label: "#", num: true },
            "Experiment",
            "Completed",
            "Measured effect",
            { label: "Absolute", num: true },
            { label: "Cumulative", num: true },
          ]}
        />
        <tbody>
          {points.map((p, i) => (
            <tr key={p.experimentId}>
              <td className="num">{i + 1}</td>
              <th scope="row" className="exp-name">
                <Link to={`/learnings/${p.experimentId}`}>{p.name}</Link>
              </th>
              <td>{formatTime(p.completedAt)}</td>
              <td>
                <EffectSummary effect={impact.contributions[i]?.effect} showMetric={false} />
              </td>
              <td className="num">{formatSigned(p.absolute)}</td>
              <td className="num">{formatSignedPercent(p.cumulativeRelative)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
