/**
 * Property tests (fast-check) of the statistics module: p-values in [0, 1],
 * intervals that contain their point estimate, no NaN for valid input, and
 * the ordering guarantees of the multiple-comparison corrections.
 */
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import {
  alwaysValidTest,
  benjaminiHochberg,
  chanceToBeatControlMean,
  chanceToBeatControlRate,
  cupedAdjust,
  holm,
  percentileDifferenceInterval,
  percentileInterval,
  ratioDeltaTest,
  srmCheck,
  twoProportionTest,
  welchTest,
  type PairedSums,
} from "../../src/stats/index.js";

const RUNS = { numRuns: 300 };

const level = fc.double({ min: 0.5, max: 0.999, noNaN: true });
const meanSummary = fc.record({
  n: fc.integer({ min: 2, max: 1_000_000 }),
  mean: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  variance: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1e6, noNaN: true })),
});
const counts = fc
  .integer({ min: 1, max: 1_000_000 })
  .chain((trials) =>
    fc.record({ trials: fc.constant(trials), successes: fc.integer({ min: 0, max: trials }) }),
  );

function expectNoNaN(value: object): void {
  for (const [key, field] of Object.entries(value)) {
    if (typeof field === "number") expect([key, Number.isNaN(field)]).toEqual([key, false]);
  }
}

function expectValidTest(result: {
  difference: number;
  pValue: number;
  lower: number;
  upper: number;
}): void {
  expectNoNaN(result);
  expect(result.pValue).toBeGreaterThanOrEqual(0);
  expect(result.pValue).toBeLessThanOrEqual(1);
  expect(result.lower).toBeLessThanOrEqual(result.difference);
  expect(result.upper).toBeGreaterThanOrEqual(result.difference);
}

function sumsOf(pairs: readonly (readonly [number, number])[]): PairedSums {
  let sumX = 0,
    sumY = 0,
    sumXX = 0,
    sumYY = 0,
    sumXY = 0;
  for (const [x, y] of pairs) {
    sumX += x;
    sumY += y;
    sumXX += x * x;
    sumYY += y * y;
    sumXY += x * y;
  }
  return { n: pairs.length, sumX, sumY, sumXX, sumYY, sumXY };
}

describe("difference tests", () => {
  it("welchTest: p in [0, 1], interval contains the difference, no NaN", () => {
    fc.assert(
      fc.property(meanSummary, meanSummary, level, (c, t, confidenceLevel) => {
        const result = welchTest(c, t, { confidenceLevel });
        expectValidTest(result);
        expect(result.degreesOfFreedom).toBeGreaterThanOrEqual(1);
      }),
      RUNS,
    );
  });

  it("twoProportionTest: p in [0, 1], interval contains the difference, no NaN", () => {
    fc.assert(
      fc.property(counts, counts, level, (c, t, confidenceLevel) => {
        expectValidTest(twoProportionTest(c, t, { confidenceLevel }));
      }),
      RUNS,
    );
  });

  it("ratioDeltaTest: p in [0, 1], interval contains the difference, no NaN", () => {
    const subject = fc.tuple(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 20 }));
    const variant = fc.array(subject, { minLength: 2, maxLength: 60 });
    fc.assert(
      fc.property(variant, variant, level, (c, t, confidenceLevel) => {
        expectValidTest(ratioDeltaTest(sumsOf(c), sumsOf(t), { confidenceLevel }));
      }),
      RUNS,
    );
  });

  it("a wider confidence level gives a wider interval", () => {
    fc.assert(
      fc.property(meanSummary, meanSummary, (c, t) => {
        const narrow = welchTest(c, t, { confidenceLevel: 0.9 });
        const wide = welchTest(c, t, { confidenceLevel: 0.99 });
        expect(wide.lower).toBeLessThanOrEqual(narrow.lower);
        expect(wide.upper).toBeGreaterThanOrEqual(narrow.upper);
      }),
      RUNS,
    );
  });
});

describe("percentiles", () => {
  const values = fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 300 });
  const probability = fc.double({ min: 0.001, max: 0.999, noNaN: true });

  it("percentileInterval contains the estimate and covers at least the level", () => {
    fc.assert(
      fc.property(values, probability, level, (sample, p, confidenceLevel) => {
        const result = percentileInterval(sample, p, { confidenceLevel });
        expectNoNaN(result);
        if (result.lower !== null) expect(result.lower).toBeLessThanOrEqual(result.estimate);
        if (result.upper !== null) expect(result.upper).toBeGreaterThanOrEqual(result.estimate);
        expect(result.coverage).toBeGreaterThanOrEqual(confidenceLevel - 1e-12);
        expect(result.lowerRank).toBeLessThan(result.upperRank);
      }),
      RUNS,
    );
  });

  it("percentileDifferenceInterval contains the difference of estimates", () => {
    fc.assert(
      fc.property(values, values, probability, (c, t, p) => {
        const result = percentileDifferenceInterval(c, t, p);
        if (result.lower !== null) expect(result.lower).toBeLessThanOrEqual(result.difference);
        if (result.upper !== null) expect(result.upper).toBeGreaterThanOrEqual(result.difference);
      }),
      RUNS,
    );
  });
});

describe("multiple comparisons", () => {
  const pValues = fc.array(
    fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 0.01, 0.05, 1)),
    { maxLength: 40 },
  );

  it("holm: adjusted ≥ raw, ≤ 1, and in the same order as the raw p-values", () => {
    fc.assert(
      fc.property(pValues, (raw) => {
        const adjusted = holm(raw);
        expect(adjusted).toHaveLength(raw.length);
        raw.forEach((p, i) => {
          const a = adjusted[i] ?? Number.NaN;
          expect(a).toBeGreaterThanOrEqual(p);
          expect(a).toBeLessThanOrEqual(1);
          raw.forEach((q, j) => {
            if (p <= q) expect(a).toBeLessThanOrEqual(adjusted[j] ?? Number.NaN);
          });
        });
      }),
      RUNS,
    );
  });

  it("benjaminiHochberg: raw ≤ BH ≤ Holm, and in the same order as the raw p-values", () => {
    fc.assert(
      fc.property(pValues, (raw) => {
        const bh = benjaminiHochberg(raw);
        const h = holm(raw);
        raw.forEach((p, i) => {
          const b = bh[i] ?? Number.NaN;
          expect(b).toBeGreaterThanOrEqual(p);
          expect(b).toBeLessThanOrEqual((h[i] ?? Number.NaN) + 1e-15);
          raw.forEach((q, j) => {
            if (p <= q) expect(b).toBeLessThanOrEqual(bh[j] ?? Number.NaN);
          });
        });
      }),
      RUNS,
    );
  });
});

describe("always-valid test", () => {
  const estimate = fc.record({
    difference: fc.double({ min: -1e3, max: 1e3, noNaN: true }),
    standardError: fc.oneof(fc.constant(0), fc.double({ min: 1e-6, max: 1e3, noNaN: true })),
  });
  const tau2 = fc.double({ min: 1e-8, max: 1e4, noNaN: true });

  it("p in [0, 1]; interval contains the estimate and the fixed-horizon interval", () => {
    fc.assert(
      fc.property(estimate, tau2, level, (e, mixingVariance, confidenceLevel) => {
        const result = alwaysValidTest(e, { mixingVariance, confidenceLevel });
        expectValidTest(result);
        const fixed = welchTest(
          { n: 2, mean: 0, variance: 0 },
          { n: 1_000_000_000, mean: e.difference, variance: e.standardError ** 2 * 1e9 },
          { confidenceLevel },
        );
        expect(result.lower).toBeLessThanOrEqual(fixed.lower + 1e-9 * Math.abs(fixed.lower));
        expect(result.upper).toBeGreaterThanOrEqual(fixed.upper - 1e-9 * Math.abs(fixed.upper));
      }),
      RUNS,
    );
  });

  it("with a previous look: p never rises and the interval never widens", () => {
    fc.assert(
      fc.property(estimate, estimate, tau2, (first, second, mixingVariance) => {
        const previous = alwaysValidTest(first, { mixingVariance });
        const next = alwaysValidTest(second, { mixingVariance, previous });
        expect(next.pValue).toBeLessThanOrEqual(previous.pValue);
        const alone = alwaysValidTest(second, { mixingVariance });
        if (Math.max(previous.lower, alone.lower) <= Math.min(previous.upper, alone.upper)) {
          expect(next.lower).toBeGreaterThanOrEqual(previous.lower);
          expect(next.upper).toBeLessThanOrEqual(previous.upper);
        }
      }),
      RUNS,
    );
  });
});

describe("chance to beat control", () => {
  it("rates: in [0, 1], complementary, and rising with treatment successes", () => {
    const small = fc
      .integer({ min: 1, max: 3000 })
      .chain((trials) =>
        fc.record({ trials: fc.constant(trials), successes: fc.integer({ min: 0, max: trials }) }),
      );
    fc.assert(
      fc.property(small, small, (c, t) => {
        const forward = chanceToBeatControlRate(c, t).probability;
        const backward = chanceToBeatControlRate(t, c).probability;
        expect(forward).toBeGreaterThanOrEqual(0);
        expect(forward).toBeLessThanOrEqual(1);
        expect(Math.abs(forward + backward - 1)).toBeLessThan(1e-9);
        if (t.successes < t.trials) {
          const better = { trials: t.trials, successes: t.successes + 1 };
          expect(chanceToBeatControlRate(c, better).probability).toBeGreaterThanOrEqual(
            forward - 1e-12,
          );
        }
      }),
      { numRuns: 150 },
    );
  });

  it("means: in [0, 1], no NaN", () => {
    fc.assert(
      fc.property(meanSummary, meanSummary, (c, t) => {
        const result = chanceToBeatControlMean(c, t);
        expectNoNaN(result);
        expect(result.probability).toBeGreaterThanOrEqual(0);
        expect(result.probability).toBeLessThanOrEqual(1);
      }),
      RUNS,
    );
  });
});

describe("SRM and CUPED", () => {
  it("srmCheck: statistic ≥ 0, p in [0, 1], mismatch only with enough data", () => {
    const variants = fc.array(
      fc.tuple(
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
      ),
      { minLength: 2, maxLength: 8 },
    );
    fc.assert(
      fc.property(variants, (v) => {
        const result = srmCheck(
          v.map(([count]) => count),
          v.map(([, weight]) => weight),
        );
        expectNoNaN(result);
        expect(result.statistic).toBeGreaterThanOrEqual(0);
        expect(result.pValue).toBeGreaterThanOrEqual(0);
        expect(result.pValue).toBeLessThanOrEqual(1);
        if (result.mismatch) expect(result.total).toBeGreaterThanOrEqual(100);
      }),
      RUNS,
    );
  });

  it("cupedAdjust: variance reduction ≤ 1, adjusted variance ≥ 0, no NaN", () => {
    const subject = fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 30 }));
    const variant = fc.array(subject, { minLength: 2, maxLength: 60 });
    fc.assert(
      fc.property(fc.array(variant, { minLength: 1, maxLength: 4 }), (variants) => {
        const result = cupedAdjust(variants.map(sumsOf));
        expect(Number.isNaN(result.theta)).toBe(false);
        for (const v of result.variants) {
          expectNoNaN(v);
          expect(v.variance).toBeGreaterThanOrEqual(0);
          expect(v.varianceReduction).toBeLessThanOrEqual(1);
        }
      }),
      RUNS,
    );
  });
});
