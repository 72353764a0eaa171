/**
 * What the event store holds about subjects, for data rights
 * (docs/data-rights.md): deleting a subject's stored rows and reading them
 * out. Other modules reach these through the module's face (index.ts).
 *
 * Neither `events` nor `exposures` has an index on subject_id (every
 * index is paid for on each insert): both statements scan every event
 * partition once. Erasures are rare; the scan is the accepted price.
 */
import type pg from "pg";
import { withTransaction } from "../platform/transaction.js";
import { EVENT_LIMITS } from "./validation.js";

/** What deleteSubjectRows removed. */
export interface SubjectRowsDeleted {
  /** Stored events deleted. */
  events: number;
  /** Exposure rows deleted. */
  exposures: number;
  /** Events deleted while they waited for their exposure. */
  pendingAttributions: number;
  /** Experiments any deleted event or exposure belonged to, in byte order. */
  experimentIds: string[];
}

/**
 * Deletes the subjects' stored events, exposures and pending attributions
 * and takes their events out of the data-health counts (ingest_stats),
 * within the caller's transaction. Idempotent: rows already gone are not
 * found again. Event ids stay in event_ids, so a client retrying an erased
 * event cannot store it again.
 *
 * What is deleted is what the first statement sees: the subjects' events
 * stored when it runs. Events stored by the event store after that are
 * kept, and with them their exposures. The exposures table is locked
 * against writes first (reads go on): a batch that stores an exposure
 * waits until this transaction ends, so a decision whose first exposure
 * is erased gets its exposure row again from a later exposure event, as
 * in a store that never saw the erased one. Rows are then locked in the
 * event store's order (exposures, pending_attributions, events).
 *
 * The derived figures (rollups) are not touched here: the caller rebuilds
 * the experiments returned, after this transaction commits.
 */
export async function deleteSubjectRows(
  client: pg.PoolClient,
  subjectIds: readonly string[],
): Promise<SubjectRowsDeleted> {
  const subjects = [...new Set(subjectIds)].sort();
  await client.query(`lock table exposures in exclusive mode`);
  await client.query(
    `create temporary table erased_events on commit drop as
     select event_id, occurred_at, false as pending
     from events where subject_id = any($1::text[])`,
    [subjects],
  );
  // Exposures of the events found, and exposures whose event is no longer
  // stored (its partition was dropped by retention). An exposure whose
  // event was stored after the statement above stays, like its event.
  const exposures = await client.query<{ experiment_id: string | null }>(
    `delete from exposures x
     where x.subject_id = any($1::text[])
       and (x.event_id in (select event_id from erased_events)
            or not exists (select 1 from events e
                           where e.event_id = x.event_id and e.occurred_at = x.exposed_at))
     returning x.experiment_id::text`,
    [subjects],
  );
  const pending = await client.query(
    `with released as (
       delete from pending_attributions p using erased_events t
       where p.event_id = t.event_id
       returning p.event_id
     )
     update erased_events t set pending = true from released r where t.event_id = r.event_id`,
  );
  // Stored events per day of receipt and experiment; and those dropped at
  // their attribution horizon (not counted, no longer pending), per day
  // their horizon passed. Both leave ingest_stats below.
  const { rows } = await client.query<{
    result: "stored" | "dropped";
    day: string;
    experiment_id: string;
    n: string;
  }>(
    `with gone as (
       delete from events e using erased_events t
       where e.event_id = t.event_id and e.occurred_at = t.occurred_at
       returning e.experiment_id, e.received_at, e.occurred_at, e.counted, t.pending
     )
     select 'stored' as result, to_char(received_at at time zone 'UTC', 'YYYY-MM-DD') as day,
            coalesce(experiment_id::text, '') as experiment_id, count(*)::text as n
     from gone group by 2, 3
     union all
     select 'dropped', to_char((occurred_at + $1::interval) at time zone 'UTC', 'YYYY-MM-DD'),
            coalesce(experiment_id::text, ''), count(*)::text
     from gone where not counted and not pending group by 2, 3`,
    [`${EVENT_LIMITS.horizonMs / 1000} seconds`],
  );
  await subtractStats(client, rows);
  const experimentIds = new Set<string>();
  for (const r of exposures.rows) if (r.experiment_id) experimentIds.add(r.experiment_id);
  for (const r of rows) if (r.experiment_id !== "") experimentIds.add(r.experiment_id);
  return {
    events: rows.filter((r) => r.result === "stored").reduce((sum, r) => sum + Number(r.n), 0),
    exposures: exposures.rowCount ?? 0,
    pendingAttributions: pending.rowCount ?? 0,
    experimentIds: [...experimentIds].sort(),
  };
}

/**
 * Takes erased events out of ingest_stats: `stored` on their day of
 * receipt, `dropped/attribution_horizon` on the day their horizon passed
 * (the days the event store counted them on, unless it applied a batch
 * after midnight of the day it was received, or dropped an expired event
 * later than that day). A count never goes below zero; a row left at zero
 * is removed, as if it had never been written.
 */
async function subtractStats(
  client: pg.PoolClient,
  rows: readonly { result: string; day: string; experiment_id: string; n: string }[],
): Promise<void> {
  if (rows.length === 0) return;
  const sorted = [...rows].sort((a, b) =>
    `${a.day}\n${a.experiment_id}\n${a.result}` < `${b.day}\n${b.experiment_id}\n${b.result}`
      ? -1
      : 1,
  );
  await client.query(
    `with changed as (
       update ingest_stats s set events = greatest(s.events - d.n, 0)
       from unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::bigint[])
         as d(day, experiment_id, result, reason, n)
       where s.day = d.day and s.experiment_id = d.experiment_id
         and s.result = d.result and s.reason = d.reason
       returning s.day, s.experiment_id, s.result, s.reason, s.events
     )
     delete from ingest_stats s using changed c
     where c.events = 0 and s.day = c.day and s.experiment_id = c.experiment_id
       and s.result = c.result and s.reason = c.reason`,
    [
      sorted.map((r) => r.day),
      sorted.map((r) => r.experiment_id),
      sorted.map((r) => r.result),
      sorted.map((r) => (r.result === "dropped" ? "attribution_horizon" : "")),
      sorted.map((r) => r.n),
    ],
  );
}

/** Rows of one subject, as ExportSubjectData returns them. */
export interface SubjectRows {
  events: {
    event_id: string;
    event_type: string;
    decision_id: string;
    flag_key: string;
    experiment_id: string | null;
    variant_key: string | null;
    occurred_at: Date;
    received_at: Date;
    properties: Record<string, unknown>;
    counted: boolean;
  }[];
  exposures: {
    decision_id: string;
    event_id: string;
    flag_key: string;
    experiment_id: string | null;
    variant_key: string | null;
    exposed_at: Date;
  }[];
  pendingAttributions: {
    event_id: string;
    decision_id: string;
    experiment_id: string | null;
    occurred_at: Date;
    expires_at: Date;
  }[];
  /** A list had more than `limit` rows; only the oldest `limit` are here. */
  truncated: boolean;
}

/** Bytes an exported event is reckoned at besides its ids and properties. */
const EVENT_OVERHEAD_BYTES = 200;

/**
 * What the event store holds about one subject: its events, exposures
 * and pending attributions, oldest first, at most `limit` of each, and
 * events only while their ids and properties stay within `eventBytes`.
 * Read in one repeatable-read transaction, so the three lists agree.
 */
export async function subjectRows(
  pool: pg.Pool,
  subjectId: string,
  limit: number,
  eventBytes: number,
): Promise<SubjectRows> {
  return withTransaction(
    pool,
    async (client) => {
      const events = await client.query<SubjectRows["events"][number] & { total: string }>(
        `select event_id, event_type, decision_id, flag_key, experiment_id, variant_key,
              occurred_at, received_at, properties, counted, total::text
       from (
         select event_id, event_type, decision_id, flag_key, experiment_id::text, variant_key,
                occurred_at, received_at, properties, counted,
                count(*) over () as total,
                sum(octet_length(event_id) + octet_length(event_type) + octet_length(decision_id)
                    + octet_length(flag_key) + octet_length(properties::text) + ${EVENT_OVERHEAD_BYTES})
                  over (order by occurred_at, event_id rows unbounded preceding) as running
         from events where subject_id = $1
       ) e
       where running <= $3
       order by occurred_at, event_id limit $2`,
        [subjectId, limit, eventBytes],
      );
      const exposures = await client.query<SubjectRows["exposures"][number]>(
        `select decision_id, event_id, flag_key, experiment_id::text, variant_key, exposed_at
       from exposures where subject_id = $1
       order by exposed_at, decision_id limit $2`,
        [subjectId, limit + 1],
      );
      const pending = await client.query<SubjectRows["pendingAttributions"][number]>(
        `select p.event_id, p.decision_id, p.experiment_id::text, p.occurred_at, p.expires_at
       from pending_attributions p
       join events e on e.event_id = p.event_id and e.occurred_at = p.occurred_at
       where e.subject_id = $1
       order by p.occurred_at, p.event_id limit $2`,
        [subjectId, limit + 1],
      );
      const eventsTotal = Number(events.rows[0]?.total ?? 0);
      return {
        events: events.rows.map(({ total: _total, ...event }) => event),
        exposures: exposures.rows.slice(0, limit),
        pendingAttributions: pending.rows.slice(0, limit),
        truncated:
          events.rows.length < eventsTotal ||
          [exposures, pending].some((r) => r.rows.length > limit),
      };
    },
    "begin isolation level repeatable read read only",
  );
}
