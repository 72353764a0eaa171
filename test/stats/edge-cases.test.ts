/**
 * Degenerate data with a defined meaning, input validation (RangeError
 * naming the argument), the seeded bootstrap, and the generator.
 */
import { describe, expect, it } from "@jest/globals";
import {
  adjustPValues,
  alwaysValidMeanTest,
  alwaysValidProportionTest,
  alwaysValidTest,
  benjaminiHochberg,
  chanceToBeatControlMean,
  chanceToBeatControlRate,
  createRandom,
  cupedAdjust,
  holm,
  percentileDifferenceBootstrap,
  percentileDifferenceInterval,
  percentileInterval,
  ratioDeltaTest,
  ratioEstimate,
  samplePercentile,
  srmCheck,
  twoProportionTest,
  welchTest,
  type CorrectionMethod,
} from "../../src/stats/index.js";

describe("degenerate data", () => {
  it("welchTest with both variances 0: exact difference", () => {
    const same = welchTest({ n: 5, mean: 2, variance: 0 }, { n: 7, mean: 2, variance: 0 });
    expect(same).toMatchObject({ difference: 0, statistic: 0, pValue: 1, lower: 0, upper: 0 });
    expect(same.degreesOfFreedom).toBe(10);
    const apart = welchTest({ n: 5, mean: 2, variance: 0 }, { n: 7, mean: 1, variance: 0 });
    expect(apart).toMatchObject({ difference: -1, pValue: 0, lower: -1, upper: -1 });
    expect(apart.statistic).toBe(-Infinity);
  });

  it("welchTest with tiny variances does not underflow to NaN", () => {
    const result = welchTest(
      { n: 10, mean: 0, variance: 1e-300 },
      { n: 10, mean: 0, variance: 1e-300 },
    );
    expect(result.degreesOfFreedom).toBeCloseTo(18, 9);
    expect(result.pValue).toBe(1);
  });

  it("twoProportionTest with no or all conversions", () => {
    expect(
      twoProportionTest({ successes: 0, trials: 10 }, { successes: 0, trials: 20 }),
    ).toMatchObject({ difference: 0, pValue: 1, lower: 0, upper: 0, statistic: 0 });
    expect(
      twoProportionTest({ successes: 10, trials: 10 }, { successes: 20, trials: 20 }),
    ).toMatchObject({ difference: 0, pValue: 1 });
    const opposite = twoProportionTest({ successes: 0, trials: 30 }, { successes: 30, trials: 30 });
    expect(opposite).toMatchObject({ difference: 1, lower: 1, upper: 1, standardError: 0 });
    expect(opposite.pValue).toBeLessThan(1e-10);
  });

  it("ratioDeltaTest with a constant per-subject ratio: exact", () => {
    // y = 2x for every subject → zero delta-method variance
    const sums = (xs: number[]) => ({
      n: xs.length,
      sumX: xs.reduce((a, x) => a + x, 0),
      sumY: xs.reduce((a, x) => a + 2 * x, 0),
      sumXX: xs.reduce((a, x) => a + x * x, 0),
      sumYY: xs.reduce((a, x) => a + 4 * x * x, 0),
      sumXY: xs.reduce((a, x) => a + 2 * x * x, 0),
    });
    expect(ratioEstimate(sums([1, 2, 3, 4])).variance).toBe(0);
    expect(ratioDeltaTest(sums([1, 2, 3]), sums([5, 1, 7, 2]))).toMatchObject({
      difference: 0,
      pValue: 1,
      lower: 0,
      upper: 0,
    });
  });

  it("percentileInterval of one value has no bounds at 95 %", () => {
    expect(percentileInterval([3], 0.5)).toMatchObject({
      estimate: 3,
      lower: null,
      upper: null,
      lowerRank: 0,
      upperRank: 2,
      coverage: 1,
    });
  });

  it("samplePercentile is x₍⌈np⌉₎, with decimal percentiles not pushed up by rounding", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted on purpose
    // 0.07·100 is 7.000000000000001 in floating point; the rank is 7, not 8.
    expect(samplePercentile(values, 0.07)).toBe(7);
    expect(samplePercentile(values, 0.071)).toBe(8);
    expect(samplePercentile(values, 0.5)).toBe(50);
    expect(samplePercentile(values, 0.001)).toBe(1);
    expect(samplePercentile([5, 1], 0.999)).toBe(5);
  });

  it("always-valid tests with zero standard error", () => {
    expect(
      alwaysValidTest({ difference: 0, standardError: 0 }, { mixingVariance: 1 }),
    ).toMatchObject({
      pValue: 1,
      lower: 0,
      upper: 0,
      logLikelihoodRatio: 0,
    });
    expect(
      alwaysValidMeanTest({ n: 3, mean: 1, variance: 0 }, { n: 3, mean: 2, variance: 0 }),
    ).toMatchObject({ pValue: 0, lower: 1, upper: 1, logLikelihoodRatio: Infinity });
    expect(
      alwaysValidProportionTest({ successes: 0, trials: 9 }, { successes: 0, trials: 9 }).pValue,
    ).toBe(1);
  });

  it("always-valid interval keeps this look's bounds when the intersection would be empty", () => {
    const result = alwaysValidTest(
      { difference: 10, standardError: 0.1 },
      { mixingVariance: 1, previous: { pValue: 0.5, lower: -1, upper: 1 } },
    );
    expect(result.lower).toBeGreaterThan(1);
    expect(result.pValue).toBeLessThan(0.5);
  });

  it("chance to beat control with zero variance or no data difference", () => {
    const mean = (m: number) => ({ n: 4, mean: m, variance: 0 });
    expect(chanceToBeatControlMean(mean(1), mean(2)).probability).toBe(1);
    expect(chanceToBeatControlMean(mean(2), mean(1)).probability).toBe(0);
    expect(chanceToBeatControlMean(mean(1), mean(1)).probability).toBe(0.5);
    const counts = { successes: 7, trials: 20 };
    expect(chanceToBeatControlRate(counts, counts).probability).toBeCloseTo(0.5, 12);
    expect(
      chanceToBeatControlRate({ successes: 0, trials: 1 }, { successes: 1, trials: 1 }).probability,
    ).toBeCloseTo(5 / 6, 12); // P(Beta(2,1) > Beta(1,2)) = 5/6
  });

  it("srmCheck with no subjects", () => {
    expect(srmCheck([0, 0, 0], [1, 1, 1])).toMatchObject({
      statistic: 0,
      pValue: 1,
      total: 0,
      enoughData: false,
      mismatch: false,
    });
  });

  it("cupedAdjust with a constant covariate leaves the metric unchanged", () => {
    const result = cupedAdjust([
      { n: 3, sumY: 6, sumX: 3, sumYY: 14, sumXX: 3, sumXY: 6 },
      { n: 2, sumY: 3, sumX: 2, sumYY: 5, sumXX: 2, sumXY: 3 },
    ]);
    expect(result.theta).toBe(0);
    expect(result.variants[0]).toMatchObject({ mean: 2, variance: 1, varianceReduction: 0 });
  });

  it("cupedAdjust with y = x removes all variance", () => {
    const result = cupedAdjust([
      { n: 3, sumY: 6, sumX: 6, sumYY: 14, sumXX: 14, sumXY: 14 },
      { n: 3, sumY: 9, sumX: 9, sumYY: 29, sumXX: 29, sumXY: 29 },
    ]);
    expect(result.theta).toBeCloseTo(1, 12);
    for (const v of result.variants) expect(v.variance).toBeCloseTo(0, 12);
  });

  it("corrections of an empty family", () => {
    expect(holm([])).toEqual([]);
    expect(benjaminiHochberg([])).toEqual([]);
  });
});

describe("input validation: RangeError naming the argument", () => {
  const ok = { n: 10, mean: 1, variance: 1 };
  const counts = { successes: 1, trials: 10 };
  const sums = { n: 3, sumY: 3, sumX: 6, sumYY: 5, sumXX: 14, sumXY: 8 };
  const cases: [string, () => unknown, RegExp][] = [
    [
      "welch n < 2",
      () => welchTest({ ...ok, n: 1 }, ok),
      /welchTest: control\.n must be an integer ≥ 2/,
    ],
    ["welch fractional n", () => welchTest(ok, { ...ok, n: 2.5 }), /treatment\.n/],
    [
      "welch negative variance",
      () => welchTest(ok, { ...ok, variance: -1 }),
      /treatment\.variance must be ≥ 0/,
    ],
    [
      "welch NaN mean",
      () => welchTest({ ...ok, mean: Number.NaN }, ok),
      /control\.mean must be a finite number/,
    ],
    [
      "welch level 1",
      () => welchTest(ok, ok, { confidenceLevel: 1 }),
      /confidenceLevel must be strictly between 0 and 1/,
    ],
    ["welch level 95", () => welchTest(ok, ok, { confidenceLevel: 95 }), /confidenceLevel/],
    [
      "proportion successes > trials",
      () => twoProportionTest({ successes: 11, trials: 10 }, counts),
      /control\.successes must be ≤ control\.trials/,
    ],
    [
      "proportion negative",
      () => twoProportionTest(counts, { successes: -1, trials: 10 }),
      /treatment\.successes must be an integer ≥ 0/,
    ],
    [
      "proportion zero trials",
      () => twoProportionTest(counts, { successes: 0, trials: 0 }),
      /treatment\.trials must be an integer ≥ 1/,
    ],
    [
      "ratio zero denominator",
      () => ratioDeltaTest(sums, { ...sums, sumX: 0, sumXX: 0, sumXY: 0 }),
      /treatment\.sumX must be > 0/,
    ],
    [
      "ratio inconsistent square",
      () => ratioDeltaTest({ ...sums, sumXX: 1 }, sums),
      /control\.sumXX must be ≥ \(sum\)²\/n/,
    ],
    [
      "ratio inconsistent cross",
      () => ratioDeltaTest({ ...sums, sumXY: 100 }, sums),
      /control\.sumXY is inconsistent/,
    ],
    ["ratio n", () => ratioDeltaTest({ ...sums, n: 1 }, sums), /control\.n/],
    [
      "percentile probability 0",
      () => percentileInterval([1, 2], 0),
      /probability must be strictly between 0 and 1/,
    ],
    ["percentile probability 95", () => samplePercentile([1, 2], 95), /probability/],
    [
      "percentile empty",
      () => percentileInterval([], 0.5),
      /values\.length must be an integer ≥ 1/,
    ],
    [
      "percentile NaN value",
      () => percentileInterval([1, Number.NaN], 0.5),
      /values\[1\] must be a finite number/,
    ],
    [
      "percentile difference",
      () => percentileDifferenceInterval([1], [Infinity], 0.5),
      /treatment\[0\]/,
    ],
    [
      "bootstrap resamples",
      () => percentileDifferenceBootstrap([1, 2], [1, 2], 0.5, { resamples: 10 }),
      /resamples must be an integer ≥ 100/,
    ],
    [
      "bootstrap one value",
      () => percentileDifferenceBootstrap([1], [1, 2], 0.5),
      /control\.length must be an integer ≥ 2/,
    ],
    ["holm p > 1", () => holm([0.1, 1.5]), /holm: pValues\[1\] must be in \[0, 1\]/],
    ["bh NaN", () => benjaminiHochberg([Number.NaN]), /benjaminiHochberg: pValues\[0\]/],
    [
      "adjust method",
      () => adjustPValues([0.1], "bonferroni" as CorrectionMethod),
      /method must be one of/,
    ],
    [
      "mSPRT mixing variance",
      () => alwaysValidTest({ difference: 1, standardError: 1 }, { mixingVariance: 0 }),
      /mixingVariance must be > 0/,
    ],
    [
      "mSPRT standard error",
      () => alwaysValidTest({ difference: 1, standardError: -1 }, { mixingVariance: 1 }),
      /standardError must be ≥ 0/,
    ],
    [
      "mSPRT previous",
      () =>
        alwaysValidTest(
          { difference: 1, standardError: 1 },
          { mixingVariance: 1, previous: { pValue: 0.5, lower: 2, upper: 1 } },
        ),
      /previous\.lower must be ≤ previous\.upper/,
    ],
    [
      "mSPRT previous p",
      () =>
        alwaysValidTest(
          { difference: 1, standardError: 1 },
          { mixingVariance: 1, previous: { pValue: 2, lower: 0, upper: 1 } },
        ),
      /previous\.pValue/,
    ],
    [
      "mSPRT effect size",
      () => alwaysValidMeanTest(ok, ok, { mixingEffectSize: -1 }),
      /mixingEffectSize must be > 0/,
    ],
    [
      "bayes rate",
      () => chanceToBeatControlRate(counts, { successes: 1.5, trials: 10 }),
      /chanceToBeatControlRate: treatment\.successes/,
    ],
    [
      "bayes mean",
      () => chanceToBeatControlMean(ok, { ...ok, n: 0 }),
      /chanceToBeatControlMean: treatment\.n/,
    ],
    ["srm one variant", () => srmCheck([10], [1]), /observed\.length must be an integer ≥ 2/],
    [
      "srm lengths",
      () => srmCheck([10, 10], [1, 1, 1]),
      /weights\.length must equal observed\.length/,
    ],
    [
      "srm negative count",
      () => srmCheck([10, -1], [1, 1]),
      /observed\[1\] must be an integer ≥ 0/,
    ],
    ["srm zero weight", () => srmCheck([10, 10], [1, 0]), /weights\[1\] must be > 0/],
    [
      "srm threshold",
      () => srmCheck([10, 10], [1, 1], { threshold: 0 }),
      /threshold must be strictly between 0 and 1/,
    ],
    [
      "srm minimum",
      () => srmCheck([10, 10], [1, 1], { minimumTotal: -5 }),
      /minimumTotal must be an integer ≥ 0/,
    ],
    ["cuped none", () => cupedAdjust([]), /variants\.length must be an integer ≥ 1/],
    ["cuped sums", () => cupedAdjust([{ ...sums, sumYY: 0 }]), /variants\[0\]\.sumYY/],
    ["random seed", () => createRandom(Number.NaN), /seed must be a finite number/],
  ];
  it.each(cases)("%s", (_name, call, message) => {
    expect(call).toThrow(RangeError);
    expect(call).toThrow(message);
  });
});

describe("percentileDifferenceBootstrap", () => {
  const random = createRandom(42);
  const control = Array.from({ length: 400 }, () => random() * 100);
  const shifted = Array.from({ length: 400 }, () => random() * 100 + 20);
  const same = Array.from({ length: 400 }, () => random() * 100);

  it("is reproducible for a seed and changes with the seed", () => {
    const a = percentileDifferenceBootstrap(control, shifted, 0.5, { seed: 3, resamples: 500 });
    const b = percentileDifferenceBootstrap(control, shifted, 0.5, { seed: 3, resamples: 500 });
    const c = percentileDifferenceBootstrap(control, shifted, 0.5, { seed: 4, resamples: 500 });
    expect(a).toEqual(b);
    expect(c.lower).not.toBe(a.lower);
    expect(a).toMatchObject({ resamples: 500, seed: 3, confidenceLevel: 0.95 });
  });

  it("finds a clear shift and not a non-existent one", () => {
    const shift = percentileDifferenceBootstrap(control, shifted, 0.5);
    expect(shift.lower).toBeGreaterThan(0);
    expect(shift.pValue).toBeLessThan(0.01);
    const none = percentileDifferenceBootstrap(control, same, 0.5);
    expect(none.lower).toBeLessThan(0);
    expect(none.upper).toBeGreaterThan(0);
    expect(none.pValue).toBeGreaterThan(0.05);
  });

  it("is narrower than the conservative order-statistic interval", () => {
    const bootstrap = percentileDifferenceBootstrap(control, shifted, 0.9);
    const conservative = percentileDifferenceInterval(control, shifted, 0.9);
    expect(bootstrap.difference).toBe(conservative.difference);
    expect(bootstrap.upper - bootstrap.lower).toBeLessThan(
      (conservative.upper ?? Infinity) - (conservative.lower ?? -Infinity),
    );
  });
});

describe("createRandom", () => {
  it("gives uniform numbers in [0, 1), reproducibly", () => {
    const a = createRandom(123);
    const b = createRandom(123);
    let sum = 0;
    for (let i = 0; i < 10000; i += 1) {
      const x = a();
      expect(x).toBe(b());
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
    }
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.01); // 3.5 sigma for the mean of 10 000 uniforms
    expect(createRandom(0)()).not.toBe(createRandom(1)());
  });
});
