/**
 * Percentiles: distribution-free confidence intervals from order statistics,
 * and two ways to compare a percentile between variants.
 */
import { binomialCumulative, binomialQuantile, normalQuantile } from "./distributions.js";
import { waldDifference } from "./normal-test.js";
import type { DifferenceTest, IntervalOptions } from "./types.js";
import { confidenceLevelOf, requireFinite, requireInteger, requireOpenUnit } from "./validation.js";

/** Result of {@link percentileInterval}. */
export interface PercentileInterval {
  /** Sample size. */
  readonly n: number;
  /** The percentile asked for, as a probability in (0, 1) (0.95 = p95). */
  readonly probability: number;
  /** Point estimate: the sample percentile x₍⌈np⌉₎ (see {@link samplePercentile}); always inside the interval. */
  readonly estimate: number;
  /**
   * Lower bound: the order statistic x₍lowerRank₎, or null when the sample is
   * too small to bound the percentile from below at this level.
   */
  readonly lower: number | null;
  /** Upper bound: x₍upperRank₎, or null when the sample is too small to bound it from above. */
  readonly upper: number | null;
  /** 1-based rank of the lower bound; 0 when `lower` is null. */
  readonly lowerRank: number;
  /** 1-based rank of the upper bound; n + 1 when `upper` is null. */
  readonly upperRank: number;
  /**
   * Exact coverage of [x₍lowerRank₎, x₍upperRank₎] for a continuous
   * distribution, P(lowerRank ≤ B < upperRank) with B ~ Binomial(n, p);
   * always ≥ the confidence level (ties only raise it).
   */
  readonly coverage: number;
  /** Requested two-sided confidence level. */
  readonly confidenceLevel: number;
}

/** Result of {@link percentileDifferenceInterval}. */
export interface PercentileDifferenceInterval {
  /** Treatment sample percentile − control sample percentile. */
  readonly difference: number;
  /** Lower bound (treatment lower − control upper), or null if either is unbounded. */
  readonly lower: number | null;
  /** Upper bound (treatment upper − control lower), or null if either is unbounded. */
  readonly upper: number | null;
  /** Guaranteed (conservative) confidence level of [lower, upper]. */
  readonly confidenceLevel: number;
  /** The control interval, at level 1 − α/2. */
  readonly control: PercentileInterval;
  /** The treatment interval, at level 1 − α/2. */
  readonly treatment: PercentileInterval;
}

export function sortedCopy(
  where: string,
  name: string,
  values: readonly number[],
  min: number,
): Float64Array {
  requireInteger(where, `${name}.length`, values.length, min);
  const sorted = new Float64Array(values.length);
  for (let i = 0; i < values.length; i += 1) {
    sorted[i] = requireFinite(where, `${name}[${String(i)}]`, values[i] ?? Number.NaN);
  }
  return sorted.sort();
}

/**
 * 1-based rank ⌈n·p⌉ of the sample percentile, clamped to [1, n]. A product
 * n·p within 1e-9 (relative) of an integer is taken as that integer, so
 * that a percentile typed in decimal is not pushed up a rank by binary
 * rounding (0.07·100 is 7.000000000000001 in floating point; the rank is 7).
 */
export function percentileRank(n: number, probability: number): number {
  const product = n * probability;
  const nearest = Math.round(product);
  const rank =
    Math.abs(product - nearest) <= 1e-9 * Math.max(1, product) ? nearest : Math.ceil(product);
  return Math.min(n, Math.max(1, rank));
}

/** Sample percentile of an ascending array: x₍⌈np⌉₎. */
export function percentileOfSorted(sorted: Float64Array, probability: number): number {
  return sorted[percentileRank(sorted.length, probability) - 1] ?? Number.NaN;
}

/** Type-7 (linear interpolation) quantile of an ascending array, for bootstrap bounds. */
export function interpolatedQuantile(sorted: Float64Array, probability: number): number {
  const h = (sorted.length - 1) * probability;
  const below = Math.floor(h);
  const low = sorted[below] ?? 0;
  const high = sorted[Math.min(below + 1, sorted.length - 1)] ?? low;
  return low + (h - below) * (high - low);
}

/**
 * The sample percentile as the order statistic x₍⌈n·p⌉₎, the inverse of the
 * empirical CDF (Hyndman–Fan type 1; numpy's method="inverted_cdf"). Unlike
 * interpolating definitions it is always one of the observed values and
 * always lies inside the order-statistic interval of
 * {@link percentileInterval}. For large samples it differs from numpy's
 * default (linear) percentile by less than one gap between neighbouring
 * values.
 *
 * @param values the sample, finite numbers, at least 1
 * @param probability the percentile as a probability in (0, 1) (0.5 = median)
 * @throws RangeError naming the first invalid argument
 */
export function samplePercentile(values: readonly number[], probability: number): number {
  const where = "samplePercentile";
  requireOpenUnit(where, "probability", probability);
  return percentileOfSorted(sortedCopy(where, "values", values, 1), probability);
}

function intervalOfSorted(
  sorted: Float64Array,
  probability: number,
  confidenceLevel: number,
): PercentileInterval {
  const n = sorted.length;
  const tail = (1 - confidenceLevel) / 2;
  // Ranks l and u with P(l ≤ B ≤ u − 1) ≥ level, B ~ Binomial(n, p): the
  // number of observations below the true percentile.
  const lowerRank = binomialQuantile(tail, n, probability);
  const upperRank = Math.min(binomialQuantile(1 - tail, n, probability) + 1, n + 1);
  const coverage =
    binomialCumulative(upperRank - 1, n, probability) -
    binomialCumulative(lowerRank - 1, n, probability);
  return {
    n,
    probability,
    estimate: percentileOfSorted(sorted, probability),
    lower: lowerRank >= 1 ? (sorted[lowerRank - 1] ?? null) : null,
    upper: upperRank <= n ? (sorted[upperRank - 1] ?? null) : null,
    lowerRank,
    upperRank,
    coverage: Math.min(1, Math.max(0, coverage)),
    confidenceLevel,
  };
}

/**
 * Distribution-free confidence interval for the p-th percentile of the
 * population a sample came from, by order statistics: the number B of
 * observations below the true percentile is Binomial(n, p), so
 * [x₍l₎, x₍u₎] covers it with probability P(l ≤ B ≤ u − 1). The ranks are
 * l = the α/2 quantile of B and u = the 1 − α/2 quantile of B plus 1 (the
 * same choice as scipy.stats.quantile_test), which makes the coverage at
 * least the confidence level; the exact coverage is returned. Assumes
 * independent observations; no assumption on the distribution's shape.
 *
 * For small samples and extreme percentiles one or both bounds do not exist
 * (e.g. p99 from 50 values): they are returned as null.
 *
 * @param values the sample, finite numbers, at least 1 (unsorted is fine; not modified)
 * @param probability the percentile as a probability in (0, 1) (0.95 = p95)
 * @param options confidenceLevel in (0, 1), default 0.95
 * @throws RangeError naming the first invalid argument
 */
export function percentileInterval(
  values: readonly number[],
  probability: number,
  options: IntervalOptions = {},
): PercentileInterval {
  const where = "percentileInterval";
  requireOpenUnit(where, "probability", probability);
  const confidenceLevel = confidenceLevelOf(where, options.confidenceLevel);
  return intervalOfSorted(sortedCopy(where, "values", values, 1), probability, confidenceLevel);
}

/**
 * Conservative, distribution-free interval for treatment percentile −
 * control percentile: each variant gets an order-statistic interval at level
 * 1 − α/2 ({@link percentileInterval}), and the difference interval is
 * [treatment.lower − control.upper, treatment.upper − control.lower]. By
 * Bonferroni both per-variant intervals hold together with probability at
 * least 1 − α, and then so does the difference interval; in practice the
 * coverage is well above the level, so the interval is wide. Deterministic
 * and O(n log n). No p-value: use {@link percentileDifferenceBootstrap} when
 * one is needed.
 *
 * @param control control sample, finite numbers, at least 1
 * @param treatment treatment sample, finite numbers, at least 1
 * @param probability the percentile as a probability in (0, 1)
 * @param options confidenceLevel in (0, 1), default 0.95
 * @throws RangeError naming the first invalid argument
 */
export function percentileDifferenceInterval(
  control: readonly number[],
  treatment: readonly number[],
  probability: number,
  options: IntervalOptions = {},
): PercentileDifferenceInterval {
  const where = "percentileDifferenceInterval";
  requireOpenUnit(where, "probability", probability);
  const confidenceLevel = confidenceLevelOf(where, options.confidenceLevel);
  const perVariantLevel = 1 - (1 - confidenceLevel) / 2;
  const c = intervalOfSorted(
    sortedCopy(where, "control", control, 1),
    probability,
    perVariantLevel,
  );
  const t = intervalOfSorted(
    sortedCopy(where, "treatment", treatment, 1),
    probability,
    perVariantLevel,
  );
  return {
    difference: t.estimate - c.estimate,
    lower: t.lower === null || c.upper === null ? null : t.lower - c.upper,
    upper: t.upper === null || c.lower === null ? null : t.upper - c.lower,
    confidenceLevel,
    control: c,
    treatment: t,
  };
}

/** The ranks behind a percentile and its order-statistic interval. */
export interface PercentileRanks {
  /** Rank of the sample percentile, ⌈n·p⌉ in [1, n]. */
  readonly estimate: number;
  /** Rank of the lower bound; below 1 when the bound does not exist. */
  readonly lower: number;
  /** Rank of the upper bound; above n when the bound does not exist. */
  readonly upper: number;
}

/**
 * The 1-based ranks of the sample percentile and of its distribution-free
 * interval ({@link percentileInterval}) for a sample of n, so that a
 * caller holding the data elsewhere (a database) can fetch just those order
 * statistics.
 *
 * @param n sample size, an integer ≥ 1
 * @param probability the percentile as a probability in (0, 1)
 * @param options confidenceLevel in (0, 1), default 0.95
 * @throws RangeError naming the first invalid argument
 */
export function percentileRanks(
  n: number,
  probability: number,
  options: IntervalOptions = {},
): PercentileRanks {
  const where = "percentileRanks";
  requireInteger(where, "n", n, 1);
  requireOpenUnit(where, "probability", probability);
  const confidenceLevel = confidenceLevelOf(where, options.confidenceLevel);
  const tail = (1 - confidenceLevel) / 2;
  return {
    estimate: percentileRank(n, probability),
    lower: binomialQuantile(tail, n, probability),
    upper: Math.min(binomialQuantile(1 - tail, n, probability) + 1, n + 1),
  };
}

/** A percentile with its order-statistic interval (values at {@link percentileRanks}). */
export interface PercentileSummary {
  readonly estimate: number;
  readonly lower: number;
  readonly upper: number;
}

/**
 * Large-sample test of treatment percentile − control percentile. Each
 * variant's standard error is estimated from the width of its 95 %
 * order-statistic interval, se ≈ (upper − lower)/(2·1.96): the interval's
 * ranks are n·p ± 1.96·sqrt(n·p(1 − p)), so its width estimates the
 * asymptotic standard deviation sqrt(p(1 − p)/n)/f(ξ_p) of the sample
 * quantile without estimating the density f (the idea behind the
 * Price–Bonett and Maritz–Jarrett estimates). The difference then gets a
 * Wald interval and a two-sided normal p-value. Needs both intervals to
 * exist (enough values for the percentile: about 40 for p95, 400 for p99).
 *
 * @param control control percentile and its 95 % interval bounds
 * @param treatment treatment percentile and its 95 % interval bounds
 * @param options confidenceLevel of the returned interval, default 0.95
 * @throws RangeError naming the first invalid argument
 */
export function percentileDifferenceTest(
  control: PercentileSummary,
  treatment: PercentileSummary,
  options: IntervalOptions = {},
): DifferenceTest {
  const where = "percentileDifferenceTest";
  for (const [name, s] of [
    ["control", control],
    ["treatment", treatment],
  ] as const) {
    requireFinite(where, `${name}.estimate`, s.estimate);
    requireFinite(where, `${name}.lower`, s.lower);
    requireFinite(where, `${name}.upper`, s.upper);
    if (s.upper < s.lower) {
      throw new RangeError(
        `${where}: ${name}.upper must be ≥ ${name}.lower (got ${String(s.upper)})`,
      );
    }
  }
  const confidenceLevel = confidenceLevelOf(where, options.confidenceLevel);
  const z = normalQuantile(0.975);
  const seControl = (control.upper - control.lower) / (2 * z);
  const seTreatment = (treatment.upper - treatment.lower) / (2 * z);
  return waldDifference(
    treatment.estimate - control.estimate,
    Math.sqrt(seControl * seControl + seTreatment * seTreatment),
    confidenceLevel,
  );
}
