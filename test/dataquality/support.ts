/** Helpers for data-quality tests: raw events written straight into the event store. */
import type { TestApp } from "../support/app.js";
import { query } from "../events/support.js";

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/**
 * Inserts `n` stored events of `type` spread over the hour starting at
 * `hour` (creating the day's partition if needed), as the event store
 * would have stored them.
 */
export async function insertEvents(t: TestApp, type: string, hour: number, n: number) {
  const day = new Date(Math.floor(hour / DAY) * DAY);
  const name = `events_p${day.toISOString().slice(0, 10).replaceAll("-", "")}`;
  await query(
    t,
    `create table if not exists "${name}" partition of events
     for values from ('${day.toISOString()}') to ('${new Date(day.getTime() + DAY).toISOString()}')`,
  );
  if (n === 0) return;
  await query(
    t,
    `insert into events (event_id, event_type, decision_id, flag_key, experiment_id, variant_key,
       subject_id, occurred_at, received_at, properties, counted)
     select $1 || '-' || g, $2, 'd', 'f', null, null, 's-' || g,
       $3::timestamptz + ((g * 3599 / $4) * interval '1 second'), now(), '{}', true
     from generate_series(1, $4::integer) g`,
    [`${type}-${hour}`, type, new Date(hour), n],
  );
}
