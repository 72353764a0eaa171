/**
 * An experiment's attributed events in a window, read in batches for the
 * raw export (docs/event-export.md): the events of the experiment that
 * were counted (their exposure arrived), ordered by (occurred_at,
 * event_id), the events table's primary key.
 *
 * Each batch is one keyset query that starts after the last row of the
 * previous one, so memory holds one batch whatever the window's size, and
 * no transaction stays open between batches (the event store and the
 * retention go on writing). Rows stored after the read went past their
 * place are not seen; rows of subjects erased meanwhile are not read
 * again once deleted.
 */
import type pg from "pg";

/** One attributed event as the export writes it. */
export interface AttributedEvent {
  eventId: string;
  eventType: string;
  subjectId: string;
  /** Epoch milliseconds. */
  occurredAt: number;
  /** Epoch milliseconds. */
  receivedAt: number;
  variantKey: string;
  /** The event's properties as JSON text (an object). */
  properties: string;
}

interface Row {
  event_id: string;
  event_type: string;
  subject_id: string;
  occurred_ms: number;
  received_ms: number;
  variant_key: string | null;
  properties: string;
  /** occurred_at as PostgreSQL prints it: the exact cursor, microseconds kept. */
  at_text: string;
}

/** Default rows per batch: a few MB of JavaScript strings. */
export const ATTRIBUTED_BATCH_SIZE = 10_000;

/**
 * Yields the attributed events of `experimentId` whose occurred_at is in
 * [from, to), batch by batch, in (occurred_at, event_id) order.
 */
export async function* attributedEvents(
  pool: pg.Pool,
  experimentId: string,
  window: { from: Date; to: Date },
  batchSize = ATTRIBUTED_BATCH_SIZE,
): AsyncGenerator<AttributedEvent[]> {
  let after: { at: string; id: string } | undefined;
  const client = await pool.connect();
  let broken: unknown;
  try {
    for (;;) {
      const rows = await batchAfter(client, experimentId, window, after, batchSize);
      if (rows.length === 0) return;
      yield rows.map((r) => ({
        eventId: r.event_id,
        eventType: r.event_type,
        subjectId: r.subject_id,
        occurredAt: r.occurred_ms,
        receivedAt: r.received_ms,
        variantKey: r.variant_key ?? "",
        properties: r.properties,
      }));
      if (rows.length < batchSize) return;
      const last = rows[rows.length - 1]!;
      after = { at: last.at_text, id: last.event_id };
    }
  } catch (error) {
    broken = error;
    throw error;
  } finally {
    // A connection that failed mid-transaction is not given back for reuse.
    client.release(broken instanceof Error ? broken : undefined);
  }
}

/**
 * One batch, in its own short transaction. The plan is pinned to the
 * primary key's order (no sort, no bitmap scan): a freshly loaded
 * partition has no statistics yet, and the planner then estimated a
 * handful of rows and sorted everything after the cursor for each batch,
 * which made an export quadratic.
 */
async function batchAfter(
  client: pg.PoolClient,
  experimentId: string,
  window: { from: Date; to: Date },
  after: { at: string; id: string } | undefined,
  batchSize: number,
): Promise<Row[]> {
  const columns = `event_id, event_type, subject_id,
    round(extract(epoch from occurred_at) * 1000)::float8 as occurred_ms,
    round(extract(epoch from received_at) * 1000)::float8 as received_ms,
    variant_key, properties::text as properties, occurred_at::text as at_text`;
  await client.query("begin");
  try {
    await client.query("set local enable_sort = off");
    await client.query("set local enable_bitmapscan = off");
    const { rows } =
      after === undefined
        ? await client.query<Row>(
            `select ${columns} from events
             where experiment_id = $1 and counted and occurred_at >= $2 and occurred_at < $3
             order by occurred_at, event_id
             limit $4`,
            [experimentId, window.from, window.to, batchSize],
          )
        : await client.query<Row>(
            `select ${columns} from events
             where experiment_id = $1 and counted and occurred_at >= $2 and occurred_at < $3
               and (occurred_at, event_id) > ($2, $4)
             order by occurred_at, event_id
             limit $5`,
            [experimentId, after.at, window.to, after.id, batchSize],
          );
    await client.query("commit");
    return rows;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  }
}
