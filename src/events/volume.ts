/**
 * Volume figures for the data-quality alarms (src/dataquality): events per
 * event type in an hour of occurred_at, ingest totals by result, and the
 * attribution backlog. Read-only.
 */
import type pg from "pg";

const HOUR_MS = 3_600_000;

/**
 * Stored events per event type with occurred_at in [hour, hour + 1 h).
 * A range of the events' primary key (occurred_at, event_id) within one
 * daily partition: it reads that hour's rows, not the table.
 */
export async function eventCountsOfHour(pool: pg.Pool, hour: number): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ event_type: string; n: string }>(
    `select event_type, count(*)::text as n from events
     where occurred_at >= $1 and occurred_at < $2
     group by event_type`,
    [new Date(hour), new Date(hour + HOUR_MS)],
  );
  return new Map(rows.map((r) => [r.event_type, Number(r.n)]));
}

export interface IngestTotals {
  stored: number;
  duplicates: number;
  rejected: number;
}

/** Ingest totals (every experiment) of the UTC days from `day` on (YYYY-MM-DD). */
export async function ingestTotalsFrom(pool: pg.Pool, day: string): Promise<IngestTotals> {
  const { rows } = await pool.query<{ result: string; n: string }>(
    `select result, sum(events)::text as n from ingest_stats
     where day >= $1::date group by result`,
    [day],
  );
  const totals: IngestTotals = { stored: 0, duplicates: 0, rejected: 0 };
  for (const row of rows) {
    if (row.result === "stored") totals.stored = Number(row.n);
    else if (row.result === "duplicate") totals.duplicates = Number(row.n);
    else if (row.result === "rejected") totals.rejected = Number(row.n);
  }
  return totals;
}

/** Events waiting for their exposure, every experiment. */
export async function pendingAttributionTotal(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `select count(*)::text as n from pending_attributions`,
  );
  return Number(rows[0]?.n ?? 0);
}
