/**
 * Building blocks for tests whose statistic is an estimate divided by its
 * standard error, with a normal or Student-t reference distribution.
 */
import {
  normalQuantile,
  normalTwoSidedP,
  studentQuantile,
  studentTwoSidedP,
} from "./distributions.js";
import type { DifferenceTest } from "./types.js";

/**
 * The test of a difference whose standard error is exactly 0: the
 * difference is then known without error, so the p-value is 1 when it is 0
 * and 0 otherwise, and the interval collapses to the point.
 */
export function exactDifference(difference: number, confidenceLevel: number): DifferenceTest {
  return {
    difference,
    standardError: 0,
    statistic: difference === 0 ? 0 : Math.sign(difference) * Infinity,
    pValue: difference === 0 ? 1 : 0,
    lower: difference,
    upper: difference,
    confidenceLevel,
  };
}

/**
 * Wald test and interval: statistic d/se, two-sided p-value and
 * d ± q·se, where q is the (1 + level)/2 quantile of the standard normal
 * (df undefined) or of Student's t with `df` degrees of freedom.
 */
export function waldDifference(
  difference: number,
  standardError: number,
  confidenceLevel: number,
  df?: number,
): DifferenceTest {
  if (standardError === 0) return exactDifference(difference, confidenceLevel);
  const statistic = difference / standardError;
  const upperProbability = (1 + confidenceLevel) / 2;
  const critical =
    df === undefined ? normalQuantile(upperProbability) : studentQuantile(upperProbability, df);
  return {
    difference,
    standardError,
    statistic,
    pValue: df === undefined ? normalTwoSidedP(statistic) : studentTwoSidedP(statistic, df),
    lower: difference - critical * standardError,
    upper: difference + critical * standardError,
    confidenceLevel,
  };
}
