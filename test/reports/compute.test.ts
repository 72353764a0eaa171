/**
 * computeReport (src/reports/compute.ts) on hand-built plans and
 * aggregates: no database.
 *
 * Reference values are computed here from the textbook formulas (written
 * out below, with @stdlib's normal and Student-t distributions as the only
 * shared numerics) and, where noted, cross-checked against Python 3 with
 * scipy 1.17.1 (the literal in the comment next to the assertion).
 */
import { describe, expect, it } from "@jest/globals";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import normalCdfStdlib from "@stdlib/stats-base-dists-normal-cdf";
import normalQuantileStdlib from "@stdlib/stats-base-dists-normal-quantile";
import tCdfStdlib from "@stdlib/stats-base-dists-t-cdf";
import tQuantileStdlib from "@stdlib/stats-base-dists-t-quantile";
import { EventErrorCode } from "../../gen/lotty/events/v1/events_pb.js";
import type {
  Comparison,
  MetricResult,
  Report,
  VariantReport,
} from "../../gen/lotty/reports/v1/reports_pb.js";
import type { MetricKindName } from "../../src/catalog/entities.js";
import type { VariantConfig } from "../../src/experiments/entities.js";
import {
  CORRECTION,
  computeReport,
  int32,
  type HealthFigures,
  type ReportInputs,
  type SeriesFigures,
} from "../../src/reports/compute.js";
import type { PlannedMetric, ReportPlan, SubjectQuantity } from "../../src/analytics/index.js";
import type {
  EventSums,
  PercentileFigures,
  QuantitySums,
  VariantAggregates,
} from "../../src/analytics/index.js";
import { bucketEnds, type ReportWindow } from "../../src/analytics/index.js";

// ---------------------------------------------------------------------------
// Reference formulas

const Phi = (x: number): number => normalCdfStdlib(x, 0, 1);
const Z975 = normalQuantileStdlib(0.975, 0, 1); // 1.959963984540054
const ALPHA = 0.05;

/** Two-proportion z-test: pooled SE for the p-value, unpooled (Wald) SE for the interval. */
function proportionReference(sc: number, nc: number, st: number, nt: number) {
  const pc = sc / nc;
  const pt = st / nt;
  const d = pt - pc;
  const pooled = (sc + st) / (nc + nt);
  const pooledSe = Math.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt));
  const z = d / pooledSe;
  const p = 2 * Phi(-Math.abs(z));
  const se = Math.sqrt((pc * (1 - pc)) / nc + (pt * (1 - pt)) / nt);
  // mSPRT (Johari et al.): τ² = 0.05²·p̄(1 − p̄), V = se²,
  // half-width sqrt(V·(1 + V/τ²)·(2·ln(1/α) + ln(1 + τ²/V))).
  const tau2 = 0.0025 * pooled * (1 - pooled);
  return { d, pooledSe, z, p, se, lower: d - Z975 * se, upper: d + Z975 * se, ...seq(d, se, tau2) };
}

/** The always-valid (mSPRT, normal mixture) interval of d with standard error se. */
function seq(d: number, se: number, tau2: number) {
  const V = se * se;
  const half = Math.sqrt(V * (1 + V / tau2) * (2 * Math.log(1 / ALPHA) + Math.log(1 + tau2 / V)));
  return { seqLower: d - half, seqUpper: d + half };
}

interface Moments {
  n: number;
  sum: number;
  sumSquares: number;
}

/** Welch's t-test of t − c from counts and sums; τ² = 0.05²·pooled variance. */
function welchReference(c: Moments, t: Moments) {
  const mc = c.sum / c.n;
  const mt = t.sum / t.n;
  const vc = (c.sumSquares - c.n * mc * mc) / (c.n - 1);
  const vt = (t.sumSquares - t.n * mt * mt) / (t.n - 1);
  const a = vc / c.n;
  const b = vt / t.n;
  const se = Math.sqrt(a + b);
  const df = (a + b) ** 2 / (a ** 2 / (c.n - 1) + b ** 2 / (t.n - 1));
  const d = mt - mc;
  const stat = d / se;
  const p = 2 * tCdfStdlib(-Math.abs(stat), df);
  const q = tQuantileStdlib(0.975, df);
  const pooledVariance = ((c.n - 1) * vc + (t.n - 1) * vt) / (c.n + t.n - 2);
  return {
    d,
    se,
    df,
    p,
    lower: d - q * se,
    upper: d + q * se,
    chance: Phi(d / se),
    ...seq(d, se, 0.0025 * pooledVariance),
  };
}

/** Σ over per-subject (y, x) pairs. */
function pairedSums(pairs: [number, number][]) {
  let sumY = 0;
  let sumX = 0;
  let sumYY = 0;
  let sumXX = 0;
  let sumXY = 0;
  for (const [y, x] of pairs) {
    sumY += y;
    sumX += x;
    sumYY += y * y;
    sumXX += x * x;
    sumXY += x * y;
  }
  return { n: pairs.length, sumY, sumX, sumYY, sumXX, sumXY };
}

/** Delta-method variance of Σy/Σx: (s_yy − 2R·s_xy + R²·s_xx)/(n·x̄²). */
function ratioVariance(s: ReturnType<typeof pairedSums>): { ratio: number; variance: number } {
  const R = s.sumY / s.sumX;
  const syy = (s.sumYY - (s.sumY * s.sumY) / s.n) / (s.n - 1);
  const sxx = (s.sumXX - (s.sumX * s.sumX) / s.n) / (s.n - 1);
  const sxy = (s.sumXY - (s.sumX * s.sumY) / s.n) / (s.n - 1);
  const xbar = s.sumX / s.n;
  return { ratio: R, variance: (syy - 2 * R * sxy + R * R * sxx) / (s.n * xbar * xbar) };
}

/** Sums of squares of a list. */
function moments(values: number[], n = values.length): Moments {
  return {
    n,
    sum: values.reduce((a, b) => a + b, 0),
    sumSquares: values.reduce((a, b) => a + b * b, 0),
  };
}

function expectClose(actual: number | undefined, expected: number, relative = 1e-9): void {
  expect(actual).toBeDefined();
  const value = actual ?? Number.NaN;
  const allowed = expected === 0 ? relative : relative * Math.abs(expected);
  if (!(Math.abs(value - expected) <= allowed)) {
    throw new Error(
      `expected ${String(value)} to be within ${String(relative)} (relative) of ${String(expected)}`,
    );
  }
}

// ---------------------------------------------------------------------------
// Builders

const T0 = Date.UTC(2026, 2, 1, 0, 0, 0);
const HOUR = 3_600_000;
const WINDOW: ReportWindow = { from: T0, to: T0 + 3 * HOUR, bucketSeconds: 3600 };

function metric(
  key: string,
  kind: MetricKindName,
  eventType: string,
  property = "",
  extra: Partial<PlannedMetric> = {},
): PlannedMetric {
  return { key, kind, eventType, property, probability: 0, ...extra };
}

function variantConfig(key: string, weight: number, control = false): VariantConfig {
  return { key, value: key, weight, control };
}

function plan(
  variants: VariantConfig[],
  metrics: PlannedMetric[],
  extra: Partial<ReportPlan> = {},
): ReportPlan {
  return {
    experimentId: "exp-1",
    version: 7,
    status: "running",
    variants,
    audiencePercent: variants.reduce((a, v) => a + v.weight, 0),
    primaryMetricKey: metrics[0]?.key ?? "",
    metrics,
    defaultFrom: T0,
    completedAt: undefined,
    ...extra,
  };
}

interface VariantInput {
  exposures?: number;
  subjects: number;
  /** By literal quantity key `${eventType}\n${property}`. */
  quantities?: Record<string, Partial<QuantitySums>>;
  events?: Record<string, EventSums>;
  products?: Record<string, number>;
}

function aggregates(v: VariantInput): VariantAggregates {
  return {
    exposures: v.exposures ?? v.subjects,
    subjects: v.subjects,
    quantities: new Map(
      Object.entries(v.quantities ?? {}).map(([k, q]) => [
        k,
        { sum: q.sum ?? 0, sumSquares: q.sumSquares ?? 0, positive: q.positive ?? 0 },
      ]),
    ),
    products: new Map(Object.entries(v.products ?? {})),
    events: new Map(Object.entries(v.events ?? {})),
  };
}

function emptyHealth(): HealthFigures {
  return { stored: 0, duplicates: 0, rejected: 0, reasons: new Map(), pending: 0 };
}

function build(
  p: ReportPlan,
  variants: Record<string, VariantInput>,
  options: {
    health?: HealthFigures;
    series?: SeriesFigures;
    window?: ReportWindow;
    percentiles?: Map<string, Map<string, PercentileFigures>>;
  } = {},
): Report {
  const window = options.window ?? WINDOW;
  const inputs: ReportInputs = {
    plan: p,
    window,
    aggregates: {
      variants: new Map(Object.entries(variants).map(([k, v]) => [k, aggregates(v)])),
      percentiles: options.percentiles ?? new Map(),
      fromRawEvents: false,
    },
    health: options.health ?? emptyHealth(),
    series: options.series ?? { ends: bucketEnds(window), points: new Map() },
    generatedAt: window.to + 1234,
  };
  return computeReport(inputs);
}

function variantOf(report: Report, key: string): VariantReport {
  const v = report.variants.find((x) => x.variantKey === key);
  if (v === undefined) throw new Error(`no variant ${key}`);
  return v;
}

function resultOf(report: Report, variant: string, metricKey: string): MetricResult {
  const m = variantOf(report, variant).metrics.find((x) => x.metricKey === metricKey);
  if (m === undefined) throw new Error(`no metric ${metricKey} in ${variant}`);
  return m;
}

function comparisonOf(report: Report, variant: string, metricKey: string): Comparison {
  const c = resultOf(report, variant, metricKey).comparison;
  if (c === undefined) throw new Error(`no comparison for ${metricKey} in ${variant}`);
  return c;
}

const AB = [variantConfig("control", 50, true), variantConfig("treatment", 50)];

// ---------------------------------------------------------------------------

describe("conversion_rate", () => {
  // Control 100/1000 converted, treatment 130/1000.
  const p = plan(AB, [metric("checkout", "conversion_rate", "purchase")]);
  const report = build(p, {
    control: { subjects: 1000, exposures: 1500, quantities: { "purchase\n": { positive: 100 } } },
    treatment: { subjects: 1000, exposures: 1400, quantities: { "purchase\n": { positive: 130 } } },
  });
  const ref = proportionReference(100, 1000, 130, 1000);

  it("has value positive/subjects and sample size subjects", () => {
    expect(resultOf(report, "control", "checkout").value).toBe(0.1); // 100/1000
    expect(resultOf(report, "treatment", "checkout").value).toBe(0.13); // 130/1000
    expect(resultOf(report, "control", "checkout").sampleSize).toBe(1000);
    expect(resultOf(report, "treatment", "checkout").sampleSize).toBe(1000);
  });

  it("compares absolute and relative differences", () => {
    const c = comparisonOf(report, "treatment", "checkout");
    expectClose(c.absoluteDiff, 0.03); // 0.13 − 0.10
    expectClose(c.relativeDiff, 0.3); // 0.03 / 0.10
  });

  it("takes the p-value from the pooled two-proportion z statistic", () => {
    // p̄ = 230/2000 = 0.115; SE₀ = sqrt(0.115·0.885·(1/1000 + 1/1000)) = 0.0142670950;
    // z = 0.03/SE₀ = 2.1027406; p = 2Φ(−2.1027406) = 0.0354884505 (scipy).
    expectClose(ref.pooledSe, 0.014267095009146046, 1e-12);
    expectClose(ref.z, 2.102740605622114, 1e-12);
    const c = comparisonOf(report, "treatment", "checkout");
    expectClose(c.pValue, ref.p, 1e-9);
    expectClose(c.pValue, 0.03548845046647471, 1e-8);
    expect(c.significant).toBe(true); // 0.0355 < 0.05
    // One comparison in the family: Holm leaves it alone.
    expectClose(c.adjustedPValue, c.pValue, 1e-15);
    expect(c.adjustedSignificant).toBe(true);
  });

  it("takes the interval from the unpooled (Wald) standard error", () => {
    // SE = sqrt(0.1·0.9/1000 + 0.13·0.87/1000) = sqrt(0.0002031) = 0.0142513157;
    // 0.03 ∓ 1.959964·SE = [0.0020679344, 0.0579320656].
    const c = comparisonOf(report, "treatment", "checkout");
    expectClose(c.ciLow, ref.lower, 1e-9);
    expectClose(c.ciHigh, ref.upper, 1e-9);
    expectClose(c.ciLow, 0.0020679344393763656, 1e-7);
    expectClose(c.ciHigh, 0.057932065560623636, 1e-9);
    // The pooled SE would give a different interval: the library used the unpooled one.
    expect(Math.abs(c.ciLow - (0.03 - Z975 * ref.pooledSe))).toBeGreaterThan(1e-5);
  });

  it("gives a sequential interval wider than the classical one", () => {
    // τ² = 0.0025·0.115·0.885 = 0.0002544375, V = 0.0002031, half-width 0.0498480221.
    const c = comparisonOf(report, "treatment", "checkout");
    expectClose(c.sequentialCiLow, ref.seqLower, 1e-9);
    expectClose(c.sequentialCiHigh, ref.seqUpper, 1e-9);
    expectClose(c.sequentialCiLow, -0.01984802213423649, 1e-8);
    expect(c.sequentialCiLow).toBeLessThan(c.ciLow);
    expect(c.sequentialCiHigh).toBeGreaterThan(c.ciHigh);
    // Still centred on the difference.
    expectClose((c.sequentialCiLow + c.sequentialCiHigh) / 2, 0.03, 1e-9);
  });

  it("gives the Bayesian chance to beat control", () => {
    // P(Beta(131, 871) > Beta(101, 901)) = 0.98216506612 (scipy quad).
    const c = comparisonOf(report, "treatment", "checkout");
    expect(c.chanceToBeatControl).toBeGreaterThan(0);
    expect(c.chanceToBeatControl).toBeLessThan(1);
    expectClose(c.chanceToBeatControl, 0.9821650661163502, 1e-7);
  });

  it("gives the control no comparison", () => {
    expect(resultOf(report, "control", "checkout").comparison).toBeUndefined();
    expect(variantOf(report, "control").control).toBe(true);
    expect(variantOf(report, "treatment").control).toBe(false);
  });

  it("aggregates the experiment as a whole: the union's conversion rate", () => {
    expect(report.metrics).toHaveLength(1);
    expect(report.metrics[0]?.metricKey).toBe("checkout");
    expectClose(report.metrics[0]?.value, 0.115); // 230/2000
    expect(report.metrics[0]?.sampleSize).toBe(2000);
    expect(report.metrics[0]?.comparison).toBeUndefined();
    expect(report.subjects).toBe(2000);
    expect(report.exposures).toBe(2900);
    expect(variantOf(report, "control").exposures).toBe(1500);
    expect(variantOf(report, "treatment").subjects).toBe(1000);
  });

  it("marks a treatment below control as not beating it", () => {
    // Mirror image: treatment 100/1000 vs control 130/1000.
    const r = build(p, {
      control: { subjects: 1000, quantities: { "purchase\n": { positive: 130 } } },
      treatment: { subjects: 1000, quantities: { "purchase\n": { positive: 100 } } },
    });
    const c = comparisonOf(r, "treatment", "checkout");
    expectClose(c.absoluteDiff, -0.03);
    expectClose(c.relativeDiff, -0.03 / 0.13);
    expectClose(c.pValue, 0.03548845046647471, 1e-8);
    expectClose(c.chanceToBeatControl, 1 - 0.9821650661163502, 1e-6);
  });

  it("is not significant for a small difference", () => {
    // 100/1000 vs 112/1000: p = 0.3833966925 (scipy), interval spans 0.
    const r = build(p, {
      control: { subjects: 1000, quantities: { "purchase\n": { positive: 100 } } },
      treatment: { subjects: 1000, quantities: { "purchase\n": { positive: 112 } } },
    });
    const c = comparisonOf(r, "treatment", "checkout");
    expectClose(c.pValue, 0.3833966925145822, 1e-8);
    expect(c.significant).toBe(false);
    expect(c.ciLow).toBeLessThan(0);
    expect(c.ciHigh).toBeGreaterThan(0);
  });
});

describe("count metric", () => {
  // Per-subject clicks: control [0, 1, 2, 3, 4] (5 subjects), treatment [2, 3, 4, 7] (4 subjects).
  const control = moments([0, 1, 2, 3, 4]); // Σ = 10, Σ² = 30, mean 2, var 2.5
  const treatment = moments([2, 3, 4, 7]); // Σ = 16, Σ² = 78, mean 4, var 14/3
  const p = plan(AB, [metric("clicks", "count", "click")]);
  const report = build(p, {
    control: { subjects: 5, quantities: { "click\n": { ...control, positive: 4 } } },
    treatment: { subjects: 4, quantities: { "click\n": { ...treatment, positive: 4 } } },
  });
  const ref = welchReference(control, treatment);

  it("has value Σx and sample size the exposed subjects", () => {
    expect(resultOf(report, "control", "clicks").value).toBe(10);
    expect(resultOf(report, "treatment", "clicks").value).toBe(16);
    expect(resultOf(report, "control", "clicks").sampleSize).toBe(5);
    expect(resultOf(report, "treatment", "clicks").sampleSize).toBe(4);
  });

  it("compares the per-subject means Σx/n, not the totals", () => {
    const c = comparisonOf(report, "treatment", "clicks");
    expectClose(c.absoluteDiff, 2); // 16/4 − 10/5 = 4 − 2 (the totals would give 6)
    expectClose(c.relativeDiff, 1); // 2/2
  });

  it("uses Welch's t-test", () => {
    // SE = sqrt(2.5/5 + (14/3)/4) = sqrt(5/3) = 1.2909944; t = 1.5491933;
    // df = (5/3)² / (0.5²/4 + (7/6)²/3) = 5.3811659; p = 0.1779141492,
    // 95 % CI [−1.2491348151, 5.2491348151] (scipy ttest_ind, equal_var=False).
    expectClose(ref.se, Math.sqrt(5 / 3), 1e-12);
    expectClose(ref.df, 5.3811659192825125, 1e-12);
    const c = comparisonOf(report, "treatment", "clicks");
    expectClose(c.pValue, ref.p, 1e-9);
    expectClose(c.pValue, 0.17791414920518253, 1e-8);
    expect(c.significant).toBe(false);
    expectClose(c.ciLow, -1.249134815112443, 1e-8);
    expectClose(c.ciHigh, 5.249134815112443, 1e-8);
    expectClose(c.ciLow, ref.lower, 1e-9);
  });

  it("gives the mean-based sequential interval and chance to beat control", () => {
    // τ² = 0.0025·pooled variance (4·2.5 + 3·14/3)/7 = 0.0025·24/7.
    const c = comparisonOf(report, "treatment", "clicks");
    expectClose(c.sequentialCiLow, ref.seqLower, 1e-9);
    expectClose(c.sequentialCiHigh, ref.seqUpper, 1e-9);
    expect(c.sequentialCiHigh - c.sequentialCiLow).toBeGreaterThan(c.ciHigh - c.ciLow);
    // Φ(2/1.2909944) = Φ(1.5491933) = 0.9393...
    expectClose(c.chanceToBeatControl, ref.chance, 1e-9);
    expectClose(c.chanceToBeatControl, 0.93933, 1e-4);
  });

  it("counts subjects without events as zeros (n larger than the subjects with events)", () => {
    // Same Σ and Σ² over 10 control subjects: mean 1, var (30 − 10·1)/9 = 20/9.
    const wide = moments([0, 1, 2, 3, 4], 10);
    const r = build(p, {
      control: { subjects: 10, quantities: { "click\n": wide } },
      treatment: { subjects: 4, quantities: { "click\n": treatment } },
    });
    const w = welchReference(wide, treatment);
    const c = comparisonOf(r, "treatment", "clicks");
    expectClose(c.absoluteDiff, 3); // 4 − 1
    expectClose(c.relativeDiff, 3); // 3/1
    expectClose(c.pValue, w.p, 1e-9);
    expect(resultOf(r, "control", "clicks").value).toBe(10);
    expect(resultOf(r, "control", "clicks").sampleSize).toBe(10);
  });

  it("sums the variants for the overall figure", () => {
    expect(report.metrics[0]?.value).toBe(26); // 10 + 16
    expect(report.metrics[0]?.sampleSize).toBe(9); // 5 + 4
  });

  it("gives no comparison when a side has fewer than 2 subjects", () => {
    const r = build(p, {
      control: { subjects: 5, quantities: { "click\n": control } },
      treatment: { subjects: 1, quantities: { "click\n": { sum: 3, sumSquares: 9, positive: 1 } } },
    });
    expect(resultOf(r, "treatment", "clicks").value).toBe(3);
    expect(resultOf(r, "treatment", "clicks").comparison).toBeUndefined();
  });
});

describe("sum metric", () => {
  it("reads the property's quantity, reports Σx and compares Σx/n", () => {
    // revenue per subject: control [10, 0, 20, 30] (n 4), treatment [15, 25, 5, 35, 20] (n 5).
    const control = moments([10, 0, 20, 30]); // Σ 60, mean 15
    const treatment = moments([15, 25, 5, 35, 20]); // Σ 100, mean 20
    const p = plan(AB, [metric("revenue", "sum", "purchase", "amount")]);
    const r = build(p, {
      control: {
        subjects: 4,
        // The count of purchases (property "") must not be used for a SUM metric.
        quantities: { "purchase\namount": control, "purchase\n": { sum: 3, sumSquares: 3 } },
      },
      treatment: {
        subjects: 5,
        quantities: { "purchase\namount": treatment, "purchase\n": { sum: 5, sumSquares: 5 } },
      },
    });
    const ref = welchReference(control, treatment);
    expect(resultOf(r, "control", "revenue").value).toBe(60);
    expect(resultOf(r, "treatment", "revenue").value).toBe(100);
    const c = comparisonOf(r, "treatment", "revenue");
    expectClose(c.absoluteDiff, 5); // 20 − 15
    expectClose(c.relativeDiff, 1 / 3); // 5/15
    expectClose(c.pValue, ref.p, 1e-9);
    expectClose(c.ciHigh, ref.upper, 1e-9);
  });
});

describe("mean metric", () => {
  // Event values of `amount`: control [1, 2, 3] (3 events from 10 subjects),
  // treatment [2, 4, 4, 6] (4 events from 12 subjects).
  const control = moments([1, 2, 3]); // Σ 6, Σ² 14, mean 2, var 1
  const treatment = moments([2, 4, 4, 6]); // Σ 16, Σ² 72, mean 4, var 8/3
  const p = plan(AB, [metric("order_value", "mean", "purchase", "amount")]);
  const report = build(p, {
    control: {
      subjects: 10,
      events: { "purchase\namount": { events: 3, sum: 6, sumSquares: 14 } },
      // Per-subject sums must not be used for a MEAN metric.
      quantities: { "purchase\namount": { sum: 999, sumSquares: 99_999, positive: 3 } },
    },
    treatment: {
      subjects: 12,
      events: { "purchase\namount": { events: 4, sum: 16, sumSquares: 72 } },
    },
  });

  it("has value Σ/events and sample size the events", () => {
    expect(resultOf(report, "control", "order_value").value).toBe(2);
    expect(resultOf(report, "treatment", "order_value").value).toBe(4);
    expect(resultOf(report, "control", "order_value").sampleSize).toBe(3);
    expect(resultOf(report, "treatment", "order_value").sampleSize).toBe(4);
  });

  it("runs Welch over the events", () => {
    // SE = sqrt(1/3 + (8/3)/4) = 1; t = 2; df = 1/((1/3)²/2 + (2/3)²/3) = 54/11;
    // p = 0.1029941681, CI [−0.5849660476, 4.5849660476] (scipy).
    const ref = welchReference(control, treatment);
    expectClose(ref.df, 54 / 11, 1e-12);
    const c = comparisonOf(report, "treatment", "order_value");
    expectClose(c.absoluteDiff, 2);
    expectClose(c.relativeDiff, 1);
    expectClose(c.pValue, 0.1029941680973046, 1e-8);
    expectClose(c.pValue, ref.p, 1e-9);
    expectClose(c.ciLow, -0.5849660476057954, 1e-8);
    expectClose(c.ciHigh, 4.584966047605795, 1e-9);
    expectClose(c.chanceToBeatControl, Phi(2), 1e-9);
  });

  it("pools the events for the overall mean", () => {
    expectClose(report.metrics[0]?.value, 22 / 7); // (6 + 16)/(3 + 4)
    expect(report.metrics[0]?.sampleSize).toBe(7);
  });

  it("gives no comparison when the control has no events", () => {
    const r = build(p, {
      control: { subjects: 10 },
      treatment: {
        subjects: 12,
        events: { "purchase\namount": { events: 4, sum: 16, sumSquares: 72 } },
      },
    });
    expect(resultOf(r, "control", "order_value").value).toBe(0);
    expect(resultOf(r, "control", "order_value").sampleSize).toBe(0);
    expect(resultOf(r, "treatment", "order_value").value).toBe(4);
    expect(resultOf(r, "treatment", "order_value").comparison).toBeUndefined();
  });
});

describe("ratio metric", () => {
  const num: SubjectQuantity = { eventType: "purchase", property: "amount" };
  const den: SubjectQuantity = { eventType: "session", property: "" };
  const p = plan(AB, [
    metric("revenue_per_session", "ratio", "", "", { numerator: num, denominator: den }),
  ]);
  // Per-subject (revenue, sessions).
  const control = pairedSums([
    [10, 4],
    [20, 6],
    [5, 2],
    [15, 8],
  ]); // Σy 50, Σx 20, Σy² 750, Σx² 120, Σxy 290
  const treatment = pairedSums([
    [9, 3],
    [30, 10],
    [12, 4],
    [27, 8],
    [12, 5],
  ]); // Σy 90, Σx 30, Σy² 1998, Σx² 214, Σxy 651
  const input = (s: ReturnType<typeof pairedSums>): VariantInput => ({
    subjects: s.n,
    quantities: {
      "purchase\namount": { sum: s.sumY, sumSquares: s.sumYY, positive: s.n },
      "session\n": { sum: s.sumX, sumSquares: s.sumXX, positive: s.n },
    },
    products: { "purchase\namount|session\n": s.sumXY },
  });
  const report = build(p, { control: input(control), treatment: input(treatment) });

  it("has value Σy/Σx and sample size the subjects", () => {
    expect(resultOf(report, "control", "revenue_per_session").value).toBe(2.5); // 50/20
    expect(resultOf(report, "treatment", "revenue_per_session").value).toBe(3); // 90/30
    expect(resultOf(report, "control", "revenue_per_session").sampleSize).toBe(4);
    expect(resultOf(report, "treatment", "revenue_per_session").sampleSize).toBe(5);
    expectClose(report.metrics[0]?.value, 2.8); // 140/50
    expect(report.metrics[0]?.sampleSize).toBe(9);
  });

  it("compares by the delta method", () => {
    // Control: s_yy = 125/3, s_xx = 20/3, s_xy = 40/3, R = 2.5:
    //   (125/3 − 5·40/3 + 6.25·20/3)/(4·5²) = (50/3)/100 = 1/6.
    // Treatment: s_yy = 94.5, s_xx = 8.5, s_xy = 27.75, R = 3:
    //   (94.5 − 166.5 + 76.5)/(5·6²) = 4.5/180 = 0.025.
    const c0 = ratioVariance(control);
    const t0 = ratioVariance(treatment);
    expectClose(c0.variance, 1 / 6, 1e-12);
    expectClose(t0.variance, 0.025, 1e-12);
    const se = Math.sqrt(1 / 6 + 0.025); // 0.4378
    const z = 0.5 / se;
    const c = comparisonOf(report, "treatment", "revenue_per_session");
    expectClose(c.absoluteDiff, 0.5);
    expectClose(c.relativeDiff, 0.2); // 0.5/2.5
    expectClose(c.pValue, 2 * Phi(-z), 1e-9);
    expectClose(c.ciLow, 0.5 - Z975 * se, 1e-9);
    expectClose(c.ciHigh, 0.5 + Z975 * se, 1e-9);
    expectClose(c.chanceToBeatControl, Phi(z), 1e-9);
    // τ² = 0.05²·(control delta variance·n_c) = 0.0025·(1/6)·4.
    const s = seq(0.5, se, 0.0025 * (1 / 6) * 4);
    expectClose(c.sequentialCiLow, s.seqLower, 1e-9);
    expectClose(c.sequentialCiHigh, s.seqUpper, 1e-9);
  });

  it("gives value 0 and no comparison without a denominator", () => {
    const r = build(p, {
      control: input(control),
      treatment: { subjects: 5, quantities: { "purchase\namount": { sum: 10, sumSquares: 40 } } },
    });
    expect(resultOf(r, "treatment", "revenue_per_session").value).toBe(0);
    expect(resultOf(r, "treatment", "revenue_per_session").sampleSize).toBe(5);
    expect(resultOf(r, "treatment", "revenue_per_session").comparison).toBeUndefined();
  });

  it("drops the comparison, not the report, when the sums are inconsistent", () => {
    // Σx² smaller than (Σx)²/n: the stats module throws a RangeError.
    const bad = input(treatment);
    bad.quantities = { ...bad.quantities, "session\n": { sum: 30, sumSquares: 10, positive: 5 } };
    const r = build(p, { control: input(control), treatment: bad });
    expect(resultOf(r, "treatment", "revenue_per_session").value).toBe(3);
    expect(resultOf(r, "treatment", "revenue_per_session").comparison).toBeUndefined();
  });
});

describe("Holm adjustment across variants and metrics", () => {
  // Control A, treatments B and C; metrics checkout (conversion) and clicks (count).
  const p = plan(
    [variantConfig("A", 40, true), variantConfig("B", 30), variantConfig("C", 30)],
    [metric("checkout", "conversion_rate", "purchase"), metric("clicks", "count", "click")],
  );
  /** Σ² giving per-subject variance v with n subjects and total Σ. */
  const sumSquares = (n: number, sum: number, v: number) => (n - 1) * v + (sum * sum) / n;
  const clicks = (sum: number, v: number) => ({
    sum,
    sumSquares: sumSquares(1000, sum, v),
    positive: 900,
  });
  const report = build(p, {
    A: {
      subjects: 1000,
      quantities: { "purchase\n": { positive: 100 }, "click\n": clicks(2000, 4) },
    },
    B: {
      subjects: 1000,
      quantities: { "purchase\n": { positive: 130 }, "click\n": clicks(2150, 4.5) },
    },
    C: {
      subjects: 1000,
      quantities: { "purchase\n": { positive: 112 }, "click\n": clicks(1900, 4) },
    },
  });

  it("adjusts the 4 p-values by Holm's step-down", () => {
    const raw = {
      bCheckout: proportionReference(100, 1000, 130, 1000).p, // 0.0354884505
      bClicks: welchReference(
        { n: 1000, sum: 2000, sumSquares: sumSquares(1000, 2000, 4) },
        { n: 1000, sum: 2150, sumSquares: sumSquares(1000, 2150, 4.5) },
      ).p, // 0.1038999064
      cClicks: welchReference(
        { n: 1000, sum: 2000, sumSquares: sumSquares(1000, 2000, 4) },
        { n: 1000, sum: 1900, sumSquares: sumSquares(1000, 1900, 4) },
      ).p, // 0.2636868869
      cCheckout: proportionReference(100, 1000, 112, 1000).p, // 0.3833966925
    };
    // scipy: 0.03548845046647471, 0.10389990637560093, 0.26368688691073394, 0.3833966925145822
    expectClose(raw.bCheckout, 0.03548845046647471, 1e-8);
    expectClose(raw.bClicks, 0.10389990637560093, 1e-6);
    expectClose(raw.cClicks, 0.26368688691073394, 1e-6);
    expectClose(raw.cCheckout, 0.3833966925145822, 1e-8);
    expect(comparisonOf(report, "B", "checkout").pValue).toBeCloseTo(raw.bCheckout, 12);
    expect(comparisonOf(report, "B", "clicks").pValue).toBeCloseTo(raw.bClicks, 12);
    expect(comparisonOf(report, "C", "clicks").pValue).toBeCloseTo(raw.cClicks, 12);
    expect(comparisonOf(report, "C", "checkout").pValue).toBeCloseTo(raw.cCheckout, 12);

    // Sorted: p(1) = B checkout < p(2) = B clicks < p(3) = C clicks < p(4) = C checkout.
    // Holm: 4·p(1) = 0.141954; max(that, 3·p(2)) = 0.311700; max(that, 2·p(3)) = 0.527374;
    // max(that, 1·p(4) = 0.383397) = 0.527374 (monotonicity carries the previous value).
    const h1 = 4 * raw.bCheckout;
    const h2 = Math.max(h1, 3 * raw.bClicks);
    const h3 = Math.max(h2, 2 * raw.cClicks);
    const h4 = Math.max(h3, raw.cCheckout);
    expect(h4).toBe(h3);
    expectClose(comparisonOf(report, "B", "checkout").adjustedPValue, h1, 1e-9);
    expectClose(comparisonOf(report, "B", "clicks").adjustedPValue, h2, 1e-9);
    expectClose(comparisonOf(report, "C", "clicks").adjustedPValue, h3, 1e-9);
    expectClose(comparisonOf(report, "C", "checkout").adjustedPValue, h4, 1e-9);
    expectClose(comparisonOf(report, "B", "checkout").adjustedPValue, 0.14195380186589884, 1e-7);
    expectClose(comparisonOf(report, "C", "checkout").adjustedPValue, 0.5273737738214679, 1e-6);
  });

  it("keeps the raw significance but not the adjusted one", () => {
    const b = comparisonOf(report, "B", "checkout");
    expect(b.significant).toBe(true); // 0.0355 < 0.05
    expect(b.adjustedSignificant).toBe(false); // 0.142 ≥ 0.05
    expect(report.correction).toBe("holm");
    expect(CORRECTION).toBe("holm");
  });

  it("counts only the comparisons that exist in the family", () => {
    // C has no subjects: its two comparisons are absent, so m = 2 (B's only).
    const r = build(p, {
      A: {
        subjects: 1000,
        quantities: { "purchase\n": { positive: 100 }, "click\n": clicks(2000, 4) },
      },
      B: {
        subjects: 1000,
        quantities: { "purchase\n": { positive: 130 }, "click\n": clicks(2150, 4.5) },
      },
    });
    expect(resultOf(r, "C", "checkout").comparison).toBeUndefined();
    expect(resultOf(r, "C", "clicks").comparison).toBeUndefined();
    expect(resultOf(r, "C", "checkout").sampleSize).toBe(0);
    const pb = comparisonOf(r, "B", "checkout").pValue;
    const pc = comparisonOf(r, "B", "clicks").pValue;
    expectClose(comparisonOf(r, "B", "checkout").adjustedPValue, 2 * pb, 1e-12); // 0.0709769
    expectClose(comparisonOf(r, "B", "clicks").adjustedPValue, Math.max(2 * pb, pc), 1e-12); // 0.1039
  });
});

describe("sample ratio mismatch", () => {
  const p = plan(AB, []);

  it("fires on a 55/45 split at n = 20,000", () => {
    // Expected 10,000 each: χ² = 2·1000²/10000 = 200; p = P(χ²₁ ≥ 200) = 2Φ(−√200) = 2.0884875838e-45.
    const r = build(p, { control: { subjects: 11_000 }, treatment: { subjects: 9_000 } });
    expect(r.srm?.mismatch).toBe(true);
    expectClose(r.srm?.chiSquare, 200, 1e-12);
    expect(r.srm?.pValue).toBeLessThan(0.001);
    expectClose(r.srm?.pValue, 2 * Phi(-Math.sqrt(200)), 1e-6);
    expectClose(r.srm?.pValue, 2.0884875837625688e-45, 1e-6);
  });

  it("does not fire on a fair 10,050/9,950 split", () => {
    // χ² = 2·50²/10000 = 0.5; p = 2Φ(−√0.5) = 0.4795001222.
    const r = build(p, { control: { subjects: 10_050 }, treatment: { subjects: 9_950 } });
    expect(r.srm?.mismatch).toBe(false);
    expectClose(r.srm?.chiSquare, 0.5, 1e-12);
    expectClose(r.srm?.pValue, 0.47950012218695337, 1e-8);
  });

  it("does not fire below 100 subjects, however skewed", () => {
    // 80/10: χ² = 2·35²/45 = 54.444, p = 1.599e-13, but only 90 subjects.
    const r = build(p, { control: { subjects: 80 }, treatment: { subjects: 10 } });
    expect(r.srm?.mismatch).toBe(false);
    expectClose(r.srm?.chiSquare, 2450 / 45, 1e-12);
    expect(r.srm?.pValue).toBeLessThan(0.001);
  });

  it("fires from 100 subjects on", () => {
    // 90/10: χ² = 2·40²/50 = 64.
    const r = build(p, { control: { subjects: 90 }, treatment: { subjects: 10 } });
    expect(r.srm?.mismatch).toBe(true);
    expectClose(r.srm?.chiSquare, 64, 1e-12);
  });

  it("tests against the configured weights, not an even split", () => {
    // Weights 10/40 (audience 50 %): 2,000 vs 8,000 is exactly as configured.
    const uneven = plan([variantConfig("control", 10, true), variantConfig("treatment", 40)], []);
    const r = build(uneven, { control: { subjects: 2_000 }, treatment: { subjects: 8_000 } });
    expect(r.srm?.mismatch).toBe(false);
    expect(r.srm?.chiSquare).toBe(0);
    expect(r.srm?.pValue).toBe(1);
    // 5,000/5,000 against 20/80 is a mismatch: χ² = 3000²/2000 + 3000²/8000 = 5625.
    const skewed = build(uneven, { control: { subjects: 5_000 }, treatment: { subjects: 5_000 } });
    expect(skewed.srm?.mismatch).toBe(true);
    expectClose(skewed.srm?.chiSquare, 5625, 1e-12);
  });

  it("reports p = 1 and no mismatch without subjects", () => {
    const r = build(p, {});
    expect(r.srm?.pValue).toBe(1);
    expect(r.srm?.mismatch).toBe(false);
    expect(r.srm?.chiSquare).toBe(0);
  });
});

describe("missing samples and the control", () => {
  const p = plan(AB, [metric("checkout", "conversion_rate", "purchase")]);

  it("gives no comparison when the treatment has no subjects", () => {
    const r = build(p, {
      control: { subjects: 500, quantities: { "purchase\n": { positive: 50 } } },
    });
    const t = resultOf(r, "treatment", "checkout");
    expect(t.value).toBe(0);
    expect(t.sampleSize).toBe(0);
    expect(t.comparison).toBeUndefined();
    expect(variantOf(r, "treatment").subjects).toBe(0);
    expect(variantOf(r, "treatment").exposures).toBe(0);
  });

  it("gives no comparison when the control has no subjects", () => {
    const r = build(p, {
      treatment: { subjects: 500, quantities: { "purchase\n": { positive: 50 } } },
    });
    expect(resultOf(r, "treatment", "checkout").value).toBe(0.1);
    expect(resultOf(r, "treatment", "checkout").comparison).toBeUndefined();
    expect(resultOf(r, "control", "checkout").comparison).toBeUndefined();
  });

  it("takes the variant flagged control even when it is not listed first", () => {
    const flipped = plan(
      [variantConfig("treatment", 50), variantConfig("control", 50, true)],
      p.metrics,
    );
    const r = build(flipped, {
      control: { subjects: 1000, quantities: { "purchase\n": { positive: 100 } } },
      treatment: { subjects: 1000, quantities: { "purchase\n": { positive: 130 } } },
    });
    expect(r.variants.map((v) => [v.variantKey, v.control])).toEqual([
      ["treatment", false],
      ["control", true],
    ]);
    expectClose(comparisonOf(r, "treatment", "checkout").absoluteDiff, 0.03);
    expect(resultOf(r, "control", "checkout").comparison).toBeUndefined();
  });

  it("takes the first variant as control when none is flagged", () => {
    const unflagged = plan([variantConfig("a", 50), variantConfig("b", 50)], p.metrics);
    const r = build(unflagged, {
      a: { subjects: 1000, quantities: { "purchase\n": { positive: 130 } } },
      b: { subjects: 1000, quantities: { "purchase\n": { positive: 100 } } },
    });
    expect(variantOf(r, "a").control).toBe(true);
    expect(resultOf(r, "a", "checkout").comparison).toBeUndefined();
    expectClose(comparisonOf(r, "b", "checkout").absoluteDiff, -0.03);
  });

  it("gives relative difference 0 when the control's value is 0", () => {
    const r = build(p, {
      control: { subjects: 1000 },
      treatment: { subjects: 1000, quantities: { "purchase\n": { positive: 10 } } },
    });
    const c = comparisonOf(r, "treatment", "checkout");
    expectClose(c.absoluteDiff, 0.01);
    expect(c.relativeDiff).toBe(0);
  });

  it("keeps variants in configured order with their weights", () => {
    const r = build(
      plan(
        [variantConfig("control", 20, true), variantConfig("b", 30), variantConfig("c", 50)],
        [],
      ),
      {},
    );
    expect(r.variants.map((v) => [v.variantKey, v.weight])).toEqual([
      ["control", 20],
      ["b", 30],
      ["c", 50],
    ]);
  });
});

describe("data health", () => {
  const p = plan([variantConfig("control", 10, true), variantConfig("treatment", 40)], [], {
    audiencePercent: 50,
  });
  const health: HealthFigures = {
    stored: 900,
    duplicates: 40,
    rejected: 60,
    reasons: new Map([
      ["missing_field", 10],
      ["invalid_property", 4],
      ["unknown_event_type", 20],
      ["timestamp_out_of_range", 1],
      ["archived_event_type", 5],
      ["invalid_decision_id", 4],
      ["invalid_field", 8],
      ["missing_property", 2],
      ["no_such_reason", 6],
    ]),
    pending: 7,
  };
  const report = build(p, { control: { subjects: 300 }, treatment: { subjects: 700 } }, { health });
  const dh = report.dataHealth;

  it("counts received events and the rejected and duplicate shares", () => {
    expect(dh?.receivedEvents).toBe(1000); // 900 + 40 + 60
    expect(dh?.rejectedEvents).toBe(60);
    expectClose(dh?.rejectedShare, 0.06); // 60/1000
    expect(dh?.duplicateEvents).toBe(40);
    expectClose(dh?.duplicateShare, 0.04); // 40/1000
    expect(dh?.pendingAttributionEvents).toBe(7);
  });

  it("lists at most 5 reasons, most frequent first, mapped to EventErrorCode", () => {
    // 20 unknown_event_type, 10 missing_field, 8 invalid_field, 6 no_such_reason (unmapped),
    // 5 archived_event_type; then 4 invalid_decision_id, 4 invalid_property, 2, 1 are cut.
    expect(dh?.topRejectionReasons.map((r) => [r.code, r.count])).toEqual([
      [EventErrorCode.UNKNOWN_EVENT_TYPE, 20],
      [EventErrorCode.MISSING_FIELD, 10],
      [EventErrorCode.INVALID_FIELD, 8],
      [EventErrorCode.UNSPECIFIED, 6],
      [EventErrorCode.ARCHIVED_EVENT_TYPE, 5],
    ]);
  });

  it("breaks count ties by code", () => {
    const r = build(
      p,
      {},
      {
        health: {
          ...emptyHealth(),
          rejected: 12,
          reasons: new Map([
            ["invalid_property", 4], // code 7
            ["missing_field", 4], // code 1
            ["invalid_decision_id", 4], // code 5
          ]),
        },
      },
    );
    expect(r.dataHealth?.topRejectionReasons.map((x) => x.code)).toEqual([
      EventErrorCode.MISSING_FIELD,
      EventErrorCode.INVALID_DECISION_ID,
      EventErrorCode.INVALID_PROPERTY,
    ]);
  });

  it("gives expected share weight/audiencePercent and observed share of subjects", () => {
    expect(dh?.traffic.map((t) => t.variantKey)).toEqual(["control", "treatment"]);
    expectClose(dh?.traffic[0]?.expectedShare, 0.2); // 10/50
    expectClose(dh?.traffic[1]?.expectedShare, 0.8); // 40/50
    expectClose(dh?.traffic[0]?.observedShare, 0.3); // 300/1000
    expectClose(dh?.traffic[1]?.observedShare, 0.7); // 700/1000
  });

  it("gives zero shares when nothing was received and no subject exposed", () => {
    const r = build(plan(AB, [], { audiencePercent: 0 }), {});
    expect(r.dataHealth?.receivedEvents).toBe(0);
    expect(r.dataHealth?.rejectedShare).toBe(0);
    expect(r.dataHealth?.duplicateShare).toBe(0);
    expect(r.dataHealth?.topRejectionReasons).toEqual([]);
    expect(r.dataHealth?.traffic.map((t) => [t.expectedShare, t.observedShare])).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });
});

describe("series and report fields", () => {
  const window: ReportWindow = { from: T0, to: T0 + 2 * HOUR + 30 * 60_000, bucketSeconds: 3600 };
  const p = plan(AB, [
    metric("checkout", "conversion_rate", "purchase"),
    metric("clicks", "count", "click"),
  ]);
  const report = build(
    p,
    { control: { subjects: 10 }, treatment: { subjects: 12 } },
    {
      window,
      series: {
        ends: bucketEnds(window),
        points: new Map([
          [
            "control",
            [
              { value: 0.1, sampleSize: 3 },
              { value: 0.2, sampleSize: 7 },
              { value: 0.3, sampleSize: 10 },
            ],
          ],
          ["treatment", [{ value: 0.5, sampleSize: 4 }]],
        ]),
      },
    },
  );

  it("gives one series per variant for the primary metric, buckets ending at to", () => {
    expect(report.series.map((s) => [s.variantKey, s.metricKey])).toEqual([
      ["control", "checkout"],
      ["treatment", "checkout"],
    ]);
    const control = report.series[0]?.points ?? [];
    expect(control.map((pt) => [timestampMs(pt.start!), timestampMs(pt.end!)])).toEqual([
      [T0, T0 + HOUR],
      [T0 + HOUR, T0 + 2 * HOUR],
      [T0 + 2 * HOUR, T0 + 2 * HOUR + 30 * 60_000],
    ]);
    expect(control.map((pt) => [pt.value, pt.sampleSize])).toEqual([
      [0.1, 3],
      [0.2, 7],
      [0.3, 10],
    ]);
  });

  it("fills missing points with zeros", () => {
    const treatment = report.series[1]?.points ?? [];
    expect(treatment.map((pt) => [pt.value, pt.sampleSize])).toEqual([
      [0.5, 4],
      [0, 0],
      [0, 0],
    ]);
  });

  it("carries the window, version, bucket, correction and generation time", () => {
    expect(report.experimentId).toBe("exp-1");
    expect(timestampMs(report.from!)).toBe(window.from);
    expect(timestampMs(report.to!)).toBe(window.to);
    expect(timestampMs(report.generatedAt!)).toBe(window.to + 1234);
    expect(report.bucketSeconds).toBe(3600);
    expect(report.experimentVersion).toBe(7);
    expect(report.primaryMetricKey).toBe("checkout");
    expect(report.correction).toBe("holm");
    expect(report.metrics.map((m) => m.metricKey)).toEqual(["checkout", "clicks"]);
    expect(variantOf(report, "control").metrics.map((m) => m.metricKey)).toEqual([
      "checkout",
      "clicks",
    ]);
  });
});

describe("int32 capping", () => {
  const INT32_MAX = 2_147_483_647;

  it("caps, floors at 0 and rounds", () => {
    expect(int32(INT32_MAX)).toBe(INT32_MAX);
    expect(int32(INT32_MAX + 1)).toBe(INT32_MAX);
    expect(int32(1e15)).toBe(INT32_MAX);
    expect(int32(-5)).toBe(0);
    expect(int32(2.4)).toBe(2);
    expect(int32(2.6)).toBe(3);
  });

  it("caps counts above 2,147,483,647 in the report", () => {
    const p = plan(AB, [metric("checkout", "conversion_rate", "purchase")]);
    const r = build(
      p,
      {
        control: { subjects: 2_500_000_000, exposures: 3_000_000_000 },
        treatment: { subjects: 2_500_000_000, exposures: 2_000_000_000 },
      },
      {
        health: {
          stored: 2_000_000_000,
          duplicates: 1_000_000_000,
          rejected: 2_200_000_000,
          reasons: new Map([["unknown_event_type", 2_200_000_000]]),
          pending: 5_000_000_000,
        },
      },
    );
    expect(variantOf(r, "control").exposures).toBe(INT32_MAX);
    expect(variantOf(r, "control").subjects).toBe(INT32_MAX);
    expect(variantOf(r, "treatment").exposures).toBe(2_000_000_000);
    expect(r.exposures).toBe(INT32_MAX); // 5e9
    expect(r.subjects).toBe(INT32_MAX);
    expect(resultOf(r, "control", "checkout").sampleSize).toBe(INT32_MAX);
    expect(r.metrics[0]?.sampleSize).toBe(INT32_MAX);
    expect(r.dataHealth?.receivedEvents).toBe(INT32_MAX); // 5.2e9
    expect(r.dataHealth?.rejectedEvents).toBe(INT32_MAX);
    expect(r.dataHealth?.duplicateEvents).toBe(1_000_000_000);
    expect(r.dataHealth?.pendingAttributionEvents).toBe(INT32_MAX);
    expect(r.dataHealth?.topRejectionReasons[0]?.count).toBe(INT32_MAX);
    // Shares are computed before capping: 2.2e9/5.2e9.
    expectClose(r.dataHealth?.rejectedShare, 2.2 / 5.2, 1e-12);
    // Observed shares likewise use the uncapped subjects: 0.5 each.
    expectClose(r.dataHealth?.traffic[0]?.observedShare, 0.5);
  });
});
