/**
 * Percentiles over large samples: above EXACT_PERCENTILE_LIMIT values a
 * report reads hourly log-scale histograms for the whole hours inside the
 * window and the raw values of the partial hours at its edges. 60,000
 * latencies are written straight into the event store and the rollups
 * rebuilt from them; every window's p95 must be within 1 % of the exact
 * order statistic, with the exact sample size, and the series must end at
 * the report's value. A small window stays exact.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { percentileRanks } from "../../src/stats/index.js";
import { EXACT_PERCENTILE_LIMIT } from "../../src/analytics/index.js";
import { rebuildRollups } from "../../src/analytics/index.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { query } from "../events/support.js";
import { reportClient, reportExperiment, reportFor, valuesOf } from "./support.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const PER_VARIANT = 30_000;

/** The i-th latency of a variant: a spread of values with many ties. */
const latency = (i: number, variant: number) =>
  20 + ((i * 7919 + variant * 104_729) % 4_999) * 0.25;
/** When it occurred: spread evenly over five hours from T0. */
const occurredAt = (T0: number, i: number) => T0 + Math.floor((i * 5 * HOUR) / PER_VARIANT);

describe("percentiles from histograms", () => {
  let t: TestApp;
  let experimentId: string;
  const T0 = Math.floor((Date.now() - 8 * HOUR) / HOUR) * HOUR;

  beforeAll(async () => {
    t = await startTestApp();
    ({ experimentId } = await reportExperiment(t, "latency_p95"));
    const store = t.app.eventStore!;
    await store.ensurePartitions([T0, T0 + 5 * HOUR]);
    await query(
      t,
      `insert into events (event_id, event_type, decision_id, flag_key, experiment_id, variant_key,
                           subject_id, occurred_at, received_at, properties, counted)
       select 'lat-' || v || '-' || i, 'latency', 'd-' || v || '-' || i, 'f', $1::uuid,
              case v when 0 then 'control' else 'blue' end, 's-' || i,
              to_timestamp(($2::float8 + floor(i * 5 * 3600000.0 / $3)) / 1000.0), now(),
              jsonb_build_object('ms', 20 + ((i * 7919 + v * 104729) % 4999) * 0.25), true
       from generate_series(0, $3 - 1) as i, generate_series(0, 1) as v`,
      [experimentId, T0, PER_VARIANT],
    );
    await rebuildRollups(store.pool, experimentId);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  /** The exact p95 of the values in [from, to), per variant index and for both. */
  function exact(from: number, to: number) {
    const values: number[][] = [[], []];
    for (const v of [0, 1]) {
      for (let i = 0; i < PER_VARIANT; i++) {
        const at = occurredAt(T0, i);
        if (at >= from && at < to) values[v]!.push(latency(i, v));
      }
    }
    const p95 = (list: number[]) => {
      const sorted = [...list].sort((a, b) => a - b);
      return {
        value: sorted[percentileRanks(sorted.length, 0.95).estimate - 1]!,
        n: sorted.length,
      };
    };
    return {
      control: p95(values[0]!),
      blue: p95(values[1]!),
      all: p95([...values[0]!, ...values[1]!]),
    };
  }

  it.each([
    ["whole hours", 0, 5 * 60],
    ["partial hours at both edges", 17, 4 * 60 + 43],
    ["one partial hour", 70, 110],
  ])("is within 1 %% of the exact order statistic (%s)", async (_name, startMinute, endMinute) => {
    const from = T0 + startMinute * MIN;
    const to = T0 + endMinute * MIN;
    const report = await reportFor(t, experimentId, from, to);
    const want = exact(from, to);
    for (const [variant, key] of [
      ["control", "control"],
      ["blue", "blue"],
      ["", "all"],
    ] as const) {
      const got = valuesOf(report, variant, ["latency_p95"]).latency_p95!;
      const expected = want[key];
      expect(got.n).toBe(expected.n);
      expect(Math.abs(got.value - expected.value) / expected.value).toBeLessThanOrEqual(0.01);
    }
    const small = want.control.n + want.blue.n <= EXACT_PERCENTILE_LIMIT;
    if (small) {
      // Exact below the limit.
      expect(valuesOf(report, "control", ["latency_p95"]).latency_p95!.value).toBe(
        want.control.value,
      );
    }
  });

  it("compares the variants with an interval from the histograms", async () => {
    const report = await reportFor(t, experimentId, T0, T0 + 5 * HOUR);
    const blue = report.variants.find((v) => v.variantKey === "blue")!;
    const comparison = blue.metrics.find((m) => m.metricKey === "latency_p95")!.comparison!;
    expect(comparison.ciLow).toBeLessThanOrEqual(comparison.absoluteDiff);
    expect(comparison.ciHigh).toBeGreaterThanOrEqual(comparison.absoluteDiff);
    expect(comparison.pValue).toBeGreaterThanOrEqual(0);
    expect(comparison.pValue).toBeLessThanOrEqual(1);
  });

  it("ends the percentile series at the report's value", async () => {
    const from = T0 + 17 * MIN;
    const to = T0 + 4 * HOUR + 43 * MIN;
    const { report } = await reportClient(t).getExperimentReport({
      experimentId,
      from: timestampFromMs(from),
      to: timestampFromMs(to),
      bucketSeconds: 3600,
    });
    expect(report!.primaryMetricKey).toBe("latency_p95");
    for (const series of report!.series) {
      const last = series.points.at(-1)!;
      const value = valuesOf(report!, series.variantKey, ["latency_p95"]).latency_p95!;
      expect([last.value, last.sampleSize]).toEqual([value.value, value.n]);
      // Cumulative: the sample only grows.
      const sizes = series.points.map((p) => p.sampleSize);
      expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    }
  });
});
