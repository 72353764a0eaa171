/**
 * The per-variant sums over exposure cohorts (cohort_stats) and the
 * per-subject locks under which the event store changes them: the deltas
 * new exposures and changed per-subject figures cause, and their upsert.
 */
import type pg from "pg";
import { compare } from "../platform/rows.js";

/**
 * Locks subjects (experiment, variant, subject) for the rest of the
 * transaction, in key order: the cohort bookkeeping reads a subject's
 * figures and changes them in several statements, and two transactions
 * must never interleave on one subject. The lock is the subject's
 * report_subjects row, created first when missing (a subject whose events
 * need no exposure may have figures before it is exposed), so that two
 * transactions creating a subject's first rows also wait for each other.
 * Row locks live in the rows, so a batch may lock any number of subjects.
 */
export async function lockSubjects(client: pg.PoolClient, keys: readonly (readonly string[])[]) {
  if (keys.length === 0) return;
  const unique = new Map(keys.map((k) => [k.join("\n"), k]));
  const sorted = [...unique.entries()].sort(([a], [b]) => compare(a, b)).map(([, k]) => k);
  const params = [sorted.map((k) => k[0]), sorted.map((k) => k[1]), sorted.map((k) => k[2])];
  await client.query(
    `insert into report_subjects (experiment_id, variant_key, subject_id, first_exposed_at, exposures)
     select e, v, s, null, 0 from unnest($1::uuid[], $2::text[], $3::text[]) as u(e, v, s)
     on conflict do nothing`,
    params,
  );
  await client.query(
    `select 1 from report_subjects r
     join unnest($1::uuid[], $2::text[], $3::text[]) as u(e, v, s)
       on r.experiment_id = u.e and r.variant_key = u.v and r.subject_id = u.s
     order by r.experiment_id, r.variant_key, r.subject_id
     for update of r`,
    params,
  );
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

/** A per-subject figure after an upsert: its new value and the change. */
export interface QuantityRow {
  experiment_id: string;
  variant_key: string;
  subject_id: string;
  event_type: string;
  property: string;
  value: string;
  delta: string;
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
 * Cohort changes caused by new exposures. A subject whose cohort minute is
 * new (first exposure, or an earlier one arrived) moves its whole
 * contribution from the cohort it was counted under to the new one; a
 * subject that stays gains exposures (and Σx·exposures grows by x·Δe for
 * each of its figures). Runs under the subjects' locks (lockSubjects).
 */
export async function exposureDeltas(
  client: pg.PoolClient,
  subjects: {
    key: string[];
    oldCohort: Date | null;
    newCohort: Date;
    oldExposures: number;
    newExposures: number;
  }[],
): Promise<CohortDelta[]> {
  if (subjects.length === 0) return [];
  const params = [
    subjects.map((s) => s.key[0]),
    subjects.map((s) => s.key[1]),
    subjects.map((s) => s.key[2]),
    subjects.map((s) => s.oldCohort),
    subjects.map((s) => s.newCohort),
    subjects.map((s) => s.oldExposures),
    subjects.map((s) => s.newExposures),
  ];
  const s = `select * from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::numeric[], $7::numeric[])
    as s(experiment_id, variant_key, subject_id, old_cohort, new_cohort, e_old, e_new)`;
  const { rows } = await client.query<DeltaRow>(
    `with s as (${s}),
     q as (
       select c.experiment_id, c.variant_key, c.subject_id, c.event_type, ''::text as property, c.events::numeric as x
       from subject_event_counts c join s using (experiment_id, variant_key, subject_id)
       union all
       select p.experiment_id, p.variant_key, p.subject_id, p.event_type, p.property, p.total
       from subject_property_sums p join s using (experiment_id, variant_key, subject_id)
     ),
     d as (
       -- Moves: the whole contribution leaves the old cohort …
       select s.experiment_id, s.variant_key, s.old_cohort as cohort, ''::text as event_type, ''::text as property,
              -1 as subjects, -s.e_old as total, -s.e_old * s.e_old as squares, 0::numeric as by_e
       from s where s.old_cohort is not null and s.old_cohort <> s.new_cohort
       union all
       select q.experiment_id, q.variant_key, s.old_cohort, q.event_type, q.property,
              -(q.x > 0)::int, -q.x, -q.x * q.x, -q.x * s.e_old
       from q join s using (experiment_id, variant_key, subject_id)
       where s.old_cohort is not null and s.old_cohort <> s.new_cohort
       union all
       -- … and joins the new one.
       select s.experiment_id, s.variant_key, s.new_cohort, '', '', 1, s.e_new, s.e_new * s.e_new, 0
       from s where s.old_cohort is distinct from s.new_cohort
       union all
       select q.experiment_id, q.variant_key, s.new_cohort, q.event_type, q.property,
              (q.x > 0)::int, q.x, q.x * q.x, q.x * s.e_new
       from q join s using (experiment_id, variant_key, subject_id)
       where s.old_cohort is distinct from s.new_cohort
       union all
       -- Same cohort, more exposures.
       select s.experiment_id, s.variant_key, s.new_cohort, '', '', 0, s.e_new - s.e_old,
              s.e_new * s.e_new - s.e_old * s.e_old, 0
       from s where s.old_cohort = s.new_cohort
       union all
       select q.experiment_id, q.variant_key, s.new_cohort, q.event_type, q.property,
              0, 0, 0, q.x * (s.e_new - s.e_old)
       from q join s using (experiment_id, variant_key, subject_id)
       where s.old_cohort = s.new_cohort
     )
     select experiment_id, variant_key, cohort, event_type, property, sum(subjects)::text as subjects,
            sum(total)::text as total, sum(squares)::text as squares, sum(by_e)::text as by_exposures
     from d group by 1, 2, 3, 4, 5`,
    params,
  );
  const moved = subjects.filter((x) => x.oldCohort?.getTime() !== x.newCohort.getTime());
  if (moved.length > 0) {
    await client.query(
      `update report_subjects r set counted_cohort = m.cohort
       from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) as m(e, v, s, cohort)
       where r.experiment_id = m.e and r.variant_key = m.v and r.subject_id = m.s`,
      [
        moved.map((x) => x.key[0]),
        moved.map((x) => x.key[1]),
        moved.map((x) => x.key[2]),
        moved.map((x) => x.newCohort),
      ],
    );
  }
  return rows.map(toDelta);
}

/**
 * Cohort changes caused by per-subject figures that changed (x − Δ → x),
 * for subjects already counted in a cohort; subjects not exposed yet join
 * a cohort with all their figures when they are.
 */
export async function quantityDeltas(
  client: pg.PoolClient,
  rows: readonly QuantityRow[],
): Promise<CohortDelta[]> {
  if (rows.length === 0) return [];
  const { rows: deltas } = await client.query<DeltaRow>(
    `with q as (
       select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::numeric[])
         as q(experiment_id, variant_key, subject_id, event_type, property, x, dx)
     )
     select q.experiment_id, q.variant_key, r.counted_cohort as cohort, q.event_type, q.property,
            sum((q.x > 0)::int - (q.x - q.dx > 0)::int)::text as subjects, sum(q.dx)::text as total,
            sum(q.x * q.x - (q.x - q.dx) * (q.x - q.dx))::text as squares,
            sum(q.dx * r.exposures)::text as by_exposures
     from q join report_subjects r using (experiment_id, variant_key, subject_id)
     where r.counted_cohort is not null
     group by 1, 2, 3, 4, 5`,
    [
      rows.map((r) => r.experiment_id),
      rows.map((r) => r.variant_key),
      rows.map((r) => r.subject_id),
      rows.map((r) => r.event_type),
      rows.map((r) => r.property),
      rows.map((r) => r.value),
      rows.map((r) => r.delta),
    ],
  );
  return deltas.map(toDelta);
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
