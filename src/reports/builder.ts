/**
 * Builds experiment reports: loads the plan, reads the aggregates, the
 * series and the data-health figures, and computes the Report message.
 */
import type { EntityManager } from "@mikro-orm/core";
import type pg from "pg";
import type { Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import { EXPOSURE_EVENT_TYPE } from "../events/validation.js";
import { percentileRanks } from "../stats/index.js";
import { computeReport, type HealthFigures, type SeriesFigures } from "./compute.js";
import { loadPlan, quantityKey, type ReportPlan, type SubjectQuantity } from "./plan.js";
import {
  EXACT_PERCENTILE_LIMIT,
  cumulativePercentiles,
  eventFigures,
  exactValues,
  histogramBuckets,
  loadAggregates,
  valueCount,
  type RankFunction,
} from "./queries.js";
import { bucketEnds, resolveWindow, type ReportWindow, type WindowRequest } from "./window.js";

const DAY_MS = 86_400_000;

function ranksFor(probability: number): RankFunction {
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
 * The primary metric's cumulative series per variant. Subjects count from
 * their first exposure; COUNT, SUM, MEAN and RATIO values count events by
 * the time they occurred; conversions count a subject from its first
 * conversion (docs/reports.md#series).
 */
async function seriesFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
): Promise<SeriesFigures> {
  const ends = bucketEnds(window);
  const K = ends.length;
  const B = window.bucketSeconds;
  const points = new Map<string, { value: number; sampleSize: number }[]>();
  const metric = plan.metrics.find((m) => m.key === plan.primaryMetricKey);
  if (metric === undefined) return { ends, points };
  const base = [plan.experimentId, new Date(window.from), new Date(window.to)];
  const bucketOf = (column: string) =>
    `least(${K - 1}, greatest(0, floor(extract(epoch from (${column} - $2)) / ${B})))::int`;
  // New cohort subjects per variant and bucket.
  const { rows: cohortRows } = await pool.query<{ variant_key: string; bucket: number; n: string }>(
    `select variant_key, ${bucketOf("first_exposed_at")} as bucket, count(*)::text as n
     from report_subjects where experiment_id = $1 and first_exposed_at >= $2 and first_exposed_at < $3
     group by 1, 2`,
    base,
  );
  const perBucket = (rows: { variant_key: string; bucket: number; n: string }[]) => {
    const map = new Map<string, number[]>();
    for (const r of rows) {
      const list = map.get(r.variant_key) ?? new Array<number>(K).fill(0);
      list[r.bucket] = (list[r.bucket] ?? 0) + Number(r.n);
      map.set(r.variant_key, list);
    }
    return map;
  };
  const cohort = perBucket(cohortRows);
  const subjectsOf = (variant: string) => cumulative(K, (k) => cohort.get(variant)?.[k] ?? 0);

  if (metric.kind === "conversion_rate") {
    const { rows } = await pool.query<{ variant_key: string; eb: number; cb: number; n: string }>(
      metric.eventType === EXPOSURE_EVENT_TYPE
        ? `select variant_key, ${bucketOf("first_exposed_at")} as eb, ${bucketOf("first_exposed_at")} as cb,
                  count(*)::text as n
           from report_subjects where experiment_id = $1 and first_exposed_at >= $2 and first_exposed_at < $3
           group by 1, 2, 3`
        : `select r.variant_key, ${bucketOf("r.first_exposed_at")} as eb, ${bucketOf("c.first_at")} as cb,
                  count(*)::text as n
           from report_subjects r
           join subject_event_counts c on c.experiment_id = r.experiment_id
             and c.variant_key = r.variant_key and c.subject_id = r.subject_id and c.event_type = $4
           where r.experiment_id = $1 and r.first_exposed_at >= $2 and r.first_exposed_at < $3
             and c.first_at < $3
           group by 1, 2, 3`,
      metric.eventType === EXPOSURE_EVENT_TYPE ? base : [...base, metric.eventType],
    );
    // A subject converted by the end of bucket k if both its first
    // exposure and its first conversion are in buckets ≤ k.
    const converted = new Map<string, number[]>();
    for (const r of rows) {
      const list = converted.get(r.variant_key) ?? new Array<number>(K).fill(0);
      const k = Math.max(r.eb, r.cb);
      list[k] = (list[k] ?? 0) + Number(r.n);
      converted.set(r.variant_key, list);
    }
    for (const variant of plan.variants) {
      const n = subjectsOf(variant.key);
      const c = cumulative(K, (k) => converted.get(variant.key)?.[k] ?? 0);
      points.set(
        variant.key,
        n.map((subjects, k) => ({
          value: subjects === 0 ? 0 : (c[k] ?? 0) / subjects,
          sampleSize: subjects,
        })),
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
      (await valueCount(pool, params)) > EXACT_PERCENTILE_LIMIT
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

  // COUNT, SUM, MEAN and RATIO from the per-minute rollups.
  const quantities: SubjectQuantity[] =
    metric.kind === "ratio" && metric.numerator && metric.denominator
      ? [metric.numerator, metric.denominator]
      : [{ eventType: metric.eventType, property: metric.kind === "count" ? "" : metric.property }];
  const rows = await eventFigures(pool, plan, window, quantities, B);
  const sums = new Map<string, { events: number[]; total: number[] }>();
  for (const r of rows) {
    const id = `${r.variantKey}\n${r.key}`;
    const entry = sums.get(id) ?? {
      events: new Array<number>(K).fill(0),
      total: new Array<number>(K).fill(0),
    };
    const k = Math.min(K - 1, Math.max(0, r.bucket));
    entry.events[k] = (entry.events[k] ?? 0) + r.sums.events;
    entry.total[k] = (entry.total[k] ?? 0) + r.sums.sum;
    sums.set(id, entry);
  }
  const series = (variant: string, q: SubjectQuantity, field: "events" | "total") =>
    cumulative(K, (k) => sums.get(`${variant}\n${quantityKey(q)}`)?.[field][k] ?? 0);
  for (const variant of plan.variants) {
    const n = subjectsOf(variant.key);
    let list: { value: number; sampleSize: number }[];
    if (metric.kind === "ratio" && metric.numerator && metric.denominator) {
      const fieldOf = (q: SubjectQuantity) => (q.property === "" ? "events" : "total");
      const y = series(variant.key, metric.numerator, fieldOf(metric.numerator));
      const x = series(variant.key, metric.denominator, fieldOf(metric.denominator));
      list = n.map((subjects, k) => ({
        value: (x[k] ?? 0) === 0 ? 0 : (y[k] ?? 0) / (x[k] ?? 1),
        sampleSize: subjects,
      }));
    } else {
      const q = quantities[0] ?? { eventType: "", property: "" };
      const events = series(variant.key, q, "events");
      const total = series(variant.key, q, "total");
      list = n.map((subjects, k) => {
        const e = events[k] ?? 0;
        if (metric.kind === "mean")
          return { value: e === 0 ? 0 : (total[k] ?? 0) / e, sampleSize: e };
        return { value: metric.kind === "count" ? e : (total[k] ?? 0), sampleSize: subjects };
      });
    }
    points.set(variant.key, list);
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

  /** Builds the report of one window. */
  async build(plan: ReportPlan, window: ReportWindow): Promise<Report> {
    const pool = this.sources.pool();
    const [aggregates, health, series] = await Promise.all([
      loadAggregates(pool, plan, window, ranksFor),
      healthFigures(pool, plan.experimentId, window),
      seriesFigures(pool, plan, window),
    ]);
    return computeReport({ plan, window, aggregates, health, series, generatedAt: this.now() });
  }

  /** Plan, window and report in one call. */
  async report(experimentId: string, request: WindowRequest): Promise<Report> {
    const plan = await this.plan(experimentId);
    return this.build(plan, this.window(plan, request));
  }
}
