/**
 * Reports filtered by a saved segment (docs/saved-segments.md#report-filter)
 * against figures worked out here from the events sent: 50 subjects per
 * variant, each first exposed with a country, a platform and a session
 * count (a number, recorded as its JSON text) or without some of them;
 * some exposed again later with other values (ignored: the first exposure
 * decides). The segment's rule is evaluated by hand in the test. The
 * `country` cap of 2 does not matter to a saved segment: it reads the
 * recorded values themselves.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { CatalogService } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { ExportFormat, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import type { Event } from "../../gen/lotty/events/v1/events_pb.js";
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
const COUNTRIES = ["DE", "DE", "FR", "FR", "US", "IT", null] as const;
const PLATFORMS = ["ios", "android", "web", null] as const;
const RULE = '(country IN ["DE", "US"] OR sessions >= 10) AND platform != "web"';

interface Subject {
  variant: string;
  subject: string;
  country: string | null;
  platform: string | null;
  sessions: number | null;
  exposedAt: number;
}

/** The saved segment's rule, by hand (a missing value fails its comparison). */
function inSegment(s: Subject): boolean {
  const countryOrSessions =
    s.country === "DE" || s.country === "US" || (s.sessions !== null && s.sessions >= 10);
  return countryOrSessions && s.platform !== null && s.platform !== "web";
}

describe("reports filtered by a saved segment", () => {
  let t: TestApp;
  let experimentId: string;
  const subjects: Subject[] = [];
  const sent: { subject: string; type: string; at: number }[] = [];
  const T0 = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR;
  const FULL: [number, number] = [T0, T0 + 150 * MIN];

  const catalog = () => client(CatalogService, t.baseUrl, t.adminKey);

  beforeAll(async () => {
    t = await startTestApp();
    await catalog().createDimension({
      dimension: { key: "country", displayName: "Country", maxValues: 2 },
    });
    await catalog().createDimension({ dimension: { key: "platform", displayName: "Platform" } });
    await catalog().createDimension({ dimension: { key: "sessions", displayName: "Sessions" } });
    await catalog().createDimension({ dimension: { key: "retired", displayName: "Retired" } });
    await catalog().archiveDimension({ key: "retired" });
    await catalog().createSavedSegment({
      savedSegment: { key: "engaged", displayName: "Engaged", rule: RULE },
    });
    const setup = await reportExperiment(t);
    experimentId = setup.experimentId;
    const rand = seededRandom(11);
    const picked = subjectsByVariant(t, setup.flagKey, 50, "saved");
    const batch: Event[] = [];
    for (const [variant, list] of Object.entries(picked)) {
      for (const { subjectId, decisionId } of list) {
        const country = COUNTRIES[Math.floor(rand() * COUNTRIES.length)] ?? null;
        const platform = PLATFORMS[Math.floor(rand() * PLATFORMS.length)] ?? null;
        const sessions = rand() < 0.8 ? Math.floor(rand() * 20) : null;
        const exposedAt = T0 + Math.floor(rand() * 110) * MIN;
        subjects.push({ variant, subject: subjectId, country, platform, sessions, exposedAt });
        const properties: Record<string, string | number> = {};
        if (country !== null) properties.country = country;
        if (platform !== null) properties.platform = platform;
        if (sessions !== null) properties.sessions = sessions;
        batch.push(event("exposure", decisionId, { occurredAt: exposedAt, properties }));
        sent.push({ subject: subjectId, type: "exposure", at: exposedAt });
        if (rand() < 0.3) {
          // A later exposure with other values: the first one decides.
          const at = exposedAt + 5 * MIN;
          batch.push(
            event("exposure", decisionId, {
              occurredAt: at,
              properties: { country: "US", platform: "ios", sessions: 99 },
            }),
          );
          sent.push({ subject: subjectId, type: "exposure", at });
        }
        if (rand() < 0.4) {
          const at = exposedAt + Math.floor(rand() * 30) * MIN;
          batch.push(
            event("conversion", decisionId, {
              occurredAt: at,
              properties: { value: 1 + Math.floor(rand() * 50) },
            }),
          );
          sent.push({ subject: subjectId, type: "conversion", at });
        }
      }
    }
    const events = await eventClient(t);
    for (let i = 0; i < batch.length; i += 50) {
      const answer = await events.ingestEvents({ events: batch.slice(i, i + 50) });
      expect(answer.rejected).toBe(0);
    }
    await untilStored(
      t,
      batch.map((e) => e.eventId),
      60_000,
    );
    await untilNothingPending(t, experimentId, 30_000);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  function expected(keep: (s: Subject) => boolean, variant: string) {
    const mine = new Set(
      subjects.filter((s) => s.variant === variant && keep(s)).map((s) => s.subject),
    );
    const conversions = sent.filter((e) => e.type === "conversion" && mine.has(e.subject));
    return {
      subjects: mine.size,
      exposures: sent.filter((e) => e.type === "exposure" && mine.has(e.subject)).length,
      conversions: conversions.length,
      converted: new Set(conversions.map((e) => e.subject)).size,
    };
  }

  function expectFigures(report: Report, keep: (s: Subject) => boolean) {
    for (const variant of ["control", "blue"]) {
      const e = expected(keep, variant);
      const v = report.variants.find((r) => r.variantKey === variant)!;
      const values = valuesOf(report, variant, ["conversions", "conversion_rate"]);
      expect({
        subjects: v.subjects,
        exposures: v.exposures,
        conversions: values.conversions!.value,
      }).toEqual({ subjects: e.subjects, exposures: e.exposures, conversions: e.conversions });
      expect(values.conversion_rate!.value).toBeCloseTo(
        e.subjects === 0 ? 0 : e.converted / e.subjects,
        10,
      );
    }
  }

  async function get(
    savedSegment: string,
    segment: { dimension: string; values: string[] }[] = [],
  ): Promise<Report> {
    const { report } = await reportClient(t).getExperimentReport({
      experimentId,
      from: timestampFromMs(FULL[0]),
      to: timestampFromMs(FULL[1]),
      segment,
      savedSegment,
    });
    return report!;
  }

  it("keeps only the subjects whose first exposure's values satisfy the rule", async () => {
    const report = await get("engaged");
    expect(report.savedSegment).toBe("engaged");
    expect(report.savedSegmentVersion).toBe(1);
    const matching = subjects.filter(inSegment).length;
    expect(matching).toBeGreaterThan(10);
    expect(matching).toBeLessThan(subjects.length - 10);
    expectFigures(report, inSegment);
    // With a dimension filter: both hold.
    const ios = await get("engaged", [{ dimension: "platform", values: ["ios"] }]);
    expectFigures(ios, (s) => inSegment(s) && s.platform === "ios");
    // With a breakdown: each platform's report covers only the segment's subjects in it.
    const { report: broken } = await reportClient(t).getExperimentReport({
      experimentId,
      from: timestampFromMs(FULL[0]),
      to: timestampFromMs(FULL[1]),
      savedSegment: "engaged",
      breakdownDimension: "platform",
    });
    expect(broken?.segments.map((g) => g.value).sort()).toEqual(["android", "ios"]);
    for (const g of broken!.segments) {
      for (const v of g.variants) {
        expect([g.value, v.variantKey, v.subjects]).toEqual([
          g.value,
          v.variantKey,
          expected((s) => inSegment(s) && s.platform === g.value, v.variantKey).subjects,
        ]);
      }
    }
    // Exports take it too, and their audit row records it.
    const exported = await reportClient(t).exportExperimentReport({
      experimentId,
      from: timestampFromMs(FULL[0]),
      to: timestampFromMs(FULL[1]),
      format: ExportFormat.JSON,
      savedSegment: "engaged",
    });
    const file = JSON.parse(new TextDecoder().decode(exported.data)) as {
      savedSegment: string;
      variants: { variantKey: string; subjects: number }[];
    };
    expect(file.savedSegment).toBe("engaged");
    expect(file.variants.find((v) => v.variantKey === "blue")?.subjects).toBe(
      expected(inSegment, "blue").subjects,
    );
    const audit = await query<{ data: unknown }>(
      t,
      `select data from audit_log where entity_type = 'experiment_report' and entity_id = $1`,
      [experimentId],
    );
    expect(audit.map((r) => r.data)).toEqual([
      expect.objectContaining({ savedSegment: { key: "engaged", version: 1 } }),
    ]);
    // The whole experiment is unchanged without it.
    const whole = await get("");
    expect(whole.savedSegment).toBe("");
    expectFigures(whole, () => true);
  });

  it("follows the segment's current version", async () => {
    await catalog().updateSavedSegment({
      savedSegment: { key: "engaged", displayName: "Engaged", rule: "sessions < 5" },
      expectedVersion: 1,
    });
    const report = await get("engaged");
    expect(report.savedSegmentVersion).toBe(2);
    expectFigures(report, (s) => s.sessions !== null && s.sessions < 5);
    // A missing value fails a comparison, so NOT keeps subjects without a platform.
    await catalog().updateSavedSegment({
      savedSegment: { key: "engaged", displayName: "Engaged", rule: 'NOT platform == "web"' },
      expectedVersion: 2,
    });
    const notWeb = await get("engaged");
    expect(notWeb.savedSegmentVersion).toBe(3);
    expectFigures(notWeb, (s) => s.platform !== "web");
  });

  it("refuses unknown segments and rules over attributes that are not dimensions, naming saved_segment", async () => {
    await catalog().createSavedSegment({
      savedSegment: {
        key: "by_version",
        displayName: "By version",
        rule: 'country == "DE" AND app_version >= "2.0.0"',
      },
    });
    await catalog().createSavedSegment({
      savedSegment: { key: "by_retired", displayName: "Retired", rule: "retired == true" },
    });
    const cases: [string, RegExp][] = [
      ["no_such_segment", /^saved_segment: no saved segment "no_such_segment"/],
      [
        "by_version",
        /^saved_segment: .*attribute "app_version", which is not a declared dimension/,
      ],
      [
        "by_retired",
        /^saved_segment: .*attribute "retired", which is not a non-archived dimension/,
      ],
    ];
    for (const [key, message] of cases) {
      let error: ConnectError | undefined;
      try {
        await get(key);
      } catch (e) {
        error = ConnectError.from(e);
      }
      expect(error?.code).toBe(Code.InvalidArgument);
      expect(error?.rawMessage).toMatch(message);
    }
  });

  it("reads a dimension declared after the exposures as missing for every subject", async () => {
    await catalog().createDimension({ dimension: { key: "tier", displayName: "Tier" } });
    await catalog().createSavedSegment({
      savedSegment: { key: "not_gold", displayName: "Not gold", rule: 'NOT tier == "gold"' },
    });
    await catalog().createSavedSegment({
      savedSegment: { key: "gold", displayName: "Gold", rule: 'tier == "gold"' },
    });
    expectFigures(await get("not_gold"), () => true);
    expectFigures(await get("gold"), () => false);
  });
});
