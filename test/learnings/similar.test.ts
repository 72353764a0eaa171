/** "Find similar" scoring as a pure function: points per reason, qualification, ties. */
import { describe, expect, it } from "@jest/globals";
import {
  MAX_POINTS,
  rank,
  scorer,
  type SimilarityFeatures,
  type SimilarityProbe,
} from "../../src/learnings/similar.js";

const probe: SimilarityProbe = {
  experimentId: "self",
  flagKey: "checkout",
  tags: ["payments", "mobile"],
  targetingRule: 'country IN ["DE", "FR"]',
  primaryMetricKey: "cr",
  metricSet: ["cr", "orders"],
  variantWeights: [50, 50],
};

function features(overrides: Partial<SimilarityFeatures>): SimilarityFeatures {
  return {
    experimentId: "x",
    flagKey: "other",
    tags: [],
    primaryMetricKey: "",
    metricSet: [],
    targetingTerms: [],
    variantWeights: [50, 50],
    completedAt: 0,
    ...overrides,
  };
}

describe("similarity", () => {
  const score = scorer(probe);

  it("gives every reason its points, graded by overlap", () => {
    const s = score(
      features({
        flagKey: "checkout",
        tags: ["payments"],
        primaryMetricKey: "cr",
        metricSet: ["cr", "latency"],
        targetingTerms: ["country", "country=de"],
        variantWeights: [50.4, 49.6],
      }),
    )!;
    expect(s.reasons).toEqual([
      { reason: "same_flag", weight: 30, detail: "flag checkout" },
      { reason: "shared_tags", weight: 10, detail: "tags: payments" },
      { reason: "same_primary_metric", weight: 20, detail: "primary metric cr" },
      { reason: "shared_metrics", weight: 3.333, detail: "metrics: cr" },
      // attributes 1/1, pairs 1/2: 15 × (0.4 + 0.3)
      { reason: "similar_audience", weight: 10.5, detail: "targeting: country, country=de" },
      { reason: "same_variant_count", weight: 5, detail: "2 variants" },
      { reason: "same_variant_weights", weight: 5, detail: "weights 50.4 % / 49.6 %" },
    ]);
    expect(s.points).toBeCloseTo(83.833, 3);
    expect(MAX_POINTS).toBe(105);
  });

  it("does not qualify on the variant shape alone, nor compare with itself", () => {
    expect(score(features({}))).toBeUndefined();
    expect(score(features({ experimentId: "self", flagKey: "checkout" }))).toBeUndefined();
  });

  it("needs a shared attribute for a similar audience; other values still earn the attribute's part", () => {
    expect(score(features({ targetingTerms: ["platform", "platform=ios"] }))).toBeUndefined();
    const s = score(features({ targetingTerms: ["country", "country=us"] }))!;
    expect(s.reasons.map((r) => [r.reason, r.weight])).toEqual([
      ["similar_audience", 6],
      ["same_variant_count", 5],
      ["same_variant_weights", 5],
    ]);
  });

  it("ranks by points, then the most recently completed, then by id", () => {
    const a = score(features({ experimentId: "a", flagKey: "checkout", completedAt: 1 }))!;
    const b = score(features({ experimentId: "b", flagKey: "checkout", completedAt: 2 }))!;
    const c = score(features({ experimentId: "c", flagKey: "checkout", completedAt: 2 }))!;
    const d = score(features({ experimentId: "d", tags: ["mobile"], completedAt: 9 }))!;
    expect(rank([d, a, c, b], 3).map((s) => s.features.experimentId)).toEqual(["b", "c", "a"]);
  });
});
