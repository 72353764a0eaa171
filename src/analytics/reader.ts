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
import { eventQuantities, quantityKey, type ReportPlan, type SubjectQuantity } from "./plan.js";
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
import { cohortCovers, cohortFigures, subjectFigures } from "./subject-figures.js";
import { percentileFigures, type RankFunction } from "./percentile-figures.js";
import { cohortMetricFigures, type CohortMetricFigures } from "./cohort-metrics.js";
import type { SegmentFilter } from "./segments.js";

export {
  cohortMetricFigures,
  emptyCohortFigures,
  type CohortMetricFigures,
  type CohortMetricResults,
} from "./cohort-metrics.js";

/** The plan's FUNNEL, RETENTION and session metrics' figures (by metric, then variant). */
export async function loadCohortMetrics(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  segment: SegmentFilter = [],
): Promise<Map<string, Map<string, CohortMetricFigures>>> {
  const out = new Map<string, Map<string, CohortMetricFigures>>();
  await Promise.all(
    plan.metrics
      .filter((m) => m.definition !== undefined)
      .map(async (m) => {
        const byLabel = await cohortMetricFigures(pool, plan, window, m, segment);
        out.set(m.key, byLabel.get("") ?? new Map());
      }),
  );
  return out;
}

export {
  addSubjectFigures,
  emptyVariant,
  type CohortBuckets,
  type EventSums,
  type PercentileFigures,
  type QuantitySums,
  type ReportAggregates,
  type VariantAggregates,
} from "./aggregates.js";
export {
  bucketValue,
  cumulativePercentiles,
  exactValues,
  EXACT_PERCENTILE_LIMIT,
  histogramBuckets,
  HISTOGRAM_GAMMA,
  percentileFigures,
  valueCount,
  type RankFunction,
  type ValueCount,
} from "./percentile-figures.js";

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
  const cohortMetrics = loadCohortMetrics(pool, plan, window);
  cohortMetrics.catch(() => undefined);
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
  return {
    variants,
    percentiles,
    fromRawEvents: raw,
    cohortBuckets,
    cohortMetrics: await cohortMetrics,
  };
}

/**
 * Subjects first exposed in the window, and those of them with an event of
 * the type (at any time: the guardrail monitor's windows end now), per
 * variant and for all variants together ("").
 */
export async function conversionFigures(
  pool: pg.Pool,
  experimentId: string,
  eventType: string,
  window: ReportWindow,
): Promise<Map<string, { subjects: number; converted: number }>> {
  const { rows } = await pool.query<{
    variant_key: string | null;
    subjects: string;
    converted: string;
  }>(
    `select r.variant_key, count(*)::text as subjects, count(c.subject_id)::text as converted
     from report_subjects r
     left join subject_event_counts c
       on c.experiment_id = r.experiment_id and c.variant_key = r.variant_key
      and c.subject_id = r.subject_id and c.event_type = $4 and c.events > 0
     where r.experiment_id = $1 and r.first_exposed_at >= $2 and r.first_exposed_at < $3
     group by grouping sets ((r.variant_key), ())`,
    [experimentId, new Date(window.from), new Date(window.to), eventType],
  );
  return new Map(
    rows.map((r) => [
      r.variant_key ?? "",
      { subjects: Number(r.subjects), converted: Number(r.converted) },
    ]),
  );
}
