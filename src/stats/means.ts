/** Welch's unequal-variance t-test for a difference of means. */
import { waldDifference } from "./normal-test.js";
import type { DifferenceTest, IntervalOptions, MeanSummary } from "./types.js";
import {
  confidenceLevelOf,
  requireFinite,
  requireInteger,
  requireNonNegative,
} from "./validation.js";

/** Result of {@link welchTest}. */
export interface WelchTest extends DifferenceTest {
  /** Welch–Satterthwaite degrees of freedom, ≥ 1 (fractional in general). */
  readonly degreesOfFreedom: number;
  /** Control mean, in the metric's unit. */
  readonly controlMean: number;
  /** Treatment mean, in the metric's unit. */
  readonly treatmentMean: number;
}

/** Checks one variant's summary; `name` is the argument name for messages. */
export function checkMeanSummary(where: string, name: string, summary: MeanSummary): void {
  requireInteger(where, `${name}.n`, summary.n, 2);
  requireFinite(where, `${name}.mean`, summary.mean);
  requireNonNegative(where, `${name}.variance`, summary.variance);
}

/**
 * Welch's t-test of treatment mean − control mean from summary statistics,
 * with its two-sided p-value and confidence interval.
 *
 * Standard error sqrt(v_c/n_c + v_t/n_t); degrees of freedom by the
 * Welch–Satterthwaite formula. When one variance is 0 the degrees of freedom
 * are those of the other variant (n − 1). When both variances are 0 the
 * difference is exact: p-value 1 if the means are equal, else 0, interval
 * [difference, difference], degrees of freedom n_c + n_t − 2.
 *
 * @param control control variant summary (n ≥ 2, variance ≥ 0)
 * @param treatment treatment variant summary (n ≥ 2, variance ≥ 0)
 * @param options confidenceLevel in (0, 1), default 0.95
 * @throws RangeError naming the first invalid argument
 */
export function welchTest(
  control: MeanSummary,
  treatment: MeanSummary,
  options: IntervalOptions = {},
): WelchTest {
  const where = "welchTest";
  checkMeanSummary(where, "control", control);
  checkMeanSummary(where, "treatment", treatment);
  const confidenceLevel = confidenceLevelOf(where, options.confidenceLevel);

  const a = control.variance / control.n;
  const b = treatment.variance / treatment.n;
  const total = a + b;
  // (a + b)² / (a²/(n_c − 1) + b²/(n_t − 1)), written with shares of the
  // total so that tiny variances do not underflow to 0/0.
  const degreesOfFreedom =
    total === 0
      ? control.n + treatment.n - 2
      : 1 / ((a / total) ** 2 / (control.n - 1) + (b / total) ** 2 / (treatment.n - 1));
  const difference = treatment.mean - control.mean;
  return {
    ...waldDifference(difference, Math.sqrt(total), confidenceLevel, degreesOfFreedom),
    degreesOfFreedom,
    controlMean: control.mean,
    treatmentMean: treatment.mean,
  };
}
