/**
 * The incremental writer of the derived figures (docs/reports.md#rollups,
 * ADR 0009): the event store hands it the events it counts, in the same
 * transaction (addCounted), and it keeps the per-minute counts, exposed
 * subjects, per-subject figures, per-minute property figures and hourly
 * histograms; the cohort sums are kept by cohorts.ts.
 */
import type pg from "pg";
import { EXPOSURE_EVENT_TYPE } from "../catalog/lookup.js";
import { addCohortDeltas, addSubjects, upsertWithDeltas } from "./cohorts.js";
import type { SubjectState } from "./cohorts.js";
import { ROLLUP_TABLES } from "./rebuild.js";
import { pgArray, pgTimes } from "../platform/pg-array.js";
import { compare, flattenValues, sortedValues } from "../platform/rows.js";
import { recordSegments } from "./segments.js";

/** A counted event as the rollups need it. */
export interface CountedEvent {
  experimentId: string;
  variantKey: string;
  eventType: string;
  subjectId: string;
  occurredAt: number;
  properties: Readonly<Record<string, unknown>>;
}

/**
 * Adds events the caller has just counted to every derived figure, within
 * the caller's transaction: the one call the event store makes.
 */
export async function addCounted(
  client: pg.PoolClient,
  counted: readonly CountedEvent[],
): Promise<void> {
  if (counted.length === 0) return;
  await addToRollups(client, counted, await reportedProperties(client));
}

/**
 * Adds counted events of experiments to the report rollups
 * (docs/reports.md#rollups, ADR 0009): per-minute counts, exposed subjects,
 * per-subject counts and property sums, the cohort sums those change,
 * per-minute property figures and hourly histograms (for the number
 * properties some metric reads). Tables are written in
 * one order (the rebuild locks them in the same order) and rows sorted by
 * key, so concurrent transactions lock them in the same order. Property
 * values travel as text and are summed as `numeric`, so sums do not depend
 * on the order events arrive in.
 */
export async function addToRollups(
  client: pg.PoolClient,
  counted: readonly CountedEvent[],
  properties: ReadonlySet<string>,
) {
  const minutes = new Map<string, { key: string[]; minute: number; events: number }>();
  const subjects = new Map<
    string,
    { key: string[]; events: number; first: number; last: number }
  >();
  const exposed = new Map<string, { key: string[]; first: number; events: number }>();
  const subjectSums = new Map<string, { key: string[]; events: number; values: string[] }>();
  const minuteStats = new Map<string, { key: string[]; minute: number; values: string[] }>();
  const hourValues: { key: string; row: string[]; hour: number; value: string }[] = [];
  // The reported properties of each event type, looked up once per type.
  const reportedOf = new Map<string, boolean>();
  for (const e of counted) {
    if (e.experimentId === "" || e.variantKey === "") continue;
    const minute = Math.floor(e.occurredAt / 60_000) * 60_000;
    const mk = `${e.experimentId}\n${e.variantKey}\n${e.eventType}\n${minute}`;
    const m = minutes.get(mk);
    if (m === undefined) {
      minutes.set(mk, { key: [e.experimentId, e.variantKey, e.eventType], minute, events: 1 });
    } else m.events++;
    if (e.eventType === EXPOSURE_EVENT_TYPE) {
      const xk = `${e.experimentId}\n${e.variantKey}\n${e.subjectId}`;
      const x = exposed.get(xk);
      if (x === undefined) {
        exposed.set(xk, {
          key: [e.experimentId, e.variantKey, e.subjectId],
          first: e.occurredAt,
          events: 1,
        });
      } else {
        x.events++;
        x.first = Math.min(x.first, e.occurredAt);
      }
      continue;
    }
    // Keys in primary-key order (subject before type), so rows are locked
    // in one order by every transaction.
    const sk = `${e.experimentId}\n${e.variantKey}\n${e.subjectId}\n${e.eventType}`;
    const s = subjects.get(sk);
    if (s === undefined) {
      subjects.set(sk, {
        key: [e.experimentId, e.variantKey, e.subjectId, e.eventType],
        events: 1,
        first: e.occurredAt,
        last: e.occurredAt,
      });
    } else {
      s.events++;
      s.first = Math.min(s.first, e.occurredAt);
      s.last = Math.max(s.last, e.occurredAt);
    }
    let reported = reportedOf.get(e.eventType);
    if (reported === undefined) {
      const prefix = `${e.eventType}\n`;
      reported = [...properties].some((p) => p.startsWith(prefix));
      reportedOf.set(e.eventType, reported);
    }
    if (!reported) continue;
    for (const [property, value] of Object.entries(e.properties)) {
      if (typeof value !== "number" || !Number.isFinite(value)) continue;
      if (!properties.has(`${e.eventType}\n${property}`)) continue;
      const text = String(value);
      const pk = `${e.experimentId}\n${e.variantKey}\n${e.eventType}\n${property}`;
      const psk = `${e.experimentId}\n${e.variantKey}\n${e.subjectId}\n${e.eventType}\n${property}`;
      const ps = subjectSums.get(psk);
      if (ps === undefined) {
        subjectSums.set(psk, {
          key: [e.experimentId, e.variantKey, e.subjectId, e.eventType, property],
          events: 1,
          values: [text],
        });
      } else {
        ps.events++;
        ps.values.push(text);
      }
      const hour = Math.floor(e.occurredAt / 3_600_000) * 3_600_000;
      hourValues.push({
        key: `${pk}\n${hour}`,
        row: [e.experimentId, e.variantKey, e.eventType, property],
        hour,
        value: text,
      });
      const pmk = `${pk}\n${minute}`;
      const pm = minuteStats.get(pmk);
      if (pm === undefined) {
        minuteStats.set(pmk, {
          key: [e.experimentId, e.variantKey, e.eventType, property],
          minute,
          values: [text],
        });
      } else pm.values.push(text);
    }
  }
  // Tables are taken in the rebuild's order (it locks them all at once),
  // whatever order the statements below write them in.
  await client.query(`lock table ${ROLLUP_TABLES.join(", ")} in row exclusive mode`);
  // Per-subject rows first, under the subjects' locks (addSubjects takes
  // them); the rows every transaction shares (per-minute counts, cohort
  // sums, property figures) last, so that a concurrent transaction waits
  // on them only for the end of this one, not for all of it.
  // The per-variant sums over cohorts (cohort_stats) change by the deltas
  // the per-subject upserts cause; accumulated as text, summed in SQL.
  const { states, deltas } = await addSubjects(client, [
    ...[...exposed.values()].map((x) => ({
      key: x.key,
      exposures: x.events,
      firstExposedAt: x.first,
    })),
    ...[...subjects.values()].map((x) => ({
      key: x.key.slice(0, 3),
      exposures: 0,
      firstExposedAt: 0,
    })),
  ]);
  await recordSegments(client, counted);
  if (subjects.size > 0) {
    const rows = sortedValues(subjects);
    deltas.push(
      ...(await upsertWithDeltas(
        client,
        `with r as (
         select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[], $7::timestamptz[],
                              $8::timestamptz[], $9::numeric[])
           as r(experiment_id, variant_key, subject_id, event_type, events, first_at, last_at, cohort, exposures)
       ), ins as (
         insert into subject_event_counts (experiment_id, variant_key, subject_id, event_type, events, first_at, last_at)
         select experiment_id, variant_key, subject_id, event_type, events, first_at, last_at from r
         on conflict (experiment_id, variant_key, subject_id, event_type)
         do update set events = subject_event_counts.events + excluded.events,
                       first_at = least(subject_event_counts.first_at, excluded.first_at),
                       last_at = greatest(subject_event_counts.last_at, excluded.last_at)
         returning experiment_id, variant_key, subject_id, event_type, events
       ), q as (
         select ins.experiment_id, ins.variant_key, r.cohort, r.exposures, ins.event_type, ''::text as property,
                ins.events::numeric as x, r.events::numeric as dx
         from ins join r using (experiment_id, variant_key, subject_id, event_type)
       )`,
        [
          pgArray(rows.map((r) => r.key[0])),
          pgArray(rows.map((r) => r.key[1])),
          pgArray(rows.map((r) => r.key[2])),
          pgArray(rows.map((r) => r.key[3])),
          pgArray(rows.map((r) => r.events)),
          pgTimes(rows.map((r) => r.first)),
          pgTimes(rows.map((r) => r.last)),
          ...subjectStates(states, rows),
        ],
      )),
    );
  }
  if (subjectSums.size > 0) {
    const rows = sortedValues(subjectSums);
    const { owner, values } = flattenValues(rows);
    deltas.push(
      ...(await upsertWithDeltas(
        client,
        `with v as (
         select o, sum(x::numeric) as total from unnest($7::int[], $8::text[]) as v(o, x) group by o
       ), r as (
         select r.e as experiment_id, r.v as variant_key, r.s as subject_id, r.t as event_type,
                r.p as property, r.n as events, v.total, r.c as cohort, r.x as exposures, r.o
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $9::timestamptz[], $10::numeric[])
           with ordinality as r(e, v, s, t, p, n, c, x, o)
         join v on v.o = r.o
       ), ins as (
         insert into subject_property_sums (experiment_id, variant_key, subject_id, event_type, property, events, total)
         select experiment_id, variant_key, subject_id, event_type, property, events, total from r order by o
         on conflict (experiment_id, variant_key, subject_id, event_type, property)
         do update set events = subject_property_sums.events + excluded.events,
                       total = subject_property_sums.total + excluded.total
         returning experiment_id, variant_key, subject_id, event_type, property, total
       ), q as (
         select ins.experiment_id, ins.variant_key, r.cohort, r.exposures, ins.event_type, ins.property,
                ins.total as x, r.total as dx
         from ins join r using (experiment_id, variant_key, subject_id, event_type, property)
       )`,
        [
          pgArray(rows.map((r) => r.key[0])),
          pgArray(rows.map((r) => r.key[1])),
          pgArray(rows.map((r) => r.key[2])),
          pgArray(rows.map((r) => r.key[3])),
          pgArray(rows.map((r) => r.key[4])),
          pgArray(rows.map((r) => r.events)),
          pgArray(owner),
          pgArray(values),
          ...subjectStates(states, rows),
        ],
      )),
    );
  }
  if (minutes.size > 0) {
    const rows = sortedValues(minutes);
    await client.query(
      `insert into event_counts (experiment_id, variant_key, event_type, minute, events)
       select * from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[])
       on conflict (experiment_id, variant_key, event_type, minute)
       do update set events = event_counts.events + excluded.events`,
      [
        pgArray(rows.map((r) => r.key[0])),
        pgArray(rows.map((r) => r.key[1])),
        pgArray(rows.map((r) => r.key[2])),
        pgTimes(rows.map((r) => r.minute)),
        pgArray(rows.map((r) => r.events)),
      ],
    );
  }
  await addCohortDeltas(client, deltas);
  if (minuteStats.size > 0) {
    const rows = sortedValues(minuteStats);
    const { owner, values } = flattenValues(rows);
    await client.query(
      `with v as (
         select o, count(*) as n, sum(x::numeric) as total, sum(x::numeric * x::numeric) as squares
         from unnest($6::int[], $7::text[]) as v(o, x) group by o
       )
       insert into minute_property_stats (experiment_id, variant_key, event_type, property, minute, events, total, total_squares)
       select r.e, r.v, r.t, r.p, r.m, v.n, v.total, v.squares
       from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
         with ordinality as r(e, v, t, p, m, o)
       join v on v.o = r.o
       order by r.o
       on conflict (experiment_id, variant_key, event_type, property, minute)
       do update set events = minute_property_stats.events + excluded.events,
                     total = minute_property_stats.total + excluded.total,
                     total_squares = minute_property_stats.total_squares + excluded.total_squares`,
      [
        pgArray(rows.map((r) => r.key[0])),
        pgArray(rows.map((r) => r.key[1])),
        pgArray(rows.map((r) => r.key[2])),
        pgArray(rows.map((r) => r.key[3])),
        pgTimes(rows.map((r) => r.minute)),
        pgArray(owner),
        pgArray(values),
      ],
    );
  }
  await addToHistograms(client, hourValues);
}

/**
 * The cohorts and exposures of the rows' subjects (keys start with
 * experiment, variant, subject), as two array parameters.
 */
function subjectStates(
  states: ReadonlyMap<string, SubjectState>,
  rows: readonly { key: readonly string[] }[],
): [string, string] {
  const found = rows.map((r) => states.get(`${r.key[0]}\n${r.key[1]}\n${r.key[2]}`));
  return [
    pgArray(found.map((s) => s?.cohort ?? null)),
    pgArray(found.map((s) => s?.exposures ?? 0)),
  ];
}

/**
 * The number properties some metric reads (SUM, MEAN, PERCENTILE), as
 * `type\nproperty`: only these are rolled up. Read in every transaction
 * (the catalog is small), so a metric counts every event applied after it
 * was created; `npm run reports:rebuild` fills in earlier events.
 */
export async function reportedProperties(client: pg.PoolClient): Promise<Set<string>> {
  const { rows } = await client.query<{ key: string }>(
    `select distinct event_type_key || E'\n' || property as key from metrics
     where property is not null and event_type_key is not null`,
  );
  return new Set(rows.map((r) => r.key));
}

/**
 * Adds values to the hourly histograms. Buckets are computed by
 * lotty_value_bucket() in SQL, and rows are grouped and written in key
 * order so concurrent transactions lock them in the same order.
 */
async function addToHistograms(
  client: pg.PoolClient,
  values: readonly { key: string; row: string[]; hour: number; value: string }[],
) {
  if (values.length === 0) return;
  const sorted = [...values].sort((a, b) => compare(a.key, b.key));
  await client.query(
    `insert into hour_value_histograms (experiment_id, variant_key, event_type, property, hour, bucket, events)
     select e, v, t, p, h, lotty_value_bucket(x::numeric) as b, count(*)
     from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
       as u(e, v, t, p, h, x)
     group by 1, 2, 3, 4, 5, 6
     order by 1, 2, 3, 4, 5, 6
     on conflict (experiment_id, variant_key, event_type, property, hour, bucket)
     do update set events = hour_value_histograms.events + excluded.events`,
    [
      pgArray(sorted.map((v) => v.row[0])),
      pgArray(sorted.map((v) => v.row[1])),
      pgArray(sorted.map((v) => v.row[2])),
      pgArray(sorted.map((v) => v.row[3])),
      pgTimes(sorted.map((v) => v.hour)),
      pgArray(sorted.map((v) => v.value)),
    ],
  );
}
