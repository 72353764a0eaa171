/**
 * What a set of figures is computed for: an experiment's variants and its
 * metrics in report order, each resolved to the per-subject and
 * event-time quantities it needs. Reports load a plan from the catalog
 * (src/reports/plan.ts); the analytics reader only reads it.
 */
import {
  EXPOSURE_EVENT_TYPE,
  type MetricDefinitionConfig,
  type MetricKindName,
} from "../catalog/lookup.js";
import type { VariantConfig } from "../experiments/lookup.js";

/**
 * A per-subject quantity: the subject's count of events of a type
 * (property "") or the sum of a number property over them.
 */
export interface SubjectQuantity {
  eventType: string;
  property: string;
}

export interface PlannedMetric {
  key: string;
  kind: MetricKindName;
  eventType: string;
  property: string;
  /** For percentiles: a probability in (0, 1). */
  probability: number;
  /** For ratios: the numerator's and denominator's per-subject quantities. */
  numerator?: SubjectQuantity;
  denominator?: SubjectQuantity;
  /** FUNNEL, RETENTION and session kinds: their definition. */
  definition?: MetricDefinitionConfig;
}

export interface ReportPlan {
  experimentId: string;
  version: number;
  status: string;
  variants: VariantConfig[];
  audiencePercent: number;
  primaryMetricKey: string;
  metrics: PlannedMetric[];
  /** Default window start: first start, else creation. */
  defaultFrom: number;
  completedAt: number | undefined;
}

export function quantityKey(q: SubjectQuantity): string {
  return `${q.eventType}\n${q.property}`;
}

export function isExposureCount(q: SubjectQuantity): boolean {
  return q.eventType === EXPOSURE_EVENT_TYPE && q.property === "";
}

/** The per-subject quantities the plan's subject metrics need, each once. */
export function subjectQuantities(plan: ReportPlan): SubjectQuantity[] {
  const seen = new Map<string, SubjectQuantity>();
  const add = (q: SubjectQuantity) => seen.set(quantityKey(q), q);
  for (const m of plan.metrics) {
    if (m.kind === "count" || m.kind === "conversion_rate")
      add({ eventType: m.eventType, property: "" });
    else if (m.kind === "sum") add({ eventType: m.eventType, property: m.property });
    else if (m.kind === "ratio" && m.numerator && m.denominator) {
      add(m.numerator);
      add(m.denominator);
    }
  }
  return [...seen.values()];
}

/** The event-time quantities a report reads: exposure events, and MEAN metrics' properties. */
export function eventQuantities(plan: ReportPlan): SubjectQuantity[] {
  const seen = new Map<string, SubjectQuantity>();
  const add = (q: SubjectQuantity) => seen.set(quantityKey(q), q);
  add({ eventType: EXPOSURE_EVENT_TYPE, property: "" });
  for (const m of plan.metrics) {
    if (m.kind === "mean") add({ eventType: m.eventType, property: m.property });
  }
  return [...seen.values()];
}
