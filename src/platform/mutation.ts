/**
 * One audited configuration change, the one way every configuration
 * mutation is written: open a transaction, run the change, write the audit
 * row(s) it declares in that transaction, commit, then announce it
 * (changes.ts) after the commit.
 *
 * Two thin variants share that sequence: `mutate` for changes made through
 * the ORM (an EntityManager), `mutateSql` for changes made in SQL with a pg
 * client (audit.ts `insertAudit`).
 */
import type { EntityManager } from "@mikro-orm/core";
import type pg from "pg";
import { insertAudit, recordAudit, type AuditEntry, type AuditRecord } from "./audit.js";
import type { ChangePublisher, ConfigChange } from "./changes.js";
import { withTransaction } from "./transaction.js";

/** The configuration change notice published after commit. */
export type ConfigNotice = Omit<ConfigChange, "at">;

/** What a change callback returns: its result, its audit rows and its notice. */
export interface Change<T> {
  result: T;
  /**
   * The audit row(s) the change writes. None (undefined or empty) when the
   * change changed nothing: then nothing is announced either.
   */
  audit?: AuditRecord | readonly AuditRecord[];
  /** Published (ChangePublisher.configChanged) after commit, when audited. */
  notice?: ConfigNotice;
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
  changes: ChangePublisher | undefined,
  change: (tx: Tx) => Promise<Change<T>>,
): Promise<Mutated<T, Entry>> {
  const { done, entries } = await transaction(async (tx) => {
    const done = await change(tx);
    const records = done.audit === undefined ? [] : [done.audit].flat();
    return { done, entries: await writeAudit(tx, records) };
  });
  if (entries.length > 0 && done.notice !== undefined) {
    await changes?.configChanged(done.notice);
  }
  return { result: done.result, entries };
}

/**
 * An audited change through the ORM: `change` runs in a transaction of `em`
 * (it may flush; what it leaves unflushed is flushed with the audit rows).
 */
export function mutate<T>(
  em: EntityManager,
  changes: ChangePublisher | undefined,
  change: (tx: EntityManager) => Promise<Change<T>>,
): Promise<Mutated<T, AuditEntry>> {
  return mutation<EntityManager, AuditEntry, T>(
    (work) => em.transactional(work),
    async (tx, records) => {
      const entries = records.map((record) => recordAudit(tx, record));
      await tx.flush();
      return entries;
    },
    changes,
    change,
  );
}

/** An audited change in SQL: `change` runs in a transaction on a client of `pool`. */
export function mutateSql<T>(
  pool: pg.Pool,
  changes: ChangePublisher | undefined,
  change: (client: pg.PoolClient) => Promise<Change<T>>,
): Promise<Mutated<T, AuditRecord>> {
  return mutation<pg.PoolClient, AuditRecord, T>(
    (work) => withTransaction(pool, work),
    async (client, records) => {
      for (const record of records) await insertAudit(client, record);
      return [...records];
    },
    changes,
    change,
  );
}
