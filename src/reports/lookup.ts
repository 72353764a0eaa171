/**
 * The reports' read model for other modules (the guardrail monitor, the
 * ramp autopilot): a report's plan for an experiment, the percentile ranks
 * a report uses, and the report builder's type.
 * The windowed figures themselves come from the analytics module.
 */
import type pg from "pg";

export { ranksFor, type ReportBuilder } from "./builder.js";
export { loadPlan } from "./plan.js";

/** The stored outcome report (proto3 JSON of a Report) of a completed experiment, if any. */
export async function storedOutcomeReport(
  db: pg.Pool | pg.PoolClient,
  experimentId: string,
): Promise<string | null> {
  const { rows } = await db.query<{ report: string }>(
    `select report::text as report from outcome_reports where experiment_id = $1`,
    [experimentId],
  );
  return rows[0]?.report ?? null;
}
