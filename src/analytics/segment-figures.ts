/**
 * The report's reads for a segment of subjects (docs/segments.md): the same
 * figures as reader.ts, over the subjects a segment filter selects.
 *
 * Per-subject figures come from the per-subject rollups restricted to the
 * segment's subjects (subject-figures.ts), never from the cohort sums,
 * which cannot be split by segment. Event-time figures (exposure events,
 * MEAN properties, percentiles) are read from the raw events of the
 * window, restricted the same way: their rollups are not kept per subject.
 * Percentiles of a segment are always exact order statistics.
 */
import type pg from "pg";
import { EXPOSURE_EVENT_TYPE } from "../catalog/lookup.js";
import {
  eventQuantities,
  quantityKey,
  type PlannedMetric,
  type ReportPlan,
  type SubjectQuantity,
} from "./plan.js";
import type { ReportWindow } from "./window.js";
import {
  addSubjectFigures,
  variantOf,
  type CohortBuckets,
  type EventSums,
  type PercentileFigures,
  type ReportAggregates,
  type VariantAggregates,
} from "./aggregates.js";
import { subjectFigures } from "./subject-figures.js";
import type { RankFunction, ValueCount } from "./percentile-figures.js";
import { hasEventsFrom, loadCohortMetrics } from "./reader.js";
import { cohortMetricFigures } from "./cohort-metrics.js";
import {
  segmentLabel,
  segmentLabelsSql,
  segmentPredicate,
  type SegmentBreakdown,
  type SegmentFilter,
} from "./segments.js";

/** Bound parameters of one query: $1 experiment, $2 from, $3 to, then more. */
function binder(plan: ReportPlan, window: ReportWindow) {
  const params: unknown[] = [plan.experimentId, new Date(window.from), new Date(window.to)];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  return { params, param };
}

/**
 * Event-time figures in [from, to) of the segment's subjects, per variant,
 * or per series bucket when `bucketSeconds` is given (as reader.ts
 * eventFigures).
 */
export async function segmentEventFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  segment: SegmentFilter,
  quantities: SubjectQuantity[] = eventQuantities(plan),
  bucketSeconds?: number,
): Promise<{ variantKey: string; bucket: number; key: string; sums: EventSums }[]> {
  const { params, param } = binder(plan, window);
  const types = param(quantities.map((q) => q.eventType));
  const properties = param(quantities.map((q) => q.property));
  const bucket =
    bucketSeconds === undefined
      ? "0"
      : `floor(extract(epoch from (e.occurred_at - $2)) / ${bucketSeconds})::int`;
  const { rows } = await pool.query<{
    variant_key: string;
    bucket: number;
    event_type: string;
    property: string;
    events: string;
    total: string;
    squares: string;
  }>(
    `with s as (
       select e.variant_key, ${bucket} as bucket, q.event_type, q.property,
              case when q.property = '' then null else (e.properties ->> q.property)::numeric end as x
       from unnest(${types}::text[], ${properties}::text[]) as q(event_type, property)
       join events e on e.event_type = q.event_type
       where e.experiment_id = $1 and e.counted and e.variant_key is not null
         and e.occurred_at >= $2 and e.occurred_at < $3
         and (q.property = '' or jsonb_typeof(e.properties -> q.property) = 'number')
         and ${segmentPredicate(segment, param, "e.variant_key", "e.subject_id")}
     )
     select variant_key, bucket, event_type, property, count(*)::text as events,
            coalesce(sum(x), 0)::text as total, coalesce(sum(x * x), 0)::text as squares
     from s group by 1, 2, 3, 4`,
    params,
  );
  return rows.map((r) => ({
    variantKey: r.variant_key,
    bucket: Number(r.bucket),
    key: quantityKey({ eventType: r.event_type, property: r.property }),
    sums: { events: Number(r.events), sum: Number(r.total), sumSquares: Number(r.squares) },
  }));
}

/** The window's events carrying the metric's number property, of the segment's subjects. */
function valuesWhere(
  metric: PlannedMetric,
  segment: SegmentFilter,
  param: (value: unknown) => string,
): string {
  const property = param(metric.property);
  return `e.experiment_id = $1 and e.counted and e.variant_key is not null
    and e.event_type = ${param(metric.eventType)}
    and jsonb_typeof(e.properties -> ${property}) = 'number'
    and e.occurred_at >= $2 and e.occurred_at < $3
    and ${segmentPredicate(segment, param, "e.variant_key", "e.subject_id")}`;
}

/**
 * Exact percentile figures of one metric over the segment's subjects, per
 * variant and for all variants together ("").
 */
export async function segmentPercentileFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  metric: PlannedMetric,
  ranks: RankFunction,
  segment: SegmentFilter,
): Promise<Map<string, PercentileFigures>> {
  const { params, param } = binder(plan, window);
  const property = param(metric.property);
  const where = valuesWhere(metric, segment, param);
  const { rows } = await pool.query<{ variant: string; v: string; n: string }>(
    `with vals as (
       select e.variant_key, (e.properties ->> ${property})::numeric as v from events e where ${where}
     )
     select coalesce(variant_key, '') as variant, v::text as v, count(*)::text as n
     from vals group by grouping sets ((variant_key, v), (v))`,
    params,
  );
  const byVariant = new Map<string, [number, number][]>();
  for (const r of rows) {
    const list = byVariant.get(r.variant) ?? [];
    list.push([Number(r.v), Number(r.n)]);
    byVariant.set(r.variant, list);
  }
  const figures = new Map<string, PercentileFigures>();
  for (const [variant, values] of byVariant) figures.set(variant, percentileOf(values, ranks));
  return figures;
}

function valueAtRank(values: readonly [number, number][], rank: number): number | null {
  let seen = 0;
  for (const [value, count] of values) {
    seen += count;
    if (seen >= rank && rank >= 1) return value;
  }
  return null;
}

/** Values with their counts per series point, of the segment's subjects (for the series). */
export async function segmentValueCounts(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  metric: PlannedMetric,
  segment: SegmentFilter,
  lastPoint: number,
): Promise<ValueCount[]> {
  const { params, param } = binder(plan, window);
  const property = param(metric.property);
  const where = valuesWhere(metric, segment, param);
  const { rows } = await pool.query<{ variant_key: string; point: number; v: string; n: string }>(
    `select e.variant_key,
            least(${lastPoint}, floor(extract(epoch from (e.occurred_at - $2)) / ${window.bucketSeconds}))::int as point,
            (e.properties ->> ${property})::numeric::text as v, count(*)::text as n
     from events e where ${where}
     group by 1, 2, 3`,
    params,
  );
  return rows.map((r) => ({
    variant: r.variant_key,
    point: Number(r.point),
    value: Number(r.v),
    n: Number(r.n),
  }));
}

/** Everything a segment's report is computed from (as reader.ts loadAggregates). */
export async function loadSegmentAggregates(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  ranksFor: (probability: number) => RankFunction,
  segment: SegmentFilter,
): Promise<ReportAggregates> {
  const variants = new Map<string, VariantAggregates>();
  const raw = await hasEventsFrom(pool, plan.experimentId, window.to);
  const percentiles = new Map<string, Map<string, PercentileFigures>>();
  const cohortBuckets: CohortBuckets = new Map();
  const exposureKey = quantityKey({ eventType: EXPOSURE_EVENT_TYPE, property: "" });
  const cohortMetrics = loadCohortMetrics(pool, plan, window, segment);
  cohortMetrics.catch(() => undefined);
  await Promise.all([
    subjectFigures(pool, plan, window, raw, cohortBuckets, segment),
    segmentEventFigures(pool, plan, window, segment).then((rows) => {
      for (const r of rows) {
        const v = variantOf(variants, r.variantKey);
        v.events.set(r.key, r.sums);
        if (r.key === exposureKey) v.exposures = r.sums.events;
      }
    }),
    ...plan.metrics
      .filter((m) => m.kind === "percentile")
      .map(async (m) => {
        percentiles.set(
          m.key,
          await segmentPercentileFigures(pool, plan, window, m, ranksFor(m.probability), segment),
        );
      }),
  ]);
  for (const [variantKey, list] of cohortBuckets) {
    const v = variantOf(variants, variantKey);
    for (const b of list) addSubjectFigures(v, b);
  }
  return {
    variants,
    percentiles,
    fromRawEvents: true,
    cohortBuckets,
    cohortMetrics: await cohortMetrics,
  };
}

/**
 * Everything a breakdown's segment reports are computed from, by segment
 * label: the same reads as loadSegmentAggregates, each one pass grouped by
 * the subjects' labels rather than one pass per segment. Segments without
 * subjects or events are absent.
 */
export async function loadBreakdownAggregates(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  ranksFor: (probability: number) => RankFunction,
  segment: SegmentFilter,
  breakdown: SegmentBreakdown,
): Promise<Map<string, ReportAggregates>> {
  const raw = await hasEventsFrom(pool, plan.experimentId, window.to);
  const byLabel = new Map<string, ReportAggregates>();
  const of = (label: string) => {
    let a = byLabel.get(label);
    if (a === undefined) {
      a = {
        variants: new Map(),
        percentiles: new Map(),
        fromRawEvents: true,
        cohortBuckets: new Map(),
        cohortMetrics: new Map(),
      };
      byLabel.set(label, a);
    }
    return a;
  };
  const exposureKey = quantityKey({ eventType: EXPOSURE_EVENT_TYPE, property: "" });
  const buckets: CohortBuckets = new Map();
  const percentiles = plan.metrics.filter((m) => m.kind === "percentile");
  const cohortMetrics = plan.metrics.filter((m) => m.definition !== undefined);
  const [events, values, cohortValues] = await Promise.all([
    breakdownEventFigures(pool, plan, window, segment, breakdown),
    Promise.all(
      percentiles.map((m) => breakdownPercentileValues(pool, plan, window, m, segment, breakdown)),
    ),
    Promise.all(
      cohortMetrics.map((m) => cohortMetricFigures(pool, plan, window, m, segment, breakdown)),
    ),
    subjectFigures(pool, plan, window, raw, buckets, segment, (param) =>
      segmentLabel(breakdown, param, "v.variant_key", "v.subject_id"),
    ),
  ]);
  cohortMetrics.forEach((m, i) => {
    for (const [label, figures] of cohortValues[i] ?? new Map()) {
      of(label).cohortMetrics?.set(m.key, figures);
    }
  });
  for (const [key, list] of buckets) {
    const at = key.lastIndexOf("\n");
    const a = of(key.slice(0, at));
    const variant = key.slice(at + 1);
    a.cohortBuckets?.set(variant, list);
    const v = variantOf(a.variants, variant);
    for (const b of list) addSubjectFigures(v, b);
  }
  for (const r of events) {
    const v = variantOf(of(r.label).variants, r.variantKey);
    v.events.set(r.key, r.sums);
    if (r.key === exposureKey) v.exposures = r.sums.events;
  }
  percentiles.forEach((m, i) => {
    const ranks = ranksFor(m.probability);
    for (const [label, groups] of values[i] ?? new Map()) {
      const figures = new Map<string, PercentileFigures>();
      for (const [variant, list] of groups) figures.set(variant, percentileOf(list, ranks));
      of(label).percentiles.set(m.key, figures);
    }
  });
  return byLabel;
}

/** Percentile figures of (value, count) pairs. */
function percentileOf(values: [number, number][], ranks: RankFunction): PercentileFigures {
  values.sort((a, b) => a[0] - b[0]);
  const n = values.reduce((sum, [, c]) => sum + c, 0);
  const r = ranks(n);
  return {
    n,
    estimate: valueAtRank(values, r.estimate) ?? Number.NaN,
    lower: valueAtRank(values, r.lower),
    upper: valueAtRank(values, r.upper),
  };
}

/** Event-time figures in the window by segment label and variant (one pass over the events). */
async function breakdownEventFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  segment: SegmentFilter,
  breakdown: SegmentBreakdown,
): Promise<{ label: string; variantKey: string; key: string; sums: EventSums }[]> {
  const { params, param } = binder(plan, window);
  const quantities = eventQuantities(plan);
  const types = param(quantities.map((q) => q.eventType));
  const properties = param(quantities.map((q) => q.property));
  const { rows } = await pool.query<{
    label: string;
    variant_key: string;
    event_type: string;
    property: string;
    events: string;
    total: string;
    squares: string;
  }>(
    `with l as (${segmentLabelsSql(breakdown, param)}),
     s as (
       select l.label, e.variant_key, q.event_type, q.property,
              case when q.property = '' then null else (e.properties ->> q.property)::numeric end as x
       from unnest(${types}::text[], ${properties}::text[]) as q(event_type, property)
       join events e on e.event_type = q.event_type
       join l on l.variant_key = e.variant_key and l.subject_id = e.subject_id
       where e.experiment_id = $1 and e.counted and e.variant_key is not null
         and e.occurred_at >= $2 and e.occurred_at < $3
         and (q.property = '' or jsonb_typeof(e.properties -> q.property) = 'number')
         and ${segmentPredicate(segment, param, "e.variant_key", "e.subject_id")}
     )
     select label, variant_key, event_type, property, count(*)::text as events,
            coalesce(sum(x), 0)::text as total, coalesce(sum(x * x), 0)::text as squares
     from s group by 1, 2, 3, 4`,
    params,
  );
  return rows.map((r) => ({
    label: r.label,
    variantKey: r.variant_key,
    key: quantityKey({ eventType: r.event_type, property: r.property }),
    sums: { events: Number(r.events), sum: Number(r.total), sumSquares: Number(r.squares) },
  }));
}

/** A percentile metric's values with counts, by segment label, then variant ("" = all). */
async function breakdownPercentileValues(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  metric: PlannedMetric,
  segment: SegmentFilter,
  breakdown: SegmentBreakdown,
): Promise<Map<string, Map<string, [number, number][]>>> {
  const { params, param } = binder(plan, window);
  const property = param(metric.property);
  const labels = segmentLabelsSql(breakdown, param);
  const where = valuesWhere(metric, segment, param);
  const { rows } = await pool.query<{ label: string; variant: string; v: string; n: string }>(
    `with l as (${labels}),
     vals as (
       select l.label, e.variant_key, (e.properties ->> ${property})::numeric as v
       from events e join l on l.variant_key = e.variant_key and l.subject_id = e.subject_id
       where ${where}
     )
     select label, coalesce(variant_key, '') as variant, v::text as v, count(*)::text as n
     from vals group by grouping sets ((label, variant_key, v), (label, v))`,
    params,
  );
  const out = new Map<string, Map<string, [number, number][]>>();
  for (const r of rows) {
    const groups = out.get(r.label) ?? new Map<string, [number, number][]>();
    const list = groups.get(r.variant) ?? [];
    list.push([Number(r.v), Number(r.n)]);
    groups.set(r.variant, list);
    out.set(r.label, groups);
  }
  return out;
}
