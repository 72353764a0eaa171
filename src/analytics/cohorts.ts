/**
 * The per-variant sums over exposure cohorts (cohort_stats) and the
 * per-subject locks under which the event store changes them: the deltas
 * new exposures and changed per-subject figures cause, and their upsert.
 */
import type pg from "pg";
import { pgArray, pgTimes } from "../platform/pg-array.js";
import { compare } from "../platform/rows.js";

/** A subject the counted events of a transaction touch, with the exposures they add. */
export interface TouchedSubject {
  /** experiment, variant, subject */
  key: readonly string[];
  /** Exposure events added (0: the subject only has other events here). */
  exposures: number;
  /** The earliest of those exposures (ms); unused when `exposures` is 0. */
  firstExposedAt: number;
}

/** A subject's cohort (null until it is exposed) and exposures, once its exposures are added. */
export interface SubjectState {
  cohort: Date | null;
  exposures: number;
}

/**
 * Locks the subjects (experiment, variant, subject) for the rest of the
 * transaction, adds their new exposures and the cohort changes those
 * cause; returns each subject's state afterwards (keyed by the key joined
 * with newlines) and the cohort deltas.
 *
 * The lock is the subject's report_subjects row: the cohort bookkeeping
 * reads a subject's figures and changes them in several statements, and
 * two transactions must never interleave on one subject. One upsert, in
 * key order, creates the rows that are missing (a subject whose events
 * need no exposure may have figures before it is exposed), locks them all
 * and adds the exposures; row locks live in the rows, so a batch may lock
 * any number of subjects. A new row gets its cohort in the same statement.
 */
export async function addSubjects(
  client: pg.PoolClient,
  touched: readonly TouchedSubject[],
): Promise<{ states: Map<string, SubjectState>; deltas: CohortDelta[] }> {
  const states = new Map<string, SubjectState>();
  if (touched.length === 0) return { states, deltas: [] };
  const unique = new Map<string, TouchedSubject>();
  for (const t of touched) {
    const k = t.key.join("\n");
    const seen = unique.get(k);
    if (seen === undefined) unique.set(k, t);
    else if (t.exposures > 0) {
      unique.set(k, {
        key: t.key,
        exposures: seen.exposures + t.exposures,
        firstExposedAt:
          seen.exposures > 0 ? Math.min(seen.firstExposedAt, t.firstExposedAt) : t.firstExposedAt,
      });
    }
  }
  const sorted = [...unique.entries()].sort(([a], [b]) => compare(a, b));
  const { rows } = await client.query<{
    experiment_id: string;
    variant_key: string;
    subject_id: string;
    exposures: string;
    first_exposed_at: Date | null;
    counted_cohort: Date | null;
    inserted: boolean;
  }>(
    `insert into report_subjects (experiment_id, variant_key, subject_id, first_exposed_at, exposures, counted_cohort)
     select e, v, s, f, n, date_trunc('minute', f at time zone 'UTC') at time zone 'UTC'
     from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[]) as u(e, v, s, f, n)
     on conflict (experiment_id, variant_key, subject_id)
     do update set exposures = report_subjects.exposures + excluded.exposures,
                   first_exposed_at = least(report_subjects.first_exposed_at, excluded.first_exposed_at)
     returning experiment_id, variant_key, subject_id, exposures::text, first_exposed_at, counted_cohort,
               xmax = 0 as inserted`,
    [
      pgArray(sorted.map(([, t]) => t.key[0])),
      pgArray(sorted.map(([, t]) => t.key[1])),
      pgArray(sorted.map(([, t]) => t.key[2])),
      pgTimes(sorted.map(([, t]) => (t.exposures > 0 ? t.firstExposedAt : null))),
      pgArray(sorted.map(([, t]) => t.exposures)),
    ],
  );
  const exposed: ExposedSubject[] = [];
  for (const r of rows) {
    const key = `${r.experiment_id}\n${r.variant_key}\n${r.subject_id}`;
    const exposures = Number(r.exposures);
    const added = unique.get(key)?.exposures ?? 0;
    if (added === 0 || r.first_exposed_at === null) {
      states.set(key, { cohort: r.counted_cohort, exposures });
      continue;
    }
    const cohort = new Date(Math.floor(r.first_exposed_at.getTime() / 60_000) * 60_000);
    states.set(key, { cohort, exposures });
    exposed.push({
      key: [r.experiment_id, r.variant_key, r.subject_id],
      joined: key,
      // A new row was counted under no cohort (its cohort is already set).
      oldCohort: r.inserted ? null : r.counted_cohort,
      storedCohort: r.counted_cohort,
      newCohort: cohort,
      oldExposures: exposures - added,
      newExposures: exposures,
    });
  }
  exposed.sort((a, b) => compare(a.joined, b.joined));
  return { states, deltas: await exposureDeltas(client, exposed) };
}

interface ExposedSubject {
  key: string[];
  /** `key` joined with newlines (the sort key). */
  joined: string;
  /** The cohort the subject's figures are counted under before this transaction. */
  oldCohort: Date | null;
  /** counted_cohort as the row holds it now. */
  storedCohort: Date | null;
  newCohort: Date;
  oldExposures: number;
  newExposures: number;
}

/**
 * Cohort changes caused by new exposures. A subject whose cohort minute is
 * new (first exposure, or an earlier one arrived) moves its whole
 * contribution from the cohort it was counted under to the new one; a
 * subject that stays gains exposures (and Σx·exposures grows by x·Δe for
 * each of its figures). Runs under the subjects' locks (addSubjects).
 * Each figure row carries its subject's columns, so the parts below read
 * it without joining two intermediate results (whose sizes the planner
 * cannot know).
 */
async function exposureDeltas(
  client: pg.PoolClient,
  subjects: readonly ExposedSubject[],
): Promise<CohortDelta[]> {
  if (subjects.length === 0) return [];
  const params = [
    pgArray(subjects.map((s) => s.key[0])),
    pgArray(subjects.map((s) => s.key[1])),
    pgArray(subjects.map((s) => s.key[2])),
    pgArray(subjects.map((s) => s.oldCohort)),
    pgArray(subjects.map((s) => s.newCohort)),
    pgArray(subjects.map((s) => s.oldExposures)),
    pgArray(subjects.map((s) => s.newExposures)),
  ];
  const s = `select * from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::numeric[], $7::numeric[])
    as s(experiment_id, variant_key, subject_id, old_cohort, new_cohort, e_old, e_new)`;
  const { rows } = await client.query<DeltaRow>(
    `with s as (${s}),
     q as (
       select s.experiment_id, s.variant_key, s.old_cohort, s.new_cohort, s.e_old, s.e_new,
              c.event_type, ''::text as property, c.events::numeric as x
       from s join subject_event_counts c using (experiment_id, variant_key, subject_id)
       union all
       select s.experiment_id, s.variant_key, s.old_cohort, s.new_cohort, s.e_old, s.e_new,
              p.event_type, p.property, p.total
       from s join subject_property_sums p using (experiment_id, variant_key, subject_id)
     ),
     d as (
       -- Moves: the whole contribution leaves the old cohort …
       select s.experiment_id, s.variant_key, s.old_cohort as cohort, ''::text as event_type, ''::text as property,
              -1 as subjects, -s.e_old as total, -s.e_old * s.e_old as squares, 0::numeric as by_e
       from s where s.old_cohort is not null and s.old_cohort <> s.new_cohort
       union all
       select q.experiment_id, q.variant_key, q.old_cohort, q.event_type, q.property,
              -(q.x > 0)::int, -q.x, -q.x * q.x, -q.x * q.e_old
       from q where q.old_cohort is not null and q.old_cohort <> q.new_cohort
       union all
       -- … and joins the new one.
       select s.experiment_id, s.variant_key, s.new_cohort, '', '', 1, s.e_new, s.e_new * s.e_new, 0
       from s where s.old_cohort is distinct from s.new_cohort
       union all
       select q.experiment_id, q.variant_key, q.new_cohort, q.event_type, q.property,
              (q.x > 0)::int, q.x, q.x * q.x, q.x * q.e_new
       from q where q.old_cohort is distinct from q.new_cohort
       union all
       -- Same cohort, more exposures.
       select s.experiment_id, s.variant_key, s.new_cohort, '', '', 0, s.e_new - s.e_old,
              s.e_new * s.e_new - s.e_old * s.e_old, 0
       from s where s.old_cohort = s.new_cohort
       union all
       select q.experiment_id, q.variant_key, q.new_cohort, q.event_type, q.property,
              0, 0, 0, q.x * (q.e_new - q.e_old)
       from q where q.old_cohort = q.new_cohort
     )
     select experiment_id, variant_key, cohort, event_type, property, sum(subjects)::text as subjects,
            sum(total)::text as total, sum(squares)::text as squares, sum(by_e)::text as by_exposures
     from d group by 1, 2, 3, 4, 5`,
    params,
  );
  const moved = subjects.filter((x) => x.storedCohort?.getTime() !== x.newCohort.getTime());
  if (moved.length > 0) {
    await client.query(
      `update report_subjects r set counted_cohort = m.cohort
       from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) as m(e, v, s, cohort)
       where r.experiment_id = m.e and r.variant_key = m.v and r.subject_id = m.s`,
      [
        pgArray(moved.map((x) => x.key[0])),
        pgArray(moved.map((x) => x.key[1])),
        pgArray(moved.map((x) => x.key[2])),
        pgArray(moved.map((x) => x.newCohort)),
      ],
    );
  }
  return rows.map(toDelta);
}

/** A change to one cohort_stats row; numbers as text (exact numeric). */
export interface CohortDelta {
  experimentId: string;
  variantKey: string;
  cohort: Date;
  eventType: string;
  property: string;
  subjects: string;
  total: string;
  squares: string;
  byExposures: string;
}

interface DeltaRow {
  experiment_id: string;
  variant_key: string;
  cohort: Date;
  event_type: string;
  property: string;
  subjects: string;
  total: string;
  squares: string;
  by_exposures: string;
}

const toDelta = (r: DeltaRow): CohortDelta => ({
  experimentId: r.experiment_id,
  variantKey: r.variant_key,
  cohort: r.cohort,
  eventType: r.event_type,
  property: r.property,
  subjects: r.subjects,
  total: r.total,
  squares: r.squares,
  byExposures: r.by_exposures,
});

/**
 * Runs a per-subject upsert and returns the cohort changes it causes, in
 * one statement. `upsert` is a `with` list whose data-modifying part ends
 * in `q` (experiment_id, variant_key, cohort, exposures, event_type,
 * property, x, dx): each figure's new value and its change (x − dx → x),
 * with its subject's cohort and exposures as addSubjects left them (sent
 * along with the rows). Only subjects counted in a cohort change it;
 * subjects not exposed yet join a cohort with all their figures when they
 * are. Runs under the subjects' locks (addSubjects).
 */
export async function upsertWithDeltas(
  client: pg.PoolClient,
  upsert: string,
  params: unknown[],
): Promise<CohortDelta[]> {
  const { rows } = await client.query<DeltaRow>(
    `${upsert}
     select experiment_id, variant_key, cohort, event_type, property,
            sum((x > 0)::int - (x - dx > 0)::int)::text as subjects, sum(dx)::text as total,
            sum(x * x - (x - dx) * (x - dx))::text as squares,
            sum(dx * exposures)::text as by_exposures
     from q where cohort is not null
     group by 1, 2, 3, 4, 5`,
    params,
  );
  return rows.map(toDelta);
}

/** Applies cohort deltas, one upsert per cohort row, in key order. */
export async function addCohortDeltas(client: pg.PoolClient, deltas: readonly CohortDelta[]) {
  if (deltas.length === 0) return;
  await client.query(
    `insert into cohort_stats (experiment_id, variant_key, cohort_minute, event_type, property,
                               subjects, total, total_squares, total_by_exposures)
     select e, v, c, t, p, sum(n), sum(x), sum(xx), sum(xe)
     from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                 $6::bigint[], $7::numeric[], $8::numeric[], $9::numeric[]) as d(e, v, c, t, p, n, x, xx, xe)
     group by 1, 2, 3, 4, 5
     order by 1, 2, 3, 4, 5
     on conflict (experiment_id, variant_key, cohort_minute, event_type, property)
     do update set subjects = cohort_stats.subjects + excluded.subjects,
                   total = cohort_stats.total + excluded.total,
                   total_squares = cohort_stats.total_squares + excluded.total_squares,
                   total_by_exposures = cohort_stats.total_by_exposures + excluded.total_by_exposures`,
    [
      pgArray(deltas.map((d) => d.experimentId)),
      pgArray(deltas.map((d) => d.variantKey)),
      pgArray(deltas.map((d) => d.cohort)),
      pgArray(deltas.map((d) => d.eventType)),
      pgArray(deltas.map((d) => d.property)),
      pgArray(deltas.map((d) => d.subjects)),
      pgArray(deltas.map((d) => d.total)),
      pgArray(deltas.map((d) => d.squares)),
      pgArray(deltas.map((d) => d.byExposures)),
    ],
  );
}
