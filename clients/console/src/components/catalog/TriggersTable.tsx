/**
 * The table of guardrail triggers, newest first, in one of two layouts:
 * - "log" (the triggers page): when, which experiment, which rule, what was seen and done;
 * - "experiment" (an experiment's results): when, metric, variant, observed value,
 *   threshold, window, sample and action, one column each.
 */
import type { ReactNode } from "react";
import { Link } from "react-router";
import type { GuardrailTrigger } from "../../../../../gen/lotty/guardrails/v1/guardrails_pb.js";
import {
  Direction,
  GuardrailAction,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import {
  actionText,
  formatNumber,
  ruleText,
  triggerComparison,
  triggerSentence,
} from "../../api/catalog.js";
import { formatAgo, formatTime } from "../../format/dates.js";
import { TableHead } from "../Table.js";
import { formatCount, formatNumber as formatValue } from "../../format/numbers.js";

interface Column {
  label: string;
  /** Numbers, right-aligned. */
  num?: boolean;
  cell(t: GuardrailTrigger, ctx: { names?: ReadonlyMap<string, string>; now?: Date }): ReactNode;
}

function windowText(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

const LOG_COLUMNS: Column[] = [
  {
    label: "Time",
    cell: (t, ctx) => (
      <>
        {formatTime(t.triggeredAt)}
        <div className="help">{formatAgo(t.triggeredAt, ctx.now)}</div>
      </>
    ),
  },
  {
    label: "Experiment",
    cell: (t, ctx) => (
      <>
        <Link to={`/experiments/${t.experimentId}/results`}>
          {ctx.names?.get(t.experimentId) ?? t.experimentId}
        </Link>
        <div className="help">version {t.experimentVersion}</div>
      </>
    ),
  },
  {
    label: "Rule",
    cell: (t) => (
      <>
        <code>{t.metricKey}</code>
        <div>{ruleText(t)}</div>
      </>
    ),
  },
  {
    label: "Observed vs threshold",
    cell: (t) => (
      <>
        <span className="badge bad">{triggerComparison(t)}</span>
        <div className="help">
          {t.variantKey !== "" ? `variant ${t.variantKey}, ` : ""}
          {formatNumber(t.sampleSize)} samples
        </div>
      </>
    ),
  },
  {
    label: "Action taken",
    cell: (t) => (
      <>
        <span className={t.action === GuardrailAction.ROLLBACK ? "badge bad" : "badge warn"}>
          {actionText(t.action)}
        </span>
        <div className="visually-hidden">{triggerSentence(t)}</div>
      </>
    ),
  },
];

const EXPERIMENT_COLUMNS: Column[] = [
  { label: "When", cell: (t) => formatTime(t.triggeredAt) },
  { label: "Metric", cell: (t) => <code>{t.metricKey}</code> },
  { label: "Variant", cell: (t) => t.variantKey || "—" },
  { label: "Observed", num: true, cell: (t) => formatValue(t.observedValue) },
  {
    label: "Threshold",
    num: true,
    cell: (t) => (
      <>
        {t.direction === Direction.INCREASE_IS_BAD
          ? "above "
          : t.direction === Direction.DECREASE_IS_BAD
            ? "below "
            : ""}
        {formatValue(t.threshold)}
      </>
    ),
  },
  { label: "Window", cell: (t) => windowText(t.windowSeconds) },
  { label: "Sample", num: true, cell: (t) => formatCount(t.sampleSize) },
  {
    label: "Action taken",
    cell: (t) => (
      <span className="badge bad">
        {t.action === GuardrailAction.ROLLBACK
          ? "Paused and rolled back to control"
          : t.action === GuardrailAction.PAUSE
            ? "Paused"
            : "Unknown"}
      </span>
    ),
  },
];

export function TriggersTable(props: {
  triggers: readonly GuardrailTrigger[];
  /** "log" unless told. */
  layout?: "log" | "experiment";
  /** Experiment names by id; the id is shown when a name is unknown. */
  names?: ReadonlyMap<string, string>;
  now?: Date;
}) {
  const experiment = props.layout === "experiment";
  const columns = experiment ? EXPERIMENT_COLUMNS : LOG_COLUMNS;
  const ctx = { names: props.names, now: props.now };
  return (
    <table data-testid={experiment ? "trigger-table" : undefined}>
      {!experiment && (
        <caption className="visually-hidden">Guardrail triggers, newest first</caption>
      )}
      <TableHead columns={columns} />
      <tbody>
        {props.triggers.map((t) => (
          <tr key={t.id}>
            {columns.map((c) => (
              <td key={c.label} className={c.num === true ? "num" : undefined}>
                {c.cell(t, ctx)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
