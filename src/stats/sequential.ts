/**
 * Always-valid inference for A/B tests: the mixture sequential probability
 * ratio test (mSPRT) with a normal mixing distribution, after Johari,
 * Koomen, Pekelis and Walsh, "Always Valid Inference: Continuous Monitoring
 * of A/B Tests" (Operations Research, 2022; arXiv 2015 as "Always valid
 * inference: bringing sequential analysis to A/B testing").
 *
 * The p-value and interval stay valid however often, and whenever, the
 * results are looked at: the chance that the p-value ever drops to α or
 * below under "no difference" is at most α, across all looks together.
 */
import { checkMeanSummary } from "./means.js";
import type { IntervalOptions, MeanSummary, RateCounts } from "./types.js";
import {
  confidenceLevelOf,
  requireClosedUnit,
  requireCounts,
  requireFinite,
  requireNonNegative,
  requirePositive,
} from "./validation.js";

/**
 * Default mixing standard deviation in units of the per-subject standard
 * deviation: τ = 0.05·σ, i.e. τ² = 0.0025·σ². With equal variants of n
 * subjects at α = 0.05 the interval is narrowest near n ≈ 6 600 (τ²/V ≈ 8.2)
 * and within 20 % of that optimum from 1 000 to 1 000 000 subjects per
 * variant. See docs/statistics.md.
 */
export const DEFAULT_MIXING_EFFECT_SIZE = 0.05;

/** The earlier look's always-valid result, to carry its running bounds forward. */
export interface PreviousLook {
  /** The always-valid p-value of the previous look, in [0, 1]. */
  readonly pValue: number;
  /** Lower bound of the previous look's always-valid interval. */
  readonly lower: number;
  /** Upper bound of the previous look's always-valid interval. */
  readonly upper: number;
}

/** Options of {@link alwaysValidTest}. */
export interface AlwaysValidOptions extends IntervalOptions {
  /**
   * Variance τ² of the normal mixing distribution over the true difference,
   * in squared units of the difference, > 0. Fix it before the experiment
   * starts (e.g. from the typical squared effect sizes of past experiments).
   */
  readonly mixingVariance: number;
  /**
   * The previous look's result, if any: the p-value becomes the running
   * minimum and the interval the running intersection, so that p-values
   * never rise and intervals never widen from look to look.
   */
  readonly previous?: PreviousLook;
}

/** Options of {@link alwaysValidMeanTest} and {@link alwaysValidProportionTest}. */
export interface AlwaysValidSummaryOptions extends IntervalOptions {
  /**
   * τ² in squared units of the difference, > 0. When absent,
   * τ² = (mixingEffectSize·σ)² with σ² the pooled per-subject variance.
   */
  readonly mixingVariance?: number;
  /** τ/σ when `mixingVariance` is absent, > 0; default {@link DEFAULT_MIXING_EFFECT_SIZE} (0.05). */
  readonly mixingEffectSize?: number;
  /** The previous look's result, if any (see {@link AlwaysValidOptions.previous}). */
  readonly previous?: PreviousLook;
}

/** Result of the always-valid tests. */
export interface AlwaysValidTest {
  /** Treatment − control point estimate. */
  readonly difference: number;
  /** Standard error of the difference at this look, ≥ 0. */
  readonly standardError: number;
  /**
   * ln Λ, the log mixture likelihood ratio of "a difference" against "none"
   * at this look; +Infinity when the standard error is 0 and the difference
   * is not, 0 when both are 0.
   */
  readonly logLikelihoodRatio: number;
  /** Always-valid two-sided p-value, min(1, 1/Λ) (running minimum with `previous`), in [0, 1]. */
  readonly pValue: number;
  /** Lower bound of the always-valid interval (running intersection with `previous`). */
  readonly lower: number;
  /** Upper bound of the always-valid interval. */
  readonly upper: number;
  /** Confidence level 1 − α of the interval, in (0, 1). */
  readonly confidenceLevel: number;
  /**
   * Mixing variance τ² used, in squared units of the difference. When it is
   * derived from a per-subject variance of 0 (then the standard error is 0
   * too and τ² plays no part) it is reported as Number.MIN_VALUE.
   */
  readonly mixingVariance: number;
}

/**
 * The mSPRT for a difference with an approximately normal estimate: given
 * the estimate d with variance V = se² at this look and a normal mixing
 * distribution N(0, τ²) over the true difference, the mixture likelihood
 * ratio of the data against "no difference" is
 *   Λ = sqrt(V/(V + τ²)) · exp(τ²·d² / (2·V·(V + τ²))),
 * the always-valid p-value is min(1, 1/Λ) and the always-valid interval at
 * level 1 − α is the set of differences θ not rejected,
 *   d ± sqrt(V·(V + τ²)/τ² · (2·ln(1/α) + ln((V + τ²)/V))).
 * V is treated as known (plugged in from the data at each look), as in the
 * paper's large-sample treatment. With se = 0 the difference is exact
 * (p-value 1 if d = 0, else 0; interval collapses to d).
 *
 * @param estimate difference (finite) and standardError (≥ 0) at this look
 * @param options mixingVariance τ² > 0 (required), confidenceLevel (default 0.95), previous look
 * @throws RangeError naming the first invalid argument
 */
export function alwaysValidTest(
  estimate: { readonly difference: number; readonly standardError: number },
  options: AlwaysValidOptions,
): AlwaysValidTest {
  return sequentialTest("alwaysValidTest", estimate.difference, estimate.standardError, options);
}

function sequentialTest(
  where: string,
  difference: number,
  standardError: number,
  options: AlwaysValidOptions,
): AlwaysValidTest {
  requireFinite(where, "difference", difference);
  requireNonNegative(where, "standardError", standardError);
  const tau2 = requirePositive(where, "mixingVariance", options.mixingVariance);
  const confidenceLevel = confidenceLevelOf(where, options.confidenceLevel);
  const previous = options.previous;
  if (previous !== undefined) {
    requireClosedUnit(where, "previous.pValue", previous.pValue);
    requireFinite(where, "previous.lower", previous.lower);
    requireFinite(where, "previous.upper", previous.upper);
    if (previous.lower > previous.upper) {
      throw new RangeError(
        `${where}: previous.lower must be ≤ previous.upper (got ${String(previous.lower)} > ${String(previous.upper)})`,
      );
    }
  }

  const variance = standardError * standardError;
  let logLikelihoodRatio: number;
  let pValue: number;
  let lower: number;
  let upper: number;
  if (variance === 0) {
    logLikelihoodRatio = difference === 0 ? 0 : Infinity;
    pValue = difference === 0 ? 1 : 0;
    lower = difference;
    upper = difference;
  } else {
    const r = tau2 / variance;
    logLikelihoodRatio =
      -0.5 * Math.log1p(r) + ((difference * difference) / (2 * variance)) * (r / (1 + r));
    pValue = Math.min(1, Math.exp(-logLikelihoodRatio));
    const alpha = 1 - confidenceLevel;
    const halfWidth = Math.sqrt(variance * (1 + 1 / r) * (2 * Math.log(1 / alpha) + Math.log1p(r)));
    lower = difference - halfWidth;
    upper = difference + halfWidth;
  }
  if (previous !== undefined) {
    pValue = Math.min(pValue, previous.pValue);
    const runningLower = Math.max(lower, previous.lower);
    const runningUpper = Math.min(upper, previous.upper);
    // An empty intersection (probability ≤ α under the model) keeps this look's interval.
    if (runningLower <= runningUpper) {
      lower = runningLower;
      upper = runningUpper;
    }
  }
  return {
    difference,
    standardError,
    logLikelihoodRatio,
    pValue,
    lower,
    upper,
    confidenceLevel,
    mixingVariance: tau2,
  };
}

function mixingVarianceOf(
  where: string,
  options: AlwaysValidSummaryOptions,
  subjectVariance: number,
): number {
  if (options.mixingVariance !== undefined) {
    return requirePositive(where, "mixingVariance", options.mixingVariance);
  }
  const effect = requirePositive(
    where,
    "mixingEffectSize",
    options.mixingEffectSize ?? DEFAULT_MIXING_EFFECT_SIZE,
  );
  // A zero subject variance only happens with zero standard error, where τ² is unused.
  return effect * effect * subjectVariance || Number.MIN_VALUE;
}

/**
 * Always-valid test of treatment mean − control mean ({@link alwaysValidTest})
 * from summary statistics: V = v_c/n_c + v_t/n_t. Without `mixingVariance`,
 * τ² = (mixingEffectSize)²·σ² with σ² the pooled within-variant variance
 * ((n_c − 1)v_c + (n_t − 1)v_t)/(n_c + n_t − 2) and mixingEffectSize 0.05.
 *
 * @param control control summary (n ≥ 2, variance ≥ 0)
 * @param treatment treatment summary (n ≥ 2, variance ≥ 0)
 * @param options mixingVariance or mixingEffectSize, confidenceLevel (0.95), previous look
 * @throws RangeError naming the first invalid argument
 */
export function alwaysValidMeanTest(
  control: MeanSummary,
  treatment: MeanSummary,
  options: AlwaysValidSummaryOptions = {},
): AlwaysValidTest {
  const where = "alwaysValidMeanTest";
  checkMeanSummary(where, "control", control);
  checkMeanSummary(where, "treatment", treatment);
  const pooledVariance =
    ((control.n - 1) * control.variance + (treatment.n - 1) * treatment.variance) /
    (control.n + treatment.n - 2);
  const standardError = Math.sqrt(control.variance / control.n + treatment.variance / treatment.n);
  return sequentialTest(where, treatment.mean - control.mean, standardError, {
    ...options,
    mixingVariance: mixingVarianceOf(where, options, pooledVariance),
  });
}

/**
 * Always-valid test of treatment rate − control rate ({@link alwaysValidTest})
 * from counts: V = p_c(1 − p_c)/n_c + p_t(1 − p_t)/n_t (normal approximation
 * to the binomial). Without `mixingVariance`, τ² = (mixingEffectSize)²·p̄(1 − p̄)
 * with p̄ the pooled rate and mixingEffectSize 0.05.
 *
 * @param control control counts (trials ≥ 1, 0 ≤ successes ≤ trials, integers)
 * @param treatment treatment counts (same rules)
 * @param options mixingVariance or mixingEffectSize, confidenceLevel (0.95), previous look
 * @throws RangeError naming the first invalid argument
 */
export function alwaysValidProportionTest(
  control: RateCounts,
  treatment: RateCounts,
  options: AlwaysValidSummaryOptions = {},
): AlwaysValidTest {
  const where = "alwaysValidProportionTest";
  requireCounts(where, "control", control);
  requireCounts(where, "treatment", treatment);
  const pc = control.successes / control.trials;
  const pt = treatment.successes / treatment.trials;
  const pooled = (control.successes + treatment.successes) / (control.trials + treatment.trials);
  const standardError = Math.sqrt(
    (pc * (1 - pc)) / control.trials + (pt * (1 - pt)) / treatment.trials,
  );
  return sequentialTest(where, pt - pc, standardError, {
    ...options,
    mixingVariance: mixingVarianceOf(where, options, pooled * (1 - pooled)),
  });
}
