/**
 * The pure parts of the learnings library: the effect and the default
 * result taken from an outcome report, what counts as written up, and a
 * targeting rule described for people and for "find similar".
 */
import { describe, expect, it } from "@jest/globals";
import { create, toJsonString } from "@bufbuild/protobuf";
import { ReportSchema } from "../../gen/lotty/reports/v1/reports_pb.js";
import {
  effectFromReport,
  missingFields,
  newLearning,
  summariseReport,
} from "../../src/learnings/entry.js";
import { describeRule, valuesFor } from "../../src/targeting/index.js";

function report() {
  const comparison = (absoluteDiff: number, relativeDiff: number, adjustedPValue: number) => ({
    absoluteDiff,
    relativeDiff,
    ciLow: absoluteDiff - 0.01,
    ciHigh: absoluteDiff + 0.01,
    pValue: adjustedPValue / 2,
    adjustedPValue,
    adjustedSignificant: adjustedPValue < 0.05,
  });
  return create(ReportSchema, {
    subjects: 3_000,
    exposures: 3_300,
    variants: [
      { variantKey: "control", control: true, metrics: [{ metricKey: "cr", value: 0.1 }] },
      {
        variantKey: "b",
        metrics: [{ metricKey: "cr", value: 0.12, comparison: comparison(0.02, 0.2, 0.01) }],
      },
      {
        variantKey: "c",
        metrics: [{ metricKey: "cr", value: 0.09, comparison: comparison(-0.01, -0.1, 0.3) }],
      },
    ],
  });
}

describe("effect from the outcome report", () => {
  it("takes the winner's comparison, the control value from the two differences", () => {
    expect(effectFromReport(report(), "cr", "c")).toEqual({
      metricKey: "cr",
      variantKey: "c",
      controlVariantKey: "control",
      controlValue: expect.closeTo(0.1, 10),
      variantValue: expect.closeTo(0.09, 10),
      absoluteDifference: -0.01,
      ciLow: -0.02,
      ciHigh: 0,
      relativeDifference: -0.1,
      pValue: 0.3,
      significant: false,
    });
  });

  it("takes the variant with the smallest adjusted p-value without a winner", () => {
    expect(effectFromReport(report(), "cr", null)).toMatchObject({
      variantKey: "b",
      significant: true,
    });
  });

  it("has none for a metric the report does not compare", () => {
    expect(effectFromReport(report(), "other", null)).toBeNull();
    expect(effectFromReport(create(ReportSchema, {}), "cr", null)).toBeNull();
  });

  it("summarises each compared variant in one line", () => {
    expect(summariseReport(report(), "cr").split("\n")).toEqual([
      "3000 exposed subjects, 3300 exposures.",
      "cr: b vs control 0.02 (+20 %), 95 % CI [0.01, 0.03], adjusted p = 0.01, significant.",
      "cr: c vs control -0.01 (-10 %), 95 % CI [-0.02, 0], adjusted p = 0.3, not significant.",
    ]);
  });
});

describe("a new learning", () => {
  const experiment = {
    id: "00000000-0000-4000-8000-000000000001",
    flagKey: "checkout",
    ownerId: "00000000-0000-4000-8000-000000000002",
    config: {
      name: "Checkout",
      description: "Shorter is better",
      audiencePercent: 50,
      variants: [
        { key: "b", value: "b", weight: 50, control: false },
        { key: "control", value: "a", weight: 50, control: true },
      ],
      targetingRule: 'platform == "ios"',
      primaryMetricKey: "cr",
      metricKeys: ["orders"],
      guardrails: [
        {
          metricKey: "latency_p95",
          threshold: 800,
          direction: "increase_is_bad" as const,
          windowSeconds: 600,
          minSampleSize: 100,
          action: "pause" as const,
        },
      ],
      conflictDomains: [],
      priority: 0,
    },
    outcome: "rollout",
    winnerVariantKey: "b",
    justification: "b won",
    startedAt: new Date("2026-11-01T00:00:00Z"),
    completedAt: new Date("2026-11-15T00:00:00Z"),
  };

  it("is filled from the experiment, its report, its guardrails and its segments", () => {
    const row = newLearning(experiment, {
      flagTags: ["payments", "payments"],
      reportJson: toJsonString(ReportSchema, report()),
      firedGuardrailMetricKeys: ["latency_p95"],
      segmentValues: new Map([
        ["country", ["de", "FR"]],
        ["platform", ["android"]],
      ]),
      now: new Date("2026-11-15T00:00:01Z"),
    });
    expect(row).toMatchObject({
      hypothesis: "Shorter is better",
      metric_set: ["cr", "orders", "latency_p95"],
      tags: ["payments"],
      // The targeting rule wins over the segments; countries come from the segments.
      platforms: ["ios"],
      countries: ["DE", "FR"],
      variant_keys: ["control", "b"],
      targeting_summary: "platform = ios",
      targeting_terms: ["platform", "platform=ios"],
      fired_guardrail_metric_keys: ["latency_p95"],
      version: 1,
      updated_by: null,
    });
    expect(row.primary_effect?.variantKey).toBe("b");
    expect(row.result).toContain("cr: b vs control");
    expect(missingFields(row)).toEqual(["notes", "action", "reviewed"]);
    expect(missingFields({ ...row, notes: "n", action: "a", updated_by: "u" })).toEqual([]);
  });

  it("survives a report it cannot read", () => {
    const row = newLearning(experiment, {
      flagTags: [],
      reportJson: "{not json",
      firedGuardrailMetricKeys: [],
      segmentValues: new Map(),
      now: new Date(),
    });
    expect(row.primary_effect).toBeNull();
    expect(row.result).toBe("");
  });
});

describe("targeting rules described", () => {
  it("gives a short form, the attributes and the values asked for", () => {
    const d = describeRule(
      'country IN ["DE", "FR"] AND (platform == "ios" OR platform == "web") AND NOT beta == true AND app_version >= "1.6.0"',
    );
    expect(d.summary).toBe(
      "country ∈ {DE, FR} · (platform = ios or platform = web) · not beta = true · app_version ≥ 1.6.0",
    );
    expect(d.attributes).toEqual(["country", "platform", "beta", "app_version"]);
    expect(d.pairs).toEqual(["country=de", "country=fr", "platform=ios", "platform=web"]);
    expect(valuesFor(d, "platform")).toEqual(["ios", "web"]);
  });

  it("does not count excluded values as asked for", () => {
    expect(describeRule('country NOT IN ["RU"] AND NOT platform == "web"').pairs).toEqual([]);
    expect(describeRule('NOT country NOT IN ["RU"]').pairs).toEqual(["country=ru"]);
  });

  it("describes the empty rule as everyone and an unparsable one by its text", () => {
    expect(describeRule("")).toEqual({ summary: "everyone", attributes: [], pairs: [] });
    expect(describeRule("country IN")).toEqual({
      summary: "country IN",
      attributes: [],
      pairs: [],
    });
  });
});
