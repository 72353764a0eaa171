/**
 * Pure helpers for the flag, catalog, trigger and notification pages: form
 * state ⇄ request messages, values as text, and sentences for records.
 * Nothing here touches the network, so all of it is unit-tested.
 */
import {
  create,
  fromJson,
  toJson,
  type JsonValue,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  FlagType,
  type Flag,
  type CreateFlagRequestSchema,
  type UpdateFlagRequestSchema,
} from "../../../../gen/lotty/flags/v1/flags_pb.js";
import {
  FilterOperator,
  FunnelOrder,
  FunnelStepSchema,
  MetricKind,
  MetricSchema,
  EventTypeSchema,
  PropertyType,
  type EventType,
  type FunnelStep,
  type Metric,
} from "../../../../gen/lotty/catalog/v1/catalog_pb.js";

type MetricInit = MessageInitShape<typeof MetricSchema>;
import { Direction, GuardrailAction } from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import type { GuardrailTrigger } from "../../../../gen/lotty/guardrails/v1/guardrails_pb.js";
import { fieldErrors, type FieldError } from "./errors.js";

/** Field errors from INVALID_ARGUMENT and from ALREADY_EXISTS ("key: a flag … already exists"). */
export function formErrors(error: unknown): FieldError[] {
  const parsed = fieldErrors(error);
  if (parsed.length > 0) return parsed;
  const e = ConnectError.from(error);
  if (e.code === Code.AlreadyExists || e.code === Code.FailedPrecondition) {
    const at = e.rawMessage.indexOf(": ");
    const field = at > 0 ? e.rawMessage.slice(0, at) : "";
    if (/^[a-z_.[\]0-9]+$/i.test(field)) return [{ field, message: e.rawMessage.slice(at + 2) }];
  }
  return [];
}

// ---------------------------------------------------------------- flags

export interface FlagForm {
  key: string;
  type: FlagType;
  /** The default value as typed: plain text for strings, "true"/"false", a number or JSON. */
  defaultValue: string;
  description: string;
  /** Comma- or space-separated tags. */
  tags: string;
}

export const EMPTY_FLAG_FORM: FlagForm = {
  key: "",
  type: FlagType.BOOL,
  defaultValue: "false",
  description: "",
  tags: "",
};

/** "a, b  c,,d" → ["a", "b", "c", "d"]. */
export function parseTags(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((t) => t.trim())
    .filter((t) => t !== "");
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** The typed text of a default value as JSON of the flag's type, or why it is not. */
export function parseFlagValue(type: FlagType, text: string): Parsed<JsonValue> {
  switch (type) {
    case FlagType.STRING:
      return { ok: true, value: text };
    case FlagType.BOOL:
      if (text === "true" || text === "false") return { ok: true, value: text === "true" };
      return { ok: false, message: "must be true or false" };
    case FlagType.NUMBER: {
      const n = Number(text.trim());
      if (text.trim() === "" || !Number.isFinite(n))
        return { ok: false, message: "must be a finite number, e.g. 3 or 0.25" };
      return { ok: true, value: n };
    }
    case FlagType.JSON:
      try {
        return { ok: true, value: JSON.parse(text) as JsonValue };
      } catch {
        return {
          ok: false,
          message: 'must be valid JSON, e.g. {"color": "blue"}, [1, 2], "text" or null',
        };
      }
    default:
      return { ok: false, message: "choose a type first" };
  }
}

/** A flag value as the form shows it (the inverse of parseFlagValue). */
export function flagValueText(type: FlagType, value: Value | undefined): string {
  if (value === undefined) return "";
  const json = toJson(ValueSchema, value);
  if (type === FlagType.STRING && typeof json === "string") return json;
  if (type === FlagType.JSON) return JSON.stringify(json, null, 2);
  return JSON.stringify(json);
}

/** A value in a table cell: compact JSON, strings quoted. */
export function valueSummary(value: Value | undefined, max = 60): string {
  if (value === undefined) return "—";
  const text = JSON.stringify(toJson(ValueSchema, value));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The form of an existing flag. */
export function flagToForm(flag: Flag): FlagForm {
  return {
    key: flag.key,
    type: flag.type,
    defaultValue: flagValueText(flag.type, flag.defaultValue),
    description: flag.description,
    tags: flag.tags.join(", "),
  };
}

type CreateFlagInit = MessageInitShape<typeof CreateFlagRequestSchema>;
type UpdateFlagInit = MessageInitShape<typeof UpdateFlagRequestSchema>;

/** The CreateFlag request for a form, or the field errors found before sending. */
export function buildCreateFlagRequest(
  form: FlagForm,
): { request: CreateFlagInit } | { errors: FieldError[] } {
  const value = parseFlagValue(form.type, form.defaultValue);
  if (!value.ok) return { errors: [{ field: "default_value", message: value.message }] };
  return {
    request: {
      key: form.key.trim(),
      type: form.type,
      defaultValue: fromJson(ValueSchema, value.value),
      description: form.description,
      tags: parseTags(form.tags),
    },
  };
}

/** The UpdateFlag request: default value, description and tags (clear_tags when all were removed). */
export function buildUpdateFlagRequest(
  form: FlagForm,
  original: Flag,
): { request: UpdateFlagInit } | { errors: FieldError[] } {
  const value = parseFlagValue(original.type, form.defaultValue);
  if (!value.ok) return { errors: [{ field: "default_value", message: value.message }] };
  const tags = parseTags(form.tags);
  return {
    request: {
      key: original.key,
      defaultValue: fromJson(ValueSchema, value.value),
      description: form.description,
      tags,
      clearTags: tags.length === 0 && original.tags.length > 0,
    },
  };
}

// ---------------------------------------------------------------- catalog

export type CatalogKind = "event-types" | "metrics";

export function isCatalogKind(kind: string | undefined): kind is CatalogKind {
  return kind === "event-types" || kind === "metrics";
}

export interface PropertyForm {
  name: string;
  type: PropertyType;
  required: boolean;
}

export interface EventTypeForm {
  key: string;
  name: string;
  description: string;
  requiresExposure: boolean;
  properties: PropertyForm[];
}

export const EMPTY_EVENT_TYPE_FORM: EventTypeForm = {
  key: "",
  name: "",
  description: "",
  requiresExposure: true,
  properties: [],
};

export function eventTypeToForm(e: EventType): EventTypeForm {
  return {
    key: e.key,
    name: e.name,
    description: e.description,
    requiresExposure: e.requiresExposure,
    properties: e.properties.map((p) => ({ name: p.name, type: p.type, required: p.required })),
  };
}

/** The event_type message of Create/UpdateEventType. */
export function buildEventType(form: EventTypeForm): EventType {
  return create(EventTypeSchema, {
    key: form.key.trim(),
    name: form.name.trim(),
    description: form.description,
    requiresExposure: form.requiresExposure,
    properties: form.properties.map((p) => ({
      name: p.name.trim(),
      type: p.type,
      required: p.required,
    })),
  });
}

export interface MetricForm {
  key: string;
  name: string;
  description: string;
  kind: MetricKind;
  eventTypeKey: string;
  property: string;
  /** As typed; only used for percentile metrics. */
  percentile: string;
  numeratorMetricKey: string;
  denominatorMetricKey: string;
  requiresExposure: boolean;
  /** Funnels: one step per line, `event_type` or `event_type property op value`. */
  funnelSteps: string;
  /** Funnels: the conversion window in hours, as typed. */
  funnelWindowHours: string;
  funnelOrder: FunnelOrder;
  /** Retention: days as typed. */
  dayFrom: string;
  dayTo: string;
  /** Sessions: the gap in minutes, as typed. */
  sessionGapMinutes: string;
}

const FILTER_OPERATORS: readonly [string, FilterOperator][] = [
  [">=", FilterOperator.GREATER_OR_EQUAL],
  ["<=", FilterOperator.LESS_OR_EQUAL],
  ["!=", FilterOperator.NOT_EQUAL],
  ["=", FilterOperator.EQUAL],
  [">", FilterOperator.GREATER],
  ["<", FilterOperator.LESS],
];

/** One funnel step as a line: "checkout" or "cart amount >= 20". */
export function stepToLine(step: FunnelStep): string {
  const f = step.filter;
  if (f === undefined) return step.eventTypeKey;
  const op = FILTER_OPERATORS.find(([, o]) => o === f.operator)?.[0] ?? "=";
  return `${step.eventTypeKey} ${f.property} ${op} ${f.value}`;
}

const STEP_LINE = /^(\S+)(?:\s+([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|=|>|<)\s*(.*))?$/;

/** Parses the steps text: one step per non-empty line; null with the bad line's index. */
export function parseSteps(text: string): { steps: FunnelStep[] } | { bad: number } {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const steps: FunnelStep[] = [];
  for (const [i, line] of lines.entries()) {
    const m = STEP_LINE.exec(line);
    if (m === null) return { bad: i };
    const [, eventTypeKey = "", property, op, value] = m;
    steps.push(
      create(FunnelStepSchema, {
        eventTypeKey,
        filter:
          property === undefined
            ? undefined
            : {
                property,
                operator:
                  FILTER_OPERATORS.find(([o]) => o === op)?.[1] ?? FilterOperator.UNSPECIFIED,
                value: (value ?? "").trim(),
              },
      }),
    );
  }
  return { steps };
}

export const EMPTY_METRIC_FORM: MetricForm = {
  key: "",
  name: "",
  description: "",
  kind: MetricKind.COUNT,
  eventTypeKey: "",
  property: "",
  percentile: "95",
  numeratorMetricKey: "",
  denominatorMetricKey: "",
  requiresExposure: true,
  funnelSteps: "",
  funnelWindowHours: "24",
  funnelOrder: FunnelOrder.STRICT,
  dayFrom: "1",
  dayTo: "1",
  sessionGapMinutes: "30",
};

/** Which of the kind-dependent fields a metric kind uses. */
export function metricKindUses(kind: MetricKind): {
  eventType: boolean;
  property: boolean;
  percentile: boolean;
  ratio: boolean;
  funnel: boolean;
  retention: boolean;
  session: boolean;
} {
  const session = kind === MetricKind.SESSION_COUNT || kind === MetricKind.SESSION_DURATION;
  return {
    funnel: kind === MetricKind.FUNNEL,
    retention: kind === MetricKind.RETENTION,
    session,
    eventType: kind !== MetricKind.RATIO && kind !== MetricKind.FUNNEL,
    property: kind === MetricKind.SUM || kind === MetricKind.MEAN || kind === MetricKind.PERCENTILE,
    percentile: kind === MetricKind.PERCENTILE,
    ratio: kind === MetricKind.RATIO,
  };
}

export function metricToForm(m: Metric): MetricForm {
  return {
    key: m.key,
    name: m.name,
    description: m.description,
    kind: m.kind,
    eventTypeKey: m.eventTypeKey,
    property: m.property,
    percentile: m.kind === MetricKind.PERCENTILE ? String(m.percentile) : "95",
    numeratorMetricKey: m.numeratorMetricKey,
    denominatorMetricKey: m.denominatorMetricKey,
    requiresExposure: m.requiresExposure,
    funnelSteps: (m.funnel?.steps ?? []).map(stepToLine).join("\n"),
    funnelWindowHours:
      m.funnel === undefined ? "24" : String(Number(m.funnel.conversionWindowSeconds) / 3600),
    funnelOrder: m.funnel?.order ?? FunnelOrder.STRICT,
    dayFrom: String(m.retention?.dayFrom ?? 1),
    dayTo: String(m.retention?.dayTo ?? 1),
    sessionGapMinutes: String((m.session?.gapSeconds ?? 1800) / 60),
  };
}

/**
 * The metric message of Create/UpdateMetric. Fields the kind does not use are
 * sent empty (the server rejects them otherwise), so switching kinds in the
 * form never leaves stale values behind.
 */
export function buildMetric(form: MetricForm): { metric: Metric } | { errors: FieldError[] } {
  const uses = metricKindUses(form.kind);
  let percentile = 0;
  if (uses.percentile) {
    percentile = Number(form.percentile.trim());
    if (form.percentile.trim() === "" || !Number.isFinite(percentile)) {
      return {
        errors: [
          { field: "metric.percentile", message: "must be a number between 0 and 100, e.g. 95" },
        ],
      };
    }
  }
  const errors: FieldError[] = [];
  const number = (field: string, text: string, message: string): number => {
    const n = Number(text.trim());
    if (text.trim() === "" || !Number.isFinite(n)) errors.push({ field, message });
    return n;
  };
  let funnel: MetricInit["funnel"];
  if (uses.funnel) {
    const parsed = parseSteps(form.funnelSteps);
    if ("bad" in parsed) {
      errors.push({
        field: `metric.funnel.steps[${parsed.bad}]`,
        message: "write `event_type` or `event_type property op value` (op: = != > >= < <=)",
      });
    }
    const hours = number(
      "metric.funnel.conversion_window_seconds",
      form.funnelWindowHours,
      "must be a number of hours, e.g. 24",
    );
    funnel = {
      steps: "steps" in parsed ? parsed.steps : [],
      conversionWindowSeconds: BigInt(Number.isFinite(hours) ? Math.round(hours * 3600) : 0),
      order: form.funnelOrder,
    };
  }
  const retention = uses.retention
    ? {
        dayFrom: number(
          "metric.retention.day_from",
          form.dayFrom,
          "must be a whole number of days",
        ),
        dayTo: number("metric.retention.day_to", form.dayTo, "must be a whole number of days"),
      }
    : undefined;
  const gap = uses.session
    ? number("metric.session.gap_seconds", form.sessionGapMinutes, "must be a number of minutes")
    : 0;
  if (errors.length > 0) return { errors };
  return {
    metric: create(MetricSchema, {
      funnel,
      retention,
      session: uses.session ? { gapSeconds: Math.round(gap * 60) } : undefined,
      key: form.key.trim(),
      name: form.name.trim(),
      description: form.description,
      kind: form.kind,
      eventTypeKey: uses.eventType ? form.eventTypeKey : "",
      property: uses.property ? form.property.trim() : "",
      percentile,
      numeratorMetricKey: uses.ratio ? form.numeratorMetricKey : "",
      denominatorMetricKey: uses.ratio ? form.denominatorMetricKey : "",
      requiresExposure: form.requiresExposure,
    }),
  };
}

/** What a metric computes, in words: "p95 of latency.ms", "errors ÷ exposures". */
export function describeMetric(
  m: Pick<
    Metric,
    | "kind"
    | "eventTypeKey"
    | "property"
    | "percentile"
    | "numeratorMetricKey"
    | "denominatorMetricKey"
  >,
): string {
  switch (m.kind) {
    case MetricKind.COUNT:
      return `count of ${m.eventTypeKey} events`;
    case MetricKind.CONVERSION_RATE:
      return `share of exposed subjects with a ${m.eventTypeKey} event`;
    case MetricKind.SUM:
      return `sum of ${m.eventTypeKey}.${m.property}`;
    case MetricKind.MEAN:
      return `mean of ${m.eventTypeKey}.${m.property}`;
    case MetricKind.PERCENTILE:
      return `p${m.percentile} of ${m.eventTypeKey}.${m.property}`;
    case MetricKind.RATIO:
      return `${m.numeratorMetricKey} ÷ ${m.denominatorMetricKey}`;
    case MetricKind.FUNNEL:
      return "funnel";
    case MetricKind.RETENTION:
      return `retention on ${m.eventTypeKey}`;
    case MetricKind.SESSION_COUNT:
      return `sessions of ${m.eventTypeKey || "any event"}`;
    case MetricKind.SESSION_DURATION:
      return `time in sessions of ${m.eventTypeKey || "any event"}`;
    default:
      return "—";
  }
}

// ---------------------------------------------------------------- guardrail triggers

/** A number as people read it: up to 4 significant digits, no exponent for ordinary sizes. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (n === 0) return "0";
  const abs = Math.abs(n);
  if (abs >= 1e6 || abs < 1e-4) return n.toExponential(2);
  return String(Number(n.toPrecision(4)));
}

/** "1 h", "2 min", "45 s". */
export function formatWindow(seconds: number): string {
  if (seconds > 0 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds > 0 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** The comparison that breached: "0.3273 > 0.05" (increase is bad) or "0.01 < 0.02". */
export function triggerComparison(
  t: Pick<GuardrailTrigger, "observedValue" | "threshold" | "direction">,
): string {
  const op = t.direction === Direction.DECREASE_IS_BAD ? "<" : ">";
  return `${formatNumber(t.observedValue)} ${op} ${formatNumber(t.threshold)}`;
}

/** The action taken, in words. */
export function actionText(action: GuardrailAction): string {
  switch (action) {
    case GuardrailAction.PAUSE:
      return "Paused the experiment";
    case GuardrailAction.ROLLBACK:
      return "Paused the experiment and rolled back to the control value";
    default:
      return "No action recorded";
  }
}

/** The rule in words: "error_rate must not rise above 0.05 over 2 min". */
export function ruleText(
  t: Pick<GuardrailTrigger, "metricKey" | "threshold" | "direction" | "windowSeconds">,
): string {
  const verb = t.direction === Direction.DECREASE_IS_BAD ? "fall below" : "rise above";
  return `${t.metricKey} must not ${verb} ${formatNumber(t.threshold)} over ${formatWindow(t.windowSeconds)}`;
}

/** One sentence about a trigger. */
export function triggerSentence(t: GuardrailTrigger): string {
  const moved = t.direction === Direction.DECREASE_IS_BAD ? "fell to" : "rose to";
  const variant = t.variantKey !== "" ? ` in variant ${t.variantKey}` : "";
  return `${t.metricKey}${variant} ${moved} ${formatNumber(t.observedValue)} (threshold ${formatNumber(
    t.threshold,
  )}, ${t.sampleSize} samples); ${actionText(t.action).toLowerCase()}.`;
}
