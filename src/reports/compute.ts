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
  FunnelResultSchema,
  IntervalSchema,
  RetentionResultSchema,
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
import { holm, srmCheck } from "../stats/index.js";
import {
  addSubjectFigures,
  emptyVariant,
  type ReportAggregates,
  type VariantAggregates,
  type ReportPlan,
  type ReportWindow,
} from "../analytics/index.js";
import { figuresOf, finite, rateFigures, type Figures, type Tests } from "./metric-figures.js";
import type { CohortMetricFigures, PlannedMetric } from "../analytics/index.js";

export { metricValue } from "./metric-figures.js";

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

/** The Comparison message of one test; `adjustedP` after the correction. */
function comparisonMessage(
  compared: number,
  controlCompared: number,
  t: Tests,
  adjustedP: number,
): Comparison {
  const c = controlCompared;
  const p = clampUnit(t.classical.pValue);
  return create(ComparisonSchema, {
    absoluteDiff: finite(compared - c),
    relativeDiff: c === 0 ? 0 : finite((compared - c) / c),
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

/** Runs a comparison, none on degenerate data (RangeError from src/stats). */
function tryCompare(f: Figures, control: Figures): Tests | undefined {
  if (control.sampleSize === 0 || f.sampleSize === 0) return undefined;
  try {
    return f.comparison?.(control);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

/**
 * A funnel's per-step figures, each step's share compared with the
 * control's (Holm across the steps) when `control` is given.
 */
function funnelMessage(
  metric: PlannedMetric,
  cohort: CohortMetricFigures,
  control: CohortMetricFigures | undefined,
) {
  const steps = metric.definition?.funnel?.steps ?? [];
  const figures = steps.map((_, i) => rateFigures(cohort.steps[i] ?? 0, cohort.subjects));
  const tests = steps.map((_, i) => {
    if (control === undefined) return undefined;
    const c = rateFigures(control.steps[i] ?? 0, control.subjects);
    const f = figures[i];
    return f === undefined ? undefined : tryCompare(f, c);
  });
  const adjusted = holm(
    tests.filter((t) => t !== undefined).map((t) => clampUnit(t.classical.pValue)),
  );
  let next = 0;
  return create(FunnelResultSchema, {
    subjects: int32(cohort.subjects),
    steps: steps.map((step, i) => {
      const reached = cohort.steps[i] ?? 0;
      const previous = i === 0 ? cohort.subjects : (cohort.steps[i - 1] ?? 0);
      const f = figures[i];
      const t = tests[i];
      const controlShare =
        control === undefined || control.subjects === 0
          ? 0
          : (control.steps[i] ?? 0) / control.subjects;
      return {
        eventTypeKey: step.eventType,
        subjects: int32(reached),
        share: finite(f?.value ?? 0),
        shareInterval:
          f?.interval === undefined
            ? undefined
            : create(IntervalSchema, { low: f.interval.lower, high: f.interval.upper }),
        stepConversion: previous === 0 ? 0 : reached / previous,
        dropOff: previous === 0 ? 0 : 1 - reached / previous,
        comparison:
          t === undefined || f === undefined
            ? undefined
            : comparisonMessage(f.compared, controlShare, t, clampUnit(adjusted[next++] ?? 1)),
      };
    }),
  });
}

/** One MetricResult; `control` is the control's figures on non-control variants. */
function metricResult(
  m: PlannedMetric,
  f: Figures,
  comparison: Comparison | undefined,
  control: Figures | undefined,
): MetricResult {
  const cohort = f.cohort;
  return create(MetricResultSchema, {
    metricKey: m.key,
    value: finite(f.value),
    sampleSize: int32(f.sampleSize),
    comparison,
    interval:
      f.interval === undefined
        ? undefined
        : create(IntervalSchema, {
            low: finite(f.interval.lower),
            high: finite(f.interval.upper),
          }),
    funnel:
      m.kind === "funnel" && cohort !== undefined
        ? funnelMessage(m, cohort, control?.cohort)
        : undefined,
    retention:
      m.kind === "retention" && cohort !== undefined
        ? create(RetentionResultSchema, {
            eligibleSubjects: int32(cohort.eligible),
            retainedSubjects: int32(cohort.retained),
            maturingSubjects: int32(cohort.maturing),
          })
        : undefined,
  });
}

/** Builds the Report message. */
export function computeReport(inputs: ReportInputs): Report {
  const { plan, window, aggregates, health, series } = inputs;
  const control = plan.variants.find((v) => v.control) ?? plan.variants[0];
  const aggregatesOf = (key: string) => aggregates.variants.get(key) ?? emptyVariant();
  const figures = new Map<string, Figures[]>();
  const cohortOf = (metricKey: string, variantKey: string) =>
    aggregates.cohortMetrics?.get(metricKey)?.get(variantKey);
  for (const variant of plan.variants) {
    const v = aggregatesOf(variant.key);
    figures.set(
      variant.key,
      plan.metrics.map((m) =>
        figuresOf(
          m,
          v,
          aggregates.percentiles.get(m.key)?.get(variant.key),
          cohortOf(m.key, variant.key),
        ),
      ),
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
        comparison = comparisonMessage(f.compared, c, t, clampUnit(adjusted[next++] ?? 1));
      }
      return metricResult(
        m,
        f,
        comparison,
        variant.key === control?.key ? undefined : controlList[i],
      );
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
  const overall = plan.metrics.map((m) =>
    metricResult(
      m,
      figuresOf(m, all, aggregates.percentiles.get(m.key)?.get(""), cohortOf(m.key, "")),
      undefined,
      undefined,
    ),
  );

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
