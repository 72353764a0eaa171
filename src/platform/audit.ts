/**
 * The audit log: one row per mutation, written through the same
 * EntityManager (and so the same transaction) as the change it records.
 */
import { randomUUID } from "node:crypto";
import { defineEntity, p, type EntityManager } from "@mikro-orm/core";
import type pg from "pg";

export const AuditEntrySchema = defineEntity({
  name: "AuditEntry",
  tableName: "audit_log",
  indexes: [{ properties: ["entityType", "entityId", "at"] }],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    at: p.datetime().onCreate(() => new Date()),
    /** The user who acted; null for the system itself (bootstrap, guardrails). */
    actorId: p.uuid().nullable(),
    entityType: p.string().length(50),
    entityId: p.string().length(200),
    action: p.string().length(50),
    fromStatus: p.string().length(50).nullable(),
    toStatus: p.string().length(50).nullable(),
    version: p.integer().nullable(),
    comment: p.text().nullable(),
    /** Extra detail: attribute names and non-secret values only. */
    data: p.json<Record<string, unknown>>().nullable(),
  },
});
export class AuditEntry extends AuditEntrySchema.class {}
AuditEntrySchema.setClass(AuditEntry);

export interface AuditRecord {
  actorId: string | null;
  entityType: string;
  entityId: string;
  action: string;
  fromStatus?: string;
  toStatus?: string;
  version?: number;
  comment?: string;
  data?: Record<string, unknown>;
}

/** Queues an audit row on `em`; it is written by the caller's flush. */
export function recordAudit(em: EntityManager, record: AuditRecord): AuditEntry {
  return em.create(AuditEntry, {
    actorId: record.actorId,
    entityType: record.entityType,
    entityId: record.entityId,
    action: record.action,
    fromStatus: record.fromStatus ?? null,
    toStatus: record.toStatus ?? null,
    version: record.version ?? null,
    comment: record.comment ?? null,
    data: record.data ?? null,
  });
}

/**
 * Writes an audit row with a pg client, for changes made in SQL: call it
 * inside the transaction of the change it records.
 */
export async function insertAudit(client: pg.ClientBase, record: AuditRecord): Promise<void> {
  await client.query(
    `insert into audit_log (id, at, actor_id, entity_type, entity_id, action, from_status,
       to_status, version, comment, data)
     values ($1, clock_timestamp(), $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      randomUUID(),
      record.actorId,
      record.entityType,
      record.entityId,
      record.action,
      record.fromStatus ?? null,
      record.toStatus ?? null,
      record.version ?? null,
      record.comment ?? null,
      record.data === undefined ? null : JSON.stringify(record.data),
    ],
  );
}
