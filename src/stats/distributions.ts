/**
 * Thin, typed wrappers over the @stdlib distribution functions used by the
 * statistics module, so that every other file imports from one place and
 * the few numerical edge cases (huge degrees of freedom, upper tails) are
 * handled once.
 */
import betaln from "@stdlib/math-base-special-betaln";
import gammainc from "@stdlib/math-base-special-gammainc";
import binomialCdf from "@stdlib/stats-base-dists-binomial-cdf";
import binomialQuantileStdlib from "@stdlib/stats-base-dists-binomial-quantile";
import normalCdfStdlib from "@stdlib/stats-base-dists-normal-cdf";
import normalQuantileStdlib from "@stdlib/stats-base-dists-normal-quantile";
import tCdf from "@stdlib/stats-base-dists-t-cdf";
import tQuantile from "@stdlib/stats-base-dists-t-quantile";

/**
 * Above this many degrees of freedom Student's t is replaced by the standard
 * normal: the two differ by less than 1e-12 relative there, and the @stdlib
 * t quantile loses accuracy for df beyond about 1e16.
 */
const NORMAL_LIMIT_DF = 1e12;

/** Standard normal CDF Φ(x). */
export function normalCdf(x: number): number {
  return normalCdfStdlib(x, 0, 1);
}

/** Standard normal quantile Φ⁻¹(p), p in (0, 1). */
export function normalQuantile(p: number): number {
  return normalQuantileStdlib(p, 0, 1);
}

/** Two-sided p-value of a standard normal statistic: 2·Φ(−|z|). */
export function normalTwoSidedP(z: number): number {
  return Math.min(1, 2 * normalCdf(-Math.abs(z)));
}

/** Student's t CDF with `df` > 0 degrees of freedom (may be fractional). */
export function studentCdf(t: number, df: number): number {
  return df > NORMAL_LIMIT_DF ? normalCdf(t) : tCdf(t, df);
}

/** Student's t quantile with `df` > 0 degrees of freedom, p in (0, 1). */
export function studentQuantile(p: number, df: number): number {
  return df > NORMAL_LIMIT_DF ? normalQuantile(p) : tQuantile(p, df);
}

/** Two-sided p-value of a t statistic: 2·T_df(−|t|). */
export function studentTwoSidedP(t: number, df: number): number {
  return Math.min(1, 2 * studentCdf(-Math.abs(t), df));
}

/**
 * Upper tail P(X ≥ x) of a chi-square distribution with `df` degrees of
 * freedom, computed as the regularized upper incomplete gamma function
 * Q(df/2, x/2), which keeps full relative precision for tiny p-values (1 −
 * CDF would round to 0 below about 1e-16).
 */
export function chiSquareSurvival(x: number, df: number): number {
  if (x <= 0) return 1;
  return gammainc(x / 2, df / 2, true, true);
}

/** Binomial CDF P(B ≤ k) for B ~ Binomial(n, p). */
export function binomialCumulative(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  return binomialCdf(k, n, p);
}

/**
 * Binomial quantile: the smallest k with P(B ≤ k) ≥ q, for B ~ Binomial(n, p).
 * The @stdlib search is checked against the CDF and corrected by a step if a
 * rounding edge puts it one off.
 */
export function binomialQuantile(q: number, n: number, p: number): number {
  let k = Math.max(0, Math.round(binomialQuantileStdlib(q, n, p)));
  while (k > 0 && binomialCumulative(k - 1, n, p) >= q) k -= 1;
  while (k < n && binomialCumulative(k, n, p) < q) k += 1;
  return k;
}

/** Natural logarithm of the beta function B(a, b), a, b > 0. */
export function logBeta(a: number, b: number): number {
  return betaln(a, b);
}
