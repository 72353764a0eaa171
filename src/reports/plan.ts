/**
 * Loads what a report computes (the analytics module's ReportPlan): the
 * experiment's variants and its metrics in report order (primary,
 * secondary, then guardrail metrics not listed before).
 */
import type { EntityManager } from "@mikro-orm/core";
import { Metric } from "../catalog/lookup.js";
import { Experiment } from "../experiments/lookup.js";
import type { PlannedMetric, ReportPlan, SubjectQuantity } from "../analytics/index.js";
import { notFound } from "../platform/errors.js";

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
    if (m.definition !== null && m.definition !== undefined) planned.definition = m.definition;
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
