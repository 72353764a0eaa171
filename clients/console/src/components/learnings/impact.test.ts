import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ImpactContributionSchema } from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { cumulativeImpact } from "./impact.js";

describe("cumulativeImpact", () => {
  it("adds the effects in order", () => {
    const at = new Date("2026-11-01T00:00:00Z");
    const points = cumulativeImpact([
      create(ImpactContributionSchema, {
        experimentId: "a",
        experimentName: "A",
        completedAt: timestampFromDate(at),
        effect: { relativeDifference: 0.05, absoluteDifference: 0.01 },
      }),
      create(ImpactContributionSchema, { experimentId: "b", experimentName: "B" }),
      create(ImpactContributionSchema, {
        experimentId: "c",
        experimentName: "C",
        effect: { relativeDifference: -0.02, absoluteDifference: -0.004 },
      }),
    ]);
    expect(points.map((p) => [p.experimentId, p.relative, p.cumulativeRelative])).toEqual([
      ["a", 0.05, 0.05],
      ["b", 0, 0.05],
      ["c", -0.02, 0.05 - 0.02],
    ]);
    expect(points[2]!.cumulativeAbsolute).toBeCloseTo(0.006);
    expect(points[0]!.completedAt?.toISOString()).toBe(at.toISOString());
    expect(points[1]!.completedAt).toBeUndefined();
    expect(cumulativeImpact([])).toEqual([]);
  });
});
