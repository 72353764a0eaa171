/**
 * Every metric kind against numbers worked out by hand from a small fixed
 * dataset sent through the real server, NATS and PostgreSQL: three
 * subjects per variant, events on both sides of the window edges, one
 * conversion sent before its exposure, a second exposure of one decision,
 * a duplicate and a rejected event. Three windows (B6-1): the first hour
 * (per-subject figures from the raw events, since events follow its end),
 * the second hour, and both hours (both from the rollups). Then the
 * rollups are rebuilt from the raw events and every report must come out
 * byte-identical.
 *
 * Times are minutes after T0, a whole hour at least three hours ago.
 *
 *   subject  variant  events (minute: type {properties})
 *   c1       control  1 exposure · 10 conversion {value 10} · 11 latency {ms 100} · 12 latency {ms 200}
 *   c2       control  2 exposure · 13 latency {ms 300} · 15 error · 61 conversion {value 7}
 *   c3       control  60 exposure · 75 conversion {value 5}
 *   b1       blue     1 exposure · 10 conversion {value 10} · 20 conversion {value 20} · 11 latency {ms 150}
 *   b2       blue     3 exposure · 4 exposure (same decision) · 30 conversion {value 30}
 *                     · 31 latency {ms 250} · 65 latency {ms 350} · 32 error · 33 error
 *   b3       blue     5 exposure · 6 conversion {value 40} (sent first) · 7 latency {ms 450}
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { clone } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ReportSchema, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import { EventErrorCode } from "../../gen/lotty/events/v1/events_pb.js";
import { rebuildRollups } from "../../src/analytics/index.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { event, eventClient, query, untilStored } from "../events/support.js";
import {
  countsOfVariant,
  reportClient,
  reportExperiment,
  untilNothingPending,
  reportFor,
  subjectsByVariant,
  valuesOf,
} from "./support.js";

const MIN = 60_000;
const HOUR = 60 * MIN;

describe("GetExperimentReport on a fixed dataset", () => {
  let t: TestApp;
  let experimentId: string;
  let revenue: string;
  const T0 = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR;
  const W1: [number, number] = [T0, T0 + 60 * MIN];
  const W2: [number, number] = [T0, T0 + 120 * MIN];
  const W3: [number, number] = [T0 + 60 * MIN, T0 + 120 * MIN];
  let keys: string[];

  beforeAll(async () => {
    t = await startTestApp();
    const setup = await reportExperiment(t);
    experimentId = setup.experimentId;
    revenue = setup.revenueKey;
    keys = [
      "conversion_rate",
      "conversions",
      revenue,
      "latency_mean",
      "latency_p95",
      "error_rate",
      "errors",
    ];
    const picked = subjectsByVariant(t, setup.flagKey, 3, "fixed");
    const [c1, c2, c3] = picked.control.map((s) => s.decisionId) as [string, string, string];
    const [b1, b2, b3] = picked.blue.map((s) => s.decisionId) as [string, string, string];
    const at = (minute: number) => ({ occurredAt: T0 + minute * MIN });
    const ev = (type: string, decision: string, minute: number, properties = {}) =>
      event(type, decision, { ...at(minute), properties });
    const early = ev("conversion", b3, 6, { value: 40 });
    const rest = [
      ev("exposure", c1, 1),
      ev("conversion", c1, 10, { value: 10 }),
      ev("latency", c1, 11, { ms: 100 }),
      ev("latency", c1, 12, { ms: 200 }),
      ev("exposure", c2, 2),
      ev("latency", c2, 13, { ms: 300 }),
      ev("error", c2, 15),
      ev("conversion", c2, 61, { value: 7 }),
      ev("exposure", c3, 60),
      ev("conversion", c3, 75, { value: 5 }),
      ev("exposure", b1, 1),
      ev("conversion", b1, 10, { value: 10 }),
      ev("conversion", b1, 20, { value: 20 }),
      ev("latency", b1, 11, { ms: 150 }),
      ev("exposure", b2, 3),
      ev("exposure", b2, 4),
      ev("conversion", b2, 30, { value: 30 }),
      ev("latency", b2, 31, { ms: 250 }),
      ev("latency", b2, 65, { ms: 350 }),
      ev("error", b2, 32),
      ev("error", b2, 33),
      ev("exposure", b3, 5),
      ev("latency", b3, 7, { ms: 450 }),
    ];
    const events = await eventClient(t);
    // The conversion of b3 arrives before its exposure: it waits, then counts.
    expect((await events.ingestEvents({ events: [early] })).accepted).toBe(1);
    await untilStored(t, [early.eventId]);
    expect((await events.ingestEvents({ events: rest })).accepted).toBe(rest.length);
    // A repeat of an event already sent, and an event of an unknown type.
    const again = await events.ingestEvents({
      events: [rest[1]!, ev("signup", c1, 9)],
    });
    expect(again).toMatchObject({ accepted: 0, duplicates: 1, rejected: 1 });
    await untilStored(
      t,
      [early, ...rest].map((e) => e.eventId),
    );
    await untilNothingPending(t, experimentId, 15_000);
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
  });

  it("counts the first hour: cohort by first exposure, events before the end (raw path)", async () => {
    const report = await reportFor(t, experimentId, ...W1);
    expect(countsOfVariant(report, "control")).toEqual({ exposures: 2, subjects: 2 });
    expect(countsOfVariant(report, "blue")).toEqual({ exposures: 4, subjects: 3 });
    expect({ exposures: report.exposures, subjects: report.subjects }).toEqual({
      exposures: 6,
      subjects: 5,
    });
    expect(valuesOf(report, "control", keys)).toEqual({
      conversion_rate: { value: 1 / 2, n: 2 }, // c1 of {c1, c2}; c2 converts at 61
      conversions: { value: 1, n: 2 },
      [revenue]: { value: 10, n: 2 },
      latency_mean: { value: 200, n: 3 }, // (100 + 200 + 300) / 3
      latency_p95: { value: 300, n: 3 }, // x(⌈3·0.95⌉) = x(3)
      error_rate: { value: 1 / 2, n: 2 }, // 1 error / 2 exposures
      errors: { value: 1, n: 2 },
    });
    expect(valuesOf(report, "blue", keys)).toEqual({
      conversion_rate: { value: 1, n: 3 },
      conversions: { value: 4, n: 3 }, // b1 2, b2 1, b3 1
      [revenue]: { value: 100, n: 3 }, // 10 + 20 + 30 + 40
      latency_mean: { value: 850 / 3, n: 3 }, // 150 + 250 + 450; 350 is at 65
      latency_p95: { value: 450, n: 3 },
      error_rate: { value: 2 / 4, n: 3 }, // 2 errors / (1 + 2 + 1) exposures
      errors: { value: 2, n: 3 },
    });
    expect(valuesOf(report, "", keys)).toEqual({
      conversion_rate: { value: 4 / 5, n: 5 },
      conversions: { value: 5, n: 5 },
      [revenue]: { value: 110, n: 5 },
      latency_mean: { value: 1450 / 6, n: 6 },
      latency_p95: { value: 450, n: 6 }, // x(⌈6·0.95⌉) = x(6)
      error_rate: { value: 3 / 6, n: 5 },
      errors: { value: 3, n: 5 },
    });
  });

  it("counts both hours from the rollups", async () => {
    const report = await reportFor(t, experimentId, ...W2);
    expect(countsOfVariant(report, "control")).toEqual({ exposures: 3, subjects: 3 });
    expect(countsOfVariant(report, "blue")).toEqual({ exposures: 4, subjects: 3 });
    expect(valuesOf(report, "control", keys)).toEqual({
      conversion_rate: { value: 1, n: 3 },
      conversions: { value: 3, n: 3 },
      [revenue]: { value: 22, n: 3 }, // 10 + 7 + 5
      latency_mean: { value: 200, n: 3 },
      latency_p95: { value: 300, n: 3 },
      error_rate: { value: 1 / 3, n: 3 },
      errors: { value: 1, n: 3 },
    });
    expect(valuesOf(report, "blue", keys)).toEqual({
      conversion_rate: { value: 1, n: 3 },
      conversions: { value: 4, n: 3 },
      [revenue]: { value: 100, n: 3 },
      latency_mean: { value: 300, n: 4 }, // (150 + 250 + 350 + 450) / 4
      latency_p95: { value: 450, n: 4 }, // x(⌈4·0.95⌉) = x(4)
      error_rate: { value: 2 / 4, n: 3 },
      errors: { value: 2, n: 3 },
    });
  });

  it("counts the second hour: only subjects first exposed in it, events by their own time", async () => {
    const report = await reportFor(t, experimentId, ...W3);
    // c3 was exposed at 60 (the window's inclusive start); c2's conversion
    // at 61 is in the window but c2 joined the experiment before it.
    expect(countsOfVariant(report, "control")).toEqual({ exposures: 1, subjects: 1 });
    expect(countsOfVariant(report, "blue")).toEqual({ exposures: 0, subjects: 0 });
    expect(valuesOf(report, "control", keys)).toMatchObject({
      conversion_rate: { value: 1, n: 1 },
      conversions: { value: 1, n: 1 },
      [revenue]: { value: 5, n: 1 },
      latency_mean: { value: 0, n: 0 },
      error_rate: { value: 0, n: 1 },
    });
    // MEAN and PERCENTILE count events by time: b2's latency at 65.
    expect(valuesOf(report, "blue", ["latency_mean", "latency_p95", "conversion_rate"])).toEqual({
      latency_mean: { value: 350, n: 1 },
      latency_p95: { value: 350, n: 1 },
      conversion_rate: { value: 0, n: 0 },
    });
  });

  it("changes with the window (B6-1) and reports every variant and every selected metric (B6-2, B6-3)", async () => {
    const first = await reportFor(t, experimentId, ...W1);
    const both = await reportFor(t, experimentId, ...W2);
    expect(valuesOf(first, "control", ["conversion_rate"])).not.toEqual(
      valuesOf(both, "control", ["conversion_rate"]),
    );
    for (const report of [first, both]) {
      expect(report.variants.map((v) => [v.variantKey, v.control, v.weight])).toEqual([
        ["control", true, 50],
        ["blue", false, 50],
      ]);
      for (const v of report.variants) {
        // Primary, secondary in order, then the guardrail's metric.
        expect(v.metrics.map((m) => m.metricKey)).toEqual(keys);
      }
      const [control, blue] = report.variants;
      expect(control!.metrics.filter((m) => m.comparison !== undefined)).toEqual([]);
      // Three or four latencies are too few for a p95 interval, so p95 has
      // no comparison; every other metric has one.
      expect(
        blue!.metrics.filter((m) => m.comparison !== undefined).map((m) => m.metricKey),
      ).toEqual(keys.filter((k) => k !== "latency_p95"));
      expect(report.primaryMetricKey).toBe("conversion_rate");
      expect(report.correction).toBe("holm");
    }
  });

  it("compares blue with control", async () => {
    const report = await reportFor(t, experimentId, ...W1);
    const blue = report.variants.find((v) => v.variantKey === "blue")!;
    const rate = blue.metrics.find((m) => m.metricKey === "conversion_rate")!.comparison!;
    expect(rate.absoluteDiff).toBeCloseTo(0.5, 12);
    expect(rate.relativeDiff).toBeCloseTo(1, 12);
    expect(rate.ciLow).toBeLessThan(rate.absoluteDiff);
    expect(rate.ciHigh).toBeGreaterThan(rate.absoluteDiff);
    expect(rate.pValue).toBeGreaterThan(0);
    expect(rate.adjustedPValue).toBeGreaterThanOrEqual(rate.pValue);
    expect(rate.sequentialCiLow).toBeLessThanOrEqual(rate.ciLow);
    expect(rate.sequentialCiHigh).toBeGreaterThanOrEqual(rate.ciHigh);
    expect(rate.chanceToBeatControl).toBeGreaterThan(0.5);
    // Revenue is compared per exposed subject: 100/3 − 10/2.
    const money = blue.metrics.find((m) => m.metricKey === revenue)!.comparison!;
    expect(money.absoluteDiff).toBeCloseTo(100 / 3 - 5, 12);
    expect(money.relativeDiff).toBeCloseTo((100 / 3 - 5) / 5, 12);
  });

  it("shows the cumulative primary series, ending at the report's value", async () => {
    const { report } = await reportClient(t).getExperimentReport({
      experimentId,
      from: { seconds: BigInt(W2[0] / 1000), nanos: 0 },
      to: { seconds: BigInt(W2[1] / 1000), nanos: 0 },
      bucketSeconds: 3600,
    });
    const series = Object.fromEntries(
      report!.series.map((s) => [s.variantKey, s.points.map((p) => [p.value, p.sampleSize])]),
    );
    expect(report!.bucketSeconds).toBe(3600);
    // Points are the report's figures over the subjects first exposed by
    // each hour's end: control {c1, c2} (both convert before the window's
    // end), then {c1, c2, c3}.
    expect(series).toEqual({
      control: [
        [1, 2],
        [1, 3],
      ],
      blue: [
        [1, 3],
        [1, 3],
      ],
    });
  });

  it("builds the series from the raw events too (a window ending before the last event)", async () => {
    const { report } = await reportClient(t).getExperimentReport({
      experimentId,
      from: timestampFromMs(W1[0]),
      to: timestampFromMs(W1[1]),
      bucketSeconds: 1800,
    });
    const series = Object.fromEntries(
      report!.series.map((s) => [s.variantKey, s.points.map((p) => [p.value, p.sampleSize])]),
    );
    // Everyone is first exposed in the first half hour; c2 converts at 61.
    expect(series).toEqual({
      control: [
        [0.5, 2],
        [0.5, 2],
      ],
      blue: [
        [1, 3],
        [1, 3],
      ],
    });
  });

  it("reports data health", async () => {
    // Data health covers the UTC days of receipt the window touches; the
    // events were received now, which after midnight is a day after W2's,
    // so the window runs on to now (the dataset has no events after W2).
    const report = await reportFor(t, experimentId, W2[0], Date.now());
    const health = report.dataHealth!;
    // 24 stored, 1 duplicate, 1 rejected.
    expect(health).toMatchObject({
      receivedEvents: 26,
      rejectedEvents: 1,
      duplicateEvents: 1,
      pendingAttributionEvents: 0,
    });
    expect(health.rejectedShare).toBeCloseTo(1 / 26, 12);
    expect(health.duplicateShare).toBeCloseTo(1 / 26, 12);
    expect(health.topRejectionReasons.map((r) => [r.code, r.count])).toEqual([
      [EventErrorCode.UNKNOWN_EVENT_TYPE, 1],
    ]);
    expect(health.traffic.map((s) => [s.variantKey, s.expectedShare, s.observedShare])).toEqual([
      ["control", 0.5, 0.5],
      ["blue", 0.5, 0.5],
    ]);
  });

  it("gives the same bytes after a rebuild of the rollups from the raw events", async () => {
    const strip = (r: Report) => {
      const copy = clone(ReportSchema, r);
      copy.generatedAt = undefined;
      return copy;
    };
    const windows = [W1, W2, W3];
    const before = await Promise.all(windows.map((w) => reportFor(t, experimentId, ...w)));
    const rebuilt = await rebuildRollups(t.app.eventStore!.pool, experimentId);
    expect(rebuilt.rows.report_subjects).toBe(6);
    const after = await Promise.all(windows.map((w) => reportFor(t, experimentId, ...w)));
    expect(after.map(strip)).toEqual(before.map(strip));
  });

  it("gives the same bytes whatever the statistics the planner has (issue #17)", async () => {
    // The event store's tables here were never analysed (young statistics);
    // the raw path (W1, W3) and the rollups (W2) must not depend on the plan.
    const strip = (r: Report) => {
      const copy = clone(ReportSchema, r);
      copy.generatedAt = undefined;
      return copy;
    };
    const windows = [W1, W2, W3];
    const before = await Promise.all(windows.map((w) => reportFor(t, experimentId, ...w)));
    await query(t, "analyze");
    const after = await Promise.all(windows.map((w) => reportFor(t, experimentId, ...w)));
    expect(after.map(strip)).toEqual(before.map(strip));
  });
});
