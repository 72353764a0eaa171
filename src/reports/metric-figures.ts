/**
 * The figures of one metric for one group of subjects (a variant or all
 * variants): its value, sample size and compared quantity, and the tests
 * that compare it with the control's (classical, sequential, Bayesian).
 * Pure, like compute.ts.
 */
import {
  DEFAULT_MIXING_EFFECT_SIZE,
  alwaysValidMeanTest,
  alwaysValidProportionTest,
  alwaysValidTest,
  chanceToBeatControlMean,
  chanceToBeatControlRate,
  normalCdf,
  percentileDifferenceTest,
  ratioDeltaTest,
  ratioEstimate,
  normalQuantile,
  twoProportionTest,
  welchTest,
  wilsonInterval,
  type DifferenceTest,
  type MeanSummary,
  type PairedSums,
  type RateCounts,
} from "../stats/index.js";
import {
  emptyCohortFigures,
  quantityKey,
  type CohortMetricFigures,
  type EventSums,
  type PercentileFigures,
  type PlannedMetric,
  type VariantAggregates,
} from "../analytics/index.js";

/** The figures of one metric for one group of subjects (a variant or all). */
export interface Figures {
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
  /** 95 % interval of value (rates: Wilson; session means: normal). */
  interval?: { lower: number; upper: number };
  /** FUNNEL, RETENTION and session metrics: the cohort figures. */
  cohort?: CohortMetricFigures;
}

/** Figures of a share successes/trials compared with a two-proportion z-test. */
export function rateFigures(successes: number, trials: number): Figures {
  const rate = trials === 0 ? 0 : successes / trials;
  const counts = { successes, trials };
  return {
    value: rate,
    sampleSize: trials,
    compared: rate,
    comparison: (control) => {
      const c = control.counts;
      if (c === undefined || c.trials < 1 || trials < 1) return undefined;
      return {
        classical: twoProportionTest(c, counts),
        sequential: alwaysValidProportionTest(c, counts),
        chance: chanceToBeatControlRate(c, counts).probability,
      };
    },
    counts,
    interval: trials < 1 ? undefined : wilsonInterval(counts),
  };
}

const Z95 = normalQuantile(0.975);

export interface Tests {
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
export function figuresOf(
  metric: PlannedMetric,
  v: VariantAggregates,
  percentile: PercentileFigures | undefined,
  cohortFigures?: CohortMetricFigures,
): Figures {
  const n = v.subjects;
  switch (metric.kind) {
    case "funnel": {
      const steps = metric.definition?.funnel?.steps.length ?? 0;
      const cohort = cohortFigures ?? emptyCohortFigures(steps);
      const f = rateFigures(cohort.steps[steps - 1] ?? 0, cohort.subjects);
      return { ...f, cohort };
    }
    case "retention": {
      const cohort = cohortFigures ?? emptyCohortFigures();
      return { ...rateFigures(cohort.retained, cohort.eligible), cohort };
    }
    case "session_count":
    case "session_duration": {
      const cohort = cohortFigures ?? emptyCohortFigures();
      const m = cohort.subjects;
      const summary = meanSummary(m, cohort.sum, cohort.sumSquares);
      const mean = m === 0 ? 0 : cohort.sum / m;
      const half = summary === undefined ? 0 : Z95 * Math.sqrt(summary.variance / m);
      return {
        value: mean,
        sampleSize: m,
        compared: mean,
        comparison: (control) => meanTests(control.summary, summary),
        summary,
        interval: m === 0 ? undefined : { lower: mean - half, upper: mean + half },
        cohort,
      };
    }
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
      return rateFigures(q?.positive ?? 0, n);
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

export function finite(x: number): number {
  return Number.isFinite(x) ? x : 0;
}
