/**
 * The raw event export job table (`event_exports`, migration EventExports):
 * its row shape, the statements the service, the worker and the download
 * link share, and the row as the contract shows it. docs/event-export.md.
 */
import path from "node:path";
import type pg from "pg";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  EventExportFormat,
  EventExportSchema,
  EventExportStatus,
  type EventExport,
} from "../../gen/lotty/reports/v1/event_export_pb.js";
import { EVENT_EXPORT_CONTENT_TYPES, type EventExportFormatName } from "./event-export-files.js";

export type EventExportStatusName = "queued" | "running" | "done" | "failed" | "expired";

export interface EventExportRow {
  id: string;
  experiment_id: string;
  window_from: Date;
  window_to: Date;
  format: EventExportFormatName;
  status: EventExportStatusName;
  created_by: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  expires_at: Date | null;
  rows: string;
  bytes: string;
  error: string;
  attempts: number;
  lease_until: Date | null;
  file_name: string | null;
}

export const EVENT_EXPORT_COLUMNS_SQL = `id, experiment_id::text, window_from, window_to, format, status,
  created_by::text, created_at, started_at, finished_at, expires_at, rows::text, bytes::text, error,
  attempts, lease_until, file_name`;

/** Audit entries of exports: entity type, and the job's id as entity id. */
export const EVENT_EXPORT_AUDIT_ENTITY = "event_export";

/** How long a finished export's file is kept. */
export const EVENT_EXPORT_TTL_HOURS = 24;

export const FORMAT_NAMES: Partial<Record<EventExportFormat, EventExportFormatName>> = {
  [EventExportFormat.CSV]: "csv",
  [EventExportFormat.JSONL]: "jsonl",
  [EventExportFormat.PARQUET]: "parquet",
};

const FORMATS: Record<EventExportFormatName, EventExportFormat> = {
  csv: EventExportFormat.CSV,
  jsonl: EventExportFormat.JSONL,
  parquet: EventExportFormat.PARQUET,
};

const STATUSES: Record<EventExportStatusName, EventExportStatus> = {
  queued: EventExportStatus.QUEUED,
  running: EventExportStatus.RUNNING,
  done: EventExportStatus.DONE,
  failed: EventExportStatus.FAILED,
  expired: EventExportStatus.EXPIRED,
};

/** `20261122T183000Z`: a file-name-safe UTC time. */
function compactTime(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/** The name a download suggests: `events-<experiment>-<from>-<to>.<format>`. */
export function eventExportFilename(row: EventExportRow): string {
  return `events-${row.experiment_id}-${compactTime(row.window_from)}-${compactTime(row.window_to)}.${row.format}`;
}

/** Where a job's file is written: `<dir>/<id>.<format>` (a `.part` while being written). */
export function eventExportPath(dir: string, row: { id: string; format: string }): string {
  return path.join(dir, `${row.id}.${row.format}`);
}

export function eventExportMessage(row: EventExportRow): EventExport {
  const at = (d: Date | null) => (d === null ? undefined : timestampFromDate(d));
  return create(EventExportSchema, {
    id: row.id,
    experimentId: row.experiment_id,
    from: timestampFromDate(row.window_from),
    to: timestampFromDate(row.window_to),
    format: FORMATS[row.format] ?? EventExportFormat.UNSPECIFIED,
    status: STATUSES[row.status] ?? EventExportStatus.UNSPECIFIED,
    rows: BigInt(row.rows),
    bytes: BigInt(row.bytes),
    error: row.status === "failed" ? row.error : "",
    createdBy: row.created_by ?? "",
    createdAt: timestampFromDate(row.created_at),
    startedAt: at(row.started_at),
    finishedAt: at(row.finished_at),
    expiresAt: row.status === "done" || row.status === "expired" ? at(row.expires_at) : undefined,
    filename: eventExportFilename(row),
    contentType: EVENT_EXPORT_CONTENT_TYPES[row.format] ?? "application/octet-stream",
  });
}

/** Records a new job, QUEUED, within the caller's transaction. */
export async function insertEventExport(
  client: pg.ClientBase,
  job: {
    id: string;
    experimentId: string;
    from: Date;
    to: Date;
    format: EventExportFormatName;
    createdBy: string;
  },
): Promise<EventExportRow> {
  const { rows } = await client.query<EventExportRow>(
    `insert into event_exports (id, experiment_id, window_from, window_to, format, status,
       created_by, created_at)
     values ($1, $2, $3, $4, $5, 'queued', $6, clock_timestamp())
     returning ${EVENT_EXPORT_COLUMNS_SQL}`,
    [job.id, job.experimentId, job.from, job.to, job.format, job.createdBy],
  );
  return rows[0]!;
}

export async function findEventExport(
  pool: pg.Pool | pg.ClientBase,
  id: string,
): Promise<EventExportRow | undefined> {
  const { rows } = await pool.query<EventExportRow>(
    `select ${EVENT_EXPORT_COLUMNS_SQL} from event_exports where id = $1`,
    [id],
  );
  return rows[0];
}

/** One page of an experiment's jobs, newest first, after the (created_at text, id) of the last row shown. */
export async function listEventExports(
  pool: pg.Pool,
  experimentId: string,
  after: { at: string; id: string } | undefined,
  limit: number,
): Promise<(EventExportRow & { at_text: string })[]> {
  const { rows } = await pool.query<EventExportRow & { at_text: string }>(
    `select ${EVENT_EXPORT_COLUMNS_SQL}, created_at::text as at_text from event_exports
     where experiment_id = $1
       and ($2::timestamptz is null or (created_at, id) < ($2::timestamptz, $3::uuid))
     order by created_at desc, id desc
     limit $4`,
    [experimentId, after?.at ?? null, after?.id ?? null, limit],
  );
  return rows;
}

/**
 * Makes the finished exports of these experiments expire now (an erasure
 * removed events that their files still hold): the export worker deletes
 * the files at its next sweep. Returns how many.
 */
export async function expireEventExportsOf(
  pool: pg.Pool,
  experimentIds: readonly string[],
): Promise<number> {
  if (experimentIds.length === 0) return 0;
  const { rowCount } = await pool.query(
    `update event_exports set expires_at = least(expires_at, clock_timestamp())
     where experiment_id = any($1::uuid[]) and status = 'done'`,
    [experimentIds],
  );
  return rowCount ?? 0;
}
