/**
 * The report's percentile reads: exact order statistics from the raw
 * events for small samples, the hourly value histograms
 * (hour_value_histograms) plus the raw events of the partial hours for
 * large ones, and cumulative percentiles per series point.
 */
import type pg from "pg";
import type { PlannedMetric, ReportPlan } from "./plan.js";
import type { ReportWindow } from "./window.js";
import type { PercentileFigures } from "./aggregates.js";

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
