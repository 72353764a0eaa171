/**
 * The report's per-subject reads: sums over the cohort (subjects first
 * exposed in the window) per variant and per series bucket of first
 * exposure, from the per-subject rollups, from the cohort sums
 * (cohort_stats) when they cover the plan, or recomputed from the raw
 * events.
 *
 * Every sum is taken as `numeric` in PostgreSQL and read as text, so the
 * same stored events always give the same figures, bit for bit.
 */
import type pg from "pg";
import { EXPOSURE_EVENT_TYPE } from "../catalog/lookup.js";
import {
  isExposureCount,
  quantityKey,
  subjectQuantities,
  type ReportPlan,
  type SubjectQuantity,
} from "./plan.js";
import { bucketEnds, type ReportWindow } from "./window.js";
import { emptyVariant, type CohortBuckets, type VariantAggregates } from "./aggregates.js";
import { segmentPredicate, type SegmentFilter } from "./segments.js";

/** Pairs (numerator, denominator) of the plan's ratio metrics. */
function ratioPairs(plan: ReportPlan): [SubjectQuantity, SubjectQuantity][] {
  const pairs = new Map<string, [SubjectQuantity, SubjectQuantity]>();
  for (const m of plan.metrics) {
    if (m.kind === "ratio" && m.numerator && m.denominator) {
      pairs.set(`${quantityKey(m.numerator)}|${quantityKey(m.denominator)}`, [
        m.numerator,
        m.denominator,
      ]);
    }
  }
  return [...pairs.values()];
}

/**
 * Per-subject figures over the cohort (subjects first exposed in the
 * window), from the rollups or, when `raw`, recomputed from the events
 * that occurred before `to`.
 */
export async function subjectFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  raw: boolean,
  buckets: CohortBuckets,
  segment: SegmentFilter = [],
  /** For a breakdown: SQL of each subject's segment label (columns v.variant_key, v.subject_id); buckets are then keyed `label\nvariant`. */
  label?: (param: (value: unknown) => string) => string,
): Promise<void> {
  const quantities = subjectQuantities(plan);
  const params: unknown[] = [plan.experimentId, new Date(window.from), new Date(window.to)];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const counted = quantities.filter((q) => q.property === "" && !isExposureCount(q));
  const summed = quantities.filter((q) => q.property !== "");
  const countTypes = param(counted.map((q) => q.eventType));
  const sumTypes = param(summed.map((q) => q.eventType));
  const sumProperties = param(summed.map((q) => q.property));
  // The rollups hold each subject's totals; as of `to`, a subject's
  // figures are those totals minus its events at or after `to` (the
  // "tail", one partition-pruned pass over the events after the window).
  // Rollup rows and negated tail rows are added up by grouping, never
  // joined: a join's plan depends on row estimates, and on young or stale
  // statistics (a new experiment, tables not analysed yet) the planner
  // picks nested loops that rescan the tail for every subject.
  const tail = (branch: string) => (raw ? `union all ${branch}` : "");
  // '' is the cohort's exposure count (no event type is '').
  const parts = `select r.variant_key::text collate "C" as variant_key,
         r.subject_id::text collate "C" as subject_id, ''::text collate "C" as event_type,
         ''::text collate "C" as property, true as rollup, r.exposures::numeric as v,
         r.first_exposed_at as cohort_at
       from report_subjects r
       where r.experiment_id = $1 and r.first_exposed_at >= $2 and r.first_exposed_at < $3
       ${tail(`select variant_key, subject_id, '', '', false, -count(*)::numeric, null
       from events
       where experiment_id = $1 and counted and event_type = '${EXPOSURE_EVENT_TYPE}' and occurred_at >= $3
       group by variant_key, subject_id`)}
       union all
       select c.variant_key, c.subject_id, c.event_type, '', true, c.events::numeric, null
       from subject_event_counts c
       where c.experiment_id = $1 and c.event_type = any(${countTypes}::text[])
       ${tail(`select variant_key, subject_id, event_type, '', false, -count(*)::numeric, null
       from events
       where experiment_id = $1 and counted and event_type = any(${countTypes}::text[]) and occurred_at >= $3
       group by variant_key, subject_id, event_type`)}
       union all
       select s.variant_key, s.subject_id, s.event_type, s.property, true, s.total, null
       from unnest(${sumTypes}::text[], ${sumProperties}::text[]) as q(event_type, property)
       join subject_property_sums s on s.event_type = q.event_type and s.property = q.property
       where s.experiment_id = $1
       ${tail(`select e.variant_key, e.subject_id, e.event_type, w.property, false,
              -sum((e.properties ->> w.property)::numeric), null
       from unnest(${sumTypes}::text[], ${sumProperties}::text[]) as w(event_type, property)
       join events e on e.event_type = w.event_type
       where e.experiment_id = $1 and e.counted and jsonb_typeof(e.properties -> w.property) = 'number'
         and e.occurred_at >= $3
       group by e.variant_key, e.subject_id, e.event_type, w.property`)}`;
  // A tail without a rollup row (none is expected) counts for nothing, as
  // a left join from the rollups would have it.
  const values = `select variant_key, subject_id, event_type, property, sum(v) as v,
         max(cohort_at) as cohort_at
       from parts group by variant_key, subject_id, event_type, property having bool_or(rollup)`;
  const columns = quantities.map((q, i) =>
    isExposureCount(q)
      ? `sum(v.v) filter (where v.event_type = '') as q${i}`
      : `coalesce(sum(v.v) filter (where v.event_type = ${param(q.eventType)} and v.property = ${param(q.property)}), 0) as q${i}`,
  );
  const index = new Map(quantities.map((q, i) => [quantityKey(q), i]));
  const pairs = ratioPairs(plan).map(([a, b]) => [
    index.get(quantityKey(a)),
    index.get(quantityKey(b)),
  ]);
  const aggregates = [
    "count(*)::text as subjects",
    ...quantities.flatMap((_, i) => [
      `sum(q${i})::text as s${i}`,
      `sum(q${i} * q${i})::text as ss${i}`,
      `count(*) filter (where q${i} > 0)::text as p${i}`,
    ]),
    ...pairs.map(([a, b], j) => `sum(q${a} * q${b})::text as x${j}`),
  ];
  // Subjects of the cohort are those with a '' (report_subjects) row.
  const sql = `with parts as (${parts}),
    vals as (${values}),
    per_subject as (
      select ${label === undefined ? "v.variant_key" : `${label(param)} || E'\\n' || v.variant_key`} as variant_key,
             v.subject_id, ${bucketOf(window, "max(v.cohort_at)")} as bucket
             ${columns.map((c) => `, ${c}`).join("")}
      from vals v
      where ${segmentPredicate(segment, param, "v.variant_key", "v.subject_id")}
      group by v.variant_key, v.subject_id
      having bool_or(v.event_type = '')
    )
    select variant_key, bucket, ${aggregates.join(", ")} from per_subject group by variant_key, bucket`;
  const { rows } = await pool.query<Record<string, string>>(sql, params);
  const pairList = ratioPairs(plan);
  for (const row of rows) {
    const v = bucketOf_(buckets, window, row.variant_key ?? "", Number(row.bucket));
    v.subjects = Number(row.subjects);
    quantities.forEach((q, i) => {
      v.quantities.set(quantityKey(q), {
        sum: Number(row[`s${i}`] ?? 0),
        sumSquares: Number(row[`ss${i}`] ?? 0),
        positive: Number(row[`p${i}`] ?? 0),
      });
    });
    pairList.forEach(([a, b], j) => {
      v.products.set(`${quantityKey(a)}|${quantityKey(b)}`, Number(row[`x${j}`] ?? 0));
    });
  }
}

/**
 * Whether cohort_stats holds every cross product the plan's ratio metrics
 * need: it keeps Σx·exposures, so ratios over (or of) the exposure count.
 */
export function cohortCovers(plan: ReportPlan): boolean {
  return ratioPairs(plan).every(([a, b]) => isExposureCount(a) || isExposureCount(b));
}

/**
 * Per-subject figures over the cohort from cohort_stats: the sums of the
 * subjects first exposed in each minute of the window, added up. Exact
 * when no event of the experiment occurred at or after `to`.
 */
export async function cohortFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  buckets: CohortBuckets,
): Promise<void> {
  const quantities = subjectQuantities(plan).filter((q) => !isExposureCount(q));
  // One query per variant, run side by side: each reads its own key range.
  const perVariant = await Promise.all(
    plan.variants.map(
      async (variant) =>
        (
          await pool.query<{
            variant_key: string;
            bucket: number;
            event_type: string;
            property: string;
            subjects: string;
            total: string;
            squares: string;
            by_exposures: string;
          }>(
            `select s.variant_key, ${bucketOf(window, "s.cohort_minute")} as bucket, s.event_type, s.property,
                    sum(s.subjects)::text as subjects,
                    sum(s.total)::text as total, sum(s.total_squares)::text as squares,
                    sum(s.total_by_exposures)::text as by_exposures
             from cohort_stats s
             where s.experiment_id = $1 and s.variant_key = $6
               and s.cohort_minute >= $2 and s.cohort_minute < $3
               and s.event_type = any($4::text[]) and s.property = any($5::text[])
             group by 1, 2, 3, 4`,
            [
              plan.experimentId,
              new Date(window.from),
              new Date(window.to),
              ["", ...quantities.map((q) => q.eventType)],
              ["", ...quantities.map((q) => q.property)],
              variant.key,
            ],
          )
        ).rows,
    ),
  );
  const rows = perVariant.flat();
  const exposureKey = quantityKey({ eventType: EXPOSURE_EVENT_TYPE, property: "" });
  const wanted = new Set(["", ...quantities.map(quantityKey)].map((k) => (k === "" ? "\n" : k)));
  const byExposures = new Map<VariantAggregates, Map<string, number>>();
  for (const row of rows) {
    if (!wanted.has(`${row.event_type}\n${row.property}`)) continue;
    const v = bucketOf_(buckets, window, row.variant_key, Number(row.bucket));
    if (row.event_type === "") {
      v.subjects = Number(row.subjects);
      v.quantities.set(exposureKey, {
        sum: Number(row.total),
        sumSquares: Number(row.squares),
        positive: Number(row.subjects),
      });
      continue;
    }
    const key = quantityKey({ eventType: row.event_type, property: row.property });
    v.quantities.set(key, {
      sum: Number(row.total),
      sumSquares: Number(row.squares),
      positive: Number(row.subjects),
    });
    const products = byExposures.get(v) ?? new Map<string, number>();
    products.set(key, Number(row.by_exposures));
    byExposures.set(v, products);
  }
  for (const list of buckets.values()) {
    for (const v of list) {
      for (const [a, b] of ratioPairs(plan)) {
        const ka = quantityKey(a);
        const kb = quantityKey(b);
        const product =
          isExposureCount(a) && isExposureCount(b)
            ? (v.quantities.get(exposureKey)?.sumSquares ?? 0)
            : isExposureCount(b)
              ? (byExposures.get(v)?.get(ka) ?? 0)
              : (byExposures.get(v)?.get(kb) ?? 0);
        v.products.set(`${ka}|${kb}`, product);
      }
    }
  }
}

/** SQL for the series bucket of a timestamp column, clamped to the window's buckets. */
function bucketOf(window: ReportWindow, column: string): string {
  const last = bucketEnds(window).length - 1;
  return `least(${last}, greatest(0, floor(extract(epoch from (${column} - $2)) / ${window.bucketSeconds})))::int`;
}

function bucketOf_(
  buckets: CohortBuckets,
  window: ReportWindow,
  variantKey: string,
  bucket: number,
): VariantAggregates {
  let list = buckets.get(variantKey);
  if (list === undefined) {
    list = bucketEnds(window).map(() => emptyVariant());
    buckets.set(variantKey, list);
  }
  return list[bucket] ?? (list[bucket] = emptyVariant());
}
