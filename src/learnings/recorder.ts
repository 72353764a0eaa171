/**
 * How learnings come to exist: recorded in the transaction that completes
 * an experiment (ExperimentService calls {@link LearningRecorder.record}
 * through the hook services.ts wires), written for experiments completed
 * before this module existed by {@link backfillLearnings} at start, and
 * consulted by ArchiveExperiment when the owner's review policy asks for a
 * written-up learning first.
 */
import type { EntityManager } from "@mikro-orm/core";
import type pg from "pg";
import { exposedSegmentValues } from "../analytics/index.js";
import {
  countCompleted,
  listCompleted,
  type CompletedExperimentFacts,
} from "../experiments/lookup.js";
import { findFlag } from "../flags/lookup.js";
import { firedGuardrailMetricKeys } from "../guardrails/lookup.js";
import { storedOutcomeReport } from "../reports/lookup.js";
import { CONTEXT_DIMENSIONS, missingFields, newLearning, type LearningRow } from "./entry.js";
import { insertLearning, insertLearningTx, loadLearningTx } from "./store.js";

/** At most this many segment values per dimension default a learning's context. */
const SEGMENT_VALUES = 20;

async function buildRow(
  em: EntityManager,
  pool: pg.Pool,
  experiment: CompletedExperimentFacts,
  reportJson: string | null,
): Promise<LearningRow> {
  const [flag, fired, segments] = await Promise.all([
    findFlag(em, experiment.flagKey, "flag_key"),
    firedGuardrailMetricKeys(pool, [experiment.id]),
    exposedSegmentValues(pool, experiment.id, CONTEXT_DIMENSIONS, SEGMENT_VALUES),
  ]);
  return newLearning(experiment, {
    flagTags: flag.tags,
    reportJson,
    firedGuardrailMetricKeys: fired.get(experiment.id) ?? [],
    segmentValues: segments,
    now: new Date(),
  });
}

export class LearningRecorder {
  constructor(private readonly pool: () => pg.Pool) {}

  /**
   * Records the learning of an experiment being completed, in its
   * transaction `tx`; `reportJson` is the outcome report stored with it.
   */
  async record(
    tx: EntityManager,
    experiment: CompletedExperimentFacts,
    reportJson: string | null,
  ): Promise<void> {
    await insertLearningTx(tx, await buildRow(tx, this.pool(), experiment, reportJson));
  }

  /**
   * What keeps an experiment's learning from counting as written up (field
   * names), read in the archiving transaction `tx`; empty when it counts.
   */
  async missingForArchive(tx: EntityManager, experimentId: string): Promise<string[]> {
    const row = await loadLearningTx(tx, experimentId);
    return row === undefined ? ["learning"] : missingFields(row);
  }
}

/**
 * Writes the learnings of completed experiments that have none (those
 * completed before the learnings library existed). Idempotent and cheap
 * when there is nothing to do (two counts). Returns how many it wrote.
 */
export async function backfillLearnings(em: EntityManager, pool: pg.Pool): Promise<number> {
  const [completed, recorded] = await Promise.all([
    countCompleted(em),
    pool.query<{ n: number }>(`select count(*)::int as n from learnings`),
  ]);
  if (completed <= (recorded.rows[0]?.n ?? 0)) return 0;
  const { rows } = await pool.query<{ id: string }>(
    `select experiment_id::text as id from learnings`,
  );
  const missing = await listCompleted(em, new Set(rows.map((r) => r.id)));
  for (const experiment of missing) {
    const report = await storedOutcomeReport(pool, experiment.id);
    await insertLearning(pool, await buildRow(em, pool, experiment, report));
  }
  return missing.length;
}
