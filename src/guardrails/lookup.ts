/**
 * The guardrails' read model for other modules: which guardrails fired for
 * an experiment (the learnings library records it with the outcome; the
 * ramp autopilot checks a step with it).
 */
import type pg from "pg";

/** Metric keys of the guardrails that fired, per experiment, in rule order. */
export async function firedGuardrailMetricKeys(
  db: pg.Pool | pg.PoolClient,
  experimentIds: readonly string[],
): Promise<Map<string, string[]>> {
  const fired = new Map<string, string[]>();
  if (experimentIds.length === 0) return fired;
  const { rows } = await db.query<{ experiment_id: string; metric_key: string }>(
    `select experiment_id::text as experiment_id, metric_key from guardrail_triggers
     where experiment_id = any($1::uuid[])
     group by experiment_id, metric_key order by experiment_id, min(rule_index), metric_key`,
    [experimentIds],
  );
  for (const r of rows)
    fired.set(r.experiment_id, [...(fired.get(r.experiment_id) ?? []), r.metric_key]);
  return fired;
}

/** Metric keys of the triggers of one experiment at or after `since`, oldest first, with the latest time. */
export async function guardrailTriggersSince(
  db: pg.Pool | pg.PoolClient,
  experimentId: string,
  since: Date,
): Promise<{ metricKeys: string[]; latest: Date | undefined }> {
  const { rows } = await db.query<{ metric_key: string; triggered_at: Date }>(
    `select metric_key, triggered_at from guardrail_triggers
     where experiment_id = $1 and triggered_at >= $2 order by triggered_at`,
    [experimentId, since],
  );
  return { metricKeys: rows.map((r) => r.metric_key), latest: rows.at(-1)?.triggered_at };
}
