/**
 * Percentiles compared by a seeded percentile bootstrap: the difference of
 * a percentile between two samples, with its interval and p-value.
 */
import { createRandom } from "./random.js";
import type { IntervalOptions } from "./types.js";
import { confidenceLevelOf, requireFinite, requireInteger, requireOpenUnit } from "./validation.js";
import {
  interpolatedQuantile,
  percentileOfSorted,
  percentileRank,
  sortedCopy,
} from "./percentiles.js";

/** Options of {@link percentileDifferenceBootstrap}. */
export interface BootstrapOptions extends IntervalOptions {
  /** Number of bootstrap resamples, an integer ≥ 100; default 2000. */
  readonly resamples?: number;
  /** Seed of the pseudo-random generator; default 1. Same seed, same result. */
  readonly seed?: number;
}

/** Result of {@link percentileDifferenceBootstrap}. */
export interface PercentileBootstrap {
  /** Treatment sample percentile − control sample percentile. */
  readonly difference: number;
  /** Percentile-bootstrap lower bound. */
  readonly lower: number;
  /** Percentile-bootstrap upper bound. */
  readonly upper: number;
  /**
   * Two-sided bootstrap p-value for "no difference":
   * min(1, 2·min(#{d* ≤ 0} + 1, #{d* ≥ 0} + 1)/(B + 1)), in (0, 1].
   */
  readonly pValue: number;
  /** Requested confidence level. */
  readonly confidenceLevel: number;
  /** Resamples used. */
  readonly resamples: number;
  /** Seed used. */
  readonly seed: number;
}

/** Default number of bootstrap resamples. */
export const DEFAULT_BOOTSTRAP_RESAMPLES = 2000;
/** Default bootstrap seed. */
export const DEFAULT_BOOTSTRAP_SEED = 1;

/**
 * Percentile of one bootstrap resample of an ascending array, without
 * building the resample: draw n indices, count how often each is drawn, and
 * walk the counts up to the percentile's rank. O(n) per resample.
 */
function resampledPercentile(
  sorted: Float64Array,
  counts: Uint32Array,
  rank: number,
  random: () => number,
): number {
  const n = sorted.length;
  counts.fill(0);
  for (let i = 0; i < n; i += 1) {
    const index = Math.floor(random() * n);
    counts[index] = (counts[index] ?? 0) + 1;
  }
  let seen = 0;
  for (let i = 0; i < n; i += 1) {
    seen += counts[i] ?? 0;
    if (seen >= rank) return sorted[i] ?? Number.NaN;
  }
  return sorted[n - 1] ?? Number.NaN;
}

/**
 * Percentile-bootstrap interval and p-value for treatment percentile −
 * control percentile. Each of B resamples draws n_c control and n_t
 * treatment values with replacement and takes the difference of their
 * sample percentiles ({@link samplePercentile}); the interval is the α/2 and
 * 1 − α/2 quantiles (linear interpolation) of the B differences (Efron's percentile method), and the p-value is
 * min(1, 2·min(#{d* ≤ 0} + 1, #{d* ≥ 0} + 1)/(B + 1)).
 *
 * Approximate: it relies on the samples being large enough for the
 * bootstrap distribution to mimic the sampling distribution (poor for
 * extreme percentiles of small samples, e.g. p99 with fewer than a few
 * hundred values). Reproducible: a seeded generator ({@link createRandom}).
 * Cost O(B·(n_c + n_t)) after sorting.
 *
 * @param control control sample, finite numbers, at least 2
 * @param treatment treatment sample, finite numbers, at least 2
 * @param probability the percentile as a probability in (0, 1)
 * @param options confidenceLevel (default 0.95), resamples (integer ≥ 100, default 2000), seed (default 1)
 * @throws RangeError naming the first invalid argument
 */
export function percentileDifferenceBootstrap(
  control: readonly number[],
  treatment: readonly number[],
  probability: number,
  options: BootstrapOptions = {},
): PercentileBootstrap {
  const where = "percentileDifferenceBootstrap";
  requireOpenUnit(where, "probability", probability);
  const confidenceLevel = confidenceLevelOf(where, options.confidenceLevel);
  const resamples = requireInteger(
    where,
    "resamples",
    options.resamples ?? DEFAULT_BOOTSTRAP_RESAMPLES,
    100,
  );
  const seed = requireFinite(where, "seed", options.seed ?? DEFAULT_BOOTSTRAP_SEED);
  const c = sortedCopy(where, "control", control, 2);
  const t = sortedCopy(where, "treatment", treatment, 2);

  const random = createRandom(seed);
  const controlCounts = new Uint32Array(c.length);
  const treatmentCounts = new Uint32Array(t.length);
  const differences = new Float64Array(resamples);
  let atOrBelowZero = 0;
  let atOrAboveZero = 0;
  const treatmentRank = percentileRank(t.length, probability);
  const controlRank = percentileRank(c.length, probability);
  for (let b = 0; b < resamples; b += 1) {
    const d =
      resampledPercentile(t, treatmentCounts, treatmentRank, random) -
      resampledPercentile(c, controlCounts, controlRank, random);
    differences[b] = d;
    if (d <= 0) atOrBelowZero += 1;
    if (d >= 0) atOrAboveZero += 1;
  }
  differences.sort();
  const tail = (1 - confidenceLevel) / 2;
  return {
    difference: percentileOfSorted(t, probability) - percentileOfSorted(c, probability),
    lower: interpolatedQuantile(differences, tail),
    upper: interpolatedQuantile(differences, 1 - tail),
    pValue: Math.min(1, (2 * (Math.min(atOrBelowZero, atOrAboveZero) + 1)) / (resamples + 1)),
    confidenceLevel,
    resamples,
    seed,
  };
}
