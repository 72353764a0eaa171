/**
 * The learnings' SQL: recording a new learning (inside the transaction that
 * completed its experiment, or in the backfill), reading rows, and saving an
 * edit with its history row.
 */
import type { EntityManager } from "@mikro-orm/core";
import type pg from "pg";
import type { LearningRow } from "./entry.js";

/** The columns of `learnings` a row carries (everything but `search`). */
const COLUMNS = `experiment_id, experiment_name, flag_key, owner_id, hypothesis, primary_metric_key,
  metric_keys, metric_set, guardrails, fired_guardrail_metric_keys, outcome, winner_variant_key,
  justification, result, action, tags, targeting_rule, targeting_summary, targeting_terms,
  platforms, countries, versions, links, notes, audience_percent, variant_keys, variant_weights,
  primary_effect, planned_days, started_at, completed_at, version, created_at, updated_at,
  updated_by`;

/**
 * Inserts a learning and its first history entry unless the experiment
 * already has one (a completion repeated by a backfill). `placeholder` is
 * the row as JSON: `?` through the ORM, `$1` through pg.
 */
function insertSql(placeholder: string): string {
  return `with row as (
      select * from jsonb_populate_record(null::learnings, ${placeholder}::jsonb)
    ), inserted as (
      insert into learnings (${COLUMNS})
      select ${COLUMNS} from row
      on conflict (experiment_id) do nothing
      returning experiment_id, created_at
    )
    insert into learning_edits (experiment_id, version, editor_id, edited_at, changes)
    select experiment_id, 1, null, created_at, '[]'::jsonb from inserted`;
}

/** Records a new learning in the ORM transaction `tx`. */
export async function insertLearningTx(tx: EntityManager, row: LearningRow): Promise<void> {
  await tx
    .getConnection()
    .execute(insertSql("?"), [JSON.stringify(row)], "run", tx.getTransactionContext());
}

/** Records a new learning through pg. */
export async function insertLearning(db: pg.Pool | pg.PoolClient, row: LearningRow) {
  await db.query(insertSql("$1"), [JSON.stringify(row)]);
}

/** The row as `LearningRow` JSON. */
export const ROW_JSON = `(to_jsonb(l) - 'search')`;

export async function loadLearning(
  db: pg.Pool | pg.PoolClient,
  experimentId: string,
  lock = false,
): Promise<LearningRow | undefined> {
  const { rows } = await db.query<{ row: LearningRow }>(
    `select ${ROW_JSON} as row from learnings l where experiment_id = $1${lock ? " for update" : ""}`,
    [experimentId],
  );
  return rows[0]?.row;
}

/** Whether the experiment's learning is written up, in the ORM transaction `tx`. */
export async function loadLearningTx(
  tx: EntityManager,
  experimentId: string,
): Promise<Pick<LearningRow, "notes" | "action" | "updated_by"> | undefined> {
  const rows = await tx
    .getConnection()
    .execute<{ notes: string; action: string; updated_by: string | null }[]>(
      `select notes, action, updated_by::text as updated_by from learnings where experiment_id = ?`,
      [experimentId],
      "all",
      tx.getTransactionContext(),
    );
  return rows[0];
}

/** A changed field: its name in the contract and its JSON before and after. */
export interface FieldChangeRow {
  field: string;
  before: unknown;
  after: unknown;
}

/** Saves the editable fields of `next` as a new version, with its history entry. */
export async function saveEdit(
  client: pg.PoolClient,
  next: LearningRow,
  editorId: string,
  changes: FieldChangeRow[],
): Promise<LearningRow> {
  const { rows } = await client.query<{ row: LearningRow }>(
    `update learnings l set hypothesis = $2, result = $3, action = $4, tags = $5, platforms = $6,
       countries = $7, versions = $8, links = $9::jsonb, notes = $10, planned_days = $11,
       version = version + 1, updated_at = now(), updated_by = $12
     where experiment_id = $1
     returning ${ROW_JSON} as row`,
    [
      next.experiment_id,
      next.hypothesis,
      next.result,
      next.action,
      next.tags,
      next.platforms,
      next.countries,
      next.versions,
      JSON.stringify(next.links),
      next.notes,
      next.planned_days,
      editorId,
    ],
  );
  const saved = rows[0]!;
  await client.query(
    `insert into learning_edits (experiment_id, version, editor_id, edited_at, changes)
     values ($1, $2, $3, $4, $5::jsonb)`,
    [
      saved.row.experiment_id,
      saved.row.version,
      editorId,
      saved.row.updated_at,
      JSON.stringify(changes),
    ],
  );
  return saved.row;
}

export interface EditRow {
  version: number;
  editor_id: string | null;
  edited_at: Date;
  changes: FieldChangeRow[];
}

export async function loadHistory(db: pg.Pool, experimentId: string): Promise<EditRow[]> {
  const { rows } = await db.query<EditRow>(
    `select version, editor_id::text as editor_id, edited_at, changes from learning_edits
     where experiment_id = $1 order by version desc`,
    [experimentId],
  );
  return rows;
}
