/**
 * The event store: writes batches of accepted events to PostgreSQL and
 * keeps attribution and the derived counts in the same transaction
 * (docs/events.md). Everything here is plain SQL over a small pg pool of
 * its own: a few set-based statements per batch (unnest arrays), never a
 * statement per event.
 *
 * Counting rule: an event is counted when its type does not require an
 * exposure, or when an exposure with its decision id exists. One that
 * requires an exposure and has none waits in pending_attributions until
 * its exposure arrives or its horizon (occurred_at + 7 days) passes.
 */
import pg from "pg";
import { withTransaction } from "../platform/transaction.js";
import type { EventMessage, IngestStat } from "./message.js";
import { addCounted } from "../analytics/index.js";
import { addStats, applyBatch, releasePending, type ApplyResult } from "./batch.js";
import { pgArray } from "../platform/pg-array.js";
import { DAY_MS, startOfDay } from "../platform/rows.js";
import { markRawEventsFrom } from "./retention.js";

export type { ApplyResult } from "./batch.js";

export interface EventStoreOptions {
  /** How many days of event partitions to keep; older ones are dropped. */
  retentionDays: number;
  /** Pool size; the consumer and the duplicate lookups share it. */
  maxConnections?: number;
}

export class EventStore {
  readonly pool: pg.Pool;
  private readonly partitions = new Set<string>();

  constructor(
    databaseUrl: string,
    private readonly options: EventStoreOptions,
  ) {
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max: options.maxConnections ?? 4,
      connectionTimeoutMillis: 5_000,
      // A lookup from the API must not hang a call when the database stalls.
      statement_timeout: 30_000,
    });
    // Errors of idle clients (database restarts) are reported on the next query.
    this.pool.on("error", () => {});
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** The ids among `eventIds` that are already stored. */
  async storedIds(eventIds: readonly string[]): Promise<Set<string>> {
    if (eventIds.length === 0) return new Set();
    const { rows } = await this.pool.query<{ event_id: string }>(
      `select event_id from event_ids where event_id = any($1::text[])`,
      [pgArray(eventIds)],
    );
    return new Set(rows.map((r) => r.event_id));
  }

  /**
   * Applies messages in one transaction. Messages already applied (by id)
   * contribute their events, which are deduplicated by event id anyway,
   * but not their stats again.
   */
  async apply(messages: readonly { id: string; message: EventMessage }[]): Promise<ApplyResult> {
    await this.ensurePartitions(messages.flatMap((m) => m.message.events.map((e) => e.occurredAt)));
    const result = await withTransaction(this.pool, (client) => applyBatch(client, messages));
    // A batch applied at the same moment by another consumer may have
    // stored the exposure of an event this batch left pending, or the other
    // way round; neither transaction saw the other's rows. Whichever
    // commits last releases such events here, after its own commit.
    const linked = new Set<string>();
    for (const { message } of messages) {
      for (const e of message.events) {
        if (e.exposure || e.requiresExposure) linked.add(e.decisionId);
      }
    }
    // (Also on a redelivery that stored nothing new: the process may have
    // stopped between the two transactions.)
    if (linked.size > 0) {
      result.counted += await withTransaction(this.pool, async (client) => {
        const counted = await releasePending(client, [...linked], true);
        await addCounted(client, counted);
        return counted.length;
      });
    }
    return result;
  }

  /**
   * Drops pending events whose horizon has passed; returns how many, per
   * experiment, and records them in ingest_stats as dropped.
   */
  async dropExpiredPending(): Promise<number> {
    return withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ experiment_id: string | null; events: string }>(
        `with dropped as (
           delete from pending_attributions where expires_at <= now() returning experiment_id
         )
         select experiment_id::text, count(*)::text as events from dropped group by experiment_id`,
      );
      const stats: IngestStat[] = rows.map((r) => ({
        experimentId: r.experiment_id ?? "",
        result: "dropped" as const,
        reason: "attribution_horizon",
        events: Number(r.events),
      }));
      await addStats(client, stats, Date.now());
      return stats.reduce((sum, s) => sum + s.events, 0);
    });
  }

  /** How many events wait for their exposure. */
  async pendingCount(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `select count(*)::text as n from pending_attributions`,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Drops event partitions entirely older than the retention period, and
   * the event ids and applied-message ids of that age. Returns the
   * partitions dropped.
   */
  async applyRetention(now = Date.now()): Promise<string[]> {
    const cutoff = startOfDay(now - this.options.retentionDays * DAY_MS);
    const { rows } = await this.pool.query<{ name: string }>(
      `select c.relname as name from pg_inherits i
         join pg_class c on c.oid = i.inhrelid
         join pg_class p on p.oid = i.inhparent
       where p.relname = 'events'`,
    );
    const dropped: string[] = [];
    for (const { name } of rows) {
      const day = dayOfPartition(name);
      if (day !== undefined && day + DAY_MS <= cutoff) {
        // The partition's ids go first (found through event_ids' key), so an
        // id is never left without its event or the other way round.
        await withTransaction(this.pool, async (client) => {
          await client.query(
            `delete from event_ids i using "${name}" e where i.event_id = e.event_id`,
          );
          await client.query(`drop table if exists "${name}"`);
          await markRawEventsFrom(client, day + DAY_MS);
        });
        this.partitions.delete(name);
        dropped.push(name);
      }
    }
    await this.pool.query(`delete from ingest_messages where applied_at < $1`, [new Date(cutoff)]);
    return dropped;
  }

  /** Creates the daily partitions these timestamps fall into, if missing. */
  async ensurePartitions(timestamps: Iterable<number>): Promise<void> {
    const days = new Set<number>();
    for (const t of timestamps) days.add(startOfDay(t));
    for (const day of [...days].sort((a, b) => a - b)) {
      const name = partitionName(day);
      if (this.partitions.has(name)) continue;
      try {
        await this.pool.query(
          `create table if not exists "${name}" partition of events
           for values from ('${new Date(day).toISOString()}') to ('${new Date(day + DAY_MS).toISOString()}')`,
        );
      } catch (error) {
        // Another consumer created it at the same moment: fine if it exists now.
        const { rows } = await this.pool.query<{ found: string | null }>(
          `select to_regclass($1) as found`,
          [name],
        );
        if (rows[0]?.found == null) throw error;
      }
      this.partitions.add(name);
    }
  }
}

/** events_pYYYYMMDD for the UTC day starting at `day`. */
function partitionName(day: number): string {
  return `events_p${new Date(day).toISOString().slice(0, 10).replaceAll("-", "")}`;
}

function dayOfPartition(name: string): number | undefined {
  const match = /^events_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  if (match === null) return undefined;
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
}
