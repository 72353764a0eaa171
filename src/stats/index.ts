/**
 * Statistics for experiment reports: pure functions over summary statistics
 * or samples, no I/O. Methods, formulas, defaults and references:
 * docs/statistics.md.
 *
 * Conventions: every comparison is treatment − control; intervals are
 * two-sided at 95 % unless `confidenceLevel` says otherwise; invalid input
 * throws a RangeError naming the argument.
 */
export type {
  DifferenceTest,
  IntervalOptions,
  MeanSummary,
  PairedSums,
  RateCounts,
} from "./types.js";
export { DEFAULT_CONFIDENCE_LEVEL } from "./validation.js";
export { welchTest, type WelchTest } from "./means.js";
export {
  twoProportionTest,
  wilsonInterval,
  type Interval,
  type TwoProportionTest,
} from "./proportions.js";
export { ratioDeltaTest, ratioEstimate, type RatioDeltaTest, type RatioEstimate } from "./ratio.js";
export {
  DEFAULT_BOOTSTRAP_RESAMPLES,
  DEFAULT_BOOTSTRAP_SEED,
  percentileDifferenceBootstrap,
  type BootstrapOptions,
  type PercentileBootstrap,
} from "./percentile-bootstrap.js";
export {
  percentileDifferenceInterval,
  percentileDifferenceTest,
  percentileInterval,
  percentileRanks,
  samplePercentile,
  type PercentileDifferenceInterval,
  type PercentileInterval,
  type PercentileRanks,
  type PercentileSummary,
} from "./percentiles.js";
export {
  DEFAULT_CORRECTION,
  adjustPValues,
  benjaminiHochberg,
  holm,
  type CorrectionMethod,
} from "./multiple-comparisons.js";
export {
  DEFAULT_MIXING_EFFECT_SIZE,
  alwaysValidMeanTest,
  alwaysValidProportionTest,
  alwaysValidTest,
  type AlwaysValidOptions,
  type AlwaysValidSummaryOptions,
  type AlwaysValidTest,
  type PreviousLook,
} from "./sequential.js";
export {
  MAX_EXACT_BETA_TERMS,
  chanceToBeatControlMean,
  chanceToBeatControlRate,
  type BetaPosterior,
  type MeanChanceToBeatControl,
  type RateChanceToBeatControl,
} from "./bayes.js";
export {
  DEFAULT_SRM_MINIMUM_TOTAL,
  DEFAULT_SRM_THRESHOLD,
  srmCheck,
  type SrmCheck,
  type SrmOptions,
} from "./srm.js";
export { cupedAdjust, type CupedAdjustment, type CupedVariant } from "./cuped.js";
export { createRandom, type RandomSource } from "./random.js";
export { normalCdf, normalQuantile } from "./distributions.js";
