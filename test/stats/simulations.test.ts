/**
 * Simulation tests of the statistics module: error rates measured over many
 * simulated experiments instead of single reference values.
 *
 * 1. A/A at a fixed horizon: two variants from the same distribution, read
 *    once at the planned sample size. The false-positive rate at α = 0.05 of
 *    `twoProportionTest` (rates) and `welchTest` (means) must be 5 % within
 *    a binomial bound.
 * 2. Peeking: A/A experiments looked at 10 times while data accumulate. The
 *    always-valid test (`alwaysValidProportionTest`, `alwaysValidMeanTest`,
 *    each look passed to the next as `previous`) must ever reject in at most
 *    α of the experiments; the fixed-horizon test read at every look must
 *    reject far more often.
 * 3. Power: A/B experiments with a real effect. The detection rate of the
 *    two-sided test at α = 0.05 must match the power computed analytically
 *    (normal approximation) within a binomial bound.
 *
 * Every experiment draws from the module's seeded generator (`createRandom`),
 * so each run sees the same data and the same rates. Data are reduced to
 * summary statistics as they are drawn (counts for rates, running mean and
 * sum of squared deviations for means); no sample is kept.
 *
 * Binomial bounds. Each simulated experiment uses its own draws from the
 * generator, so the experiments are independent, and each one rejects with
 * the same probability p (α for a calibrated A/A test, the power for an A/B
 * test). The number of rejections R among N experiments is then
 * Binomial(N, p): the observed rate R/N has mean p and standard deviation
 * sqrt(p(1 − p)/N). With N·p and N·(1 − p) well above 10 (here ≥ 100) the
 * normal approximation of the binomial holds, so R/N falls outside
 * p ± 3·sqrt(p(1 − p)/N) with probability about 0.27 % (two-sided), and
 * above p + 3·sqrt(p(1 − p)/N) with probability about 0.13 % (one-sided).
 * A correct implementation therefore fails a bound for very few seeds, while
 * a miscalibrated one (a one-sided p-value, a standard error off by a factor
 * of √2, …) lands far outside it. With N = 2000 and p = 0.05 the band is
 * 5 % ± 1.46 percentage points.
 */
import { describe, expect, it } from "@jest/globals";
import { normalCdf, normalQuantile } from "../../src/stats/distributions.js";
import {
  alwaysValidMeanTest,
  alwaysValidProportionTest,
  createRandom,
  twoProportionTest,
  welchTest,
  type AlwaysValidTest,
  type MeanSummary,
  type RandomSource,
  type RateCounts,
} from "../../src/stats/index.js";

const ALPHA = 0.05;
/** Width of the binomial bounds in standard deviations (see the file comment). */
const SIGMAS = 3;
/** Two-sided critical value z(1 − α/2) ≈ 1.959964. */
const Z_CRITICAL = normalQuantile(1 - ALPHA / 2);

// Local bindings: global lookups are slow inside jest's VM context.
const { cos, exp, log, sqrt, PI } = Math;

/** Standard deviation of an observed rate R/N with R ~ Binomial(N, p). */
function rateStandardDeviation(p: number, experiments: number): number {
  return sqrt((p * (1 - p)) / experiments);
}

/** Asserts p − 3·sd ≤ rate ≤ p + 3·sd (two-sided binomial bound). */
function expectWithinBinomialBound(rate: number, p: number, experiments: number): void {
  const halfWidth = SIGMAS * rateStandardDeviation(p, experiments);
  expect(rate).toBeGreaterThanOrEqual(p - halfWidth);
  expect(rate).toBeLessThanOrEqual(p + halfWidth);
}

/** Standard normal draw by the Box–Muller transform. */
function gaussian(random: RandomSource): number {
  const u = 1 - random(); // (0, 1], so log(u) is finite
  return sqrt(-2 * log(u)) * cos(2 * PI * random());
}

/**
 * Binomial(trials, p) count drawn exactly, as a sum of Bernoulli draws. At
 * the sizes used here (at most 20 000 draws per experiment, 40 million per
 * test) this takes well under a second, so no normal approximation of the
 * counts is needed.
 */
function binomial(random: RandomSource, trials: number, p: number): number {
  let successes = 0;
  for (let i = 0; i < trials; i += 1) if (random() < p) successes += 1;
  return successes;
}

/** Running n / mean / unbiased variance of one variant (Welford's update). */
class RunningSummary {
  private n = 0;
  private mean = 0;
  private squaredDeviations = 0;

  add(value: number): void {
    this.n += 1;
    const delta = value - this.mean;
    this.mean += delta / this.n;
    this.squaredDeviations += delta * (value - this.mean);
  }

  summary(): MeanSummary {
    return { n: this.n, mean: this.mean, variance: this.squaredDeviations / (this.n - 1) };
  }
}

/** Draws `n` values from `draw` into a fresh summary. */
function sampleSummary(n: number, draw: () => number): MeanSummary {
  const running = new RunningSummary();
  for (let i = 0; i < n; i += 1) running.add(draw());
  return running.summary();
}

describe("A/A at a fixed horizon: false-positive rate is α", () => {
  const experiments = 2000;

  it("rates: twoProportionTest at p = 0.1, n = 2000 per variant", () => {
    const random = createRandom(20250101);
    const rate = 0.1;
    const trials = 2000;
    let rejections = 0;
    for (let e = 0; e < experiments; e += 1) {
      const control: RateCounts = { successes: binomial(random, trials, rate), trials };
      const treatment: RateCounts = { successes: binomial(random, trials, rate), trials };
      if (twoProportionTest(control, treatment).pValue <= ALPHA) rejections += 1;
    }
    expectWithinBinomialBound(rejections / experiments, ALPHA, experiments);
  });

  it.each([
    ["normal N(10, 2²)", (random: RandomSource) => 10 + 2 * gaussian(random)],
    // Skewed, revenue-like: the difference of two identical distributions is
    // symmetric, but the heavy right tail still stresses the t approximation.
    ["lognormal exp(N(0, 1))", (random: RandomSource) => exp(gaussian(random))],
  ])("means: welchTest on %s values, n = 500 per variant", (_name, draw) => {
    const random = createRandom(20250102);
    const n = 500;
    let rejections = 0;
    for (let e = 0; e < experiments; e += 1) {
      const control = sampleSummary(n, () => draw(random));
      const treatment = sampleSummary(n, () => draw(random));
      if (welchTest(control, treatment).pValue <= ALPHA) rejections += 1;
    }
    expectWithinBinomialBound(rejections / experiments, ALPHA, experiments);
  });
});

/*
 * Why peeking inflates the fixed-horizon error. At look k the z statistic is
 * (up to the estimated variance) S_k/√k, with S_k the running sum of k
 * independent increments: the looks see one random walk. Each look on its
 * own rejects with probability α, but the experiment is declared a winner if
 * ANY look crosses ±1.96, and the union of the 10 crossing events is far
 * likelier than any one of them (the looks are correlated, so less than
 * 10·α). For 10 equally spaced looks of a normal statistic the chance is
 * 19.3 % (Armitage, McPherson and Rowe, "Repeated significance tests on
 * accumulating data", JRSS A 132, 1969; 14.2 % for 5 looks, 24.8 % for 20),
 * and by the law of the iterated logarithm it tends to 1 as the looks go on.
 *
 * The mSPRT's mixture likelihood ratio Λ is a non-negative martingale with
 * mean 1 under "no difference", so by Ville's inequality
 * P(Λ ever ≥ 1/α) ≤ α over all looks together, however many there are. The
 * running p-value (min over looks of 1/Λ, carried through `previous`) is
 * ≤ α at the last look exactly when some look rejected. The guarantee covers
 * looking forever, so over 10 looks the rate is well below α.
 *
 * Sizes: with the default mixing variance τ² = (0.05·σ)², two variants of n
 * subjects give τ²/V = 0.05²·n/2. At n = 500 that is 0.625, and the test
 * rejects only beyond |z| ≈ 4.1, so "≤ α" would hold trivially. The looks
 * below therefore run to 5000 and 10 000 subjects per variant, where τ²/V
 * reaches 6.25 and 12.5, around the optimum of 8.2 (docs/statistics.md).
 */
describe("A/A with 10 looks: always-valid stays ≤ α, peeking at the fixed test does not", () => {
  const experiments = 2000;
  const looks = 10;
  /** Fixed-horizon rejection rate of a normal statistic over 10 looks (Armitage et al. 1969). */
  const peekingRate10Looks = 0.193;

  interface LookResult {
    readonly alwaysValid: AlwaysValidTest;
    readonly fixedPValue: number;
  }

  /**
   * Runs `experiments` A/A experiments of `looks` looks each and checks the
   * rates. `startExperiment()` sets up one experiment's empty variants and
   * returns its look function: each call adds one batch of data to both
   * variants and returns the always-valid test (given the previous look) and
   * the fixed-horizon p-value on all data so far.
   */
  function simulate(
    startExperiment: () => (previous: AlwaysValidTest | undefined) => LookResult,
  ): void {
    let alwaysValidEver = 0;
    let alwaysValidAtLastLook = 0;
    let runningPValueRose = 0;
    let fixedEver = 0;
    let fixedAtLastLook = 0;
    for (let e = 0; e < experiments; e += 1) {
      const look = startExperiment();
      let previous: AlwaysValidTest | undefined;
      let alwaysValidRejected = false;
      let fixedRejected = false;
      let fixedPValue = 1;
      for (let k = 0; k < looks; k += 1) {
        const result = look(previous);
        if (previous !== undefined && result.alwaysValid.pValue > previous.pValue) {
          runningPValueRose += 1;
        }
        previous = result.alwaysValid;
        if (previous.pValue <= ALPHA) alwaysValidRejected = true;
        fixedPValue = result.fixedPValue;
        if (fixedPValue <= ALPHA) fixedRejected = true;
      }
      if (alwaysValidRejected) alwaysValidEver += 1;
      if (previous !== undefined && previous.pValue <= ALPHA) alwaysValidAtLastLook += 1;
      if (fixedRejected) fixedEver += 1;
      if (fixedPValue <= ALPHA) fixedAtLastLook += 1;
    }
    const oneSidedLimit = ALPHA + SIGMAS * rateStandardDeviation(ALPHA, experiments);

    // Always valid: ever rejecting over 10 looks stays ≤ α (+ one-sided tolerance).
    expect(alwaysValidEver / experiments).toBeLessThanOrEqual(oneSidedLimit);
    // Carrying `previous` makes the p-value a running minimum: it never rises,
    // so the last look's p-value already says whether any look rejected.
    expect(runningPValueRose).toBe(0);
    expect(alwaysValidAtLastLook).toBe(alwaysValidEver);

    // Fixed horizon read at every look: significantly above α, near the
    // theoretical 19.3 % for 10 looks.
    expect(fixedEver / experiments).toBeGreaterThan(oneSidedLimit);
    expectWithinBinomialBound(fixedEver / experiments, peekingRate10Looks, experiments);
    // The same test read once, at the last look only, is calibrated: the
    // inflation comes from the peeking, not from the test.
    expectWithinBinomialBound(fixedAtLastLook / experiments, ALPHA, experiments);
  }

  it("rates at p = 0.1, 1000 more subjects per variant per look (10 000 at the last)", () => {
    const random = createRandom(20250201);
    const rate = 0.1;
    const perLook = 1000;
    simulate(() => {
      const control = { successes: 0, trials: 0 };
      const treatment = { successes: 0, trials: 0 };
      return (previous) => {
        control.successes += binomial(random, perLook, rate);
        treatment.successes += binomial(random, perLook, rate);
        control.trials += perLook;
        treatment.trials += perLook;
        return {
          alwaysValid: alwaysValidProportionTest(control, treatment, { previous }),
          fixedPValue: twoProportionTest(control, treatment).pValue,
        };
      };
    });
  });

  it("normal means, 500 more subjects per variant per look (5000 at the last)", () => {
    const random = createRandom(20250202);
    const perLook = 500;
    simulate(() => {
      const control = new RunningSummary();
      const treatment = new RunningSummary();
      return (previous) => {
        for (let i = 0; i < perLook; i += 1) {
          control.add(10 + 2 * gaussian(random));
          treatment.add(10 + 2 * gaussian(random));
        }
        const c = control.summary();
        const t = treatment.summary();
        return {
          alwaysValid: alwaysValidMeanTest(c, t, { previous }),
          fixedPValue: welchTest(c, t).pValue,
        };
      };
    });
  });
});

/*
 * Power of a two-sided z-test at level α for a true difference Δ ≠ 0, by the
 * normal approximation: the estimate d is N(Δ, SE₁²), and the test rejects
 * when |d| > z·SE₀, with z = Φ⁻¹(1 − α/2) and SE₀ the standard error the
 * test uses under "no difference". Hence
 *   power = P(d > z·SE₀) + P(d < −z·SE₀)
 *         = Φ((Δ − z·SE₀)/SE₁) + Φ((−Δ − z·SE₀)/SE₁).
 * - Rates (twoProportionTest, pooled score statistic): with n per variant,
 *   p̄ = (p_c + p_t)/2, SE₀ = sqrt(2·p̄(1 − p̄)/n) and
 *   SE₁ = sqrt((p_c(1 − p_c) + p_t(1 − p_t))/n).
 * - Means (welchTest) with a shift of δ standard deviations:
 *   SE₀ = SE₁ = σ·sqrt(2/n), so power = Φ(δ·sqrt(n/2) − z) + Φ(−δ·sqrt(n/2) − z).
 *   Welch reads a t quantile (df ≈ 2n − 2 = 798, 1.9630 instead of 1.9600);
 *   that lowers the power by about 0.1 percentage point, far inside the bound.
 * The normal approximation of the binomial counts at n = 8000 (800 or more
 * successes per variant) errs by much less than the bound's ± 2.3 points.
 */
function twoSidedPower(delta: number, nullSe: number, alternativeSe: number): number {
  return (
    normalCdf((delta - Z_CRITICAL * nullSe) / alternativeSe) +
    normalCdf((-delta - Z_CRITICAL * nullSe) / alternativeSe)
  );
}

describe("A/B with a real effect: detection rate matches the analytic power", () => {
  const experiments = 2000;

  it("rates: 10 % vs 11.5 % at n = 8000 per variant", () => {
    const random = createRandom(20250301);
    const controlRate = 0.1;
    const treatmentRate = 0.115;
    const n = 8000;
    const pooled = (controlRate + treatmentRate) / 2;
    const expectedPower = twoSidedPower(
      treatmentRate - controlRate,
      sqrt((2 * pooled * (1 - pooled)) / n),
      sqrt((controlRate * (1 - controlRate) + treatmentRate * (1 - treatmentRate)) / n),
    );
    expect(expectedPower).toBeCloseTo(0.865, 3); // sanity check of the formula

    let detections = 0;
    for (let e = 0; e < experiments; e += 1) {
      const control: RateCounts = { successes: binomial(random, n, controlRate), trials: n };
      const treatment: RateCounts = { successes: binomial(random, n, treatmentRate), trials: n };
      // The power is P(reject) of the two-sided test, whichever the sign (a
      // rejection in the wrong direction has probability below 10⁻⁶ here).
      if (twoProportionTest(control, treatment).pValue <= ALPHA) detections += 1;
    }
    expectWithinBinomialBound(detections / experiments, expectedPower, experiments);
  });

  it("means: shift of 0.2 standard deviations at n = 400 per variant", () => {
    const random = createRandom(20250302);
    const sigma = 2;
    const shift = 0.2 * sigma;
    const n = 400;
    const se = sigma * sqrt(2 / n);
    const expectedPower = twoSidedPower(shift, se, se);
    expect(expectedPower).toBeCloseTo(0.807, 3); // Φ(0.2·√200 − 1.96) ≈ Φ(0.868)

    let detections = 0;
    for (let e = 0; e < experiments; e += 1) {
      const control = sampleSummary(n, () => 10 + sigma * gaussian(random));
      const treatment = sampleSummary(n, () => 10 + shift + sigma * gaussian(random));
      if (welchTest(control, treatment).pValue <= ALPHA) detections += 1;
    }
    expectWithinBinomialBound(detections / experiments, expectedPower, experiments);
  });
});
