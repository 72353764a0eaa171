/**
 * Request validation for CatalogService: every problem names its field by
 * its path in the request (`event_type.properties[2].name`,
 * `metric.percentile`). Pure functions; the checks that need stored rows
 * (references to other event types and metrics) take them as arguments.
 */
import {
  FilterOperator,
  FunnelOrder,
  MetricKind,
  PropertyType,
} from "../../gen/lotty/catalog/v1/catalog_pb.js";
import type {
  EventType as EventTypeMessage,
  Metric as MetricMessage,
} from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { FieldViolations } from "../platform/errors.js";
import { CONTROL_CHARACTERS, checkText } from "../platform/validation.js";
import type {
  EventPropertyConfig,
  FilterOperatorName,
  MetricDefinitionConfig,
  MetricKindName,
  PropertyTypeName,
} from "./entities.js";

/** Event type and metric keys: 1–64 characters of `A-Z a-z 0-9 _ - .`, starting with a letter. */
export const KEY_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
export const MAX_KEY_LENGTH = 64;
/** Property names: 1–64 characters of `A-Z a-z 0-9 _`, not starting with a digit. */
export const PROPERTY_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
export const MAX_NAME_LENGTH = 200;
export const MAX_DESCRIPTION_LENGTH = 2000;
export const MAX_PROPERTIES = 50;

/**
 * The built-in event type: it cannot be changed or archived. The one
 * definition of it; other modules read it through catalog/lookup.ts.
 */
export const EXPOSURE_EVENT_TYPE = "exposure";

const PROPERTY_TYPE_NAMES: ReadonlyMap<PropertyType, PropertyTypeName> = new Map([
  [PropertyType.STRING, "string"],
  [PropertyType.NUMBER, "number"],
  [PropertyType.BOOL, "bool"],
  [PropertyType.TIMESTAMP, "timestamp"],
]);

const METRIC_KIND_NAMES: ReadonlyMap<MetricKind, MetricKindName> = new Map([
  [MetricKind.COUNT, "count"],
  [MetricKind.CONVERSION_RATE, "conversion_rate"],
  [MetricKind.SUM, "sum"],
  [MetricKind.MEAN, "mean"],
  [MetricKind.RATIO, "ratio"],
  [MetricKind.PERCENTILE, "percentile"],
  [MetricKind.FUNNEL, "funnel"],
  [MetricKind.RETENTION, "retention"],
  [MetricKind.SESSION_COUNT, "session_count"],
  [MetricKind.SESSION_DURATION, "session_duration"],
]);

const FILTER_OPERATOR_NAMES: ReadonlyMap<FilterOperator, FilterOperatorName> = new Map([
  [FilterOperator.EQUAL, "eq"],
  [FilterOperator.NOT_EQUAL, "ne"],
  [FilterOperator.GREATER, "gt"],
  [FilterOperator.GREATER_OR_EQUAL, "ge"],
  [FilterOperator.LESS, "lt"],
  [FilterOperator.LESS_OR_EQUAL, "le"],
]);

export function filterOperatorName(op: FilterOperator): FilterOperatorName | undefined {
  return FILTER_OPERATOR_NAMES.get(op);
}

export function filterOperatorFromName(name: string): FilterOperator {
  for (const [op, stored] of FILTER_OPERATOR_NAMES) if (stored === name) return op;
  return FilterOperator.UNSPECIFIED;
}

/** Funnel limits (catalog.proto FunnelDefinition). */
export const MIN_FUNNEL_STEPS = 2;
export const MAX_FUNNEL_STEPS = 10;
export const MIN_CONVERSION_WINDOW_SECONDS = 60;
export const MAX_CONVERSION_WINDOW_SECONDS = 90 * 86_400;
export const MAX_RETENTION_DAY = 365;
export const DEFAULT_SESSION_GAP_SECONDS = 1800;
export const MIN_SESSION_GAP_SECONDS = 60;
export const MAX_SESSION_GAP_SECONDS = 86_400;
const MAX_FILTER_VALUE_LENGTH = 1000;

export function propertyTypeName(type: PropertyType): PropertyTypeName | undefined {
  return PROPERTY_TYPE_NAMES.get(type);
}

export function propertyTypeFromName(name: string): PropertyType {
  for (const [type, stored] of PROPERTY_TYPE_NAMES) if (stored === name) return type;
  return PropertyType.UNSPECIFIED;
}

export function metricKindName(kind: MetricKind): MetricKindName | undefined {
  return METRIC_KIND_NAMES.get(kind);
}

export function metricKindFromName(name: string): MetricKind {
  for (const [kind, stored] of METRIC_KIND_NAMES) if (stored === name) return kind;
  return MetricKind.UNSPECIFIED;
}

/** What each metric kind needs besides key, name and description. */
export interface KindFields {
  /** true: required; "optional": may be empty; false: must be empty. */
  eventType: boolean | "optional";
  property: boolean;
  percentile: boolean;
  ratio: boolean;
}

export const KIND_FIELDS: Readonly<Record<MetricKindName, KindFields>> = {
  count: { eventType: true, property: false, percentile: false, ratio: false },
  conversion_rate: { eventType: true, property: false, percentile: false, ratio: false },
  sum: { eventType: true, property: true, percentile: false, ratio: false },
  mean: { eventType: true, property: true, percentile: false, ratio: false },
  percentile: { eventType: true, property: true, percentile: true, ratio: false },
  ratio: { eventType: false, property: false, percentile: false, ratio: true },
  funnel: { eventType: false, property: false, percentile: false, ratio: false },
  retention: { eventType: true, property: false, percentile: false, ratio: false },
  session_count: { eventType: "optional", property: false, percentile: false, ratio: false },
  session_duration: { eventType: "optional", property: false, percentile: false, ratio: false },
};

/** Kinds computed from the raw events of the report's cohort (analytics/cohort-metrics.ts). */
export const COHORT_METRIC_KINDS: ReadonlySet<MetricKindName> = new Set([
  "funnel",
  "retention",
  "session_count",
  "session_duration",
]);

/** Kinds a ratio metric may divide. */
export const RATIO_OPERAND_KINDS: ReadonlySet<MetricKindName> = new Set(["count", "sum"]);

/** Adds a violation unless `value` is a catalog key; returns it unchanged. */
export function checkKey(v: FieldViolations, field: string, value: string): string {
  if (value === "") v.add(field, "is required");
  else if (value.length > MAX_KEY_LENGTH) {
    v.add(field, `must be at most ${MAX_KEY_LENGTH} characters`);
  } else if (!KEY_PATTERN.test(value)) {
    v.add(
      field,
      "must start with a letter and contain only letters, digits, '_', '-' and '.' (e.g. checkout_completed)",
    );
  }
  return value;
}

/** Optional free text: trimmed, at most `max` characters, no control characters but tab and newlines. */
export function checkDescription(v: FieldViolations, field: string, value: string): string {
  const trimmed = value.trim();
  if ([...trimmed].length > MAX_DESCRIPTION_LENGTH) {
    v.add(field, `must be at most ${MAX_DESCRIPTION_LENGTH} characters`);
  } else if (CONTROL_CHARACTERS.test(trimmed)) {
    v.add(field, "must not contain control characters");
  }
  return trimmed;
}

/** The stored shape of an event type taken from a request. */
export interface EventTypeDraft {
  key: string;
  name: string;
  description: string;
  properties: EventPropertyConfig[];
  requiresExposure: boolean;
}

/** Validates the input fields of an EventType message (output-only fields are ignored). */
export function checkEventType(
  v: FieldViolations,
  field: string,
  input: EventTypeMessage | undefined,
): EventTypeDraft {
  if (input === undefined) {
    v.add(field, "is required");
    return { key: "", name: "", description: "", properties: [], requiresExposure: false };
  }
  const key = checkKey(v, `${field}.key`, input.key);
  const name = checkText(v, `${field}.name`, input.name, MAX_NAME_LENGTH);
  const description = checkDescription(v, `${field}.description`, input.description);
  if (input.properties.length > MAX_PROPERTIES) {
    v.add(`${field}.properties`, `must have at most ${MAX_PROPERTIES} entries`);
  }
  const seen = new Set<string>();
  const properties: EventPropertyConfig[] = [];
  input.properties.forEach((property, i) => {
    const at = `${field}.properties[${i}]`;
    if (property.name === "") v.add(`${at}.name`, "is required");
    else if (!PROPERTY_NAME_PATTERN.test(property.name)) {
      v.add(
        `${at}.name`,
        "must be 1–64 characters of letters, digits and '_', not starting with a digit",
      );
    } else if (seen.has(property.name)) {
      v.add(`${at}.name`, `duplicate property name ${JSON.stringify(property.name)}`);
    }
    seen.add(property.name);
    const type = propertyTypeName(property.type);
    if (type === undefined) {
      v.add(
        `${at}.type`,
        `is required: use PROPERTY_TYPE_STRING, PROPERTY_TYPE_NUMBER, PROPERTY_TYPE_BOOL or PROPERTY_TYPE_TIMESTAMP`,
      );
    }
    properties.push({ name: property.name, type: type ?? "string", required: property.required });
  });
  return { key, name, description, properties, requiresExposure: input.requiresExposure };
}

/** The stored shape of a metric taken from a request; references are keys. */
export interface MetricDraft {
  key: string;
  name: string;
  description: string;
  kind: MetricKindName | undefined;
  eventTypeKey: string | null;
  property: string | null;
  percentile: number | null;
  numeratorKey: string | null;
  denominatorKey: string | null;
  requiresExposure: boolean;
  /** FUNNEL, RETENTION and session kinds; null otherwise. */
  definition: MetricDefinitionConfig | null;
}

/**
 * Validates the input fields of a Metric message on their own: formats, the
 * fields the kind needs and the ones it must leave empty. References are
 * checked against stored rows by checkMetricReferences.
 */
export function checkMetric(
  v: FieldViolations,
  field: string,
  input: MetricMessage | undefined,
): MetricDraft {
  if (input === undefined) {
    v.add(field, "is required");
    return {
      key: "",
      name: "",
      description: "",
      kind: undefined,
      eventTypeKey: null,
      property: null,
      percentile: null,
      numeratorKey: null,
      denominatorKey: null,
      requiresExposure: false,
      definition: null,
    };
  }
  const key = checkKey(v, `${field}.key`, input.key);
  const name = checkText(v, `${field}.name`, input.name, MAX_NAME_LENGTH);
  const description = checkDescription(v, `${field}.description`, input.description);
  const kind = metricKindName(input.kind);
  const draft: MetricDraft = {
    key,
    name,
    description,
    kind,
    eventTypeKey: null,
    property: null,
    percentile: null,
    numeratorKey: null,
    denominatorKey: null,
    requiresExposure: input.requiresExposure,
    definition: null,
  };
  if (kind === undefined) {
    v.add(
      `${field}.kind`,
      "is required: use METRIC_KIND_COUNT, METRIC_KIND_CONVERSION_RATE, METRIC_KIND_SUM, METRIC_KIND_MEAN, METRIC_KIND_RATIO, METRIC_KIND_PERCENTILE, METRIC_KIND_FUNNEL, METRIC_KIND_RETENTION, METRIC_KIND_SESSION_COUNT or METRIC_KIND_SESSION_DURATION",
    );
    return draft;
  }
  const needs = KIND_FIELDS[kind];
  const kindName = `METRIC_KIND_${kind.toUpperCase()}`;
  const mustBeEmpty = (name: string, what = "be empty") =>
    v.add(`${field}.${name}`, `must ${what} for ${kindName}`);

  if (needs.eventType !== false) {
    if (input.eventTypeKey === "") {
      if (needs.eventType === true) {
        v.add(`${field}.event_type_key`, `is required for ${kindName}`);
      }
    } else draft.eventTypeKey = checkKey(v, `${field}.event_type_key`, input.eventTypeKey);
  } else if (input.eventTypeKey !== "") mustBeEmpty("event_type_key");

  if (needs.property) {
    if (input.property === "") {
      v.add(`${field}.property`, `is required for ${kindName}: name a number property`);
    } else if (!PROPERTY_NAME_PATTERN.test(input.property)) {
      v.add(`${field}.property`, "is not a valid property name");
    } else draft.property = input.property;
  } else if (input.property !== "") mustBeEmpty("property");

  if (needs.percentile) {
    if (!Number.isFinite(input.percentile) || input.percentile <= 0 || input.percentile >= 100) {
      v.add(
        `${field}.percentile`,
        `must be greater than 0 and less than 100 for ${kindName} (e.g. 50, 95, 99)`,
      );
    } else draft.percentile = input.percentile;
  } else if (input.percentile !== 0) mustBeEmpty("percentile", "be 0");

  if (needs.ratio) {
    const operand = (name: string, value: string): string | null => {
      if (value === "") {
        v.add(`${field}.${name}`, `is required for ${kindName}`);
        return null;
      }
      const before = v.size;
      checkKey(v, `${field}.${name}`, value);
      if (v.size > before) return null;
      if (value === key) {
        v.add(`${field}.${name}`, "must not be the metric itself");
        return null;
      }
      return value;
    };
    draft.numeratorKey = operand("numerator_metric_key", input.numeratorMetricKey);
    draft.denominatorKey = operand("denominator_metric_key", input.denominatorMetricKey);
    if (draft.numeratorKey !== null && draft.numeratorKey === draft.denominatorKey) {
      v.add(`${field}.denominator_metric_key`, "must differ from numerator_metric_key");
    }
  } else {
    if (input.numeratorMetricKey !== "") mustBeEmpty("numerator_metric_key");
    if (input.denominatorMetricKey !== "") mustBeEmpty("denominator_metric_key");
  }

  if (kind === "funnel") {
    const funnel = checkFunnel(v, `${field}.funnel`, input.funnel);
    if (funnel !== null) draft.definition = { funnel };
  } else if (input.funnel !== undefined) mustBeEmpty("funnel", "be unset");
  if (kind === "retention") {
    const retention = checkRetention(v, `${field}.retention`, input.retention);
    if (retention !== null) draft.definition = { retention };
  } else if (input.retention !== undefined) mustBeEmpty("retention", "be unset");
  if (kind === "session_count" || kind === "session_duration") {
    const gap = input.session?.gapSeconds ?? 0;
    if (gap !== 0 && (gap < MIN_SESSION_GAP_SECONDS || gap > MAX_SESSION_GAP_SECONDS)) {
      v.add(
        `${field}.session.gap_seconds`,
        `must be 0 (30 minutes) or ${MIN_SESSION_GAP_SECONDS}–${MAX_SESSION_GAP_SECONDS}`,
      );
    }
    draft.definition = { session: { gapSeconds: gap === 0 ? DEFAULT_SESSION_GAP_SECONDS : gap } };
  } else if (input.session !== undefined) mustBeEmpty("session", "be unset");
  return draft;
}

type FunnelInput = NonNullable<MetricMessage["funnel"]>;
type FunnelConfig = NonNullable<MetricDefinitionConfig["funnel"]>;

/** Formats of a funnel definition; its event types and properties are checked by checkMetricReferences. */
function checkFunnel(
  v: FieldViolations,
  field: string,
  input: FunnelInput | undefined,
): FunnelConfig | null {
  if (input === undefined) {
    v.add(field, "is required for METRIC_KIND_FUNNEL");
    return null;
  }
  const before = v.size;
  if (input.steps.length < MIN_FUNNEL_STEPS || input.steps.length > MAX_FUNNEL_STEPS) {
    v.add(`${field}.steps`, `must have ${MIN_FUNNEL_STEPS}–${MAX_FUNNEL_STEPS} steps`);
  }
  const steps: FunnelConfig["steps"] = input.steps.map((step, i) => {
    const at = `${field}.steps[${i}]`;
    if (step.eventTypeKey === "") v.add(`${at}.event_type_key`, "is required");
    else checkKey(v, `${at}.event_type_key`, step.eventTypeKey);
    if (step.filter === undefined) return { eventType: step.eventTypeKey, filter: null };
    const f = step.filter;
    if (f.property === "") v.add(`${at}.filter.property`, "is required");
    else if (!PROPERTY_NAME_PATTERN.test(f.property)) {
      v.add(`${at}.filter.property`, "is not a valid property name");
    }
    const operator = filterOperatorName(f.operator);
    if (operator === undefined) {
      v.add(
        `${at}.filter.operator`,
        "is required: use FILTER_OPERATOR_EQUAL, _NOT_EQUAL, _GREATER, _GREATER_OR_EQUAL, _LESS or _LESS_OR_EQUAL",
      );
    }
    if ([...f.value].length > MAX_FILTER_VALUE_LENGTH) {
      v.add(`${at}.filter.value`, `must be at most ${MAX_FILTER_VALUE_LENGTH} characters`);
    }
    return {
      eventType: step.eventTypeKey,
      // The type is filled in from the event type by checkMetricReferences.
      filter: { property: f.property, operator: operator ?? "eq", value: f.value, type: "string" },
    };
  });
  const window = Number(input.conversionWindowSeconds);
  if (
    !Number.isInteger(window) ||
    window < MIN_CONVERSION_WINDOW_SECONDS ||
    window > MAX_CONVERSION_WINDOW_SECONDS
  ) {
    v.add(
      `${field}.conversion_window_seconds`,
      `must be ${MIN_CONVERSION_WINDOW_SECONDS}–${MAX_CONVERSION_WINDOW_SECONDS} (90 days)`,
    );
  }
  const order =
    input.order === FunnelOrder.STRICT
      ? "strict"
      : input.order === FunnelOrder.LOOSE
        ? "loose"
        : undefined;
  if (order === undefined) {
    v.add(`${field}.order`, "is required: use FUNNEL_ORDER_STRICT or FUNNEL_ORDER_LOOSE");
  }
  if (v.size > before || order === undefined) return null;
  return { steps, windowSeconds: window, order };
}

function checkRetention(
  v: FieldViolations,
  field: string,
  input: MetricMessage["retention"],
): NonNullable<MetricDefinitionConfig["retention"]> | null {
  if (input === undefined) {
    v.add(field, "is required for METRIC_KIND_RETENTION");
    return null;
  }
  const before = v.size;
  if (!Number.isInteger(input.dayFrom) || input.dayFrom < 0 || input.dayFrom > MAX_RETENTION_DAY) {
    v.add(`${field}.day_from`, `must be 0–${MAX_RETENTION_DAY}`);
  } else if (
    !Number.isInteger(input.dayTo) ||
    input.dayTo < input.dayFrom ||
    input.dayTo > MAX_RETENTION_DAY
  ) {
    v.add(`${field}.day_to`, `must be day_from–${MAX_RETENTION_DAY} (equal to day_from for day N)`);
  }
  return v.size > before ? null : { dayFrom: input.dayFrom, dayTo: input.dayTo };
}

/** Checks a filter's constant against the property's declared type. */
function checkFilterValue(
  v: FieldViolations,
  at: string,
  filter: { operator: FilterOperatorName; value: string },
  type: PropertyTypeName,
): void {
  if (type !== "number" && filter.operator !== "eq" && filter.operator !== "ne") {
    v.add(`${at}.operator`, `only EQUAL and NOT_EQUAL apply to a ${type} property`);
  }
  if (type === "number") {
    const n = filter.value.trim() === "" ? Number.NaN : Number(filter.value);
    if (!Number.isFinite(n)) v.add(`${at}.value`, "must be a finite number (e.g. 12.5)");
  } else if (type === "bool" && filter.value !== "true" && filter.value !== "false") {
    v.add(`${at}.value`, 'must be "true" or "false"');
  }
}

/** What a metric's references resolved to; null when no such row exists. */
export interface ResolvedReferences {
  eventType?: {
    key: string;
    archived: boolean;
    properties: readonly EventPropertyConfig[];
  } | null;
  /** The funnel steps' event types by key (absent: no such event type). */
  stepEventTypes?: ReadonlyMap<
    string,
    { key: string; archived: boolean; properties: readonly EventPropertyConfig[] }
  >;
  numerator?: { key: string; archived: boolean; kind: MetricKindName } | null;
  denominator?: { key: string; archived: boolean; kind: MetricKindName } | null;
}

/** Checks a validated draft's references against the stored rows they name. */
export function checkMetricReferences(
  v: FieldViolations,
  field: string,
  draft: MetricDraft,
  refs: ResolvedReferences,
): void {
  if (draft.eventTypeKey !== null) {
    const eventType = refs.eventType;
    const at = `${field}.event_type_key`;
    if (eventType === undefined || eventType === null) {
      v.add(at, `no event type ${JSON.stringify(draft.eventTypeKey)} in the catalog`);
    } else if (eventType.archived) {
      v.add(at, `event type ${JSON.stringify(draft.eventTypeKey)} is archived`);
    } else if (draft.property !== null) {
      const property = eventType.properties.find((p) => p.name === draft.property);
      if (property === undefined) {
        v.add(
          `${field}.property`,
          `event type ${JSON.stringify(eventType.key)} has no property ${JSON.stringify(draft.property)}`,
        );
      } else if (property.type !== "number") {
        v.add(
          `${field}.property`,
          `property ${JSON.stringify(draft.property)} of event type ${JSON.stringify(eventType.key)} is a ${property.type} property; the kind needs a number property`,
        );
      }
    }
  }
  const operand = (
    name: string,
    key: string | null,
    metric: ResolvedReferences["numerator"],
  ): void => {
    if (key === null) return;
    const at = `${field}.${name}`;
    if (metric === undefined || metric === null) {
      v.add(at, `no metric ${JSON.stringify(key)} in the catalog`);
    } else if (metric.archived) {
      v.add(at, `metric ${JSON.stringify(key)} is archived`);
    } else if (!RATIO_OPERAND_KINDS.has(metric.kind)) {
      v.add(
        at,
        `metric ${JSON.stringify(key)} is a METRIC_KIND_${metric.kind.toUpperCase()} metric; a ratio divides METRIC_KIND_COUNT or METRIC_KIND_SUM metrics`,
      );
    }
  };
  operand("numerator_metric_key", draft.numeratorKey, refs.numerator);
  operand("denominator_metric_key", draft.denominatorKey, refs.denominator);
  draft.definition?.funnel?.steps.forEach((step, i) => {
    const at = `${field}.funnel.steps[${i}]`;
    const eventType = refs.stepEventTypes?.get(step.eventType);
    if (eventType === undefined) {
      v.add(
        `${at}.event_type_key`,
        `no event type ${JSON.stringify(step.eventType)} in the catalog`,
      );
      return;
    }
    if (eventType.archived) {
      v.add(`${at}.event_type_key`, `event type ${JSON.stringify(step.eventType)} is archived`);
      return;
    }
    if (step.filter === null) return;
    const property = eventType.properties.find((p) => p.name === step.filter?.property);
    if (property === undefined) {
      v.add(
        `${at}.filter.property`,
        `event type ${JSON.stringify(eventType.key)} declares no property ${JSON.stringify(step.filter.property)}`,
      );
      return;
    }
    step.filter.type = property.type;
    checkFilterValue(v, `${at}.filter`, step.filter, property.type);
  });
}

export { FieldViolations };
