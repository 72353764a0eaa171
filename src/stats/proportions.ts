/** Two-proportion z-test for a difference of rates. */
import { normalQuantile, normalTwoSidedP } from "./distributions.js";
import { waldDifference } from "./normal-test.js";
import type { DifferenceTest, IntervalOptions, RateCounts } from "./types.js";
import { confidenceLevelOf, requireCounts } from "./validation.js";

/** Result of {@link twoProportionTest}. */
export interface TwoProportionTest extends DifferenceTest {
  /** Control rate successes/trials, in [0, 1]. */
  readonly controlRate: number;
  /** Treatment rate successes/trials, in [0, 1]. */
  readonly treatmentRate: number;
  /**
   * Standard error under "no difference", from the pooled rate:
   * sqrt(p̄(1 − p̄)(1/n_c + 1/n_t)). The statistic and p-value use it;
   * `standardError` (unpooled) gives the interval.
   */
  readonly pooledStandardError: number;
}

/**
 * Two-proportion z-test of treatment rate − control rate (absolute
 * difference, in rate units: 0.01 = one percentage point).
 *
 * The statistic is the score (pooled) z: d / sqrt(p̄(1 − p̄)(1/n_c + 1/n_t))
 * with p̄ = (s_c + s_t)/(n_c + n_t); the p-value is two-sided normal. The
 * interval is the unpooled Wald interval d ± z·sqrt(p_c(1 − p_c)/n_c +
 * p_t(1 − p_t)/n_t). Because the two standard errors differ, the p-value and
 * the interval can disagree at the margin (p just under α with 0 just inside
 * the interval, or the reverse).
 *
 * Degenerate data: if every subject in both variants converted, or none did,
 * the pooled error is 0, the difference is 0 and the p-value is 1. If each
 * variant is constant but they differ (0 % vs 100 %), the unpooled error is
 * 0 and the interval collapses to the difference while the p-value comes
 * from the (non-zero) pooled error.
 *
 * @param control control counts (trials ≥ 1, 0 ≤ successes ≤ trials, integers)
 * @param treatment treatment counts (same rules)
 * @param options confidenceLevel in (0, 1), default 0.95
 * @throws RangeError naming the first invalid argument
 */
export function twoProportionTest(
  control: RateCounts,
  treatment: RateCounts,
  options: IntervalOptions = {},
): TwoProportionTest {
  const where = "twoProportionTest";
  requireCounts(where, "control", control);
  requireCounts(where, "treatment", treatment);
  const confidenceLevel = confidenceLevelOf(where, options.confidenceLevel);

  const controlRate = control.successes / control.trials;
  const treatmentRate = treatment.successes / treatment.trials;
  const difference = treatmentRate - controlRate;
  const pooled = (control.successes + treatment.successes) / (control.trials + treatment.trials);
  const pooledStandardError = Math.sqrt(
    pooled * (1 - pooled) * (1 / control.trials + 1 / treatment.trials),
  );
  const standardError = Math.sqrt(
    (controlRate * (1 - controlRate)) / control.trials +
      (treatmentRate * (1 - treatmentRate)) / treatment.trials,
  );
  const interval = waldDifference(difference, standardError, confidenceLevel);
  const statistic = pooledStandardError === 0 ? 0 : difference / pooledStandardError;
  return {
    ...interval,
    statistic,
    pValue: pooledStandardError === 0 ? 1 : normalTwoSidedP(statistic),
    controlRate,
    treatmentRate,
    pooledStandardError,
  };
}

/** A two-sided interval. */
export interface Interval {
  readonly lower: number;
  readonly upper: number;
}

/**
 * Wilson score interval of one proportion successes/trials:
 * (p̂ + z²/2n ± z·sqrt(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n), z the normal
 * quantile of (1 + level)/2. Unlike the Wald interval it stays inside
 * [0, 1] and does not collapse at 0 % or 100 % (docs/statistics.md).
 *
 * @param counts trials ≥ 1, 0 ≤ successes ≤ trials, integers
 * @param options confidenceLevel in (0, 1), default 0.95
 * @throws RangeError naming the first invalid argument
 */
export function wilsonInterval(counts: RateCounts, options: IntervalOptions = {}): Interval {
  const where = "wilsonInterval";
  requireCounts(where, "counts", counts);
  const level = confidenceLevelOf(where, options.confidenceLevel);
  const z = normalQuantile((1 + level) / 2);
  const n = counts.trials;
  const p = counts.successes / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}
