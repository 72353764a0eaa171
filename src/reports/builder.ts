/**
 * Builds experiment reports: loads the plan, reads the aggregates, the
 * series and the data-health figures, and computes the Report message.
 */
import type { EntityManager } from "@mikro-orm/core";
import type pg from "pg";
import type { Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import { percentileRanks } from "../stats/index.js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { rawEventsFrom } from "../events/index.js";
import { computeReport, metricValue, type HealthFigures, type SeriesFigures } from "./compute.js";
import { loadPlan } from "./plan.js";
import { applySegments, WHOLE_EXPERIMENT, type SegmentQuery } from "./segments.js";
import {
  EXACT_PERCENTILE_LIMIT,
  cumulativePercentiles,
  eventFigures,
  exactValues,
  histogramBuckets,
  addSubjectFigures,
  emptyVariant,
  loadAggregates,
  loadBreakdownAggregates,
  loadSegmentAggregates,
  segmentEventFigures,
  segmentValueCounts,
  type SegmentFilter,
  valueCount,
  type RankFunction,
  type ReportAggregates,
  quantityKey,
  type ReportPlan,
  type SubjectQuantity,
  bucketEnds,
  resolveWindow,
  type ReportWindow,
  type WindowRequest,
} from "../analytics/index.js";

const DAY_MS = 86_400_000;

export function ranksFor(probability: number): RankFunction {
  return (n) => (n < 1 ? { estimate: 0, lower: 0, upper: 0 } : percentileRanks(n, probability));
}

/** Data-health figures: ingest stats of the days the window touches, pending now. */
async function healthFigures(
  pool: pg.Pool,
  experimentId: string,
  window: ReportWindow,
): Promise<HealthFigures> {
  const firstDay = new Date(Math.floor(window.from / DAY_MS) * DAY_MS);
  const lastDay = new Date(Math.floor((window.to - 1) / DAY_MS) * DAY_MS);
  const [stats, pending] = await Promise.all([
    pool.query<{ result: string; reason: string; n: string }>(
      `select result, reason, sum(events)::text as n from ingest_stats
       where experiment_id = $1 and day >= $2::date and day <= $3::date
       group by result, reason`,
      [experimentId, firstDay.toISOString().slice(0, 10), lastDay.toISOString().slice(0, 10)],
    ),
    pool.query<{ n: string }>(
      `select count(*)::text as n from pending_attributions where experiment_id = $1`,
      [experimentId],
    ),
  ]);
  const health: HealthFigures = {
    stored: 0,
    duplicates: 0,
    rejected: 0,
    reasons: new Map(),
    pending: Number(pending.rows[0]?.n ?? 0),
  };
  for (const row of stats.rows) {
    const n = Number(row.n);
    if (row.result === "stored") health.stored += n;
    else if (row.result === "duplicate") health.duplicates += n;
    else if (row.result === "rejected") {
      health.rejected += n;
      health.reasons.set(row.reason, (health.reasons.get(row.reason) ?? 0) + n);
    }
  }
  return health;
}

/** Cumulative sums over buckets of per-bucket rows. */
function cumulative(buckets: number, add: (k: number) => number): number[] {
  const out: number[] = [];
  let total = 0;
  for (let k = 0; k < buckets; k++) out.push((total += add(k)));
  return out;
}

/**
 * The primary metric's cumulative series per variant (docs/reports.md#series).
 * Point k covers the window's start to the bucket's end. For COUNT, SUM,
 * CONVERSION_RATE and RATIO it is the report's own figure over the subjects
 * first exposed before the bucket's end, so the last point is the report's
 * value; MEAN and PERCENTILE count the events that occurred before it.
 */
async function seriesFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  aggregates: ReportAggregates,
  segment: SegmentFilter = [],
): Promise<SeriesFigures> {
  const ends = bucketEnds(window);
  const K = ends.length;
  const B = window.bucketSeconds;
  const points = new Map<string, { value: number; sampleSize: number }[]>();
  const metric = plan.metrics.find((m) => m.key === plan.primaryMetricKey);
  if (metric === undefined) return { ends, points };
  // FUNNEL, RETENTION and session metrics have no series (docs/funnels.md).
  if (metric.definition !== undefined) return { ends: [], points };
  // COUNT, SUM, CONVERSION_RATE and RATIO: the report's own per-subject
  // figures, for the subjects first exposed before each bucket's end.
  if (metric.kind !== "mean" && metric.kind !== "percentile") {
    for (const variant of plan.variants) {
      const buckets = aggregates.cohortBuckets?.get(variant.key) ?? [];
      const running = emptyVariant();
      points.set(
        variant.key,
        ends.map((_, k) => {
          const b = buckets[k];
          if (b !== undefined) addSubjectFigures(running, b);
          return metricValue(metric, running);
        }),
      );
    }
    return { ends, points };
  }

  if (metric.kind === "percentile") {
    const params = [
      plan.experimentId,
      metric.eventType,
      new Date(window.from),
      new Date(window.to),
      metric.property,
    ];
    const rows =
      segment.length > 0
        ? await segmentValueCounts(pool, plan, window, metric, segment, K - 1)
        : (await valueCount(pool, params)) > EXACT_PERCENTILE_LIMIT
          ? await histogramBuckets(pool, params, window, B)
          : await exactValues(pool, params, B, K - 1);
    const clamped = rows.map((r) => ({ ...r, point: Math.min(K - 1, Math.max(0, r.point)) }));
    const rankOf = (n: number, p: number) => percentileRanks(n, p).estimate;
    for (const variant of plan.variants) {
      points.set(
        variant.key,
        cumulativePercentiles(clamped, variant.key, K, metric.probability, rankOf),
      );
    }
    return { ends, points };
  }

  // MEAN: events by the time they occurred, from the per-minute rollups.
  const q: SubjectQuantity = { eventType: metric.eventType, property: metric.property };
  const rows =
    segment.length > 0
      ? await segmentEventFigures(pool, plan, window, segment, [q], B)
      : await eventFigures(pool, plan, window, [q], B);
  for (const variant of plan.variants) {
    const events = new Array<number>(K).fill(0);
    const total = new Array<number>(K).fill(0);
    for (const r of rows) {
      if (r.variantKey !== variant.key || r.key !== quantityKey(q)) continue;
      const k = Math.min(K - 1, Math.max(0, r.bucket));
      events[k] = (events[k] ?? 0) + r.sums.events;
      total[k] = (total[k] ?? 0) + r.sums.sum;
    }
    const e = cumulative(K, (k) => events[k] ?? 0);
    const t = cumulative(K, (k) => total[k] ?? 0);
    points.set(
      variant.key,
      e.map((n, k) => ({ value: n === 0 ? 0 : (t[k] ?? 0) / n, sampleSize: n })),
    );
  }
  return { ends, points };
}

export interface ReportSources {
  /** A fresh EntityManager for the experiment and its metrics. */
  em: () => EntityManager;
  /** The pool the rollups are read with. */
  pool: () => pg.Pool;
  now?: () => number;
}

export class ReportBuilder {
  constructor(private readonly sources: ReportSources) {}

  private now(): number {
    return this.sources.now?.() ?? Date.now();
  }

  /** The plan of an experiment (NOT_FOUND when it does not exist). */
  plan(experimentId: string): Promise<ReportPlan> {
    return loadPlan(this.sources.em(), experimentId);
  }

  window(plan: ReportPlan, request: WindowRequest): ReportWindow {
    return resolveWindow(request, { from: plan.defaultFrom, now: this.now() });
  }

  /** Builds the report of one window, for the segment query's subjects (docs/segments.md). */
  async build(
    plan: ReportPlan,
    window: ReportWindow,
    segments: SegmentQuery = WHOLE_EXPERIMENT,
  ): Promise<Report> {
    const pool = this.sources.pool();
    const health = healthFigures(pool, plan.experimentId, window);
    // Awaited below; a failure of another read first must not leave it unhandled.
    health.catch(() => undefined);
    const build = async (segment: SegmentFilter) => {
      const aggregates =
        segment.length === 0
          ? await loadAggregates(pool, plan, window, ranksFor)
          : await loadSegmentAggregates(pool, plan, window, ranksFor, segment);
      const series = await seriesFigures(pool, plan, window, aggregates, segment);
      return computeReport({
        plan,
        window,
        aggregates,
        health: await health,
        series,
        generatedAt: this.now(),
      });
    };
    const [report, rawFrom] = await Promise.all([build(segments.filter), rawEventsFrom(pool)]);
    if (rawFrom !== undefined) {
      report.rawEventsFrom = timestampFromMs(rawFrom);
      report.rawEventsIncomplete = window.from < rawFrom;
    }
    if (segments === WHOLE_EXPERIMENT) return report;
    // A breakdown's segments carry no series: theirs are not computed.
    return applySegments(report, segments, async (breakdown) => {
      const byLabel = await loadBreakdownAggregates(
        pool,
        plan,
        window,
        ranksFor,
        segments.filter,
        breakdown,
      );
      const reports = new Map<string, Report>();
      for (const [label, aggregates] of byLabel) {
        reports.set(
          label,
          computeReport({
            plan,
            window,
            aggregates,
            health: await health,
            series: { ends: [], points: new Map() },
            generatedAt: this.now(),
          }),
        );
      }
      return reports;
    });
  }

  /**
   * The plan computing only the metrics named (in the plan's order). Health
   * checks and summaries that show none or one of an experiment's metrics
   * use it: funnel, retention and session metrics read the raw events of
   * the cohort at every report (docs/funnels.md), seconds over millions of
   * events, which a periodic pass must not pay for figures it drops.
   */
  narrow(plan: ReportPlan, metricKeys: readonly string[]): ReportPlan {
    return { ...plan, metrics: plan.metrics.filter((m) => metricKeys.includes(m.key)) };
  }

  /** Plan, window and report in one call. */
  async report(
    experimentId: string,
    request: WindowRequest,
    segments: SegmentQuery = WHOLE_EXPERIMENT,
  ): Promise<Report> {
    const plan = await this.plan(experimentId);
    return this.build(plan, this.window(plan, request), segments);
  }
}
