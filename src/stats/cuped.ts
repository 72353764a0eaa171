/**
 * CUPED (Controlled-experiment Using Pre-Experiment Data): variance
 * reduction of a mean metric with a pre-period covariate, after Deng, Xu,
 * Kohavi and Walker, "Improving the Sensitivity of Online Controlled
 * Experiments by Utilizing Pre-Experiment Data" (WSDM 2013).
 */
import { covarianceFromSums, pairedMoments } from "./ratio.js";
import type { MeanSummary, PairedSums } from "./types.js";
import { requireInteger } from "./validation.js";

/** One variant after CUPED; usable directly as a {@link MeanSummary}. */
export interface CupedVariant extends MeanSummary {
  /** Mean of y before adjustment. */
  readonly unadjustedMean: number;
  /** Sample variance of y before adjustment. */
  readonly unadjustedVariance: number;
  /** 1 − variance/unadjustedVariance, in [0, 1] up to rounding (0 when y is constant). */
  readonly varianceReduction: number;
}

/** Result of {@link cupedAdjust}. */
export interface CupedAdjustment {
  /** θ = cov(y, x)/var(x) over all subjects of all variants (0 when x is constant). */
  readonly theta: number;
  /** Mean of x over all subjects, the centre of the adjustment. */
  readonly covariateMean: number;
  /** The variants, adjusted, in input order. */
  readonly variants: CupedVariant[];
}

/**
 * CUPED adjustment from per-subject sums, y = the experiment metric and x =
 * the same subject's pre-period covariate (e.g. the metric in the weeks
 * before exposure; 0 for subjects without history). θ = cov(y, x)/var(x) is
 * estimated on all variants pooled; each variant's adjusted metric
 * y − θ·(x − x̄) has mean ȳ_g − θ·(x̄_g − x̄) and variance
 * s_yy − 2θ·s_xy + θ²·s_xx (sample moments within the variant). The
 * adjusted summaries feed {@link welchTest} or the always-valid mean test
 * unchanged. The covariate must not be affected by the treatment (measure it
 * before exposure); the extra variance from estimating θ is ignored, which
 * is negligible at experiment sample sizes.
 *
 * @param variants per-variant sums (y = metric, x = covariate, n ≥ 2 each), at least one variant
 * @throws RangeError naming the first invalid argument
 */
export function cupedAdjust(variants: readonly PairedSums[]): CupedAdjustment {
  const where = "cupedAdjust";
  requireInteger(where, "variants.length", variants.length, 1);
  const checked = variants.map((sums, i) => ({
    sums,
    ...pairedMoments(where, `variants[${String(i)}]`, sums),
  }));
  const pooled: PairedSums = variants.reduce(
    (sum, v) => ({
      n: sum.n + v.n,
      sumY: sum.sumY + v.sumY,
      sumX: sum.sumX + v.sumX,
      sumYY: sum.sumYY + v.sumYY,
      sumXX: sum.sumXX + v.sumXX,
      sumXY: sum.sumXY + v.sumXY,
    }),
    { n: 0, sumY: 0, sumX: 0, sumYY: 0, sumXX: 0, sumXY: 0 },
  );
  const pooledMoments = pairedMoments(where, "variants (pooled)", pooled);
  const theta =
    pooledMoments.varianceX === 0 ? 0 : covarianceFromSums(pooled) / pooledMoments.varianceX;
  const covariateMean = pooled.sumX / pooled.n;
  return {
    theta,
    covariateMean,
    variants: checked.map(({ sums, varianceX, varianceY, covariance }) => {
      const unadjustedMean = sums.sumY / sums.n;
      const adjusted = varianceY - 2 * theta * covariance + theta * theta * varianceX;
      const variance = Math.max(0, adjusted);
      return {
        n: sums.n,
        mean: unadjustedMean - theta * (sums.sumX / sums.n - covariateMean),
        variance,
        unadjustedMean,
        unadjustedVariance: varianceY,
        varianceReduction: varianceY === 0 ? 0 : 1 - variance / varianceY,
      };
    }),
  };
}
