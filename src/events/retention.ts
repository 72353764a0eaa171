/**
 * Where the raw events still held begin: the event retention
 * (LOTTY_EVENT_RETENTION_DAYS) drops whole daily partitions, and the end of
 * the latest one dropped is kept in the settings table, so a report can say
 * when its window reaches past the raw events it would read
 * (Report.raw_events_incomplete).
 */
import type pg from "pg";

const RAW_EVENTS_FROM = "events.raw_events_from";

/** Records that raw events before `from` are gone, within the caller's transaction. */
export async function markRawEventsFrom(client: pg.PoolClient, from: number): Promise<void> {
  const value = new Date(from).toISOString();
  await client.query(
    `insert into settings (key, value, updated_at) values ($1, $2, now())
     on conflict (key) do update set value = greatest(settings.value, excluded.value), updated_at = now()`,
    [RAW_EVENTS_FROM, value],
  );
}

/** The start of the raw events still held, epoch ms; undefined while retention has dropped none. */
export async function rawEventsFrom(pool: pg.Pool): Promise<number | undefined> {
  const { rows } = await pool.query<{ value: string }>(
    `select value from settings where key = $1`,
    [RAW_EVENTS_FROM],
  );
  const value = rows[0]?.value;
  return value === undefined ? undefined : Date.parse(value);
}
