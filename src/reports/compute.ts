/**
 * Turns the report's aggregates into the Report message: values, sample
 * sizes, comparisons with the control (classical, corrected, sequential
 * and Bayesian), the SRM check and data health. Pure: no I/O, so the same
 * aggregates always give the same report (docs/reports.md).
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EventErrorCode } from "../../gen/lotty/events/v1/events_pb.js";
import {
  ComparisonSchema,
  DataHealthSchema,
  MetricResultSchema,
  ReportSchema,
  SampleRatioMismatchSchema,
  TimeSeriesSchema,
  TrafficShareSchema,
  VariantReportSchema,
  type Comparison,
  type MetricResult,
  type Report,
  type TimeSeries,
} from "../../gen/lotty/reports/v1/reports_pb.js";
import {
  DEFAULT_MIXING_EFFECT_SIZE,
  alwaysValidMeanTest,
  alwaysValidProportionTest,
  alwaysValidTest,
  chanceToBeatControlMean,
  chanceToBeatControlRate,
  holm,
  normalCdf,
  percentileDifferenceTest,
  ratioDeltaTest,
  ratioEstimate,
  srmCheck,
  twoProportionTest,
  welchTest,
  type DifferenceTest,
  type MeanSummary,
  type PairedSums,
  type RateCounts,
} from "../stats/index.js";
import { quantityKey, type PlannedMetric, type ReportPlan } from "./plan.js";
import {
  addSubjectFigures,
  emptyVariant,
  type EventSums,
  type PercentileFigures,
  type ReportAggregates,
  type VariantAggregates,
} from "./queries.js";
import type { ReportWindow } from "./window.js";

const INT32_MAX = 2_147_483_647;

/** Rejection reasons as ingest_stats stores them (lower-case enum names) → codes. */
const REASON_CODES: ReadonlyMap<string, EventErrorCode> = new Map(
  Object.entries(EventErrorCode)
    .filter((entry): entry is [string, EventErrorCode] => typeof entry[1] === "number")
    .map(([name, code]) => [name.toLowerCase(), code]),
);
export const SIGNIFICANCE_LEVEL = 0.05;
export const CORRECTION = "holm";

/** A count as an int32 field: capped (see reports.proto). */
export function int32(n: number): number {
  return Math.min(INT32_MAX, Math.max(0, Math.round(n)));
}

export interface HealthFigures {
  stored: number;
  duplicates: number;
  rejected: number;
  /** Rejections by lower-case reason. */
  reasons: Map<string, number>;
  pending: number;
}

export interface SeriesFigures {
  /** Bucket end times, the last one `to`. */
  ends: number[];
  /** Per variant key: cumulative [value, sample size] per bucket. */
  points: Map<string, { value: number; sampleSize: number }[]>;
}

/** The figures of one metric for one group of subjects (a variant or all). */
interface Figures {
  value: number;
  sampleSize: number;
  /** The compared quantity (per subject for COUNT and SUM). */
  compared: number;
  comparison?: (control: Figures) => Tests | undefined;
  /** What the comparison needs from the control's side, by kind. */
  summary?: MeanSummary | undefined;
  counts?: RateCounts;
  sums?: PairedSums;
  percentile?: PercentileFigures;
}

interface Tests {
  classical: DifferenceTest;
  sequential: { lower: number; upper: number };
  chance: number;
}

function meanSummary(n: number, sum: number, sumSquares: number): MeanSummary | undefined {
  if (n < 2) return undefined;
  const mean = sum / n;
  const raw = (sumSquares - sum * mean) / (n - 1);
  return { n, mean, variance: raw < 0 ? 0 : raw };
}

function meanTests(c: MeanSummary | undefined, t: MeanSummary | undefined): Tests | undefined {
  if (c === undefined || t === undefined) return undefined;
  const classical = welchTest(c, t);
  const sequential = alwaysValidMeanTest(c, t);
  return {
    classical,
    sequential,
    chance: chanceToBeatControlMean(c, t).probability,
  };
}

/** Figures of `metric` for one variant's (or all variants') aggregates. */
function figuresOf(
  metric: PlannedMetric,
  v: VariantAggregates,
  percentile: PercentileFigures | undefined,
): Figures {
  const n = v.subjects;
  switch (metric.kind) {
    case "count":
    case "sum": {
      const q = v.quantities.get(
        quantityKey({
          eventType: metric.eventType,
          property: metric.kind === "sum" ? metric.property : "",
        }),
      ) ?? { sum: 0, sumSquares: 0, positive: 0 };
      const summary = meanSummary(n, q.sum, q.sumSquares);
      return {
        value: n === 0 ? 0 : q.sum,
        sampleSize: n,
        compared: n === 0 ? 0 : q.sum / n,
        comparison: (control) => meanTests(control.summary, summary),
        summary,
      };
    }
    case "conversion_rate": {
      const q = v.quantities.get(quantityKey({ eventType: metric.eventType, property: "" }));
      const successes = q?.positive ?? 0;
      const rate = n === 0 ? 0 : successes / n;
      const counts = { successes, trials: n };
      return {
        value: rate,
        sampleSize: n,
        compared: rate,
        comparison: (control) => {
          const c = control.counts;
          if (c === undefined || c.trials < 1 || n < 1) return undefined;
          return {
            classical: twoProportionTest(c, counts),
            sequential: alwaysValidProportionTest(c, counts),
            chance: chanceToBeatControlRate(c, counts).probability,
          };
        },
        counts,
      };
    }
    case "mean": {
      const e: EventSums = v.events.get(
        quantityKey({ eventType: metric.eventType, property: metric.property }),
      ) ?? { events: 0, sum: 0, sumSquares: 0 };
      const summary = meanSummary(e.events, e.sum, e.sumSquares);
      const value = e.events === 0 ? 0 : e.sum / e.events;
      return {
        value,
        sampleSize: e.events,
        compared: value,
        comparison: (control) => meanTests(control.summary, summary),
        summary,
      };
    }
    case "ratio": {
      const num = metric.numerator;
      const den = metric.denominator;
      if (num === undefined || den === undefined) return { value: 0, sampleSize: 0, compared: 0 };
      const y = v.quantities.get(quantityKey(num)) ?? { sum: 0, sumSquares: 0, positive: 0 };
      const x = v.quantities.get(quantityKey(den)) ?? { sum: 0, sumSquares: 0, positive: 0 };
      const sums: PairedSums = {
        n,
        sumY: y.sum,
        sumX: x.sum,
        sumYY: y.sumSquares,
        sumXX: x.sumSquares,
        sumXY: v.products.get(`${quantityKey(num)}|${quantityKey(den)}`) ?? 0,
      };
      const value = x.sum === 0 ? 0 : y.sum / x.sum;
      return {
        value,
        sampleSize: n,
        compared: value,
        comparison: (control) => {
          const c = control.sums;
          if (c === undefined || c.n < 2 || n < 2 || c.sumX <= 0 || x.sum <= 0) return undefined;
          const classical = ratioDeltaTest(c, sums);
          // τ² scaled like the mean test's: (0.05·σ)² with σ² the
          // linearised per-subject variance of the control.
          const controlVariance = ratioEstimate(c).variance * c.n;
          const mixingVariance =
            DEFAULT_MIXING_EFFECT_SIZE ** 2 * controlVariance || Number.MIN_VALUE;
          const sequential = alwaysValidTest(classical, { mixingVariance });
          const se = classical.standardError;
          const d = classical.difference;
          return {
            classical,
            sequential,
            chance: se === 0 ? (d > 0 ? 1 : d < 0 ? 0 : 0.5) : normalCdf(d / se),
          };
        },
        sums,
      };
    }
    case "percentile": {
      const f = percentile ?? { n: 0, estimate: Number.NaN, lower: null, upper: null };
      const value = f.n === 0 || Number.isNaN(f.estimate) ? 0 : f.estimate;
      return {
        value,
        sampleSize: f.n,
        compared: value,
        comparison: (control) => {
          const c = control.percentile;
          if (c?.lower == null || c.upper == null || f.lower === null || f.upper === null) {
            return undefined;
          }
          const classical = percentileDifferenceTest(
            { estimate: c.estimate, lower: c.lower, upper: c.upper },
            { estimate: f.estimate, lower: f.lower, upper: f.upper },
          );
          const se = classical.standardError;
          const d = classical.difference;
          const scale = Math.abs(c.estimate) * DEFAULT_MIXING_EFFECT_SIZE;
          const sequential = alwaysValidTest(classical, {
            mixingVariance: scale * scale || Number.MIN_VALUE,
          });
          return {
            classical,
            sequential,
            chance: se === 0 ? (d > 0 ? 1 : d < 0 ? 0 : 0.5) : normalCdf(d / se),
          };
        },
        percentile: f,
      };
    }
  }
}

/** The value and sample size of a metric for some aggregates (series points). */
export function metricValue(
  metric: PlannedMetric,
  v: VariantAggregates,
): { value: number; sampleSize: number } {
  const f = figuresOf(metric, v, undefined);
  return { value: finite(f.value), sampleSize: f.sampleSize };
}

/** Sum of every variant's aggregates: the experiment as a whole. */
function combined(variants: Iterable<VariantAggregates>): VariantAggregates {
  const all = emptyVariant();
  for (const v of variants) {
    all.exposures += v.exposures;
    addSubjectFigures(all, v);
    for (const [k, e] of v.events) {
      const a = all.events.get(k) ?? { events: 0, sum: 0, sumSquares: 0 };
      all.events.set(k, {
        events: a.events + e.events,
        sum: a.sum + e.sum,
        sumSquares: a.sumSquares + e.sumSquares,
      });
    }
  }
  return all;
}

function finite(x: number): number {
  return Number.isFinite(x) ? x : 0;
}

function clampUnit(x: number): number {
  return Math.min(1, Math.max(0, finite(x)));
}

export interface ReportInputs {
  plan: ReportPlan;
  window: ReportWindow;
  aggregates: ReportAggregates;
  health: HealthFigures;
  series: SeriesFigures;
  generatedAt: number;
}

/** Builds the Report message. */
export function computeReport(inputs: ReportInputs): Report {
  const { plan, window, aggregates, health, series } = inputs;
  const control = plan.variants.find((v) => v.control) ?? plan.variants[0];
  const aggregatesOf = (key: string) => aggregates.variants.get(key) ?? emptyVariant();
  const figures = new Map<string, Figures[]>();
  for (const variant of plan.variants) {
    const v = aggregatesOf(variant.key);
    figures.set(
      variant.key,
      plan.metrics.map((m) => figuresOf(m, v, aggregates.percentiles.get(m.key)?.get(variant.key))),
    );
  }
  // Comparisons first, so Holm can adjust their p-values together.
  const tests = new Map<string, (Tests | undefined)[]>();
  const controlFigures = control === undefined ? undefined : figures.get(control.key);
  for (const variant of plan.variants) {
    if (variant.key === control?.key || controlFigures === undefined) continue;
    tests.set(
      variant.key,
      (figures.get(variant.key) ?? []).map((f, i) => {
        const c = controlFigures[i];
        if (c === undefined || c.sampleSize === 0 || f.sampleSize === 0) return undefined;
        try {
          return f.comparison?.(c);
        } catch (error) {
          // Degenerate data (e.g. no denominator yet): no comparison.
          if (error instanceof RangeError) return undefined;
          throw error;
        }
      }),
    );
  }
  const pValues: number[] = [];
  for (const list of tests.values()) {
    for (const t of list) if (t !== undefined) pValues.push(clampUnit(t.classical.pValue));
  }
  const adjusted = holm(pValues);
  let next = 0;

  const variants = plan.variants.map((variant) => {
    const v = aggregatesOf(variant.key);
    const list = figures.get(variant.key) ?? [];
    const variantTests = tests.get(variant.key);
    const controlList = controlFigures ?? [];
    const metrics: MetricResult[] = plan.metrics.map((m, i) => {
      const f = list[i] ?? { value: 0, sampleSize: 0, compared: 0 };
      const t = variantTests?.[i];
      let comparison: Comparison | undefined;
      if (t !== undefined) {
        const c = controlList[i]?.compared ?? 0;
        const adjustedP = clampUnit(adjusted[next++] ?? 1);
        const p = clampUnit(t.classical.pValue);
        comparison = create(ComparisonSchema, {
          absoluteDiff: finite(f.compared - c),
          relativeDiff: c === 0 ? 0 : finite((f.compared - c) / c),
          ciLow: finite(t.classical.lower),
          ciHigh: finite(t.classical.upper),
          pValue: p,
          significant: p < SIGNIFICANCE_LEVEL,
          adjustedPValue: adjustedP,
          adjustedSignificant: adjustedP < SIGNIFICANCE_LEVEL,
          sequentialCiLow: finite(t.sequential.lower),
          sequentialCiHigh: finite(t.sequential.upper),
          chanceToBeatControl: clampUnit(t.chance),
        });
      }
      return create(MetricResultSchema, {
        metricKey: m.key,
        value: finite(f.value),
        sampleSize: int32(f.sampleSize),
        comparison,
      });
    });
    return create(VariantReportSchema, {
      variantKey: variant.key,
      control: variant.key === control?.key,
      exposures: int32(v.exposures),
      subjects: int32(v.subjects),
      metrics,
      weight: variant.weight,
    });
  });

  const all = combined(plan.variants.map((variant) => aggregatesOf(variant.key)));
  const overall = plan.metrics.map((m) => {
    const f = figuresOf(m, all, aggregates.percentiles.get(m.key)?.get(""));
    return create(MetricResultSchema, {
      metricKey: m.key,
      value: finite(f.value),
      sampleSize: int32(f.sampleSize),
    });
  });

  const subjects = plan.variants.map((variant) => aggregatesOf(variant.key).subjects);
  const totalSubjects = subjects.reduce((a, b) => a + b, 0);
  let srm = create(SampleRatioMismatchSchema, { pValue: 1, mismatch: false, chiSquare: 0 });
  const weights = plan.variants.map((v) => v.weight);
  if (plan.variants.length >= 2 && totalSubjects > 0 && weights.every((w) => w > 0)) {
    const check = srmCheck(subjects, weights);
    srm = create(SampleRatioMismatchSchema, {
      pValue: clampUnit(check.pValue),
      mismatch: check.mismatch,
      chiSquare: finite(check.statistic),
    });
  }

  const received = health.stored + health.duplicates + health.rejected;
  const byCode = new Map<EventErrorCode, number>();
  for (const [reason, count] of health.reasons) {
    const code = REASON_CODES.get(reason) ?? EventErrorCode.UNSPECIFIED;
    byCode.set(code, (byCode.get(code) ?? 0) + count);
  }
  const reasons = [...byCode.entries()]
    .map(([code, count]) => ({ code, count }))
    .sort((a, b) => b.count - a.count || a.code - b.code)
    .slice(0, 5);
  const dataHealth = create(DataHealthSchema, {
    receivedEvents: int32(received),
    rejectedEvents: int32(health.rejected),
    rejectedShare: received === 0 ? 0 : health.rejected / received,
    topRejectionReasons: reasons.map((r) => ({ code: r.code, count: int32(r.count) })),
    duplicateEvents: int32(health.duplicates),
    duplicateShare: received === 0 ? 0 : health.duplicates / received,
    pendingAttributionEvents: int32(health.pending),
    traffic: plan.variants.map((variant, i) =>
      create(TrafficShareSchema, {
        variantKey: variant.key,
        expectedShare: plan.audiencePercent === 0 ? 0 : variant.weight / plan.audiencePercent,
        observedShare: totalSubjects === 0 ? 0 : (subjects[i] ?? 0) / totalSubjects,
      }),
    ),
  });

  const seriesMessages: TimeSeries[] = plan.variants.map((variant) => {
    const points = series.points.get(variant.key) ?? [];
    return create(TimeSeriesSchema, {
      metricKey: plan.primaryMetricKey,
      variantKey: variant.key,
      points: series.ends.map((end, k) => ({
        start: timestampFromMs(k === 0 ? window.from : (series.ends[k - 1] ?? window.from)),
        end: timestampFromMs(end),
        value: finite(points[k]?.value ?? 0),
        sampleSize: int32(points[k]?.sampleSize ?? 0),
      })),
    });
  });

  return create(ReportSchema, {
    experimentId: plan.experimentId,
    from: timestampFromMs(window.from),
    to: timestampFromMs(window.to),
    exposures: int32(all.exposures),
    subjects: int32(all.subjects),
    variants,
    srm,
    dataHealth,
    series: seriesMessages,
    primaryMetricKey: plan.primaryMetricKey,
    experimentVersion: plan.version,
    generatedAt: timestampFromMs(inputs.generatedAt),
    bucketSeconds: window.bucketSeconds,
    metrics: overall,
    correction: CORRECTION,
  });
}
