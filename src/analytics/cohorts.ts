/**
 * The per-variant sums over exposure cohorts (cohort_stats) and the
 * per-subject locks under which the event store changes them: the deltas
 * new exposures and changed per-subject figures cause, and their upsert.
 */
import type pg from "pg";
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

/** The UTC minute of a timestamptz expression, whatever the session's time zone. */
const minuteOf = (t: string) => `date_trunc('minute', ${t} at time zone 'UTC') at time zone 'UTC'`;

/**
 * Locks the subjects (experiment, variant, subject) for the rest of the
 * transaction, adds their new exposures, and returns the cohort changes
 * those exposures cause — in one statement.
 *
 * The lock is the subject's report_subjects row: the cohort bookkeeping
 * reads a subject's figures and changes them in several statements, and
 * two transactions must never interleave on one subject. The upsert
 * creates the row when missing (a subject whose events need no exposure
 * may have figures before it is exposed) and takes the rows' locks in key
 * order; a subject without new exposures is locked, not rewritten (rows
 * the `where` of `do update` skips are still locked). Row locks live in
 * the rows, so a batch may lock any number of subjects.
 *
 * An exposed subject whose cohort minute is new (first exposure, or an
 * earlier one arrived) moves its whole contribution from the cohort it
 * was counted under to the new one; a subject that stays gains exposures
 * (and Σx·exposures grows by x·Δe for each of its figures). A subject's
 * cohort is set with its row when the row is new; an existing row whose
 * cohort moves is updated by a second statement.
 */
export async function addSubjects(
  client: pg.PoolClient,
  touched: readonly TouchedSubject[],
): Promise<CohortDelta[]> {
  if (touched.length === 0) return [];
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
  const sorted = [...unique.entries()].sort(([a], [b]) => compare(a, b)).map(([, t]) => t);
  const { rows } = await client.query<DeltaRow & { moved: boolean; subject_id: string | null }>(
    `with s as (
       select * from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[])
         with ordinality as s(experiment_id, variant_key, subject_id, first_at, added, o)
     ),
     up as (
       insert into report_subjects (experiment_id, variant_key, subject_id, first_exposed_at, exposures, counted_cohort)
       select experiment_id, variant_key, subject_id, first_at, added, ${minuteOf("first_at")}
       from s order by o
       on conflict (experiment_id, variant_key, subject_id)
       do update set exposures = report_subjects.exposures + excluded.exposures,
                     first_exposed_at = least(report_subjects.first_exposed_at, excluded.first_exposed_at)
       where excluded.exposures > 0
       -- An updated row still holds the cohort it was counted under; a new
       -- row (xmax = 0) was counted under none.
       returning experiment_id, variant_key, subject_id, first_exposed_at, exposures,
                 counted_cohort, xmax = 0 as inserted
     ),
     x as (
       select up.experiment_id, up.variant_key, up.subject_id, up.inserted, up.counted_cohort,
              case when up.inserted then null else up.counted_cohort end as old_cohort,
              ${minuteOf("up.first_exposed_at")} as new_cohort,
              (up.exposures - s.added)::numeric as e_old, up.exposures::numeric as e_new
       from up join s using (experiment_id, variant_key, subject_id)
       where s.added > 0
     ),
     q as (
       select c.experiment_id, c.variant_key, c.subject_id, c.event_type, ''::text as property, c.events::numeric as x
       from subject_event_counts c join x using (experiment_id, variant_key, subject_id)
       union all
       select p.experiment_id, p.variant_key, p.subject_id, p.event_type, p.property, p.total
       from subject_property_sums p join x using (experiment_id, variant_key, subject_id)
     ),
     d as (
       -- Moves: the whole contribution leaves the old cohort …
       select x.experiment_id, x.variant_key, x.old_cohort as cohort, ''::text as event_type, ''::text as property,
              -1 as subjects, -x.e_old as total, -x.e_old * x.e_old as squares, 0::numeric as by_e
       from x where x.old_cohort is not null and x.old_cohort <> x.new_cohort
       union all
       select q.experiment_id, q.variant_key, x.old_cohort, q.event_type, q.property,
              -(q.x > 0)::int, -q.x, -q.x * q.x, -q.x * x.e_old
       from q join x using (experiment_id, variant_key, subject_id)
       where x.old_cohort is not null and x.old_cohort <> x.new_cohort
       union all
       -- … and joins the new one.
       select x.experiment_id, x.variant_key, x.new_cohort, '', '', 1, x.e_new, x.e_new * x.e_new, 0
       from x where x.old_cohort is distinct from x.new_cohort
       union all
       select q.experiment_id, q.variant_key, x.new_cohort, q.event_type, q.property,
              (q.x > 0)::int, q.x, q.x * q.x, q.x * x.e_new
       from q join x using (experiment_id, variant_key, subject_id)
       where x.old_cohort is distinct from x.new_cohort
       union all
       -- Same cohort, more exposures.
       select x.experiment_id, x.variant_key, x.new_cohort, '', '', 0, x.e_new - x.e_old,
              x.e_new * x.e_new - x.e_old * x.e_old, 0
       from x where x.old_cohort = x.new_cohort
       union all
       select q.experiment_id, q.variant_key, x.new_cohort, q.event_type, q.property,
              0, 0, 0, q.x * (x.e_new - x.e_old)
       from q join x using (experiment_id, variant_key, subject_id)
       where x.old_cohort = x.new_cohort
     )
     select false as moved, experiment_id, variant_key, null::text as subject_id, cohort, event_type, property,
            sum(subjects)::text as subjects, sum(total)::text as total, sum(squares)::text as squares,
            sum(by_e)::text as by_exposures
     from d group by 2, 3, 5, 6, 7
     union all
     -- Existing rows whose cohort is new: their counted_cohort is set below.
     select true, experiment_id, variant_key, subject_id, new_cohort, null, null, null, null, null, null
     from x where not x.inserted and x.counted_cohort is distinct from x.new_cohort`,
    [
      sorted.map((t) => t.key[0]),
      sorted.map((t) => t.key[1]),
      sorted.map((t) => t.key[2]),
      sorted.map((t) => (t.exposures > 0 ? new Date(t.firstExposedAt) : null)),
      sorted.map((t) => t.exposures),
    ],
  );
  const moved = rows.filter((r) => r.moved);
  if (moved.length > 0) {
    await client.query(
      `update report_subjects r set counted_cohort = m.cohort
       from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) as m(e, v, s, cohort)
       where r.experiment_id = m.e and r.variant_key = m.v and r.subject_id = m.s`,
      [
        moved.map((r) => r.experiment_id),
        moved.map((r) => r.variant_key),
        moved.map((r) => r.subject_id),
        moved.map((r) => r.cohort),
      ],
    );
  }
  return rows.filter((r) => !r.moved).map(toDelta);
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
 * in `q` (experiment_id, variant_key, subject_id, event_type, property, x,
 * dx): each figure's new value and its change (x − dx → x).
 * Only subjects already counted in a cohort change it; subjects not
 * exposed yet join a cohort with all their figures when they are. Runs
 * under the subjects' locks (addSubjects), which is also why the
 * subjects' exposures and cohorts read here cannot change under it.
 */
export async function upsertWithDeltas(
  client: pg.PoolClient,
  upsert: string,
  params: unknown[],
): Promise<CohortDelta[]> {
  const { rows } = await client.query<DeltaRow>(
    `${upsert}
     select q.experiment_id, q.variant_key, r.counted_cohort as cohort, q.event_type, q.property,
            sum((q.x > 0)::int - (q.x - q.dx > 0)::int)::text as subjects, sum(q.dx)::text as total,
            sum(q.x * q.x - (q.x - q.dx) * (q.x - q.dx))::text as squares,
            sum(q.dx * r.exposures)::text as by_exposures
     from q join report_subjects r using (experiment_id, variant_key, subject_id)
     where r.counted_cohort is not null
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
      deltas.map((d) => d.experimentId),
      deltas.map((d) => d.variantKey),
      deltas.map((d) => d.cohort),
      deltas.map((d) => d.eventType),
      deltas.map((d) => d.property),
      deltas.map((d) => d.subjects),
      deltas.map((d) => d.total),
      deltas.map((d) => d.squares),
      deltas.map((d) => d.byExposures),
    ],
  );
}
