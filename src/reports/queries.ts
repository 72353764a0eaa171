/**
 * The report's reads: plain SQL over the rollups the event store keeps
 * (docs/reports.md#how-reports-are-computed), with a fallback to the raw
 * events when the window ends before the experiment's last event.
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
  type PlannedMetric,
  type ReportPlan,
  type SubjectQuantity,
} from "./plan.js";
import { bucketEnds, type ReportWindow } from "./window.js";

/** Σx, Σx² and #{x > 0} of one per-subject quantity over a cohort. */
export interface QuantitySums {
  sum: number;
  sumSquares: number;
  positive: number;
}

/** Count, Σ and Σ² of a number property over events. */
export interface EventSums {
  events: number;
  sum: number;
  sumSquares: number;
}

/** Order statistics of one percentile metric in one variant. */
export interface PercentileFigures {
  n: number;
  /** The sample percentile; NaN when n is 0. */
  estimate: number;
  /** Values at the interval's ranks; null when a rank is outside 1..n. */
  lower: number | null;
  upper: number | null;
}

export interface VariantAggregates {
  /** Exposure events in the window. */
  exposures: number;
  /** Subjects first exposed in the window (the cohort). */
  subjects: number;
  /** By quantityKey. */
  quantities: Map<string, QuantitySums>;
  /** Σ x·y by `${quantityKey(x)}|${quantityKey(y)}`. */
  products: Map<string, number>;
  /** Event-time sums by quantityKey (property "" = event count only). */
  events: Map<string, EventSums>;
}

export interface ReportAggregates {
  /** By variant key; variants without data are absent. */
  variants: Map<string, VariantAggregates>;
  /** By metric key, then variant key ("" = all variants together). */
  percentiles: Map<string, Map<string, PercentileFigures>>;
  /** True when per-subject figures came from the raw events. */
  fromRawEvents: boolean;
  /** Per-subject figures per series bucket of first exposure (not cumulative). */
  cohortBuckets?: CohortBuckets;
}

export function emptyVariant(): VariantAggregates {
  return {
    exposures: 0,
    subjects: 0,
    quantities: new Map(),
    products: new Map(),
    events: new Map(),
  };
}

function variantOf(map: Map<string, VariantAggregates>, key: string): VariantAggregates {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = emptyVariant()));
  return v;
}

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
 * Whether counted events of the experiment exist at or after `to`. When
 * none do, the per-subject rollups (which hold each subject's totals) are
 * exactly the window's figures.
 */
export async function hasEventsFrom(pool: pg.Pool, experimentId: string, to: number) {
  const { rows } = await pool.query<{ found: boolean }>(
    `select exists (select 1 from event_counts where experiment_id = $1 and minute >= $2) as found`,
    [experimentId, new Date(to)],
  );
  return rows[0]?.found === true;
}

/**
 * Per-subject figures over the cohort (subjects first exposed in the
 * window), from the rollups or, when `raw`, recomputed from the events
 * that occurred before `to`.
 */
async function subjectFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  raw: boolean,
  buckets: CohortBuckets,
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
  const tail = (select: string, where: string, group: string) =>
    raw ? `left join (${select} where ${where} and occurred_at >= $3 group by ${group}) t` : "";
  const minusTail = (column: string, tailColumn: string) =>
    raw ? `(${column} - coalesce(t.${tailColumn}, 0))` : column;
  const cohort = `select r.variant_key, r.subject_id, ${minusTail("r.exposures", "n")}::numeric as exposures,
         r.first_exposed_at
       from report_subjects r
       ${tail(
         "select variant_key, subject_id, count(*) as n from events",
         `experiment_id = $1 and counted and event_type = '${EXPOSURE_EVENT_TYPE}'`,
         "variant_key, subject_id",
       )}${raw ? " using (variant_key, subject_id)" : ""}
       where r.experiment_id = $1 and r.first_exposed_at >= $2 and r.first_exposed_at < $3`;
  const values = `select c.variant_key, c.subject_id, c.event_type, '' as property,
         ${minusTail("c.events", "n")}::numeric as v
       from subject_event_counts c
       ${tail(
         "select variant_key, subject_id, event_type, count(*) as n from events",
         `experiment_id = $1 and counted and event_type = any(${countTypes}::text[])`,
         "variant_key, subject_id, event_type",
       )}${raw ? " using (variant_key, subject_id, event_type)" : ""}
       where c.experiment_id = $1 and c.event_type = any(${countTypes}::text[])
       union all
       select s.variant_key, s.subject_id, s.event_type, s.property, ${minusTail("s.total", "total")}
       from unnest(${sumTypes}::text[], ${sumProperties}::text[]) as q(event_type, property)
       join subject_property_sums s on s.event_type = q.event_type and s.property = q.property
       ${tail(
         `select e.variant_key, e.subject_id, e.event_type, w.property,
                 sum((e.properties ->> w.property)::numeric) as total
          from unnest(${sumTypes}::text[], ${sumProperties}::text[]) as w(event_type, property)
          join events e on e.event_type = w.event_type`,
         `e.experiment_id = $1 and e.counted and jsonb_typeof(e.properties -> w.property) = 'number'`,
         "e.variant_key, e.subject_id, e.event_type, w.property",
       ).replace("and occurred_at >= $3", "and e.occurred_at >= $3")}${
         raw
           ? " on t.variant_key = s.variant_key and t.subject_id = s.subject_id and t.event_type = s.event_type and t.property = s.property"
           : ""
       }
       where s.experiment_id = $1`;
  const columns = quantities.map((q, i) =>
    isExposureCount(q)
      ? `c.exposures as q${i}`
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
  const sql = `with cohort as (${cohort}),
    vals as (${values}),
    per_subject as (
      select c.variant_key, c.subject_id, ${bucketOf(window, "c.first_exposed_at")} as bucket
             ${columns.map((c) => `, ${c}`).join("")}
      from cohort c left join vals v on v.variant_key = c.variant_key and v.subject_id = c.subject_id
      group by c.variant_key, c.subject_id, c.exposures, c.first_exposed_at
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
function cohortCovers(plan: ReportPlan): boolean {
  return ratioPairs(plan).every(([a, b]) => isExposureCount(a) || isExposureCount(b));
}

/**
 * Per-subject figures over the cohort from cohort_stats: the sums of the
 * subjects first exposed in each minute of the window, added up. Exact
 * when no event of the experiment occurred at or after `to`.
 */
async function cohortFigures(
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

/** Per variant, the cohort figures of each series bucket (by first exposure). */
export type CohortBuckets = Map<string, VariantAggregates[]>;

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

/** Adds b's per-subject figures (subjects, quantities, products) into a. */
export function addSubjectFigures(a: VariantAggregates, b: VariantAggregates): void {
  a.subjects += b.subjects;
  for (const [k, q] of b.quantities) {
    const x = a.quantities.get(k) ?? { sum: 0, sumSquares: 0, positive: 0 };
    a.quantities.set(k, {
      sum: x.sum + q.sum,
      sumSquares: x.sumSquares + q.sumSquares,
      positive: x.positive + q.positive,
    });
  }
  for (const [k, p] of b.products) a.products.set(k, (a.products.get(k) ?? 0) + p);
}

/** The event-time quantities a report reads: exposure events, and MEAN metrics' properties. */
function eventQuantities(plan: ReportPlan): SubjectQuantity[] {
  const seen = new Map<string, SubjectQuantity>();
  const add = (q: SubjectQuantity) => seen.set(quantityKey(q), q);
  add({ eventType: EXPOSURE_EVENT_TYPE, property: "" });
  for (const m of plan.metrics) {
    if (m.kind === "mean") add({ eventType: m.eventType, property: m.property });
  }
  return [...seen.values()];
}

/**
 * Event-time figures in [from, to) from the per-minute rollups, per
 * variant, or per bucket when `bucketEnds` is given.
 */
export async function eventFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  quantities: SubjectQuantity[] = eventQuantities(plan),
  bucketSeconds?: number,
): Promise<{ variantKey: string; bucket: number; key: string; sums: EventSums }[]> {
  const counts = quantities.filter((q) => q.property === "");
  const props = quantities.filter((q) => q.property !== "");
  const bucket =
    bucketSeconds === undefined
      ? "0"
      : `floor(extract(epoch from (minute - $2)) / ${bucketSeconds})::int`;
  const { rows } = await pool.query<{
    variant_key: string;
    bucket: number;
    event_type: string;
    property: string;
    events: string;
    total: string;
    squares: string;
  }>(
    `select variant_key, ${bucket} as bucket, event_type, '' as property,
            sum(events)::text as events, '0' as total, '0' as squares
     from event_counts
     where experiment_id = $1 and minute >= $2 and minute < $3 and event_type = any($4::text[])
     group by 1, 2, 3
     union all
     select s.variant_key, ${bucket.replace("minute", "s.minute")} as bucket, s.event_type, s.property,
            sum(s.events)::text, sum(s.total)::text, sum(s.total_squares)::text
     from unnest($5::text[], $6::text[]) as q(event_type, property)
     join minute_property_stats s on s.event_type = q.event_type and s.property = q.property
     where s.experiment_id = $1 and s.minute >= $2 and s.minute < $3
     group by 1, 2, 3, 4`,
    [
      plan.experimentId,
      new Date(window.from),
      new Date(window.to),
      counts.map((q) => q.eventType),
      props.map((q) => q.eventType),
      props.map((q) => q.property),
    ],
  );
  return rows.map((r) => ({
    variantKey: r.variant_key,
    bucket: Number(r.bucket),
    key: quantityKey({ eventType: r.event_type, property: r.property }),
    sums: { events: Number(r.events), sum: Number(r.total), sumSquares: Number(r.squares) },
  }));
}

/** 1-based rank ⌈n·p⌉ of the sample percentile (as src/stats), clamped to [1, n]. */
export type RankFunction = (n: number) => { estimate: number; lower: number; upper: number };

/** Up to this many values in the window, percentiles are exact (read from the raw events). */
export const EXACT_PERCENTILE_LIMIT = 20_000;
const HOUR_MS = 3_600_000;
/** Bucket growth of lotty_value_bucket(): (1 + α)/(1 − α) with α = 1 %. */
export const HISTOGRAM_GAMMA = 1.01 / 0.99;

/**
 * The value a histogram bucket stands for: 2γ^i/(γ + 1), within 1 % of
 * every value in the bucket (see lotty_value_bucket()).
 */
export function bucketValue(bucket: number): number {
  if (bucket === 0) return 0;
  const index = Math.abs(bucket) - 100_000;
  const magnitude = (2 * HISTOGRAM_GAMMA ** index) / (HISTOGRAM_GAMMA + 1);
  return bucket > 0 ? magnitude : -magnitude;
}

/** Whole hours inside the window, as [first hour, end of the last hour); empty when none. */
function wholeHours(window: ReportWindow): [number, number] {
  const first = Math.ceil(window.from / HOUR_MS) * HOUR_MS;
  const end = Math.floor(window.to / HOUR_MS) * HOUR_MS;
  // No whole hour: the raw part covers [from, to) (the second range is empty).
  return first < end ? [first, end] : [window.to, window.to];
}

/** The value at 1-based `rank` of (value, count) pairs sorted by value; null outside 1..n. */
function valueAtRank(values: readonly [number, number][], rank: number): number | null {
  let seen = 0;
  for (const [value, count] of values) {
    seen += count;
    if (seen >= rank && rank >= 1) return value;
  }
  return null;
}

/** One group of values for a series: how many of `value` in series point `point`. */
export interface ValueCount {
  variant: string;
  point: number;
  value: number;
  n: number;
}

const EVENTS_WITH_VALUE = `experiment_id = $1 and counted and event_type = $2
  and jsonb_typeof(properties -> $5) = 'number'`;

/**
 * Percentile figures of one metric per variant and for all variants
 * together. Exact (order statistics of the raw events, in two passes:
 * counts, then the values at the ranks the counts give) up to
 * EXACT_PERCENTILE_LIMIT values; above that from the hourly histograms of
 * the whole hours inside the window plus the raw events of the partial
 * hours at its edges, within 1 % of the exact value.
 */
export async function percentileFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  metric: PlannedMetric,
  ranks: RankFunction,
): Promise<Map<string, PercentileFigures>> {
  const base = [
    plan.experimentId,
    metric.eventType,
    new Date(window.from),
    new Date(window.to),
    metric.property,
  ];
  if ((await valueCount(pool, base)) > EXACT_PERCENTILE_LIMIT) {
    return histogramPercentiles(pool, base, window, ranks);
  }
  const where = `${EVENTS_WITH_VALUE} and occurred_at >= $3 and occurred_at < $4`;
  const { rows: counts } = await pool.query<{ variant_key: string | null; n: string }>(
    `select variant_key, count(*)::text as n from events where ${where}
     group by grouping sets ((variant_key), ())`,
    base,
  );
  const figures = new Map<string, PercentileFigures>();
  const wanted: { variant: string; rank: number }[] = [];
  for (const row of counts) {
    const variant = row.variant_key ?? "";
    const n = Number(row.n);
    const r = ranks(n);
    figures.set(variant, { n, estimate: Number.NaN, lower: null, upper: null });
    for (const rank of [r.estimate, r.lower, r.upper]) {
      if (rank >= 1 && rank <= n) wanted.push({ variant, rank });
    }
  }
  if (wanted.length === 0) return figures;
  const { rows } = await pool.query<{ variant: string; rank: string; v: string }>(
    `with vals as (
       select variant_key, (properties ->> $5)::numeric as v from events where ${where}
     ), ranked as (
       select variant_key as variant, v, row_number() over (partition by variant_key order by v) as rank from vals
       union all
       select '' as variant, v, row_number() over (order by v) as rank from vals
     )
     select r.variant, r.rank::text, r.v::text from ranked r
     join unnest($6::text[], $7::bigint[]) as w(variant, rank) on w.variant = r.variant and w.rank = r.rank`,
    [...base, wanted.map((w) => w.variant), wanted.map((w) => w.rank)],
  );
  const at = new Map(rows.map((r) => [`${r.variant}\n${r.rank}`, Number(r.v)]));
  for (const [variant, f] of figures) {
    const r = ranks(f.n);
    f.estimate = at.get(`${variant}\n${r.estimate}`) ?? Number.NaN;
    f.lower = at.get(`${variant}\n${r.lower}`) ?? null;
    f.upper = at.get(`${variant}\n${r.upper}`) ?? null;
  }
  return figures;
}

/**
 * Histogram buckets (bucket, count) per variant for [from, to): the hourly
 * histograms of the whole hours plus the raw values of the partial hours
 * at the edges, with the bucket of each series point when `bucketSeconds`
 * is given (an hour counts in the series bucket its start falls in).
 */
export async function histogramBuckets(
  pool: pg.Pool,
  base: unknown[],
  window: ReportWindow,
  bucketSeconds?: number,
): Promise<ValueCount[]> {
  const [h1, h2] = wholeHours(window);
  const point = (column: string) =>
    bucketSeconds === undefined
      ? "0"
      : `floor(extract(epoch from (${column} - $3)) / ${bucketSeconds})::int`;
  const { rows } = await pool.query<{
    variant_key: string;
    point: number;
    bucket: number;
    n: string;
  }>(
    `select variant_key, point, bucket, sum(n)::text as n from (
       select variant_key, ${point("hour")} as point, bucket, events as n from hour_value_histograms
       where experiment_id = $1 and event_type = $2 and property = $5 and hour >= $6 and hour < $7
       union all
       -- The partial hours at the edges, each a range of the events' key.
       select variant_key, ${point("occurred_at")} as point, lotty_value_bucket((properties ->> $5)::numeric), 1
       from events where ${EVENTS_WITH_VALUE} and occurred_at >= $3 and occurred_at < $6
       union all
       select variant_key, ${point("occurred_at")} as point, lotty_value_bucket((properties ->> $5)::numeric), 1
       from events where ${EVENTS_WITH_VALUE} and occurred_at >= $7 and occurred_at < $4
     ) s group by 1, 2, 3`,
    [...base, new Date(h1), new Date(h2)],
  );
  return rows.map((r) => ({
    variant: r.variant_key,
    point: Number(r.point),
    value: bucketValue(Number(r.bucket)),
    n: Number(r.n),
  }));
}

/** Exact values with their counts per series point, for small samples. */
export async function exactValues(
  pool: pg.Pool,
  base: unknown[],
  bucketSeconds: number,
  lastPoint: number,
): Promise<ValueCount[]> {
  const { rows } = await pool.query<{ variant_key: string; point: number; v: string; n: string }>(
    `select variant_key,
            least(${lastPoint}, floor(extract(epoch from (occurred_at - $3)) / ${bucketSeconds}))::int as point,
            (properties ->> $5)::numeric::text as v, count(*)::text as n
     from events where ${EVENTS_WITH_VALUE} and occurred_at >= $3 and occurred_at < $4
     group by 1, 2, 3`,
    base,
  );
  return rows.map((r) => ({
    variant: r.variant_key,
    point: Number(r.point),
    value: Number(r.v),
    n: Number(r.n),
  }));
}

/** How many values of the metric's property the window holds (all variants). */
export async function valueCount(pool: pg.Pool, base: unknown[]): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `select coalesce(sum(events), 0)::text as n from minute_property_stats
     where experiment_id = $1 and event_type = $2 and property = $5 and minute >= $3 and minute < $4`,
    base,
  );
  return Number(rows[0]?.n ?? 0);
}

async function histogramPercentiles(
  pool: pg.Pool,
  base: unknown[],
  window: ReportWindow,
  ranks: RankFunction,
): Promise<Map<string, PercentileFigures>> {
  const rows = await histogramBuckets(pool, base, window);
  const byVariant = new Map<string, Map<number, number>>();
  for (const r of rows) {
    for (const variant of [r.variant, ""]) {
      const m = byVariant.get(variant) ?? new Map<number, number>();
      m.set(r.value, (m.get(r.value) ?? 0) + r.n);
      byVariant.set(variant, m);
    }
  }
  const figures = new Map<string, PercentileFigures>();
  for (const [variant, counts] of byVariant) {
    const buckets = [...counts.entries()].sort((a, b) => a[0] - b[0]);
    const n = buckets.reduce((sum, [, c]) => sum + c, 0);
    const r = ranks(n);
    figures.set(variant, {
      n,
      estimate: valueAtRank(buckets, r.estimate) ?? Number.NaN,
      lower: valueAtRank(buckets, r.lower),
      upper: valueAtRank(buckets, r.upper),
    });
  }
  return figures;
}

/** Cumulative percentiles per series point from value counts. */
export function cumulativePercentiles(
  rows: readonly ValueCount[],
  variant: string,
  points: number,
  probability: number,
  rankOf: (n: number, probability: number) => number,
): { value: number; sampleSize: number }[] {
  const mine = rows.filter((r) => r.variant === variant).sort((a, b) => a.point - b.point);
  const counts = new Map<number, number>();
  const out: { value: number; sampleSize: number }[] = [];
  let i = 0;
  let n = 0;
  for (let k = 0; k < points; k++) {
    for (; i < mine.length && (mine[i]?.point ?? 0) <= k; i++) {
      const r = mine[i]!;
      counts.set(r.value, (counts.get(r.value) ?? 0) + r.n);
      n += r.n;
    }
    const buckets = [...counts.entries()].sort((a, b) => a[0] - b[0]);
    out.push({
      value: n === 0 ? 0 : (valueAtRank(buckets, rankOf(n, probability)) ?? 0),
      sampleSize: n,
    });
  }
  return out;
}

/** Everything the report's figures are computed from. */
export async function loadAggregates(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  ranksFor: (probability: number) => RankFunction,
): Promise<ReportAggregates> {
  const variants = new Map<string, VariantAggregates>();
  const raw = await hasEventsFrom(pool, plan.experimentId, window.to);
  const percentiles = new Map<string, Map<string, PercentileFigures>>();
  const cohortBuckets: CohortBuckets = new Map();
  await Promise.all([
    !raw && cohortCovers(plan)
      ? cohortFigures(pool, plan, window, cohortBuckets)
      : subjectFigures(pool, plan, window, raw, cohortBuckets),
    eventFigures(pool, plan, window).then((rows) => {
      for (const r of rows) {
        const v = variantOf(variants, r.variantKey);
        v.events.set(r.key, r.sums);
        if (r.key === quantityKey({ eventType: EXPOSURE_EVENT_TYPE, property: "" })) {
          v.exposures = r.sums.events;
        }
      }
    }),
    ...plan.metrics
      .filter((m) => m.kind === "percentile")
      .map(async (m) => {
        percentiles.set(
          m.key,
          await percentileFigures(pool, plan, window, m, ranksFor(m.probability)),
        );
      }),
  ]);
  for (const [variantKey, list] of cohortBuckets) {
    const v = variantOf(variants, variantKey);
    for (const b of list) addSubjectFigures(v, b);
  }
  return { variants, percentiles, fromRawEvents: raw, cohortBuckets };
}
