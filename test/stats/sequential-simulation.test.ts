/**
 * Peeking simulation: A/A experiments (no true difference) looked at 20
 * times each. A fixed-horizon test that is read at every look rejects "no
 * difference" far more often than α; the always-valid (mSPRT) test must stay
 * at or below α. Data come from the module's seeded generator, so the run is
 * deterministic.
 *
 * Tolerance: with N simulated experiments, an observed rate above
 * α + 3·sqrt(α(1 − α)/N) would be a binomial 3-sigma excess over α.
 */
import { describe, expect, it } from "@jest/globals";
import {
  alwaysValidMeanTest,
  alwaysValidProportionTest,
  createRandom,
  twoProportionTest,
  welchTest,
  type AlwaysValidTest,
  type RandomSource,
} from "../../src/stats/index.js";

const ALPHA = 0.05;
const PEEKS = 20;

function tolerance(experiments: number): number {
  return ALPHA + 3 * Math.sqrt((ALPHA * (1 - ALPHA)) / experiments);
}

// Local bindings: global lookups are slow inside jest's VM context.
const { cos, exp, log, sqrt, PI } = Math;

/** Standard normal draw by the Box–Muller transform. */
function gaussian(random: RandomSource): number {
  const u = 1 - random(); // (0, 1]
  return sqrt(-2 * log(u)) * cos(2 * PI * random());
}

describe("A/A peeking simulation (20 looks per experiment)", () => {
  it("rates: always-valid stays ≤ α, fixed-horizon peeking does not", () => {
    const experiments = 1000;
    const perPeek = 100; // subjects per variant added between looks
    const rate = 0.2;
    const random = createRandom(20240601);
    let alwaysValidRejections = 0;
    let peekingRejections = 0;
    for (let e = 0; e < experiments; e += 1) {
      const control = { successes: 0, trials: 0 };
      const treatment = { successes: 0, trials: 0 };
      let previous: AlwaysValidTest | undefined;
      let peekRejected = false;
      for (let look = 0; look < PEEKS; look += 1) {
        for (let i = 0; i < perPeek; i += 1) {
          if (random() < rate) control.successes += 1;
          if (random() < rate) treatment.successes += 1;
        }
        control.trials += perPeek;
        treatment.trials += perPeek;
        previous = alwaysValidProportionTest({ ...control }, { ...treatment }, { previous });
        if (twoProportionTest(control, treatment).pValue <= ALPHA) peekRejected = true;
      }
      if (previous !== undefined && previous.pValue <= ALPHA) alwaysValidRejections += 1;
      if (peekRejected) peekingRejections += 1;
    }
    const limit = tolerance(experiments);
    expect(alwaysValidRejections / experiments).toBeLessThanOrEqual(limit);
    expect(peekingRejections / experiments).toBeGreaterThan(limit);
  });

  it("means: always-valid stays ≤ α, fixed-horizon peeking does not", () => {
    const experiments = 600;
    const perPeek = 50;
    const random = createRandom(7);
    let alwaysValidRejections = 0;
    let peekingRejections = 0;
    const summary = (n: number, sum: number, sumOfSquares: number) => ({
      n,
      mean: sum / n,
      variance: (sumOfSquares - (sum * sum) / n) / (n - 1),
    });
    for (let e = 0; e < experiments; e += 1) {
      const sums = { n: 0, c: 0, cc: 0, t: 0, tt: 0 };
      let previous: AlwaysValidTest | undefined;
      let peekRejected = false;
      for (let look = 0; look < PEEKS; look += 1) {
        for (let i = 0; i < perPeek; i += 1) {
          // Skewed metric (lognormal), as revenue-like metrics are.
          const c = exp(gaussian(random));
          const t = exp(gaussian(random));
          sums.c += c;
          sums.cc += c * c;
          sums.t += t;
          sums.tt += t * t;
        }
        sums.n += perPeek;
        const control = summary(sums.n, sums.c, sums.cc);
        const treatment = summary(sums.n, sums.t, sums.tt);
        previous = alwaysValidMeanTest(control, treatment, { previous });
        if (welchTest(control, treatment).pValue <= ALPHA) peekRejected = true;
      }
      if (previous !== undefined && previous.pValue <= ALPHA) alwaysValidRejections += 1;
      if (peekRejected) peekingRejections += 1;
    }
    const limit = tolerance(experiments);
    expect(alwaysValidRejections / experiments).toBeLessThanOrEqual(limit);
    expect(peekingRejections / experiments).toBeGreaterThan(limit);
  });
});
