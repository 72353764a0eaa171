/**
 * The experiments' read model for other modules: read-only questions about
 * experiments, the configuration types, and the experiment entity for the
 * read models that load experiments (reports' plan, the guardrail monitor).
 * Changes go through transitions.ts.
 */
import type { EntityManager } from "@mikro-orm/core";
import type pg from "pg";
import { Experiment, type ExperimentConfig, type ExperimentStatusName } from "./entities.js";

export { Experiment };
export type {
  ExperimentConfig,
  ExperimentStatusName,
  GuardrailConfig,
  RampGatesConfig,
  RampModeName,
  RampPlanConfig,
  RampSafetyActionName,
  RampThresholdConfig,
  VariantConfig,
} from "./entities.js";

/** The running or paused experiment on `flagKey`, if any (there is at most one). */
export async function findActiveExperimentOnFlag(
  em: EntityManager,
  flagKey: string,
): Promise<{ id: string; status: ExperimentStatusName } | null> {
  const active = await em.findOne(
    Experiment,
    { flag: flagKey, status: { $in: ["running", "paused"] } },
    { fields: ["id", "status"] },
  );
  return active === null ? null : { id: active.id, status: active.status };
}

export { guardrailToMessage, OUTCOME_NAMES, OUTCOME_VALUES } from "./messages.js";

/** A completed (or archived) experiment as the learnings library records it. */
export interface CompletedExperimentFacts {
  id: string;
  flagKey: string;
  ownerId: string;
  config: ExperimentConfig;
  outcome: string;
  winnerVariantKey: string | null;
  justification: string;
  startedAt: Date | null;
  completedAt: Date;
}

export function completedFacts(experiment: Experiment): CompletedExperimentFacts {
  return {
    id: experiment.id,
    flagKey: experiment.flag.key,
    ownerId: experiment.ownerId,
    config: experiment.config,
    outcome: experiment.outcome ?? "",
    winnerVariantKey: experiment.winnerVariantKey ?? null,
    justification: experiment.justification ?? "",
    startedAt: experiment.startedAt ?? null,
    completedAt: experiment.completedAt ?? experiment.updatedAt,
  };
}

/** How many experiments were completed (completed or archived, with an outcome). */
export function countCompleted(em: EntityManager): Promise<number> {
  return em.count(Experiment, {
    status: { $in: ["completed", "archived"] },
    outcome: { $ne: null },
  });
}

/** Completed experiments, except `exceptIds`, oldest completion first. */
export async function listCompleted(
  em: EntityManager,
  exceptIds: ReadonlySet<string>,
): Promise<CompletedExperimentFacts[]> {
  const experiments = await em.find(
    Experiment,
    { status: { $in: ["completed", "archived"] }, outcome: { $ne: null } },
    { orderBy: { completedAt: "asc", id: "asc" } },
  );
  return experiments.filter((e) => !exceptIds.has(e.id)).map(completedFacts);
}

/** An experiment by id (any status), or null; for read models. */
export function findExperiment(em: EntityManager, id: string): Promise<Experiment | null> {
  return em.findOne(Experiment, { id });
}

/** Experiments the ramp autopilot drives: ramp in AUTO or HOLD, running or paused, oldest start first. */
export async function rampingExperimentIds(db: pg.Pool | pg.PoolClient): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select id::text as id from experiments
     where ramp_mode in ('auto', 'hold') and status in ('running', 'paused')
     order by started_at, id`,
  );
  return rows.map((r) => r.id);
}

/** Whether a ramp safety action was recorded for the experiment at or after `at`. */
export async function rampSafetyActionSince(
  db: pg.Pool | pg.PoolClient,
  experimentId: string,
  at: Date,
): Promise<boolean> {
  const { rows } = await db.query(
    `select 1 from ramp_events where experiment_id = $1 and kind = 'safety_action' and at >= $2 limit 1`,
    [experimentId, at],
  );
  return rows.length > 0;
}

/** An experiment as notifications name it. */
export interface ExperimentHeadline {
  id: string;
  name: string;
  flagKey: string;
  ownerId: string;
  status: ExperimentStatusName;
  primaryMetricKey: string;
  startedAt: Date | null;
  completedAt: Date | null;
}

interface HeadlineRow {
  id: string;
  name: string | null;
  flag_key: string;
  owner_id: string;
  status: ExperimentStatusName;
  primary_metric_key: string | null;
  started_at: Date | null;
  completed_at: Date | null;
}

const HEADLINE_COLUMNS = `id::text as id, config->>'name' as name, flag_key, owner_id::text as owner_id,
  status, config->>'primaryMetricKey' as primary_metric_key, started_at, completed_at`;

function headline(row: HeadlineRow): ExperimentHeadline {
  return {
    id: row.id,
    name: row.name ?? "",
    flagKey: row.flag_key,
    ownerId: row.owner_id,
    status: row.status,
    primaryMetricKey: row.primary_metric_key ?? "",
    startedAt: row.started_at,
    completedAt: row.completed_at,
  };
}

/** Every running experiment, oldest start first. */
export async function runningExperiments(
  db: pg.Pool | pg.PoolClient,
): Promise<ExperimentHeadline[]> {
  const { rows } = await db.query<HeadlineRow>(
    `select ${HEADLINE_COLUMNS} from experiments where status = 'running'
     order by started_at, id`,
  );
  return rows.map(headline);
}

/**
 * The experiments a notification rule's source filters select (each filter
 * null = any) that are running or paused, or completed at or after
 * `completedSince`; oldest start first.
 */
export async function experimentsSelected(
  db: pg.Pool | pg.PoolClient,
  filter: { experimentId: string | null; flagKey: string | null; ownerId: string | null },
  completedSince: Date,
): Promise<ExperimentHeadline[]> {
  const { rows } = await db.query<HeadlineRow>(
    `select ${HEADLINE_COLUMNS} from experiments
     where ($1::uuid is null or id = $1::uuid)
       and ($2::text is null or flag_key = $2)
       and ($3::uuid is null or owner_id = $3::uuid)
       and (status in ('running', 'paused') or (status = 'completed' and completed_at >= $4))
     order by started_at, id`,
    [filter.experimentId, filter.flagKey, filter.ownerId, completedSince],
  );
  return rows.map(headline);
}

/** An experiment whose current version uses a saved segment. */
export interface SavedSegmentUsage {
  experimentId: string;
  flagKey: string;
  experimentName: string;
  experimentVersion: number;
  segmentVersion: number;
  status: string;
}

/**
 * The experiments that keep saved segment `key` from being deleted: those
 * not completed or archived whose current version compiled it in
 * (docs/saved-segments.md), oldest first. Older versions do not count: the
 * current version is what decide serves and what an edit starts from.
 */
export async function experimentsUsingSavedSegment(
  db: pg.Pool | pg.PoolClient,
  key: string,
): Promise<SavedSegmentUsage[]> {
  const { rows } = await db.query<{
    id: string;
    flag_key: string;
    name: string;
    version: number;
    segment_version: number;
    status: string;
  }>(
    `select e.id::text as id, e.flag_key, e.config ->> 'name' as name, e.version, e.status,
            (select (s ->> 'version')::int from jsonb_array_elements(e.config -> 'savedSegments') s
             where s ->> 'key' = $1 limit 1) as segment_version
     from experiments e
     where e.status not in ('completed', 'archived')
       and e.config -> 'savedSegments' @> jsonb_build_array(jsonb_build_object('key', $1::text))
     order by e.created_at, e.id`,
    [key],
  );
  return rows.map((r) => ({
    experimentId: r.id,
    flagKey: r.flag_key,
    experimentName: r.name,
    experimentVersion: r.version,
    segmentVersion: r.segment_version,
    status: r.status,
  }));
}
