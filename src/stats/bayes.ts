/**
 * Bayesian chance to beat control: the posterior probability that the
 * treatment's true rate or mean is above the control's.
 */
import { logBeta, normalCdf } from "./distributions.js";
import { checkMeanSummary } from "./means.js";
import type { MeanSummary, RateCounts } from "./types.js";
import { requireCounts } from "./validation.js";

/**
 * Above this many terms the exact Beta comparison is replaced by a normal
 * approximation of the two posteriors (at that size each posterior has at
 * least 100 000 successes and failures, and the approximation was within
 * 1e-6 of numerical integration in the checks of test/stats/reference.test.ts).
 */
export const MAX_EXACT_BETA_TERMS = 100_000;

/** Beta posterior parameters of a rate. */
export interface BetaPosterior {
  /** α = successes + 1. */
  readonly alpha: number;
  /** β = failures + 1. */
  readonly beta: number;
}

/** Result of {@link chanceToBeatControlRate}. */
export interface RateChanceToBeatControl {
  /** P(treatment rate > control rate | data), in [0, 1]. */
  readonly probability: number;
  /** "exact": closed-form finite sum; "normal": normal approximation of both posteriors. */
  readonly method: "exact" | "normal";
  /** Control posterior Beta(α, β). */
  readonly control: BetaPosterior;
  /** Treatment posterior Beta(α, β). */
  readonly treatment: BetaPosterior;
}

/** Result of {@link chanceToBeatControlMean}. */
export interface MeanChanceToBeatControl {
  /** P(treatment mean > control mean | data), in [0, 1]. */
  readonly probability: number;
  /** Posterior mean of treatment − control (the observed difference), metric unit. */
  readonly difference: number;
  /** Posterior standard deviation of the difference, ≥ 0. */
  readonly standardError: number;
}

/**
 * P(Y > X) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2) with a2 a positive integer:
 * Σ_{i=0}^{a2−1} B(a1 + i, b1 + b2) / ((b2 + i)·B(1 + i, b2)·B(a1, b1)),
 * each term computed through log-beta (Evan Miller's closed form, from the
 * series for the regularized incomplete beta function).
 */
function betaGreaterSum(a1: number, b1: number, a2: number, b2: number): number {
  const base = logBeta(a1, b1);
  let total = 0;
  for (let i = 0; i < a2; i += 1) {
    total += Math.exp(logBeta(a1 + i, b1 + b2) - Math.log(b2 + i) - logBeta(1 + i, b2) - base);
  }
  return total;
}

function clampUnit(p: number): number {
  return Math.min(1, Math.max(0, p));
}

/**
 * Chance that the treatment's true rate beats the control's, with
 * independent uniform Beta(1, 1) priors: the posteriors are
 * Beta(successes + 1, failures + 1) and the result is P(p_t > p_c).
 *
 * Exact while the smallest of the four posterior parameters is at most
 * {@link MAX_EXACT_BETA_TERMS}: a finite sum with that many terms, looping
 * over whichever parameter is smallest (by the symmetries P(Y > X) =
 * 1 − P(X > Y) and p ↔ 1 − p). Beyond that, both posteriors are replaced by
 * normals with the same mean and variance.
 *
 * @param control control counts (trials ≥ 1, 0 ≤ successes ≤ trials, integers)
 * @param treatment treatment counts (same rules)
 * @throws RangeError naming the first invalid argument
 */
export function chanceToBeatControlRate(
  control: RateCounts,
  treatment: RateCounts,
): RateChanceToBeatControl {
  const where = "chanceToBeatControlRate";
  requireCounts(where, "control", control);
  requireCounts(where, "treatment", treatment);
  const a1 = control.successes + 1;
  const b1 = control.trials - control.successes + 1;
  const a2 = treatment.successes + 1;
  const b2 = treatment.trials - treatment.successes + 1;
  const posteriors = { control: { alpha: a1, beta: b1 }, treatment: { alpha: a2, beta: b2 } };

  const smallest = Math.min(a1, b1, a2, b2);
  if (smallest > MAX_EXACT_BETA_TERMS) {
    const mean = (a: number, b: number): number => a / (a + b);
    const variance = (a: number, b: number): number => (a * b) / ((a + b) ** 2 * (a + b + 1));
    const z = (mean(a2, b2) - mean(a1, b1)) / Math.sqrt(variance(a1, b1) + variance(a2, b2));
    return { probability: normalCdf(z), method: "normal", ...posteriors };
  }
  let probability: number;
  if (smallest === a2) probability = betaGreaterSum(a1, b1, a2, b2);
  else if (smallest === a1) probability = 1 - betaGreaterSum(a2, b2, a1, b1);
  else if (smallest === b1) probability = betaGreaterSum(b2, a2, b1, a1);
  else probability = 1 - betaGreaterSum(b1, a1, b2, a2);
  return { probability: clampUnit(probability), method: "exact", ...posteriors };
}

/**
 * Chance that the treatment's true mean beats the control's, by a normal
 * approximation: with flat priors and large samples the posterior of each
 * mean is approximately N(mean, variance/n), so
 * P(μ_t > μ_c) ≈ Φ((m_t − m_c)/sqrt(v_c/n_c + v_t/n_t)).
 * With both variances 0 the answer is 1, 0 or 0.5 as the treatment mean is
 * above, below or equal to the control mean.
 *
 * @param control control summary (n ≥ 2, variance ≥ 0)
 * @param treatment treatment summary (n ≥ 2, variance ≥ 0)
 * @throws RangeError naming the first invalid argument
 */
export function chanceToBeatControlMean(
  control: MeanSummary,
  treatment: MeanSummary,
): MeanChanceToBeatControl {
  const where = "chanceToBeatControlMean";
  checkMeanSummary(where, "control", control);
  checkMeanSummary(where, "treatment", treatment);
  const difference = treatment.mean - control.mean;
  const standardError = Math.sqrt(control.variance / control.n + treatment.variance / treatment.n);
  const probability =
    standardError === 0
      ? difference > 0
        ? 1
        : difference < 0
          ? 0
          : 0.5
      : normalCdf(difference / standardError);
  return { probability, difference, standardError };
}
