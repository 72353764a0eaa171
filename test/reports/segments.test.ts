/**
 * Segment filters and breakdowns (docs/segments.md) against figures worked
 * out here from the events sent: 60 subjects per variant, each first
 * exposed with a country (DE most often, then FR, US, IT, or none) and a
 * platform; some exposed again later with another country (ignored: the
 * first exposure decides), one whose earlier exposure arrives after its
 * later one. The `country` dimension has a cap of 2, so US and IT are
 * "(other)". Then the segments are rebuilt from the raw exposures and
 * every row and every segment report must come out the same.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { clone } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { CatalogService } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { ExportFormat, ReportSchema, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import type { Event } from "../../gen/lotty/events/v1/events_pb.js";
import { rebuildRollups } from "../../src/analytics/index.js";
import { holm } from "../../src/stats/index.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { seededRandom } from "../support/random.js";
import { event, eventClient, query, untilStored } from "../events/support.js";
import {
  reportClient,
  reportExperiment,
  subjectsByVariant,
  untilNothingPending,
  valuesOf,
} from "./support.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const COUNTRIES = ["DE", "DE", "DE", "DE", "FR", "FR", "FR", "US", "US", "IT", null] as const;

interface Subject {
  variant: string;
  subject: string;
  country: string | null;
  platform: string;
  exposedAt: number;
}
interface Sent {
  subject: string;
  type: string;
  at: number;
  value?: number;
}

describe("segment filters and breakdowns", () => {
  let t: TestApp;
  let experimentId: string;
  let revenue: string;
  const subjects: Subject[] = [];
  const sent: Sent[] = [];
  const T0 = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR;
  const FULL: [number, number] = [T0, T0 + 150 * MIN];
  const EARLY: [number, number] = [T0, T0 + 60 * MIN];

  beforeAll(async () => {
    t = await startTestApp();
    const catalog = client(CatalogService, t.baseUrl, t.adminKey);
    await catalog.createDimension({
      dimension: { key: "country", displayName: "Country", maxValues: 2 },
    });
    await catalog.createDimension({ dimension: { key: "platform", displayName: "Platform" } });
    await catalog.createDimension({ dimension: { key: "retired", displayName: "Retired" } });
    await catalog.archiveDimension({ key: "retired" });
    const setup = await reportExperiment(t);
    experimentId = setup.experimentId;
    revenue = setup.revenueKey;
    const rand = seededRandom(7);
    const picked = subjectsByVariant(t, setup.flagKey, 60, "seg");
    const first: Event[] = [];
    const later: Event[] = [];
    for (const [variant, list] of Object.entries(picked)) {
      for (const { subjectId, decisionId } of list) {
        const country = COUNTRIES[Math.floor(rand() * COUNTRIES.length)] ?? null;
        const platform = rand() < 0.5 ? "ios" : "android";
        const exposedAt = T0 + Math.floor(rand() * 110) * MIN + Math.floor(rand() * MIN);
        subjects.push({ variant, subject: subjectId, country, platform, exposedAt });
        const props = (c: string | null) => ({ ...(c === null ? {} : { country: c }), platform });
        const add = (e: Event, type: string, at: number, value?: number) => {
          sent.push({ subject: subjectId, type, at, value });
          return e;
        };
        const exposure = add(
          event("exposure", decisionId, { occurredAt: exposedAt, properties: props(country) }),
          "exposure",
          exposedAt,
        );
        // A later exposure with another country: sent first for some
        // subjects, so the earliest one arrives last.
        if (rand() < 0.3) {
          const again = add(
            event("exposure", decisionId, {
              occurredAt: exposedAt + 7 * MIN,
              properties: { country: "XX", platform: "web" },
            }),
            "exposure",
            exposedAt + 7 * MIN,
          );
          if (rand() < 0.5) {
            first.push(again);
            later.push(exposure);
          } else first.push(exposure, again);
        } else first.push(exposure);
        const boost = variant === "blue" && country === "DE" ? 0.4 : 0;
        if (rand() < 0.3 + boost) {
          const at = exposedAt + Math.floor(rand() * 30) * MIN;
          const value = Math.round(rand() * 5000) / 100;
          first.push(
            add(
              event("conversion", decisionId, { occurredAt: at, properties: { value } }),
              "conversion",
              at,
              value,
            ),
          );
        }
        for (let i = 0; i < 2; i++) {
          const at = exposedAt + Math.floor(rand() * 20) * MIN;
          const ms = 50 + Math.floor(rand() * 900);
          first.push(
            add(
              event("latency", decisionId, { occurredAt: at, properties: { ms } }),
              "latency",
              at,
              ms,
            ),
          );
        }
      }
    }
    const events = await eventClient(t);
    for (const batch of [first, later]) {
      for (let i = 0; i < batch.length; i += 50) {
        const answer = await events.ingestEvents({ events: batch.slice(i, i + 50) });
        expect(answer.rejected).toBe(0);
      }
      await untilStored(
        t,
        batch.map((e) => e.eventId),
        60_000,
      );
    }
    await untilNothingPending(t, experimentId, 30_000);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  /** The segment label of a subject's country under the cap of 2 (DE and FR most frequent). */
  const countryLabel = (s: Subject) =>
    s.country === null ? "(none)" : ["DE", "FR"].includes(s.country) ? s.country : "(other)";

  /** Figures of the subjects `keep` selects, for one variant and window, from what was sent. */
  function expected(keep: (s: Subject) => boolean, variant: string, [from, to]: [number, number]) {
    const mine = new Set(
      subjects.filter((s) => s.variant === variant && keep(s)).map((s) => s.subject),
    );
    const cohort = new Set(
      subjects
        .filter((s) => mine.has(s.subject) && s.exposedAt >= from && s.exposedAt < to)
        .map((s) => s.subject),
    );
    const of = (type: string) => sent.filter((e) => e.type === type && mine.has(e.subject));
    const conversions = of("conversion").filter((e) => cohort.has(e.subject) && e.at < to);
    const latencies = of("latency").filter((e) => e.at >= from && e.at < to);
    return {
      subjects: cohort.size,
      exposures: of("exposure").filter((e) => e.at >= from && e.at < to).length,
      conversions: conversions.length,
      rate: cohort.size === 0 ? 0 : new Set(conversions.map((e) => e.subject)).size / cohort.size,
      revenue: conversions.reduce((sum, e) => sum + (e.value ?? 0), 0),
      latencies: latencies.length,
      latencyMean:
        latencies.length === 0
          ? 0
          : latencies.reduce((sum, e) => sum + (e.value ?? 0), 0) / latencies.length,
    };
  }

  function actual(report: { variants: Report["variants"] }, variant: string) {
    const v = report.variants.find((r) => r.variantKey === variant)!;
    const values = valuesOf({ variants: report.variants } as Report, variant, [
      "conversion_rate",
      "conversions",
      revenue,
      "latency_mean",
    ]);
    return {
      subjects: v.subjects,
      exposures: v.exposures,
      conversions: values.conversions!.value,
      rate: values.conversion_rate!.value,
      revenue: values[revenue]!.value,
      latencies: values.latency_mean!.n,
      latencyMean: values.latency_mean!.value,
    };
  }

  function expectFigures(
    report: { variants: Report["variants"] },
    keep: (s: Subject) => boolean,
    window: [number, number],
  ) {
    for (const variant of ["control", "blue"]) {
      const e = expected(keep, variant, window);
      const a = actual(report, variant);
      expect({ ...a, revenue: 0, latencyMean: 0, rate: 0 }).toEqual({
        ...e,
        revenue: 0,
        latencyMean: 0,
        rate: 0,
      });
      expect(a.rate).toBeCloseTo(e.rate, 10);
      expect(a.revenue).toBeCloseTo(e.revenue, 8);
      expect(a.latencyMean).toBeCloseTo(e.latencyMean, 8);
    }
  }

  async function get(
    window: [number, number],
    segment: { dimension: string; values: string[] }[],
    breakdownDimension = "",
  ): Promise<Report> {
    const { report } = await reportClient(t).getExperimentReport({
      experimentId,
      from: timestampFromMs(window[0]),
      to: timestampFromMs(window[1]),
      segment,
      breakdownDimension,
    });
    return report!;
  }

  it("filters by one dimension, the first exposure's value deciding", async () => {
    for (const window of [FULL, EARLY]) {
      const report = await get(window, [{ dimension: "country", values: ["DE"] }]);
      expect(report.segment).toEqual([
        expect.objectContaining({ dimension: "country", values: ["DE"] }),
      ]);
      expectFigures(report, (s) => s.country === "DE", window);
    }
  });

  it("puts values past the cap in (other) and missing ones in (none)", async () => {
    const other = await get(FULL, [{ dimension: "country", values: ["(other)"] }]);
    expectFigures(other, (s) => s.country === "US" || s.country === "IT", FULL);
    const none = await get(FULL, [{ dimension: "country", values: ["(none)"] }]);
    expectFigures(none, (s) => s.country === null, FULL);
    const { values } = await reportClient(t).listSegmentValues({
      experimentId,
      dimension: "country",
    });
    const count = (keep: (s: Subject) => boolean) => subjects.filter(keep).length;
    expect(values.map((v) => [v.value, v.subjects])).toEqual([
      ["DE", count((s) => s.country === "DE")],
      ["FR", count((s) => s.country === "FR")],
      ["(other)", count((s) => s.country === "US" || s.country === "IT")],
      ["(none)", count((s) => s.country === null)],
    ]);
  });

  it("puts subjects exposed before a dimension was declared in (none)", async () => {
    await client(CatalogService, t.baseUrl, t.adminKey).createDimension({
      dimension: { key: "screen", displayName: "Screen" },
    });
    const none = await get(FULL, [{ dimension: "screen", values: ["(none)"] }]);
    expectFigures(none, () => true, FULL);
    const named = await get(FULL, [{ dimension: "screen", values: ["home"] }]);
    expect(named.subjects).toBe(0);
    // Archived again, so the rebuild below records what was recorded live.
    await client(CatalogService, t.baseUrl, t.adminKey).archiveDimension({ key: "screen" });
  });

  it("ANDs conditions across dimensions", async () => {
    const report = await get(EARLY, [
      { dimension: "country", values: ["DE", "FR"] },
      { dimension: "platform", values: ["ios"] },
    ]);
    expectFigures(
      report,
      (s) => (s.country === "DE" || s.country === "FR") && s.platform === "ios",
      EARLY,
    );
  });

  it("gives the whole report's figures for a filter that keeps every subject", async () => {
    for (const window of [FULL, EARLY]) {
      const whole = (
        await reportClient(t).getExperimentReport({
          experimentId,
          from: timestampFromMs(window[0]),
          to: timestampFromMs(window[1]),
        })
      ).report!;
      const all = await get(window, [
        { dimension: "country", values: ["DE", "FR", "(other)", "(none)"] },
      ]);
      const strip = (r: Report) => {
        const copy = clone(ReportSchema, r);
        copy.generatedAt = undefined;
        copy.segment = [];
        return copy;
      };
      expect(strip(all)).toEqual(strip(whole));
    }
  });

  it("breaks down by a dimension, Holm-correcting across every segment", async () => {
    const report = await get(
      FULL,
      [{ dimension: "platform", values: ["ios", "android"] }],
      "country",
    );
    expect(report.breakdownDimension).toBe("country");
    expect(report.segments.map((s) => s.value)).toEqual(["DE", "FR", "(other)", "(none)"]);
    expect(report.segmentsCompared).toBe(4);
    for (const segment of report.segments) {
      expectFigures(segment, (s) => countryLabel(s) === segment.value, FULL);
      expect(segment.subjects).toBe(segment.variants.reduce((n, v) => n + v.subjects, 0));
    }
    // Each segment's figures are those of the report filtered to it (the
    // breakdown reads every segment in one pass; the filter one by one).
    for (const segment of report.segments) {
      const alone = await get(FULL, [
        { dimension: "platform", values: ["ios", "android"] },
        { dimension: "country", values: [segment.value] },
      ]);
      const strip = (variants: Report["variants"]) =>
        variants.map((v) => ({
          ...v,
          metrics: v.metrics.map((m) => ({
            ...m,
            comparison: m.comparison && {
              ...m.comparison,
              adjustedPValue: 0,
              adjustedSignificant: false,
            },
          })),
        }));
      expect(strip(segment.variants)).toEqual(strip(alone.variants));
      expect(segment.metrics).toEqual(alone.metrics);
      expect(segment.srm).toEqual(alone.srm);
      expect([segment.subjects, segment.exposures]).toEqual([alone.subjects, alone.exposures]);
    }
    const comparisons = report.segments.flatMap((s) =>
      s.variants.flatMap((v) => v.metrics.flatMap((m) => (m.comparison ? [m.comparison] : []))),
    );
    expect(comparisons.length).toBeGreaterThan(report.segments.length);
    const adjusted = holm(comparisons.map((c) => c.pValue));
    expect(comparisons.map((c) => c.adjustedPValue)).toEqual(adjusted);
    // The filtered report itself is the whole population again.
    expectFigures(report, () => true, FULL);
  });

  it("names the field of a bad filter or breakdown", async () => {
    const reports = reportClient(t);
    const failure = async (
      segment: { dimension: string; values: string[] }[],
      breakdownDimension = "",
    ) => {
      try {
        await reports.getExperimentReport({ experimentId, segment, breakdownDimension });
      } catch (error) {
        return ConnectError.from(error);
      }
      throw new Error("no error");
    };
    const cases: [Awaited<ReturnType<typeof failure>>, RegExp][] = [
      [
        await failure([{ dimension: "nope", values: ["x"] }]),
        /^segment\[0\]\.dimension: no dimension "nope"/,
      ],
      [
        await failure([{ dimension: "retired", values: ["x"] }]),
        /^segment\[0\]\.dimension: .*archived/,
      ],
      [await failure([{ dimension: "country", values: [] }]), /^segment\[0\]\.values: /],
      [
        await failure([
          { dimension: "platform", values: ["ios"] },
          { dimension: "country", values: ["DE", "FR", "US", "IT", "(other)"] },
        ]),
        /^segment\[1\]\.values: must have at most 4 values/,
      ],
      [await failure([], "nope"), /^breakdown_dimension: /],
    ];
    for (const [error, message] of cases) {
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(message);
    }
    await expect(
      reports.listSegmentValues({ experimentId, dimension: "retired" }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
  });

  it("exports the segment and the breakdown's rows", async () => {
    const { data } = await reportClient(t).exportExperimentReport({
      experimentId,
      from: timestampFromMs(FULL[0]),
      to: timestampFromMs(FULL[1]),
      format: ExportFormat.CSV,
      segment: [{ dimension: "platform", values: ["ios"] }],
      breakdownDimension: "country",
    });
    const lines = new TextDecoder().decode(data).trimEnd().split("\r\n");
    expect(lines[0]).toMatch(/,chance_to_beat_control,segment,breakdown$/);
    const rows = lines.slice(1).map((l) => l.split(","));
    expect(rows.every((r) => r.at(-2) === "platform=ios")).toBe(true);
    const breakdowns = new Set(rows.map((r) => r.at(-1)));
    expect(breakdowns).toEqual(
      new Set(["", "country=DE", "country=FR", "country=(other)", "country=(none)"]),
    );
  });

  it("rebuilds the same segments from the raw exposures", async () => {
    const rows = async () =>
      (
        await query(
          t,
          `select subject_id, variant_key, dimension, value, exposed_at from subject_segments
           where experiment_id = $1 order by 1, 2, 3`,
          [experimentId],
        )
      ).map((r) => JSON.stringify(r));
    const live = await rows();
    expect(live.length).toBe(subjects.length * 2);
    // The first exposure decides, whatever order the exposures arrived in.
    const recorded = new Map(
      (
        await query<{ subject_id: string; value: string | null }>(
          t,
          `select subject_id, value from subject_segments where experiment_id = $1 and dimension = 'country'`,
          [experimentId],
        )
      ).map((r) => [r.subject_id, r.value]),
    );
    for (const s of subjects) expect(recorded.get(s.subject)).toBe(s.country);
    const strip = (r: Report) => {
      const copy = clone(ReportSchema, r);
      copy.generatedAt = undefined;
      return copy;
    };
    const before = await get(
      EARLY,
      [{ dimension: "country", values: ["DE", "(other)"] }],
      "platform",
    );
    await rebuildRollups(t.app.eventStore!.pool, experimentId);
    expect(await rows()).toEqual(live);
    const after = await get(
      EARLY,
      [{ dimension: "country", values: ["DE", "(other)"] }],
      "platform",
    );
    expect(strip(after)).toEqual(strip(before));
  });
});
