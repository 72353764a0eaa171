/**
 * The live aggregates against a full recomputation: a seeded random
 * stream of exposures, conversions (with values), errors and latencies for
 * 240 subjects, sent in shuffled, concurrent batches with repeats and
 * conversions ahead of their exposures. The reports for several windows
 * must be byte-identical before and after rebuilding the rollups from the
 * raw events, and their per-subject figures must equal what is computed
 * here from what was sent.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { clone } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ReportSchema, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import type { Event } from "../../gen/lotty/events/v1/events_pb.js";
import { ROLLUP_TABLES, rebuildRollups } from "../../src/analytics/index.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { seededRandom } from "../support/random.js";
import { CatalogService } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { client } from "../support/clients.js";
import {
  event,
  eventClient,
  query,
  untilEventTypeInSnapshot,
  untilStored,
} from "../events/support.js";
import {
  reportClient,
  reportExperiment,
  reportFor,
  subjectsByVariant,
  untilNothingPending,
  valuesOf,
} from "../reports/support.js";

const SEED = 61;
const PER_VARIANT = 120;
const MIN = 60_000;
const HOUR = 60 * MIN;

const random = seededRandom;

interface Sent {
  event: Event;
  variant: string;
  subject: string;
  type: string;
  at: number;
  value?: number;
}

describe("live report aggregates equal a recomputation from raw events", () => {
  let t: TestApp;
  let experimentId: string;
  let revenue: string;
  const sent: Sent[] = [];
  const T0 = Math.floor((Date.now() - 4 * HOUR) / HOUR) * HOUR;
  const windows: [number, number][] = [
    [T0, T0 + 180 * MIN],
    [T0, T0 + 90 * MIN],
    [T0 + 45 * MIN, T0 + 150 * MIN],
    [T0 + 90 * MIN, T0 + 180 * MIN],
  ];

  beforeAll(async () => {
    t = await startTestApp();
    const setup = await reportExperiment(t);
    experimentId = setup.experimentId;
    revenue = setup.revenueKey;
    // A type counted without an exposure: its events can reach a subject's
    // figures before the subject is exposed (and joins a cohort).
    const visit = `visit_${experimentId.slice(0, 8)}`;
    await client(CatalogService, t.baseUrl, t.adminKey).createEventType({
      eventType: {
        key: visit,
        name: "Visit",
        description: "A page view.",
        requiresExposure: false,
      },
    });
    await untilEventTypeInSnapshot(t, visit, false);
    const rand = random(SEED);
    const picked = subjectsByVariant(t, setup.flagKey, PER_VARIANT, "rnd");
    for (const [variant, list] of Object.entries(picked)) {
      for (const { subjectId, decisionId } of list) {
        const exposedAt = T0 + Math.floor(rand() * 170) * MIN + Math.floor(rand() * MIN);
        const add = (type: string, at: number, properties: Record<string, number> = {}) =>
          sent.push({
            event: event(type, decisionId, { occurredAt: at, properties }),
            variant,
            subject: subjectId,
            type,
            at,
            value: properties.value ?? properties.ms,
          });
        add("exposure", exposedAt);
        if (rand() < 0.3) add("exposure", exposedAt + Math.floor(rand() * 30 * MIN));
        const conversions = rand() < 0.5 ? 1 + Math.floor(rand() * 3) : 0;
        for (let i = 0; i < conversions; i++) {
          // Some conversions happen (by their clock) before the exposure.
          const at = exposedAt + Math.floor((rand() - 0.1) * 40 * MIN);
          add("conversion", at, { value: Math.round(rand() * 10_000) / 100 });
        }
        if (rand() < 0.2) add("error", exposedAt + Math.floor(rand() * 20 * MIN));
        if (rand() < 0.5) add(visit, exposedAt + Math.floor((rand() - 0.5) * 20 * MIN));
        for (let i = 0; i < 2; i++) {
          add("latency", exposedAt + Math.floor(rand() * 20 * MIN), {
            ms: 50 + Math.floor(rand() * 900),
          });
        }
      }
    }
    // Shuffle, repeat some events, and send conversions first half the time.
    const order = sent.map((s) => s.event);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const repeats = order.filter(() => rand() < 0.1);
    const stream = [...order, ...repeats];
    const events = await eventClient(t);
    const batches: Event[][] = [];
    for (let i = 0; i < stream.length; i += 37) batches.push(stream.slice(i, i + 37));
    await Promise.all(
      [0, 1, 2, 3].map(async (lane) => {
        for (let b = lane; b < batches.length; b += 4) {
          const answer = await events.ingestEvents({ events: batches[b]! });
          expect(answer.rejected).toBe(0);
        }
      }),
    );
    await untilStored(
      t,
      sent.map((s) => s.event.eventId),
      60_000,
    );
    await untilNothingPending(t, experimentId, 30_000);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  /**
   * What the report should say for a window, computed from what was sent:
   * the subjects first exposed in [from, to), their events before `asOf`
   * (the window's end).
   */
  function expected(from: number, to: number, variant: string, asOf = to) {
    const mine = sent.filter((s) => s.variant === variant);
    const firstExposure = new Map<string, number>();
    for (const s of mine) {
      if (s.type === "exposure") {
        firstExposure.set(s.subject, Math.min(firstExposure.get(s.subject) ?? Infinity, s.at));
      }
    }
    const cohort = new Set(
      [...firstExposure].filter(([, at]) => at >= from && at < to).map(([subject]) => subject),
    );
    const before = mine.filter((s) => cohort.has(s.subject) && s.at < asOf);
    const conversions = before.filter((s) => s.type === "conversion");
    const inWindow = mine.filter((s) => s.type === "latency" && s.at >= from && s.at < to);
    return {
      subjects: cohort.size,
      conversions: conversions.length,
      converters: new Set(conversions.map((s) => s.subject)).size,
      revenue: conversions.reduce((sum, s) => sum + (s.value ?? 0), 0),
      latencies: inWindow.length,
      latencySum: inWindow.reduce((sum, s) => sum + (s.value ?? 0), 0),
    };
  }

  it("counts what was sent, window by window", async () => {
    for (const [from, to] of windows) {
      const report = await reportFor(t, experimentId, from, to);
      for (const variant of ["control", "blue"]) {
        const e = expected(from, to, variant);
        const v = valuesOf(report, variant, [
          "conversion_rate",
          "conversions",
          revenue,
          "latency_mean",
        ]);
        expect({
          subjects: report.variants.find((r) => r.variantKey === variant)!.subjects,
          conversions: v.conversions!.value,
          rate: v.conversion_rate!.value,
          latencies: v.latency_mean!.n,
        }).toEqual({
          subjects: e.subjects,
          conversions: e.conversions,
          rate: e.subjects === 0 ? 0 : e.converters / e.subjects,
          latencies: e.latencies,
        });
        expect(v[revenue]!.value).toBeCloseTo(e.revenue, 8);
        expect(v.latency_mean!.value).toBeCloseTo(
          e.latencies === 0 ? 0 : e.latencySum / e.latencies,
          8,
        );
      }
    }
  });

  it("builds every series point from the subjects first exposed by its end, as of the window's end", async () => {
    // Minute edges, buckets that cut hours, windows ending before the last
    // event and one ending now.
    const cases: [number, number | undefined, number][] = [
      [T0 + 7 * MIN, T0 + 143 * MIN, 1500],
      [T0 + 45 * MIN, T0 + 151 * MIN, 900],
      [T0 - 20 * MIN, T0 + 61 * MIN, 1260],
      [T0 + 3 * MIN, T0 + 110 * MIN, 1800],
      [T0 + 13 * MIN, undefined, 1200],
    ];
    for (const [from, to, bucketSeconds] of cases) {
      const { report } = await reportClient(t).getExperimentReport({
        experimentId,
        from: timestampFromMs(from),
        to: to === undefined ? undefined : timestampFromMs(to),
        bucketSeconds,
      });
      const end = report!.to === undefined ? Date.now() : Number(report!.to.seconds) * 1000;
      for (const series of report!.series) {
        const points = series.points.map((p, k) => {
          const e = expected(
            from,
            Math.min(end, from + (k + 1) * bucketSeconds * 1000),
            series.variantKey,
            end,
          );
          return [p.sampleSize, p.value - (e.subjects === 0 ? 0 : e.converters / e.subjects)];
        });
        const want = series.points.map((_, k) => [
          expected(
            from,
            Math.min(end, from + (k + 1) * bucketSeconds * 1000),
            series.variantKey,
            end,
          ).subjects,
          0,
        ]);
        expect(points.map(([n, d]) => [n, Math.round(d! * 1e9) / 1e9])).toEqual(want);
      }
    }
  });

  it("gives byte-identical reports after a rebuild", async () => {
    const strip = (r: Report) => {
      const copy = clone(ReportSchema, r);
      copy.generatedAt = undefined;
      return copy;
    };
    const before = await Promise.all(windows.map(([f, to]) => reportFor(t, experimentId, f, to)));
    const rollups = async () => {
      const tables: Record<string, unknown[]> = {};
      for (const table of ROLLUP_TABLES) {
        const rows = await query(t, `select * from ${table} where experiment_id = $1`, [
          experimentId,
        ]);
        tables[table] = rows
          // A cohort row every subject has left holds zeros; a rebuild writes none.
          .filter(
            (r) =>
              table !== "cohort_stats" ||
              ["subjects", "total", "total_squares", "total_by_exposures"].some(
                (c) => Number(r[c]) !== 0,
              ),
          )
          .map((r) =>
            JSON.stringify(r, (_key, value: unknown) =>
              // numeric text: the same number may carry a different scale.
              typeof value === "string" && /^-?\d+\.\d+$/.test(value)
                ? String(Number(value))
                : value,
            ),
          )
          .sort();
      }
      return tables;
    };
    const live = await rollups();
    expect(live.hour_value_histograms!.length).toBeGreaterThan(0);
    await rebuildRollups(t.app.eventStore!.pool, experimentId);
    // Every rollup row is the same, histograms included.
    expect(await rollups()).toEqual(live);
    const after = await Promise.all(windows.map(([f, to]) => reportFor(t, experimentId, f, to)));
    expect(after.map(strip)).toEqual(before.map(strip));
    // And the same report twice gives the same bytes.
    const again = await Promise.all(windows.map(([f, to]) => reportFor(t, experimentId, f, to)));
    expect(again.map(strip)).toEqual(after.map(strip));
  });
});
