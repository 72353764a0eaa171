/**
 * One audited configuration change, the one way every configuration
 * mutation is written: open a transaction, run the change, write the audit
 * row(s) it declares and stage its announcements (a configuration notice,
 * a lifecycle event; changes.ts) in the outbox in that transaction, commit,
 * then relay them (outbox.ts).
 *
 * Two thin variants share that sequence: `mutate` for changes made through
 * the ORM (an EntityManager), `mutateSql` for changes made in SQL with a pg
 * client (audit.ts `insertAudit`).
 */
import type { EntityManager } from "@mikro-orm/core";
import type pg from "pg";
import { insertAudit, recordAudit, type AuditEntry, type AuditRecord } from "./audit.js";
import type { ChangePublisher, ConfigChange, LifecycleEvent } from "./changes.js";
import { outboxInsert, type OutboxMessage } from "./outbox.js";
import { withTransaction } from "./transaction.js";

/** The configuration change notice published after commit. */
export type ConfigNotice = Omit<ConfigChange, "at">;

/** What a change callback returns: its result, its audit rows and its announcements. */
export interface Change<T, Entry = unknown> {
  result: T;
  /**
   * The audit row(s) the change writes. None (undefined or empty) when the
   * change changed nothing: then nothing is announced either.
   */
  audit?: AuditRecord | readonly AuditRecord[];
  /** Staged in the outbox with the change when audited, relayed after commit. */
  notice?: ConfigNotice;
  /**
   * The lifecycle event of the change, from its first audit row (its id
   * makes the event's dedup key); staged after the notice. Undefined: none.
   */
  lifecycle?: (entry: Entry) => LifecycleEvent | undefined;
}

export interface Mutated<T, Entry> {
  result: T;
  /** The audit rows written, in the order declared; empty when nothing changed. */
  entries: Entry[];
}

/** Runs `work` in a transaction on `Tx`, committing when it resolves. */
type Transaction<Tx> = <R>(work: (tx: Tx) => Promise<R>) => Promise<R>;

async function mutation<Tx, Entry, T>(
  transaction: Transaction<Tx>,
  writeAudit: (tx: Tx, records: readonly AuditRecord[]) => Promise<Entry[]>,
  stage: (tx: Tx, message: OutboxMessage) => Promise<void>,
  changes: ChangePublisher | undefined,
  change: (tx: Tx) => Promise<Change<T, Entry>>,
): Promise<Mutated<T, Entry>> {
  const { done, entries, staged } = await transaction(async (tx) => {
    const done = await change(tx);
    const records = done.audit === undefined ? [] : [done.audit].flat();
    const entries = await writeAudit(tx, records);
    let staged = false;
    if (entries.length > 0 && changes !== undefined) {
      const messages: OutboxMessage[] = [];
      if (done.notice !== undefined) messages.push(changes.configMessage(done.notice));
      const event = done.lifecycle?.(entries[0] as Entry);
      if (event !== undefined) messages.push(changes.lifecycleMessage(event));
      for (const message of messages) await stage(tx, message);
      staged = messages.length > 0;
    }
    return { done, entries, staged };
  });
  if (staged) await changes?.committed(done.notice !== undefined);
  return { result: done.result, entries };
}

/**
 * An audited change through the ORM: `change` runs in a transaction of `em`
 * (it may flush; what it leaves unflushed is flushed with the audit rows).
 */
export function mutate<T>(
  em: EntityManager,
  changes: ChangePublisher | undefined,
  change: (tx: EntityManager) => Promise<Change<T, AuditEntry>>,
): Promise<Mutated<T, AuditEntry>> {
  return mutation<EntityManager, AuditEntry, T>(
    (work) => em.transactional(work),
    async (tx, records) => {
      const entries = records.map((record) => recordAudit(tx, record));
      await tx.flush();
      return entries;
    },
    async (tx, message) => {
      const { sql, params } = outboxInsert(message, "?");
      await tx.getConnection().execute(sql, params, "run", tx.getTransactionContext());
    },
    changes,
    change,
  );
}

/** An audited change in SQL: `change` runs in a transaction on a client of `pool`. */
export function mutateSql<T>(
  pool: pg.Pool,
  changes: ChangePublisher | undefined,
  change: (client: pg.PoolClient) => Promise<Change<T, AuditRecord>>,
): Promise<Mutated<T, AuditRecord>> {
  return mutation<pg.PoolClient, AuditRecord, T>(
    (work) => withTransaction(pool, work),
    async (client, records) => {
      for (const record of records) await insertAudit(client, record);
      return [...records];
    },
    async (client, message) => {
      const { sql, params } = outboxInsert(message, "$n");
      await client.query(sql, params);
    },
    changes,
    change,
  );
}
