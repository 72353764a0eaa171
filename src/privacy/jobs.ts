/**
 * The erasure job table (`erasures`, migration DataRights): its row shape,
 * the statements the service and the worker share, and the row as the
 * contract shows it.
 */
import type pg from "pg";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ErasureSchema,
  ErasureStatus,
  type Erasure,
} from "../../gen/lotty/privacy/v1/privacy_pb.js";

export type ErasureStatusName = "pending" | "running" | "done" | "failed";

export interface ErasureRow {
  id: string;
  status: ErasureStatusName;
  subject_ids: string[];
  reason: string;
  requested_by: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  error: string;
  attempts: number;
  lease_until: Date | null;
  deleted_at: Date | null;
  events: string;
  exposures: string;
  pending_attributions: string;
  affected_experiment_ids: string[];
  rebuilt_experiment_ids: string[];
}

/** Columns read back; uuid arrays as text arrays (pg returns uuid[] as a string otherwise). */
export const ERASURE_COLUMNS = `id, status, subject_ids, reason, requested_by, created_at, started_at,
  finished_at, error, attempts, lease_until, deleted_at, events::text, exposures::text,
  pending_attributions::text, affected_experiment_ids::text[], rebuilt_experiment_ids::text[]`;

/** Audit entries of erasures: entity type, and the job's id as entity id. */
export const ERASURE_AUDIT_ENTITY = "erasure";

const STATUSES: Record<ErasureStatusName, ErasureStatus> = {
  pending: ErasureStatus.PENDING,
  running: ErasureStatus.RUNNING,
  done: ErasureStatus.DONE,
  failed: ErasureStatus.FAILED,
};

/** The job as the contract shows it; `subjectCount` when `row.subject_ids` was left out. */
export function erasureMessage(row: ErasureRow, subjectCount = row.subject_ids.length): Erasure {
  return create(ErasureSchema, {
    id: row.id,
    status: STATUSES[row.status] ?? ErasureStatus.UNSPECIFIED,
    subjectIds: row.subject_ids,
    reason: row.reason,
    requestedBy: row.requested_by ?? "",
    createdAt: timestampFromDate(row.created_at),
    startedAt: row.started_at === null ? undefined : timestampFromDate(row.started_at),
    finishedAt: row.finished_at === null ? undefined : timestampFromDate(row.finished_at),
    error: row.status === "failed" ? row.error : "",
    removed: {
      events: BigInt(row.events),
      exposures: BigInt(row.exposures),
      pendingAttributions: BigInt(row.pending_attributions),
      affectedExperiments: row.affected_experiment_ids.length,
    },
    affectedExperimentIds: [...row.affected_experiment_ids].sort(),
    subjectCount,
  });
}

/** Records a new job, PENDING, within the caller's transaction. */
export async function insertErasure(
  client: pg.ClientBase,
  job: { id: string; subjectIds: string[]; reason: string; requestedBy: string },
): Promise<ErasureRow> {
  const { rows } = await client.query<ErasureRow>(
    `insert into erasures (id, status, subject_ids, reason, requested_by, created_at)
     values ($1, 'pending', $2::text[], $3, $4, clock_timestamp())
     returning ${ERASURE_COLUMNS}`,
    [job.id, job.subjectIds, job.reason, job.requestedBy],
  );
  return rows[0]!;
}

export async function findErasure(pool: pg.Pool, id: string): Promise<ErasureRow | undefined> {
  const { rows } = await pool.query<ErasureRow>(
    `select ${ERASURE_COLUMNS} from erasures where id = $1`,
    [id],
  );
  return rows[0];
}

/** One page of jobs, newest first, after the (created_at text, id) of the last row shown. */
export async function listErasures(
  pool: pg.Pool,
  after: { at: string; id: string } | undefined,
  limit: number,
): Promise<(ErasureRow & { at_text: string })[]> {
  const { rows } = await pool.query<ErasureRow & { at_text: string }>(
    `select ${ERASURE_COLUMNS}, created_at::text as at_text from erasures
     where ($1::timestamptz is null or (created_at, id) < ($1::timestamptz, $2::uuid))
     order by created_at desc, id desc
     limit $3`,
    [after?.at ?? null, after?.id ?? null, limit],
  );
  return rows;
}
