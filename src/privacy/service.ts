/**
 * lotty.privacy.v1.PrivacyService: erasure jobs (recorded here, run by
 * worker.ts) and the export of what Lotty holds about a subject.
 * docs/data-rights.md.
 */
import { createHash, randomUUID } from "node:crypto";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type pg from "pg";
import type { PrivacyService } from "../../gen/lotty/privacy/v1/privacy_pb.js";
import { MAX_SUBJECT_ID_LENGTH } from "../decision/lookup.js";
import { subjectRows } from "../events/index.js";
import { requirePrincipal } from "../platform/auth.js";
import { FieldViolations, invalidArgument, notFound } from "../platform/errors.js";
import { mutateSql } from "../platform/mutation.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import { CONTROL_CHARACTERS, checkText, checkUuid, isUuid } from "../platform/validation.js";
import {
  ERASURE_AUDIT_ENTITY,
  erasureMessage,
  findErasure,
  insertErasure,
  listErasures,
} from "./jobs.js";

export const PRIVACY_LIMITS = {
  /** Subject ids per EraseSubjects call. */
  subjectIds: 1_000,
  /** Characters of a reason. */
  reasonLength: 500,
  /** Rows of each kind ExportSubjectData returns. */
  exportRows: 10_000,
  /** Bytes of event ids and properties it returns (responses are capped at 16 MiB). */
  exportEventBytes: 8 * 1024 * 1024,
};

/** Audit entries of exports: entity type; the entity id is subjectAuditId(subject id). */
export const EXPORT_AUDIT_ENTITY = "subject_data";

/**
 * How exports name the subject in the audit log: a SHA-256 of the subject
 * id, not the id itself, so the log (which erasure keeps) holds no
 * subject id in the clear.
 */
export function subjectAuditId(subjectId: string): string {
  return `sha256:${createHash("sha256").update(subjectId, "utf8").digest("hex")}`;
}

function checkSubjectId(v: FieldViolations, field: string, subjectId: string): void {
  if (subjectId === "") v.add(field, "is required");
  else if (subjectId.length > MAX_SUBJECT_ID_LENGTH) {
    v.add(field, `must be at most ${MAX_SUBJECT_ID_LENGTH} characters`);
  } else if (CONTROL_CHARACTERS.test(subjectId)) {
    v.add(field, "must not contain control characters");
  }
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

export interface PrivacyServiceDeps {
  pool: () => pg.Pool;
  /** Called after a job is committed: wakes the erasure worker(s). */
  erasureRequested: () => void;
}

export class PrivacyServiceImpl implements ServiceImpl<typeof PrivacyService> {
  constructor(private readonly deps: PrivacyServiceDeps) {}

  async eraseSubjects(req: { subjectIds: string[]; reason: string }, ctx: HandlerContext) {
    const principal = requirePrincipal(ctx);
    const v = new FieldViolations();
    if (req.subjectIds.length === 0) v.add("subject_ids", "is required (1 or more subject ids)");
    else if (req.subjectIds.length > PRIVACY_LIMITS.subjectIds) {
      v.add("subject_ids", `must have at most ${PRIVACY_LIMITS.subjectIds} subject ids`);
    } else {
      req.subjectIds.forEach((id, i) => checkSubjectId(v, `subject_ids[${i}]`, id));
    }
    const reason = checkText(v, "reason", req.reason, PRIVACY_LIMITS.reasonLength);
    v.throwIfAny();
    const subjectIds = [...new Set(req.subjectIds)];
    const id = randomUUID();
    const { result } = await mutateSql(this.deps.pool(), undefined, async (client) => {
      const row = await insertErasure(client, {
        id,
        subjectIds,
        reason,
        requestedBy: principal.userId,
      });
      return {
        result: row,
        audit: {
          actorId: principal.userId,
          entityType: ERASURE_AUDIT_ENTITY,
          entityId: id,
          action: "requested",
          toStatus: "pending",
          comment: reason,
          // The subject ids are in the job itself, not copied into the log.
          data: { subjects: subjectIds.length },
        },
      };
    });
    this.deps.erasureRequested();
    return { erasure: erasureMessage(result) };
  }

  async getErasure(req: { id: string }) {
    const v = new FieldViolations();
    checkUuid(v, "id", req.id);
    v.throwIfAny();
    const row = await findErasure(this.deps.pool(), req.id);
    if (row === undefined) throw notFound("erasure", req.id);
    return { erasure: erasureMessage(row) };
  }

  async listErasures(req: { pageSize: number; pageToken: string }) {
    const size = pageSize(req.pageSize);
    const after = afterOf(req.pageToken);
    const rows = await listErasures(this.deps.pool(), after, size + 1);
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      // Up to 1,000 ids of 256 characters per job: a page of them could
      // outgrow a response, so the list shows counts and GetErasure the ids.
      erasures: page.map((row) =>
        erasureMessage({ ...row, subject_ids: [] }, row.subject_ids.length),
      ),
      nextPageToken:
        rows.length > size && last ? encodePageToken(`${last.at_text}|${last.id}`) : "",
    };
  }

  async exportSubjectData(req: { subjectId: string }, ctx: HandlerContext) {
    const principal = requirePrincipal(ctx);
    const v = new FieldViolations();
    checkSubjectId(v, "subject_id", req.subjectId);
    v.throwIfAny();
    const pool = this.deps.pool();
    const data = await subjectRows(
      pool,
      req.subjectId,
      PRIVACY_LIMITS.exportRows,
      PRIVACY_LIMITS.exportEventBytes,
    );
    const exportedAt = new Date();
    // An export changes nothing: its audit row announces nothing.
    await mutateSql(pool, undefined, async () => ({
      result: undefined,
      audit: {
        actorId: principal.userId,
        entityType: EXPORT_AUDIT_ENTITY,
        entityId: subjectAuditId(req.subjectId),
        action: "exported",
        data: {
          events: data.events.length,
          exposures: data.exposures.length,
          pendingAttributions: data.pendingAttributions.length,
          truncated: data.truncated,
        },
      },
    }));
    return {
      subjectId: req.subjectId,
      events: data.events.map((e) => ({
        eventId: e.event_id,
        eventType: e.event_type,
        decisionId: e.decision_id,
        flagKey: e.flag_key,
        experimentId: e.experiment_id ?? "",
        variantKey: e.variant_key ?? "",
        occurredAt: timestampFromDate(e.occurred_at),
        receivedAt: timestampFromDate(e.received_at),
        properties: e.properties as JsonObject,
        counted: e.counted,
      })),
      truncated: data.truncated,
      exposures: data.exposures.map((x) => ({
        decisionId: x.decision_id,
        eventId: x.event_id,
        flagKey: x.flag_key,
        experimentId: x.experiment_id ?? "",
        variantKey: x.variant_key ?? "",
        exposedAt: timestampFromDate(x.exposed_at),
      })),
      pendingAttributions: data.pendingAttributions.map((p) => ({
        eventId: p.event_id,
        decisionId: p.decision_id,
        experimentId: p.experiment_id ?? "",
        occurredAt: timestampFromDate(p.occurred_at),
        expiresAt: timestampFromDate(p.expires_at),
      })),
      exportedAt: timestampFromDate(exportedAt),
    };
  }
}
