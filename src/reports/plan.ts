/**
 * What a report computes: the experiment's variants and its metrics in
 * report order (primary, secondary, then guardrail metrics not listed
 * before), each resolved to the rollup figures it needs.
 */
import type { EntityManager } from "@mikro-orm/core";
import { EXPOSURE_EVENT_TYPE, Metric, type MetricKindName } from "../catalog/lookup.js";
import { Experiment, type VariantConfig } from "../experiments/lookup.js";
import { notFound } from "../platform/errors.js";

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

/** Loads the plan; NOT_FOUND when the experiment does not exist. */
export async function loadPlan(em: EntityManager, experimentId: string): Promise<ReportPlan> {
  const experiment = await em.findOne(Experiment, { id: experimentId });
  if (experiment === null) throw notFound("experiment", experimentId);
  const config = experiment.config;
  const keys: string[] = [];
  for (const key of [
    config.primaryMetricKey,
    ...config.metricKeys,
    ...config.guardrails.map((g) => g.metricKey),
  ]) {
    if (key !== "" && !keys.includes(key)) keys.push(key);
  }
  const rows = await em.find(Metric, { key: { $in: keys } });
  const byKey = new Map(rows.map((m) => [m.key, m]));
  // Ratio parts are metrics of their own, possibly not selected.
  const parts = rows.flatMap((m) =>
    [m.numerator?.key, m.denominator?.key].filter((k): k is string => k !== undefined),
  );
  const missing = parts.filter((k) => !byKey.has(k));
  if (missing.length > 0) {
    for (const m of await em.find(Metric, { key: { $in: missing } })) byKey.set(m.key, m);
  }
  const quantityOf = (key: string | undefined): SubjectQuantity => {
    const m = key === undefined ? undefined : byKey.get(key);
    return {
      eventType: m?.eventType?.key ?? "",
      property: m?.kind === "sum" ? (m.property ?? "") : "",
    };
  };
  const metrics: PlannedMetric[] = [];
  for (const key of keys) {
    const m = byKey.get(key);
    // A metric deleted from the catalog cannot be computed; metrics are
    // archived, never deleted, so this does not happen in practice.
    if (m === undefined) continue;
    const planned: PlannedMetric = {
      key,
      kind: m.kind,
      eventType: m.eventType?.key ?? "",
      property: m.property ?? "",
      probability: Number(m.percentile ?? 0) / 100,
    };
    if (m.kind === "ratio") {
      planned.numerator = quantityOf(m.numerator?.key);
      planned.denominator = quantityOf(m.denominator?.key);
    }
    metrics.push(planned);
  }
  return {
    experimentId,
    version: experiment.version,
    status: experiment.status,
    variants: config.variants,
    audiencePercent: config.audiencePercent,
    primaryMetricKey: config.primaryMetricKey,
    metrics,
    defaultFrom: (experiment.startedAt ?? experiment.createdAt).getTime(),
    completedAt: experiment.completedAt?.getTime(),
  };
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
