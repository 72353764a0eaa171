/** Sample ratio mismatch (SRM) check. */
import { chiSquareSurvival } from "./distributions.js";
import { requireInteger, requireOpenUnit, requirePositive } from "./validation.js";

/** p-value below which an SRM is reported. */
export const DEFAULT_SRM_THRESHOLD = 0.001;
/** Total subjects below which no SRM is reported, whatever the p-value. */
export const DEFAULT_SRM_MINIMUM_TOTAL = 100;

/** Options of {@link srmCheck}. */
export interface SrmOptions {
  /** Mismatch when p-value < threshold; in (0, 1), default 0.001. */
  readonly threshold?: number;
  /** No mismatch can be reported below this many subjects in total; integer ≥ 0, default 100. */
  readonly minimumTotal?: number;
}

/** Result of {@link srmCheck}. */
export interface SrmCheck {
  /** Pearson chi-square statistic Σ (observed − expected)²/expected, ≥ 0. */
  readonly statistic: number;
  /** Number of variants − 1. */
  readonly degreesOfFreedom: number;
  /** Upper-tail chi-square p-value, in [0, 1]. */
  readonly pValue: number;
  /** Total observed subjects. */
  readonly total: number;
  /** Expected subjects per variant, total·weight/Σweights, in input order. */
  readonly expected: number[];
  /** Whether total ≥ minimumTotal, i.e. whether a mismatch could be reported. */
  readonly enoughData: boolean;
  /** True when enoughData and pValue < threshold. */
  readonly mismatch: boolean;
  /** Threshold used. */
  readonly threshold: number;
  /** Minimum total used. */
  readonly minimumTotal: number;
}

/**
 * Sample ratio mismatch check: Pearson's chi-square goodness-of-fit test of
 * the observed subjects per variant against the configured traffic weights,
 * with k − 1 degrees of freedom for k variants. A mismatch (p-value below
 * `threshold`, default 0.001) means the assignment or the data pipeline is
 * losing or duplicating subjects unevenly, and the experiment's results
 * should not be trusted until that is explained. Not reported before
 * `minimumTotal` subjects (default 100), where the chi-square approximation
 * is poor and an alarm would be noise.
 *
 * @param observed subjects per variant, non-negative integers, at least 2 variants
 * @param weights configured weights per variant in the same order, each > 0 (any scale: they are normalised)
 * @param options threshold (0.001), minimumTotal (100)
 * @throws RangeError naming the first invalid argument
 */
export function srmCheck(
  observed: readonly number[],
  weights: readonly number[],
  options: SrmOptions = {},
): SrmCheck {
  const where = "srmCheck";
  requireInteger(where, "observed.length", observed.length, 2);
  if (weights.length !== observed.length) {
    throw new RangeError(
      `${where}: weights.length must equal observed.length (${String(observed.length)}) (got ${String(weights.length)})`,
    );
  }
  observed.forEach((count, i) => requireInteger(where, `observed[${String(i)}]`, count, 0));
  weights.forEach((weight, i) => requirePositive(where, `weights[${String(i)}]`, weight));
  const threshold = requireOpenUnit(where, "threshold", options.threshold ?? DEFAULT_SRM_THRESHOLD);
  const minimumTotal = requireInteger(
    where,
    "minimumTotal",
    options.minimumTotal ?? DEFAULT_SRM_MINIMUM_TOTAL,
    0,
  );

  const total = observed.reduce((sum, count) => sum + count, 0);
  const weightSum = weights.reduce((sum, weight) => sum + weight, 0);
  const expected = weights.map((weight) => (total * weight) / weightSum);
  const statistic =
    total === 0
      ? 0
      : observed.reduce((sum, count, i) => {
          const e = expected[i] ?? 0;
          return sum + ((count - e) * (count - e)) / e;
        }, 0);
  const degreesOfFreedom = observed.length - 1;
  const pValue = Math.min(1, Math.max(0, chiSquareSurvival(statistic, degreesOfFreedom)));
  const enoughData = total >= minimumTotal;
  return {
    statistic,
    degreesOfFreedom,
    pValue,
    total,
    expected,
    enoughData,
    mismatch: enoughData && pValue < threshold,
    threshold,
    minimumTotal,
  };
}
