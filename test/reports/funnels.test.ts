/**
 * FUNNEL, RETENTION and session metrics (docs/funnels.md): events are
 * generated in the test (random subjects plus hand-made edge cases),
 * stored through the event store, and every report figure is compared
 * with a computation written here in plain JS over the generated events:
 * strict and loose funnels (order violations, events before exposure, the
 * conversion window's edge), retention (day edges, maturing subjects) and
 * sessions (gap edges). Statistics are checked against the two-proportion
 * z-test and Wilson interval computed here from their textbook formulas.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  CatalogService,
  FilterOperator,
  FunnelOrder,
  MetricKind,
  PropertyType,
} from "../../gen/lotty/catalog/v1/catalog_pb.js";
import {
  ExportFormat,
  type MetricResult,
  type Report,
} from "../../gen/lotty/reports/v1/reports_pb.js";
import type { AcceptedEvent } from "../../src/events/validation.js";
import { welchTest } from "../../src/stats/index.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import {
  greyBlue,
  makeTeam,
  makeTypedFlag,
  runExperiment,
  uniqueKey,
} from "../support/builders.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { Direction, GuardrailAction } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { reportClient } from "./support.js";

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const FUNNEL_WINDOW_S = 6 * 3600;
const SESSION_GAP_S = 600;

interface Ev {
  type: string;
  subject: string;
  variant: string;
  at: number;
  props: Record<string, unknown>;
}

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number) {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** erfc with relative error < 1.2e-7 (Numerical Recipes, Chebyshev fit). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t *
                              (-1.13520398 +
                                t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}
const Z = 1.959963984540054;

/** Two-proportion z-test (pooled statistic, unpooled Wald interval), as the textbook gives it. */
function zTest(c: [number, number], t: [number, number]) {
  const pc = c[0] / c[1];
  const pt = t[0] / t[1];
  const pooled = (c[0] + t[0]) / (c[1] + t[1]);
  const se0 = Math.sqrt(pooled * (1 - pooled) * (1 / c[1] + 1 / t[1]));
  const se = Math.sqrt((pc * (1 - pc)) / c[1] + (pt * (1 - pt)) / t[1]);
  const z = (pt - pc) / se0;
  return {
    diff: pt - pc,
    p: erfc(Math.abs(z) / Math.SQRT2),
    low: pt - pc - Z * se,
    high: pt - pc + Z * se,
  };
}

function wilson(k: number, n: number) {
  const p = k / n;
  const c = (p + (Z * Z) / (2 * n)) / (1 + (Z * Z) / n);
  const h = (Z * Math.sqrt((p * (1 - p)) / n + (Z * Z) / (4 * n * n))) / (1 + (Z * Z) / n);
  return [c - h, c + h];
}

describe("funnel, retention and session metrics", () => {
  let t: TestApp;
  let experimentId: string;
  const suffix = uniqueKey("f").slice(-6);
  const types = { view: `view_${suffix}`, cart: `cart_${suffix}`, buy: `buy_${suffix}` };
  const keys = {
    strict: `funnel_strict_${suffix}`,
    loose: `funnel_loose_${suffix}`,
    retention: `retention_d1_${suffix}`,
    retentionRange: `retention_d0_1_${suffix}`,
    sessions: `sessions_${suffix}`,
    duration: `session_time_${suffix}`,
  };
  const dimension = `plan_${suffix}`;
  const T0 = Math.floor((Date.now() - 12 * DAY) / HOUR) * HOUR;
  const FROM = T0;
  const TO = T0 + 3 * DAY;
  const events: Ev[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    const catalog = client(CatalogService, t.baseUrl, t.adminKey);
    await catalog.createDimension({ dimension: { key: dimension, displayName: "Plan" } });
    await catalog.createEventType({
      eventType: { key: types.view, name: "View", properties: [] },
    });
    await catalog.createEventType({
      eventType: {
        key: types.cart,
        name: "Cart",
        properties: [{ name: "amount", type: PropertyType.NUMBER, required: false }],
      },
    });
    await catalog.createEventType({ eventType: { key: types.buy, name: "Buy", properties: [] } });
    const steps = [
      { eventTypeKey: types.view },
      { eventTypeKey: types.cart },
      { eventTypeKey: types.buy },
    ];
    await catalog.createMetric({
      metric: {
        key: keys.strict,
        name: "Strict funnel",
        kind: MetricKind.FUNNEL,
        funnel: {
          steps,
          conversionWindowSeconds: BigInt(FUNNEL_WINDOW_S),
          order: FunnelOrder.STRICT,
        },
      },
    });
    await catalog.createMetric({
      metric: {
        key: keys.loose,
        name: "Loose funnel, carts of at least 20",
        kind: MetricKind.FUNNEL,
        funnel: {
          steps: [
            steps[0]!,
            {
              eventTypeKey: types.cart,
              filter: {
                property: "amount",
                operator: FilterOperator.GREATER_OR_EQUAL,
                value: "20",
              },
            },
            steps[2]!,
          ],
          conversionWindowSeconds: BigInt(FUNNEL_WINDOW_S),
          order: FunnelOrder.LOOSE,
        },
      },
    });
    await catalog.createMetric({
      metric: {
        key: keys.retention,
        name: "Day-1 retention",
        kind: MetricKind.RETENTION,
        eventTypeKey: types.view,
        retention: { dayFrom: 1, dayTo: 1 },
      },
    });
    await catalog.createMetric({
      metric: {
        key: keys.retentionRange,
        name: "Days 0–1 retention",
        kind: MetricKind.RETENTION,
        eventTypeKey: types.buy,
        retention: { dayFrom: 0, dayTo: 1 },
      },
    });
    await catalog.createMetric({
      metric: {
        key: keys.sessions,
        name: "Sessions",
        kind: MetricKind.SESSION_COUNT,
        session: { gapSeconds: SESSION_GAP_S },
      },
    });
    await catalog.createMetric({
      metric: {
        key: keys.duration,
        name: "Time in sessions",
        kind: MetricKind.SESSION_DURATION,
        eventTypeKey: types.view,
      },
    });
    const team = await makeTeam(t);
    const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
    const experiment = await runExperiment(
      t,
      team,
      flagKey,
      greyBlue({
        primaryMetricKey: keys.strict,
        metricKeys: [keys.loose, keys.retention, keys.retentionRange, keys.sessions, keys.duration],
      }),
    );
    experimentId = experiment.id;

    // Random subjects: exposures over four days (some after `to`), events
    // around them (some before exposure, some after `to`).
    const random = rng(42);
    const add = (type: string, subject: string, variant: string, at: number, props = {}) =>
      events.push({ type, subject, variant, at, props });
    for (let i = 0; i < 240; i++) {
      const variant = i % 2 === 0 ? "control" : "blue";
      const subject = `r-${i}`;
      const t0 = T0 + Math.floor(random() * 4 * DAY);
      add("exposure", subject, variant, t0, { [dimension]: i % 3 === 0 ? "pro" : "free" });
      if (random() < 0.3) add("exposure", subject, variant, t0 + Math.floor(random() * DAY));
      const lift = variant === "blue" ? 0.15 : 0;
      const n = Math.floor(random() * 8);
      for (let k = 0; k < n; k++) {
        const at = t0 + Math.floor((random() * 2.5 - 0.2) * DAY * (random() < 0.6 ? 0.1 : 1));
        const r = random();
        if (r < 0.45) add(types.view, subject, variant, at);
        else if (r < 0.8 + lift / 2) {
          add(types.cart, subject, variant, at, { amount: Math.floor(random() * 40) });
        } else add(types.buy, subject, variant, at);
      }
    }
    // Hand-made edge cases, all exposed at E (control).
    const E = T0 + 6 * HOUR;
    const edge = (name: string, list: [string, number, Record<string, unknown>?][]) => {
      add("exposure", name, "control", E);
      for (const [type, offset, props] of list) add(type, name, "control", E + offset, props);
    };
    // Strict: reaches all three steps; the buy is 1 ms inside the window.
    edge("e-inside", [
      [types.view, 0],
      [types.cart, MIN, { amount: 25 }],
      [types.buy, FUNNEL_WINDOW_S * SEC - 1],
    ]);
    // The buy exactly at the window's end does not count.
    edge("e-at-edge", [
      [types.view, MIN],
      [types.cart, 2 * MIN, { amount: 25 }],
      [types.buy, FUNNEL_WINDOW_S * SEC],
    ]);
    // Order violation: cart before view reaches only step 1 strictly, all loosely.
    edge("e-order", [
      [types.cart, MIN, { amount: 30 }],
      [types.view, 2 * MIN],
      [types.buy, 3 * MIN],
    ]);
    // Same instant for view and cart: not strictly after.
    edge("e-same-time", [
      [types.view, 5 * MIN],
      [types.cart, 5 * MIN, { amount: 30 }],
    ]);
    // Events before exposure never count.
    edge("e-before", [
      [types.view, -MIN],
      [types.cart, -30 * SEC, { amount: 30 }],
      [types.buy, MIN],
    ]);
    // Loose filter: a cart under 20 is not the loose funnel's step 2.
    edge("e-small-cart", [
      [types.view, MIN],
      [types.cart, 2 * MIN, { amount: 5 }],
      [types.buy, 3 * MIN],
    ]);
    // Retention day edges: day 1 is [E + 24 h, E + 48 h).
    edge("e-day1-start", [[types.view, DAY]]);
    edge("e-day1-end", [[types.view, 2 * DAY - 1]]);
    edge("e-day2-start", [[types.view, 2 * DAY]]);
    edge("e-day0-end", [[types.view, DAY - 1]]);
    // Sessions: a gap of exactly the gap continues the session, 1 ms more splits it.
    edge("e-gap-equal", [
      [types.view, SESSION_GAP_S * SEC],
      [types.view, 2 * SESSION_GAP_S * SEC + 1],
    ]);
    // Maturing: exposed 1.5 days before `to`, its day 1 ends after `to`.
    add("exposure", "e-maturing", "blue", TO - 36 * HOUR);
    add(types.view, "e-maturing", "blue", TO - 6 * HOUR);

    const accepted: AcceptedEvent[] = events.map((e, i) => ({
      eventId: `fe-${i}`,
      eventType: e.type,
      decisionId: `fd-${e.subject}`,
      flagKey,
      experimentId,
      variantKey: e.variant,
      subjectId: e.subject,
      occurredAt: e.at,
      properties: e.props as AcceptedEvent["properties"],
      exposure: e.type === "exposure",
      requiresExposure: false,
    }));
    await t.app.eventStore!.apply([
      {
        id: `funnels-${suffix}`,
        message: { v: 1, receivedAt: Date.now(), events: accepted, stats: [] },
      },
    ]);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  /** Subjects first exposed in [FROM, TO) with their variant and first exposure. */
  function cohort() {
    const first = new Map<string, { variant: string; t0: number }>();
    for (const e of events) {
      if (e.type !== "exposure") continue;
      const seen = first.get(e.subject);
      if (seen === undefined || e.at < seen.t0)
        first.set(e.subject, { variant: e.variant, t0: e.at });
    }
    return [...first.entries()]
      .filter(([, s]) => s.t0 >= FROM && s.t0 < TO)
      .map(([subject, s]) => ({
        subject,
        ...s,
        events: events.filter((e) => e.subject === subject && e.at >= s.t0 && e.at < TO),
      }));
  }

  type Step = (e: Ev) => boolean;
  const strictSteps: Step[] = [
    (e) => e.type === types.view,
    (e) => e.type === types.cart,
    (e) => e.type === types.buy,
  ];
  const looseSteps: Step[] = [
    strictSteps[0]!,
    (e) => e.type === types.cart && typeof e.props.amount === "number" && e.props.amount >= 20,
    strictSteps[2]!,
  ];

  /** Steps reached per subject: STRICT and LOOSE, in plain JS. */
  function reached(steps: Step[], strict: boolean, s: ReturnType<typeof cohort>[number]): number {
    const inWindow = s.events
      .filter((e) => e.at < s.t0 + FUNNEL_WINDOW_S * SEC)
      .sort((a, b) => a.at - b.at);
    if (!strict) {
      let k = 0;
      while (k < steps.length && inWindow.some(steps[k]!)) k++;
      return k;
    }
    let last = -Infinity;
    let k = 0;
    for (; k < steps.length; k++) {
      const next = inWindow.find((e) => steps[k]!(e) && e.at > last);
      if (next === undefined) break;
      last = next.at;
    }
    return k;
  }

  function expectedFunnel(steps: Step[], strict: boolean, variant: string) {
    const subjects = cohort().filter((s) => variant === "" || s.variant === variant);
    const counts = steps.map(
      (_, i) => subjects.filter((s) => reached(steps, strict, s) > i).length,
    );
    return { n: subjects.length, counts };
  }

  async function report(to = TO): Promise<Report> {
    const { report } = await reportClient(t).getExperimentReport({
      experimentId,
      from: timestampFromMs(FROM),
      to: timestampFromMs(to),
    });
    return report!;
  }

  const metricOf = (r: Report, variant: string, key: string): MetricResult =>
    (variant === "" ? r.metrics : r.variants.find((v) => v.variantKey === variant)!.metrics).find(
      (m) => m.metricKey === key,
    )!;

  it.each([
    ["strict", true],
    ["loose", false],
  ] as const)(
    "counts every step of the %s funnel as the raw events give it",
    async (name, strict) => {
      const r = await report();
      const key = strict ? keys.strict : keys.loose;
      const steps = strict ? strictSteps : looseSteps;
      for (const variant of ["control", "blue", ""]) {
        const want = expectedFunnel(steps, strict, variant);
        const m = metricOf(r, variant, key);
        expect(m.funnel!.subjects).toBe(want.n);
        expect(m.funnel!.steps.map((s) => s.subjects)).toEqual(want.counts);
        expect(m.sampleSize).toBe(want.n);
        expect(m.value).toBeCloseTo(want.counts[2]! / want.n, 12);
        m.funnel!.steps.forEach((s, i) => {
          const prev = i === 0 ? want.n : want.counts[i - 1]!;
          expect(s.share).toBeCloseTo(want.counts[i]! / want.n, 12);
          expect(s.stepConversion).toBeCloseTo(prev === 0 ? 0 : want.counts[i]! / prev, 12);
          expect(s.dropOff).toBeCloseTo(prev === 0 ? 0 : 1 - want.counts[i]! / prev, 12);
          const [low, high] = wilson(want.counts[i]!, want.n);
          expect(s.shareInterval!.low).toBeCloseTo(low!, 9);
          expect(s.shareInterval!.high).toBeCloseTo(high!, 9);
        });
      }
      // The edge cases, one by one.
      const of = (subject: string) =>
        reached(
          steps,
          strict,
          cohort().find((s) => s.subject === subject)!,
        );
      expect(of("e-inside")).toBe(3);
      expect(of("e-at-edge")).toBe(2);
      expect(of("e-before")).toBe(0);
      expect(of("e-order")).toBe(strict ? 1 : 3);
      expect(of("e-same-time")).toBe(strict ? 1 : 2);
      expect(of("e-small-cart")).toBe(strict ? 3 : 1);
      expect(name).toBeDefined();
    },
  );

  it("compares each funnel step with the control by a two-proportion z-test", async () => {
    const r = await report();
    const c = expectedFunnel(strictSteps, true, "control");
    const b = expectedFunnel(strictSteps, true, "blue");
    const blue = metricOf(r, "blue", keys.strict);
    blue.funnel!.steps.forEach((s, i) => {
      const want = zTest([c.counts[i]!, c.n], [b.counts[i]!, b.n]);
      expect(s.comparison!.absoluteDiff).toBeCloseTo(want.diff, 12);
      expect(s.comparison!.pValue).toBeCloseTo(want.p, 6);
      expect(s.comparison!.ciLow).toBeCloseTo(want.low, 9);
      expect(s.comparison!.ciHigh).toBeCloseTo(want.high, 9);
    });
    // The headline comparison is the last step's.
    const last = zTest([c.counts[2]!, c.n], [b.counts[2]!, b.n]);
    expect(blue.comparison!.pValue).toBeCloseTo(last.p, 6);
    expect(metricOf(r, "control", keys.strict).comparison).toBeUndefined();
    expect(metricOf(r, "control", keys.strict).funnel!.steps[0]!.comparison).toBeUndefined();
  });

  it("counts retention over whole days and leaves maturing subjects out", async () => {
    const r = await report();
    for (const [key, type, dayFrom, dayTo] of [
      [keys.retention, types.view, 1, 1],
      [keys.retentionRange, types.buy, 0, 1],
    ] as const) {
      for (const variant of ["control", "blue", ""]) {
        const subjects = cohort().filter((s) => variant === "" || s.variant === variant);
        const matured = subjects.filter((s) => s.t0 + (dayTo + 1) * DAY <= TO);
        const retained = matured.filter((s) =>
          s.events.some(
            (e) =>
              e.type === type && e.at >= s.t0 + dayFrom * DAY && e.at < s.t0 + (dayTo + 1) * DAY,
          ),
        );
        const m = metricOf(r, variant, key);
        expect(m.retention).toMatchObject({
          eligibleSubjects: matured.length,
          retainedSubjects: retained.length,
          maturingSubjects: subjects.length - matured.length,
        });
        expect(m.sampleSize).toBe(matured.length);
        expect(matured.length).toBeGreaterThan(0);
        expect(m.value).toBeCloseTo(retained.length / matured.length, 12);
      }
    }
    // Day edges: day 1 starts at exactly +24 h and ends just before +48 h.
    const day1 = (subject: string) => {
      const s = cohort().find((x) => x.subject === subject)!;
      return s.events.some(
        (e) => e.type === types.view && e.at >= s.t0 + DAY && e.at < s.t0 + 2 * DAY,
      );
    };
    expect([
      day1("e-day1-start"),
      day1("e-day1-end"),
      day1("e-day2-start"),
      day1("e-day0-end"),
    ]).toEqual([true, true, false, false]);
    const maturingBlue = metricOf(r, "blue", keys.retention).retention!.maturingSubjects;
    expect(maturingBlue).toBeGreaterThanOrEqual(1);
    // Retention compares like a conversion rate.
    const c = metricOf(r, "control", keys.retention).retention!;
    const b = metricOf(r, "blue", keys.retention).retention!;
    const want = zTest(
      [c.retainedSubjects, c.eligibleSubjects],
      [b.retainedSubjects, b.eligibleSubjects],
    );
    expect(metricOf(r, "blue", keys.retention).comparison!.pValue).toBeCloseTo(want.p, 6);
  });

  it("splits sessions at gaps longer than the gap and compares the means by Welch's test", async () => {
    const r = await report();
    const perSubject = (subjectEvents: Ev[], gapMs: number, typeFilter: string | null) => {
      const times = subjectEvents
        .filter((e) => typeFilter === null || e.type === typeFilter)
        .map((e) => e.at)
        .sort((a, b) => a - b);
      let sessions = times.length === 0 ? 0 : 1;
      let seconds = 0;
      for (let i = 1; i < times.length; i++) {
        const gap = times[i]! - times[i - 1]!;
        if (gap > gapMs) sessions++;
        else seconds += gap / 1000;
      }
      return { sessions, seconds };
    };
    const summaries = new Map<string, { n: number; mean: number; variance: number }[]>();
    for (const variant of ["control", "blue", ""]) {
      const subjects = cohort().filter((s) => variant === "" || s.variant === variant);
      const counts = subjects.map((s) => perSubject(s.events, SESSION_GAP_S * SEC, null).sessions);
      const durations = subjects.map((s) => perSubject(s.events, 1800 * SEC, types.view).seconds);
      const stats = [counts, durations].map((xs) => {
        const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
        const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
        return { n: xs.length, mean, variance };
      });
      summaries.set(variant, stats);
      expect(metricOf(r, variant, keys.sessions).value).toBeCloseTo(stats[0]!.mean, 9);
      expect(metricOf(r, variant, keys.sessions).sampleSize).toBe(subjects.length);
      expect(metricOf(r, variant, keys.duration).value).toBeCloseTo(stats[1]!.mean, 6);
    }
    const edge = cohort().find((s) => s.subject === "e-gap-equal")!;
    // Exposure, view at +gap (same session), view at +2·gap + 1 ms (new session).
    expect(perSubject(edge.events, SESSION_GAP_S * SEC, null).sessions).toBe(2);
    const [c, b] = [summaries.get("control")!, summaries.get("blue")!];
    const want = welchTest(c[0]!, b[0]!);
    const got = metricOf(r, "blue", keys.sessions).comparison!;
    expect(got.absoluteDiff).toBeCloseTo(b[0]!.mean - c[0]!.mean, 9);
    expect(got.ciLow).toBeCloseTo(want.lower, 6);
    expect(got.ciHigh).toBeCloseTo(want.upper, 6);
    expect(got.pValue).toBeCloseTo(want.pValue, 6);
  });

  it("honours a report's `to`: later exposures and events do not count", async () => {
    const to = T0 + 36 * HOUR;
    const r = await report(to);
    const subjects = cohort().filter((s) => s.t0 < to);
    const m = metricOf(r, "", keys.strict);
    expect(m.funnel!.subjects).toBe(subjects.length);
    const reachedFirst = subjects.filter((s) =>
      s.events.some(
        (e) => e.type === types.view && e.at < to && e.at < s.t0 + FUNNEL_WINDOW_S * SEC,
      ),
    ).length;
    expect(m.funnel!.steps[0]!.subjects).toBe(reachedFirst);
    const ret = metricOf(r, "", keys.retention).retention!;
    expect(ret.maturingSubjects).toBe(subjects.filter((s) => s.t0 + 2 * DAY > to).length);
  });

  it("exports funnel steps and retention in the CSV", async () => {
    const { data } = await reportClient(t).exportExperimentReport({
      experimentId,
      from: timestampFromMs(FROM),
      to: timestampFromMs(TO),
      format: ExportFormat.CSV,
    });
    const csv = new TextDecoder().decode(data);
    const r = await report();
    const blue = metricOf(r, "blue", keys.strict);
    for (const [i, step] of blue.funnel!.steps.entries()) {
      expect(csv).toContain(`blue,false,`);
      expect(csv).toContain(`${keys.strict}[step ${i + 1}: ${step.eventTypeKey}]`);
    }
  });

  it("filters and breaks down funnels by segment", async () => {
    const planOf = (subject: string) => {
      const i = subject.startsWith("r-") ? Number(subject.slice(2)) : Number.NaN;
      return Number.isNaN(i) ? "(none)" : i % 3 === 0 ? "pro" : "free";
    };
    const count = (variant: string, plan: string) => {
      const subjects = cohort().filter((s) => s.variant === variant && planOf(s.subject) === plan);
      return {
        n: subjects.length,
        counts: strictSteps.map(
          (_, i) => subjects.filter((s) => reached(strictSteps, true, s) > i).length,
        ),
      };
    };
    const { report: filtered } = await reportClient(t).getExperimentReport({
      experimentId,
      from: timestampFromMs(FROM),
      to: timestampFromMs(TO),
      segment: [{ dimension, values: ["pro"] }],
      breakdownDimension: dimension,
    });
    for (const variant of ["control", "blue"]) {
      const want = count(variant, "pro");
      const got = metricOf(filtered!, variant, keys.strict).funnel!;
      expect([got.subjects, ...got.steps.map((s) => s.subjects)]).toEqual([want.n, ...want.counts]);
    }
    const { report: broken } = await reportClient(t).getExperimentReport({
      experimentId,
      from: timestampFromMs(FROM),
      to: timestampFromMs(TO),
      breakdownDimension: dimension,
    });
    const labels = broken!.segments.map((s) => s.value).sort();
    expect(labels).toEqual(["(none)", "free", "pro"]);
    for (const segment of broken!.segments) {
      for (const variant of segment.variants) {
        const want = count(variant.variantKey, segment.value);
        const got = variant.metrics.find((m) => m.metricKey === keys.strict)!.funnel!;
        expect([got.subjects, ...got.steps.map((s) => s.subjects)]).toEqual([
          want.n,
          ...want.counts,
        ]);
      }
    }
  });

  it("keeps funnel, retention and session metrics out of guardrails", async () => {
    const team = await makeTeam(t);
    const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
    await expect(
      runExperiment(
        t,
        team,
        flagKey,
        greyBlue({
          primaryMetricKey: keys.strict,
          guardrails: [
            {
              metricKey: keys.sessions,
              threshold: 10,
              direction: Direction.INCREASE_IS_BAD,
              windowSeconds: 600,
              minSampleSize: 0,
              action: GuardrailAction.PAUSE,
            },
          ],
        }),
      ),
    ).rejects.toThrow("experiment.guardrails[0].metric_key");
  });

  it("rejects bad definitions naming the field", async () => {
    const catalog = client(CatalogService, t.baseUrl, t.adminKey);
    const attempt = async (metric: Parameters<typeof catalog.createMetric>[0]["metric"]) => {
      try {
        await catalog.createMetric({ metric });
      } catch (error) {
        const e = ConnectError.from(error);
        expect(e.code).toBe(Code.InvalidArgument);
        return e.rawMessage;
      }
      throw new Error("accepted");
    };
    const base = { key: uniqueKey("bad"), name: "Bad", kind: MetricKind.FUNNEL };
    expect(
      await attempt({
        ...base,
        funnel: {
          steps: [{ eventTypeKey: types.view }, { eventTypeKey: "no_such_type" }],
          conversionWindowSeconds: 3600n,
          order: FunnelOrder.STRICT,
        },
      }),
    ).toContain("metric.funnel.steps[1].event_type_key");
    const bad = await attempt({
      ...base,
      funnel: {
        steps: [
          { eventTypeKey: types.view },
          {
            eventTypeKey: types.cart,
            filter: { property: "amount", operator: FilterOperator.GREATER, value: "lots" },
          },
        ],
        conversionWindowSeconds: 10n,
        order: FunnelOrder.UNSPECIFIED,
      },
    });
    expect(bad).toContain("metric.funnel.conversion_window_seconds");
    expect(bad).toContain("metric.funnel.order");
    expect(
      await attempt({
        ...base,
        funnel: {
          steps: [
            { eventTypeKey: types.view },
            {
              eventTypeKey: types.cart,
              filter: { property: "amount", operator: FilterOperator.GREATER, value: "lots" },
            },
          ],
          conversionWindowSeconds: 3600n,
          order: FunnelOrder.LOOSE,
        },
      }),
    ).toContain("metric.funnel.steps[1].filter.value");
    expect(
      await attempt({
        ...base,
        funnel: {
          steps: [{ eventTypeKey: types.view }],
          conversionWindowSeconds: 3600n,
          order: FunnelOrder.LOOSE,
        },
      }),
    ).toContain("metric.funnel.steps");
    expect(await attempt({ ...base, funnel: undefined })).toContain("metric.funnel");
    expect(
      await attempt({
        ...base,
        kind: MetricKind.RETENTION,
        eventTypeKey: types.view,
        retention: { dayFrom: 3, dayTo: 1 },
      }),
    ).toContain("metric.retention.day_to");
    expect(
      await attempt({ ...base, kind: MetricKind.SESSION_COUNT, session: { gapSeconds: 5 } }),
    ).toContain("metric.session.gap_seconds");
    expect(
      await attempt({
        ...base,
        kind: MetricKind.COUNT,
        eventTypeKey: types.view,
        retention: { dayFrom: 1, dayTo: 1 },
      }),
    ).toContain("metric.retention");
  });

  it("reads a funnel metric back as it was defined", async () => {
    const catalog = client(CatalogService, t.baseUrl, t.adminKey);
    const { metric } = await catalog.getMetric({ key: keys.loose });
    expect(metric!.kind).toBe(MetricKind.FUNNEL);
    expect(metric!.funnel!.order).toBe(FunnelOrder.LOOSE);
    expect(metric!.funnel!.conversionWindowSeconds).toBe(BigInt(FUNNEL_WINDOW_S));
    expect(metric!.funnel!.steps.map((s) => s.eventTypeKey)).toEqual([
      types.view,
      types.cart,
      types.buy,
    ]);
    expect(metric!.funnel!.steps[1]!.filter).toMatchObject({
      property: "amount",
      operator: FilterOperator.GREATER_OR_EQUAL,
      value: "20",
    });
    const { metric: sessions } = await catalog.getMetric({ key: keys.duration });
    expect(sessions!.session!.gapSeconds).toBe(1800);
  });
});
