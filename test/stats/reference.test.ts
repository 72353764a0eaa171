/**
 * Reference values for the statistics module.
 *
 * Provenance: computed with Python 3, scipy 1.17.1, numpy 2.4.6 and mpmath
 * 1.3.0 (`import numpy as np, mpmath as mp; from scipy import stats,
 * integrate`). The expression that produced each value is in the comment
 * next to it. statsmodels was not available, so the z-test, Holm,
 * Benjamini–Hochberg and mSPRT references are the textbook formulas written
 * out explicitly in Python (cited per block). Tolerance: 1e-9 relative
 * (EXACT) where both sides compute the same closed form; a stated tolerance
 * where one side is an approximation.
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
  cupedAdjust,
  holm,
  percentileDifferenceInterval,
  percentileInterval,
  ratioDeltaTest,
  samplePercentile,
  srmCheck,
  twoProportionTest,
  welchTest,
  wilsonInterval,
} from "../../src/stats/index.js";
import { expectClose, expectWithin } from "./close.js";

/** The deterministic sample used by the percentile references (same floats in Python). */
function sample(n: number, multiplier: number, modulus: number, shift = 0): number[] {
  return Array.from({ length: n }, (_, k) => (((k + 1) * multiplier) % modulus) / 10 + shift);
}

describe("welchTest against scipy.stats.ttest_ind_from_stats(equal_var=False)", () => {
  // res = stats.ttest_ind_from_stats(mT, np.sqrt(vT), nT, mC, np.sqrt(vC), nC, equal_var=False)
  // a, b = vC/nC, vT/nT; df = (a+b)**2/(a**2/(nC-1)+b**2/(nT-1)); se = np.sqrt(a+b)
  // q = stats.t.ppf((1+L)/2, df); lo, hi = mT-mC-q*se, mT-mC+q*se
  const cases = [
    {
      control: { n: 1000, mean: 10.0, variance: 4.0 },
      treatment: { n: 1100, mean: 10.3, variance: 5.0 },
      level: 0.95,
      t: 3.2452911878007296,
      p: 0.0011917713725394417,
      df: 2097.4506495337246,
      lower: 0.11871312567200251,
      upper: 0.4812868743279989,
    },
    {
      control: { n: 12, mean: 3.1, variance: 0.5 },
      treatment: { n: 40, mean: 2.7, variance: 2.25 },
      level: 0.95,
      t: -1.2782967390991375,
      p: 0.2084903603772264,
      df: 40.12282484440493,
      lower: -1.0323673119617887,
      upper: 0.23236731196178873,
    },
    {
      // one variance 0: df = nT − 1
      control: { n: 50, mean: 1.0, variance: 0.0 },
      treatment: { n: 60, mean: 1.2, variance: 0.36 },
      level: 0.9,
      t: 2.5819888974716108,
      p: 0.012325987608665849,
      df: 59.0,
      lower: 0.07055769033396717,
      upper: 0.3294423096660327,
    },
    {
      control: { n: 2, mean: 0.0, variance: 1.0 },
      treatment: { n: 2, mean: 5.0, variance: 1.0 },
      level: 0.99,
      t: 5.0,
      p: 0.037749551350623724,
      df: 2.0,
      lower: -4.924843200918287,
      upper: 14.924843200918287,
    },
  ];
  it.each(cases)("n=$control.n/$treatment.n level=$level", (c) => {
    const result = welchTest(c.control, c.treatment, { confidenceLevel: c.level });
    expectClose(result.statistic, c.t);
    expectClose(result.pValue, c.p);
    expectClose(result.degreesOfFreedom, c.df);
    expectClose(result.lower, c.lower);
    expectClose(result.upper, c.upper);
    expectClose(result.difference, c.treatment.mean - c.control.mean);
    expect(result.confidenceLevel).toBe(c.level);
  });
});

describe("wilsonInterval against the Wilson score formula", () => {
  // Python stdlib: z = statistics.NormalDist().inv_cdf(0.975); p = k/n;
  // c = (p + z*z/(2*n)) / (1 + z*z/n); h = z*sqrt(p*(1-p)/n + z*z/(4*n*n)) / (1 + z*z/n);
  // (max(0, c - h), min(1, c + h)). 8/10 → [0.4902, 0.9433] is also Newcombe's (1998) table.
  it.each([
    [0, 10, 0, 0.27753279986288915],
    [8, 10, 0.49016247153664183, 0.9433178485456247],
    [10, 10, 0.7224672001371109, 1],
    [37, 250, 0.10931982398325646, 0.1973340188615365],
  ])("%i of %i", (successes, trials, lower, upper) => {
    const interval = wilsonInterval({ successes, trials });
    expectClose(interval.lower, lower);
    expectClose(interval.upper, upper);
  });

  it("rejects impossible counts", () => {
    expect(() => wilsonInterval({ successes: 3, trials: 2 })).toThrow(RangeError);
  });
});

describe("twoProportionTest against the textbook pooled z-test and Wald interval", () => {
  // Pooled (score) z-test and unpooled Wald interval, as in A. Agresti,
  // "Categorical Data Analysis", 3rd ed. (Wiley, 2013):
  // pC, pT = sC/nC, sT/nT; pp = (sC+sT)/(nC+nT); se0 = np.sqrt(pp*(1-pp)*(1/nC+1/nT))
  // z = (pT-pC)/se0; p = 2*stats.norm.sf(abs(z))
  // se = np.sqrt(pC*(1-pC)/nC+pT*(1-pT)/nT); q = stats.norm.ppf((1+L)/2); lo, hi = pT-pC ∓ q*se
  const cases = [
    {
      c: [100, 1000],
      t: [130, 1000],
      level: 0.95,
      z: 2.102740605622114,
      p: 0.03548845046647471,
      lower: 0.0020679344393763656,
      upper: 0.057932065560623636,
    },
    {
      c: [5, 40],
      t: [1, 38],
      level: 0.95,
      z: -1.6348386368143655,
      p: 0.10208287889834408,
      lower: -0.21311441358557104,
      upper: 0.015745992532939457,
    },
    {
      c: [4512, 100000],
      t: [4700, 100000],
      level: 0.99,
      z: 2.0054893256111095,
      p: 0.04491076077023017,
      lower: -0.0005346278600470685,
      upper: 0.004294627860047068,
    },
    {
      c: [0, 50],
      t: [3, 50],
      level: 0.95,
      z: 1.7586311452816477,
      p: 0.07864017934882842,
      lower: -0.005826784440248742,
      upper: 0.12582678444024875,
    },
  ] as const;
  it.each(cases)("$c vs $t", (c) => {
    const result = twoProportionTest(
      { successes: c.c[0], trials: c.c[1] },
      { successes: c.t[0], trials: c.t[1] },
      { confidenceLevel: c.level },
    );
    expectClose(result.statistic, c.z);
    expectClose(result.pValue, c.p);
    expectClose(result.lower, c.lower);
    expectClose(result.upper, c.upper);
  });
});

describe("ratioDeltaTest against the delta method computed from raw data", () => {
  // rng = np.random.default_rng(42); per variant (n, rate) in [(500, 0.10), (520, 0.12)]:
  //   x = rng.poisson(5, n) + 1; y = rng.binomial(x, rate); sums printed with int(...)
  // Reference from the raw values, not the sums: R = y.sum()/x.sum(); lin = y - R*x
  //   V = np.var(lin, ddof=1)/(len(x)*x.mean()**2)
  // se = np.sqrt(Vc+Vt); z = (Rt-Rc)/se; p = 2*stats.norm.sf(abs(z)); lo, hi = Rt-Rc ∓ stats.norm.ppf(0.975)*se
  const control = { n: 500, sumY: 305, sumX: 3018, sumYY: 477, sumXX: 20576, sumXY: 2082 };
  const treatment = { n: 520, sumY: 368, sumX: 3045, sumYY: 618, sumXX: 20547, sumXY: 2501 };
  it("matches", () => {
    const result = ratioDeltaTest(control, treatment);
    expectClose(result.controlRatio, 0.10106030483764082);
    expectClose(result.treatmentRatio, 0.12085385878489327);
    expectClose(result.statistic, 2.490091221591185);
    expectClose(result.pValue, 0.012771031191541835);
    expectClose(result.lower, 0.0042139428365095336);
    expectClose(result.upper, 0.035373165057995364);
  });
});

describe("percentileInterval against scipy.stats.quantile_test(...).confidence_interval", () => {
  // def sample(n, mult, mod, shift=0.0): return np.array([((i*mult) % mod)/10 + shift for i in range(1, n+1)])
  // x = sample(200, 7919, 1009); ci = stats.quantile_test(x, p=p).confidence_interval(L)
  // est = np.quantile(x, p, method="inverted_cdf"); bd = stats.binom(200, p); a = (1-L)/2
  // l = int(bd.ppf(a)); u = int(bd.isf(a)) + 1; coverage = bd.cdf(u-1) - bd.cdf(l-1)
  const x = sample(200, 7919, 1009);
  const cases = [
    {
      p: 0.5,
      level: 0.95,
      estimate: 50.9,
      lower: 43.9,
      upper: 58.8,
      ranks: [86, 115],
      coverage: 0.9599628083866005,
    },
    {
      p: 0.9,
      level: 0.95,
      estimate: 90.6,
      lower: 86.5,
      upper: 95.6,
      ranks: [171, 189],
      coverage: 0.9668839008979295,
    },
    // scipy gives high = nan: rank 201 does not exist in a sample of 200
    {
      p: 0.99,
      level: 0.95,
      estimate: 99.7,
      lower: 98.5,
      upper: null,
      ranks: [195, 201],
      coverage: 0.9839770930908224,
    },
    {
      p: 0.95,
      level: 0.9,
      estimate: 96.0,
      lower: 93.5,
      upper: 98.9,
      ranks: [185, 196],
      coverage: 0.9291975708238187,
    },
  ];
  it.each(cases)("p=$p level=$level", (c) => {
    const result = percentileInterval(x, c.p, { confidenceLevel: c.level });
    expectClose(result.estimate, c.estimate);
    expectClose(samplePercentile(x, c.p), c.estimate);
    expect(result.lower).toBe(c.lower);
    expect(result.upper).toBe(c.upper);
    expect([result.lowerRank, result.upperRank]).toEqual(c.ranks);
    expectClose(result.coverage, c.coverage);
  });

  it("has no upper bound for p99 of 50 values", () => {
    // stats.quantile_test(sample(50, 7919, 1009), p=0.99).confidence_interval(0.95)
    //   -> ConfidenceInterval(low=94.7, high=nan); int(stats.binom(50, 0.99).ppf(0.025)) -> 48
    const result = percentileInterval(sample(50, 7919, 1009), 0.99);
    expect(result.lower).toBe(94.7);
    expect(result.lowerRank).toBe(48);
    expect(result.upper).toBeNull();
    expect(result.upperRank).toBe(51);
  });

  it("gives the conservative difference from 97.5 % intervals per variant", () => {
    // c = sample(300, 7919, 1009); t = sample(300, 104729, 1013, 5.0)
    // cc = stats.quantile_test(c, p=0.5).confidence_interval(0.975); tc = likewise for t
    // est = np.quantile(t,0.5,method="inverted_cdf")-np.quantile(c,0.5,method="inverted_cdf"); lo = tc.low-cc.high; hi = tc.high-cc.low
    const result = percentileDifferenceInterval(
      sample(300, 7919, 1009),
      sample(300, 104729, 1013, 5),
      0.5,
    );
    expectClose(result.difference, 3.700000000000003);
    expectClose(result.lower, -9.5);
    expectClose(result.upper, 17.300000000000004);
    expect(result.control.confidenceLevel).toBe(0.975);
  });
});

describe("holm and benjaminiHochberg against the textbook step-down / step-up formulas", () => {
  // pv = np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.04]); m = 6; order = np.argsort(pv, kind="stable")
  // Holm (1979), "A simple sequentially rejective multiple test procedure":
  //   adj_(j) = max_{k<=j} min(1, (m-k+1)*p_(k))
  // Benjamini & Hochberg (1995), "Controlling the false discovery rate":
  //   adj_(j) = min_{k>=j} min(1, m*p_(k)/k)
  const raw = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04];
  it("holm", () => {
    const expected = [0.05, 0.12, 0.12, 0.03, 0.2, 0.12];
    holm(raw).forEach((value, i) => {
      expectClose(value, expected[i] ?? Number.NaN);
    });
    expect(adjustPValues(raw)).toEqual(holm(raw));
  });
  it("benjamini-hochberg", () => {
    const expected = [0.03, 0.048, 0.048, 0.03, 0.20000000000000004, 0.048];
    benjaminiHochberg(raw).forEach((value, i) => {
      expectClose(value, expected[i] ?? Number.NaN);
    });
    expect(adjustPValues(raw, "benjamini-hochberg")).toEqual(benjaminiHochberg(raw));
  });
});

describe("always-valid (mSPRT) tests against the closed form at 40 digits", () => {
  // Johari, Koomen, Pekelis & Walsh, "Always Valid Inference", normal mixture N(0, tau2):
  // mp.mp.dps = 40
  // def msprt(d, V, tau2, L):
  //   lam = mp.sqrt(V/(V+tau2))*mp.exp(tau2*d**2/(2*V*(V+tau2))); alpha = 1-L
  //   half = mp.sqrt(V*(V+tau2)/tau2*(2*mp.log(1/alpha)+mp.log((V+tau2)/V)))
  //   return mp.log(lam), min(1, 1/lam), d-half, d+half
  it("generic: msprt(0.3, 0.11**2, 0.04, 0.95)", () => {
    const result = alwaysValidTest(
      { difference: 0.3, standardError: 0.11 },
      { mixingVariance: 0.04 },
    );
    expectClose(result.logLikelihoodRatio, 2.1253049079391992);
    expectClose(result.pValue, 0.11939655775770167);
    expectClose(result.lower, -0.0426898098541318);
    expectClose(result.upper, 0.6426898098541318);
  });
  it("means with the default mixing variance 0.05²·pooled variance", () => {
    // msprt(0.3, 4/1000+5/1100, 0.0025*(999*4+1099*5)/2098, 0.95)
    const result = alwaysValidMeanTest(
      { n: 1000, mean: 10.0, variance: 4.0 },
      { n: 1100, mean: 10.3, variance: 5.0 },
    );
    expectClose(result.mixingVariance, 0.01130958055290753);
    expectClose(result.logLikelihoodRatio, 2.578000762515465);
    expectClose(result.pValue, 0.07592564578548061);
    expectClose(result.lower, -0.02020916556618785);
    expectClose(result.upper, 0.6202091655661879);
  });
  it("proportions with the default mixing variance 0.05²·p̄(1 − p̄)", () => {
    // pc, pt, pp = 100/1000, 130/1000, 230/2000
    // msprt(pt-pc, pc*(1-pc)/1000+pt*(1-pt)/1000, 0.0025*pp*(1-pp), 0.95)
    const result = alwaysValidProportionTest(
      { successes: 100, trials: 1000 },
      { successes: 130, trials: 1000 },
    );
    expectClose(result.logLikelihoodRatio, 0.8260511811808362);
    expectClose(result.pValue, 0.4377745701241326);
    expectClose(result.lower, -0.019848022134236486);
    expectClose(result.upper, 0.07984802213423649);
  });
});

describe("chanceToBeatControlRate against the closed form at 50 digits and numerical integration", () => {
  // a1, b1, a2, b2 = sC+1, nC-sC+1, sT+1, nT-sT+1 (Beta(1,1) priors)
  // sum: mp.mp.dps = 50; mp.fsum(mp.beta(a1+i, b1+b2)/((b2+i)*mp.beta(1+i,b2)*mp.beta(a1,b1)) for i in range(a2))
  // cross-check: integrate.quad(lambda x: stats.beta(a1,b1).pdf(x)*stats.beta(a2,b2).sf(x), lo, hi)
  //   over the central 1 − 2e-12 of both posteriors agrees with the sum to 1.1e-12 in every case.
  const cases = [
    { c: [10, 100], t: [15, 100], expected: 0.8532837899339661 },
    { c: [0, 20], t: [1, 20], expected: 0.7560975609756098 },
    { c: [450, 1000], t: [480, 1000], expected: 0.9105754684554919 },
    { c: [2000, 40000], t: [2100, 40000], expected: 0.9455574191762841 },
    { c: [95, 100], t: [99, 100], expected: 0.9407645089604397 },
  ] as const;
  it.each(cases)("$c vs $t", (c) => {
    const result = chanceToBeatControlRate(
      { successes: c.c[0], trials: c.c[1] },
      { successes: c.t[0], trials: c.t[1] },
    );
    expect(result.method).toBe("exact");
    expectClose(result.probability, c.expected);
  });
  it("is symmetric: P(t > c) + P(c > t) = 1", () => {
    const a = { successes: 450, trials: 1000 };
    const b = { successes: 480, trials: 1000 };
    expectClose(
      chanceToBeatControlRate(a, b).probability + chanceToBeatControlRate(b, a).probability,
      1,
    );
  });
  it("switches to the normal approximation for very large counts (tolerance 1e-5 absolute)", () => {
    // a1, b1, a2, b2 = 100001, 9900001, 100501, 9899501
    // integrate.quad(lambda x: A.pdf(x)*B.sf(x), lo, hi, epsabs=1e-15, epsrel=1e-13, limit=1000,
    //   points=[a1/(a1+b1)]) with lo/hi the 1e-13 tails -> 0.8691274464554902
    // (the normal approximation gives 0.8691268517912556, 6e-7 away)
    const result = chanceToBeatControlRate(
      { successes: 100000, trials: 10000000 },
      { successes: 100500, trials: 10000000 },
    );
    expect(result.method).toBe("normal");
    expectWithin(result.probability, 0.8691274464554902, 1e-5);
  });
});

describe("chanceToBeatControlMean against scipy.stats.norm", () => {
  it("matches", () => {
    // stats.norm.cdf(0.3/np.sqrt(4/1000+5/1100))
    const result = chanceToBeatControlMean(
      { n: 1000, mean: 10.0, variance: 4.0 },
      { n: 1100, mean: 10.3, variance: 5.0 },
    );
    expectClose(result.probability, 0.999413347104111);
  });
});

describe("srmCheck against scipy.stats.chisquare", () => {
  // tot = sum(obs); exp = np.array(w)/sum(w)*tot; res = stats.chisquare(obs, exp)
  const cases = [
    {
      observed: [5000, 5200],
      weights: [1, 1],
      statistic: 3.9215686274509802,
      p: 0.0476703806561615,
      mismatch: false,
    },
    {
      observed: [2500, 2450, 5200],
      weights: [1, 1, 2],
      statistic: 6.650246305418719,
      p: 0.035968088913061705,
      mismatch: false,
    },
    {
      observed: [10000, 11000],
      weights: [1, 1],
      statistic: 47.61904761904762,
      p: 5.176309056990159e-12,
      mismatch: true,
    },
    { observed: [900, 100], weights: [9, 1], statistic: 0, p: 1, mismatch: false },
  ];
  it.each(cases)("$observed vs $weights", (c) => {
    const result = srmCheck(c.observed, c.weights);
    expectClose(result.statistic, c.statistic);
    expectClose(result.pValue, c.p);
    expect(result.mismatch).toBe(c.mismatch);
    expect(result.degreesOfFreedom).toBe(c.observed.length - 1);
  });
  it("does not fire below the minimum total", () => {
    // stats.chisquare([50, 30], [40, 40]) -> statistic 5.0, pvalue 0.025347318677468325
    const result = srmCheck([50, 30], [1, 1], { threshold: 0.05 });
    expectClose(result.pValue, 0.025347318677468325);
    expect(result.enoughData).toBe(false);
    expect(result.mismatch).toBe(false);
    expect(srmCheck([50, 30], [1, 1], { threshold: 0.05, minimumTotal: 80 }).mismatch).toBe(true);
  });
});

describe("cupedAdjust against numpy on the raw data", () => {
  // rng = np.random.default_rng(7); per variant (n, lift) in [(400, 0.0), (450, 0.5)]:
  //   x = rng.poisson(10, n); y = rng.poisson(x + 2 + lift); sums printed with int(...)
  // xa, ya = all x, all y; theta = np.cov(ya, xa, ddof=1)[0,1]/np.var(xa, ddof=1)
  // per variant: adj = y - theta*(x - xa.mean()); adj.mean(), np.var(adj, ddof=1), np.var(y, ddof=1)
  const variants = [
    { n: 400, sumY: 4889, sumX: 4017, sumYY: 68479, sumXX: 44453, sumXY: 53284 },
    { n: 450, sumY: 5497, sumX: 4469, sumYY: 77937, sumXX: 48595, sumXY: 58892 },
  ];
  it("matches", () => {
    const result = cupedAdjust(variants);
    expectClose(result.theta, 1.019128065364301);
    expectClose(result.covariateMean, 9.983529411764707);
    const expected = [
      { mean: 12.162401418498371, variance: 11.182245497864223, unadjusted: 21.862650375939847 },
      { mean: 12.268976516890337, variance: 14.248937545032142, unadjusted: 24.026928977975746 },
    ];
    result.variants.forEach((variant, i) => {
      const e = expected[i];
      if (e === undefined) throw new Error("unexpected variant");
      expectClose(variant.mean, e.mean);
      expectClose(variant.variance, e.variance);
      expectClose(variant.unadjustedVariance, e.unadjusted);
      expectClose(variant.varianceReduction, 1 - e.variance / e.unadjusted);
    });
    // The adjusted summaries feed welchTest directly.
    const [control, treatment] = result.variants;
    if (control === undefined || treatment === undefined) throw new Error("two variants");
    expect(welchTest(control, treatment).standardError).toBeLessThan(
      welchTest(
        { n: 400, mean: 4889 / 400, variance: control.unadjustedVariance },
        { n: 450, mean: 5497 / 450, variance: treatment.unadjustedVariance },
      ).standardError,
    );
  });
});
