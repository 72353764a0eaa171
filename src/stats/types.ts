/** Input and result shapes shared by the statistics functions. */

/** Summary statistics of one variant for a mean metric. */
export interface MeanSummary {
  /** Number of subjects (independent units), an integer ≥ 2. */
  readonly n: number;
  /** Sample mean of the metric per subject, in the metric's unit. */
  readonly mean: number;
  /** Unbiased sample variance (n − 1 denominator), in the metric's unit squared, ≥ 0. */
  readonly variance: number;
}

/** Counts of one variant for a rate (conversion) metric. */
export interface RateCounts {
  /** Subjects with the event, an integer in [0, trials]. */
  readonly successes: number;
  /** Subjects exposed, an integer ≥ 1. */
  readonly trials: number;
}

/**
 * Per-subject sums of two quantities y and x for one variant: the raw
 * material for ratio metrics (y = numerator, x = denominator, e.g. errors
 * and exposures per subject) and for CUPED (y = metric, x = pre-period
 * covariate). Every sum runs over the variant's subjects.
 */
export interface PairedSums {
  /** Number of subjects, an integer ≥ 2. */
  readonly n: number;
  /** Σ y_i. */
  readonly sumY: number;
  /** Σ x_i. */
  readonly sumX: number;
  /** Σ y_i². */
  readonly sumYY: number;
  /** Σ x_i². */
  readonly sumXX: number;
  /** Σ x_i·y_i. */
  readonly sumXY: number;
}

/**
 * A two-sided test of treatment − control with a confidence interval. All
 * values are in the unit of the difference (metric unit for means, absolute
 * rate for proportions, ratio unit for ratio metrics).
 */
export interface DifferenceTest {
  /** Point estimate of treatment − control. */
  readonly difference: number;
  /** Standard error of the difference, ≥ 0. */
  readonly standardError: number;
  /**
   * Test statistic (t or z) for "no difference". ±Infinity when the standard
   * error is 0 and the difference is not (the difference is then exact).
   */
  readonly statistic: number;
  /** Two-sided p-value for "no difference", in [0, 1]. */
  readonly pValue: number;
  /** Lower bound of the confidence interval for the difference. */
  readonly lower: number;
  /** Upper bound of the confidence interval for the difference. */
  readonly upper: number;
  /** Two-sided confidence level of [lower, upper], in (0, 1). */
  readonly confidenceLevel: number;
}

/** Options common to the interval-producing functions. */
export interface IntervalOptions {
  /** Two-sided confidence level in (0, 1); default 0.95. */
  readonly confidenceLevel?: number;
}
