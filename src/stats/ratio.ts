/** Delta method for ratio metrics (ratio of two per-subject sums). */
import { waldDifference } from "./normal-test.js";
import type { DifferenceTest, IntervalOptions, PairedSums } from "./types.js";
import {
  confidenceLevelOf,
  requireFinite,
  requireInteger,
  requirePositive,
  varianceFromSums,
} from "./validation.js";

/** A ratio metric of one variant with its delta-method variance. */
export interface RatioEstimate {
  /** Σy / Σx, in numerator units per denominator unit. */
  readonly ratio: number;
  /** Delta-method variance of the ratio, ≥ 0 (ratio units squared). */
  readonly variance: number;
}

/** Result of {@link ratioDeltaTest}. */
export interface RatioDeltaTest extends DifferenceTest {
  /** Control ratio Σy/Σx. */
  readonly controlRatio: number;
  /** Treatment ratio Σy/Σx. */
  readonly treatmentRatio: number;
}

/** Sample covariance from sums: (Σxy − ΣxΣy/n)/(n − 1). */
export function covarianceFromSums(sums: PairedSums): number {
  return (sums.sumXY - (sums.sumX * sums.sumY) / sums.n) / (sums.n - 1);
}

/**
 * Checks paired sums and returns their sample variances and covariance.
 * Throws when a sum of squares is below what its sum allows, or when the
 * cross-product sum breaks the Cauchy–Schwarz bound cov² ≤ var_x·var_y
 * (beyond a 1e-9 relative rounding allowance).
 */
export function pairedMoments(
  where: string,
  name: string,
  sums: PairedSums,
): { varianceX: number; varianceY: number; covariance: number } {
  requireInteger(where, `${name}.n`, sums.n, 2);
  for (const key of ["sumX", "sumY", "sumXX", "sumYY", "sumXY"] as const) {
    requireFinite(where, `${name}.${key}`, sums[key]);
  }
  const varianceX = varianceFromSums(where, `${name}.sumXX`, sums.n, sums.sumX, sums.sumXX);
  const varianceY = varianceFromSums(where, `${name}.sumYY`, sums.n, sums.sumY, sums.sumYY);
  let covariance = covarianceFromSums(sums);
  const bound = Math.sqrt(varianceX * varianceY);
  if (Math.abs(covariance) > bound) {
    const slack = 1e-9 * (Math.abs(sums.sumXY) / (sums.n - 1) + bound);
    if (Math.abs(covariance) - bound > slack) {
      throw new RangeError(
        `${where}: ${name}.sumXY is inconsistent with the other sums (|covariance| ${String(Math.abs(covariance))} exceeds sqrt(var_x·var_y) ${String(bound)})`,
      );
    }
    covariance = Math.sign(covariance) * bound;
  }
  return { varianceX, varianceY, covariance };
}

/**
 * Ratio Σy/Σx of one variant and its delta-method variance
 * (s_yy − 2·R·s_xy + R²·s_xx) / (n·x̄²), where s are sample (co)variances of
 * the per-subject values and x̄ = Σx/n. Subjects are the independent units;
 * the estimate is first-order and needs enough subjects for x̄ to be well
 * away from 0.
 *
 * @param sums per-subject sums, y = numerator, x = denominator; n ≥ 2, Σx > 0
 * @throws RangeError naming the first invalid argument
 */
export function ratioEstimate(
  sums: PairedSums,
  where = "ratioEstimate",
  name = "sums",
): RatioEstimate {
  const { varianceX, varianceY, covariance } = pairedMoments(where, name, sums);
  requirePositive(where, `${name}.sumX`, sums.sumX);
  const ratio = sums.sumY / sums.sumX;
  const meanX = sums.sumX / sums.n;
  // Variance of the linearised per-subject value y − R·x, ≥ 0 in exact arithmetic.
  const linearised = varianceY - 2 * ratio * covariance + ratio * ratio * varianceX;
  const scale = varianceY + ratio * ratio * varianceX;
  const residual = linearised < 0 && -linearised <= 1e-9 * scale ? 0 : linearised;
  if (residual < 0) {
    throw new RangeError(`${where}: ${name}.sumXY is inconsistent with the other sums`);
  }
  return { ratio, variance: residual / (sums.n * meanX * meanX) };
}

/**
 * Delta-method z-test of treatment ratio − control ratio for a ratio metric
 * (e.g. errors per exposure, revenue per session), from per-subject sums.
 * The two variants are independent, so the variance of the difference is
 * the sum of the two delta-method variances; the p-value is two-sided
 * normal and the interval d ± z·se. If both variances are 0 the difference
 * is exact (p-value 1 when equal, else 0; interval collapses to the point).
 *
 * @param control control sums (y = numerator, x = denominator; n ≥ 2, Σx > 0)
 * @param treatment treatment sums (same rules)
 * @param options confidenceLevel in (0, 1), default 0.95
 * @throws RangeError naming the first invalid argument
 */
export function ratioDeltaTest(
  control: PairedSums,
  treatment: PairedSums,
  options: IntervalOptions = {},
): RatioDeltaTest {
  const where = "ratioDeltaTest";
  const c = ratioEstimate(control, where, "control");
  const t = ratioEstimate(treatment, where, "treatment");
  const confidenceLevel = confidenceLevelOf(where, options.confidenceLevel);
  return {
    ...waldDifference(t.ratio - c.ratio, Math.sqrt(c.variance + t.variance), confidenceLevel),
    controlRatio: c.ratio,
    treatmentRatio: t.ratio,
  };
}
