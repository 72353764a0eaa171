/**
 * lotty.reports.v1.EventExportService: raw event export jobs (recorded
 * here, written by event-export-worker.ts), reading their files by pages
 * and one-time download links (event-export-link.ts).
 * docs/event-export.md.
 */
import { randomUUID } from "node:crypto";
import { open } from "node:fs/promises";
import path from "node:path";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { EntityManager } from "@mikro-orm/core";
import type pg from "pg";
import type {
  EventExportFormat,
  EventExportService,
} from "../../gen/lotty/reports/v1/event_export_pb.js";
import { Experiment } from "../experiments/lookup.js";
import { requirePrincipal } from "../platform/auth.js";
import { FieldViolations, invalidArgument, notFound } from "../platform/errors.js";
import { mutateSql } from "../platform/mutation.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import { checkUuid, isUuid } from "../platform/validation.js";
import { EVENT_EXPORT_LINK_TTL_SECONDS, newEventExportLink } from "./event-export-link.js";
import {
  EVENT_EXPORT_AUDIT_ENTITY,
  FORMAT_NAMES,
  eventExportMessage,
  findEventExport,
  insertEventExport,
  listEventExports,
  type EventExportRow,
} from "./event-exports.js";

export const EVENT_EXPORT_LIMITS = {
  /** Bytes ReadEventExport returns when max_bytes is 0. */
  defaultReadBytes: 1024 * 1024,
  /** Most bytes one ReadEventExport returns (responses are capped at 16 MiB). */
  maxReadBytes: 8 * 1024 * 1024,
};

export interface EventExportServiceDeps {
  em: () => EntityManager;
  pool: () => pg.Pool;
  /** The export directory (LOTTY_EXPORT_DIR), shared with the workers. */
  dir: string;
  serverSecret: () => string | undefined;
  /** Called after a job is committed: wakes the export worker(s). */
  exportRequested: () => void;
  now?: () => number;
}

/** Page tokens carry the last row's creation time (µs precision kept as text) and id. */
function afterOf(token: string): { at: string; id: string } | undefined {
  const after = decodePageToken(token);
  if (after === undefined) return undefined;
  const [at, id] = after.split("|");
  if (at === undefined || id === undefined || !isUuid(id) || Number.isNaN(Date.parse(at))) {
    throw invalidArgument("page_token", "is not a token returned by this RPC");
  }
  return { at, id };
}

function checkId(id: string): void {
  const v = new FieldViolations();
  checkUuid(v, "id", id);
  v.throwIfAny();
}

function notDone(row: EventExportRow): ConnectError {
  const why =
    row.status === "queued" || row.status === "running"
      ? "is not written yet; wait until it is EVENT_EXPORT_STATUS_DONE"
      : row.status === "failed"
        ? "failed; start a new one"
        : "has expired and its file was deleted; start a new one";
  return new ConnectError(`event export ${JSON.stringify(row.id)} ${why}`, Code.FailedPrecondition);
}

export class EventExportServiceImpl implements ServiceImpl<typeof EventExportService> {
  constructor(private readonly deps: EventExportServiceDeps) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  async startEventExport(
    req: { experimentId: string; from?: Timestamp; to?: Timestamp; format: EventExportFormat },
    ctx: HandlerContext,
  ) {
    const principal = requirePrincipal(ctx);
    const v = new FieldViolations();
    checkUuid(v, "experiment_id", req.experimentId);
    const format = FORMAT_NAMES[req.format];
    if (format === undefined) {
      v.add(
        "format",
        "must be EVENT_EXPORT_FORMAT_CSV, EVENT_EXPORT_FORMAT_JSONL or EVENT_EXPORT_FORMAT_PARQUET",
      );
    }
    v.throwIfAny();
    const experiment = await this.deps.em().findOne(Experiment, { id: req.experimentId });
    if (experiment === null) throw notFound("experiment", req.experimentId);
    const from = req.from
      ? timestampDate(req.from)
      : (experiment.startedAt ?? experiment.createdAt);
    const to = req.to ? timestampDate(req.to) : new Date(this.now());
    if (to.getTime() <= from.getTime()) {
      throw invalidArgument("to", `must be after from (${from.toISOString()})`);
    }
    const id = randomUUID();
    const { result } = await mutateSql(this.deps.pool(), undefined, async (client) => {
      const row = await insertEventExport(client, {
        id,
        experimentId: req.experimentId,
        from,
        to,
        format: format!,
        createdBy: principal.userId,
      });
      return {
        result: row,
        audit: {
          actorId: principal.userId,
          entityType: EVENT_EXPORT_AUDIT_ENTITY,
          entityId: id,
          action: "requested",
          toStatus: "queued",
          data: {
            experimentId: req.experimentId,
            format,
            from: from.toISOString(),
            to: to.toISOString(),
          },
        },
      };
    });
    this.deps.exportRequested();
    return { eventExport: eventExportMessage(result) };
  }

  async getEventExport(req: { id: string }) {
    checkId(req.id);
    const row = await findEventExport(this.deps.pool(), req.id);
    if (row === undefined) throw notFound("event export", req.id);
    return { eventExport: eventExportMessage(row) };
  }

  async listEventExports(req: { experimentId: string; pageSize: number; pageToken: string }) {
    const v = new FieldViolations();
    checkUuid(v, "experiment_id", req.experimentId);
    v.throwIfAny();
    const size = pageSize(req.pageSize);
    const after = afterOf(req.pageToken);
    const rows = await listEventExports(this.deps.pool(), req.experimentId, after, size + 1);
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      eventExports: page.map(eventExportMessage),
      nextPageToken:
        rows.length > size && last ? encodePageToken(`${last.at_text}|${last.id}`) : "",
    };
  }

  async readEventExport(
    req: { id: string; offset: bigint; maxBytes: number },
    ctx: HandlerContext,
  ) {
    const principal = requirePrincipal(ctx);
    const v = new FieldViolations();
    checkUuid(v, "id", req.id);
    if (req.offset < 0n) v.add("offset", "must be 0 or more");
    if (req.maxBytes < 0 || req.maxBytes > EVENT_EXPORT_LIMITS.maxReadBytes) {
      v.add(
        "max_bytes",
        `must be between 1 and ${EVENT_EXPORT_LIMITS.maxReadBytes} (0 means ${EVENT_EXPORT_LIMITS.defaultReadBytes})`,
      );
    }
    v.throwIfAny();
    const pool = this.deps.pool();
    const row = await findEventExport(pool, req.id);
    if (row === undefined) throw notFound("event export", req.id);
    if (row.status !== "done" || row.file_name === null) throw notDone(row);
    const size = Number(row.bytes);
    const offset = Number(req.offset);
    if (offset > size) throw invalidArgument("offset", `must be at most the file's size, ${size}`);
    const want = Math.min(req.maxBytes || EVENT_EXPORT_LIMITS.defaultReadBytes, size - offset);
    const data = new Uint8Array(want);
    let read = 0;
    let handle;
    try {
      handle = await open(path.join(this.deps.dir, row.file_name), "r");
    } catch {
      throw new ConnectError(
        `event export ${JSON.stringify(row.id)}'s file is not available on this server; it may have expired`,
        Code.FailedPrecondition,
      );
    }
    try {
      while (read < want) {
        const { bytesRead } = await handle.read(data, read, want - read, offset + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
    } finally {
      await handle.close();
    }
    if (offset === 0) {
      // Reading a file from its start is a download: audited (not each page).
      await mutateSql(pool, undefined, async () => ({
        result: undefined,
        audit: {
          actorId: principal.userId,
          entityType: EVENT_EXPORT_AUDIT_ENTITY,
          entityId: row.id,
          action: "downloaded",
          data: { via: "api", experimentId: row.experiment_id, bytes: size },
        },
      }));
    }
    const next = offset + read;
    return {
      data: read === want ? data : data.subarray(0, read),
      nextOffset: BigInt(next),
      eof: next >= size,
      size: BigInt(size),
    };
  }

  async createEventExportLink(req: { id: string }, ctx: HandlerContext) {
    const principal = requirePrincipal(ctx);
    checkId(req.id);
    const pool = this.deps.pool();
    const row = await findEventExport(pool, req.id);
    if (row === undefined) throw notFound("event export", req.id);
    if (row.status !== "done" || row.expires_at === null) throw notDone(row);
    const secret = this.deps.serverSecret();
    if (secret === undefined) {
      throw new ConnectError("the database is not ready yet; retry shortly", Code.Unavailable);
    }
    const link = newEventExportLink(secret, row.id);
    const expiresAt = new Date(
      Math.min(this.now() + EVENT_EXPORT_LINK_TTL_SECONDS * 1000, row.expires_at.getTime()),
    );
    await mutateSql(pool, undefined, async (client) => {
      await client.query(
        `insert into event_export_links (nonce, export_id, created_by, created_at, expires_at)
         values ($1, $2, $3, clock_timestamp(), $4)`,
        [link.nonce, row.id, principal.userId, expiresAt],
      );
      return {
        result: undefined,
        audit: {
          actorId: principal.userId,
          entityType: EVENT_EXPORT_AUDIT_ENTITY,
          entityId: row.id,
          action: "link_created",
          data: { experimentId: row.experiment_id, expiresAt: expiresAt.toISOString() },
        },
      };
    });
    return { path: link.path, expiresAt: timestampFromDate(expiresAt) };
  }
}
