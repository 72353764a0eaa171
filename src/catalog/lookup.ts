/**
 * The catalog's face for other modules (experiments, events, guardrails,
 * reports): look-ups that read through the caller's EntityManager, so they
 * see, and take part in, the caller's transaction; the built-in exposure
 * event type; and the metric entity and types, for read models that load
 * metrics (reports' plan).
 */
import type { EntityManager } from "@mikro-orm/core";
import { Metric } from "./entities.js";
import { lockSavedSegmentRules as lockRules } from "./saved-segments.js";
import { COHORT_METRIC_KINDS } from "./validation.js";

export { Metric };
export type { MetricDefinitionConfig, MetricKindName, PropertyFilterConfig } from "./entities.js";
export { COHORT_METRIC_KINDS, EXPOSURE_EVENT_TYPE } from "./validation.js";

/**
 * The keys among `keys` that an experiment may not reference: no such
 * metric, or an archived one. Each key once, in the order first given; an
 * empty result means every key is usable.
 */
export async function findUnusableMetricKeys(
  em: EntityManager,
  keys: readonly string[],
): Promise<string[]> {
  const wanted = [...new Set(keys)];
  if (wanted.length === 0) return [];
  const usable = await em.find(Metric, { key: { $in: wanted }, archivedAt: null });
  const found = new Set(usable.map((metric) => metric.key));
  return wanted.filter((key) => !found.has(key));
}

/**
 * The current rules (and versions) of the saved segments named, read in the
 * caller's transaction and locked FOR SHARE there, so that a concurrent
 * DeleteSavedSegment waits for the caller to commit. Deleted and unknown
 * keys are absent from the map.
 */
export function lockSavedSegmentRules(
  em: EntityManager,
  keys: readonly string[],
): Promise<Map<string, { rule: string; version: number }>> {
  return lockRules(
    (sql, params) =>
      em.getConnection().execute(sql, params, "all", em.getTransactionContext()) as Promise<
        { key: string; rule: string; version: number }[]
      >,
    keys,
  );
}

export { savedSegmentRule } from "./saved-segments.js";
export type { SavedSegmentUser } from "./saved-segments.js";

/**
 * The keys among `keys` of metrics computed from the raw events of a
 * report's cohort (FUNNEL, RETENTION, session kinds): reports compute
 * them, guardrails cannot watch them.
 */
export async function findCohortMetricKeys(
  em: EntityManager,
  keys: readonly string[],
): Promise<string[]> {
  const wanted = [...new Set(keys)];
  if (wanted.length === 0) return [];
  const rows = await em.find(Metric, {
    key: { $in: wanted },
    kind: { $in: [...COHORT_METRIC_KINDS] },
  });
  return rows.map((m) => m.key);
}
