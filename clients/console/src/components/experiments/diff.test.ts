import { describe, expect, it } from "vitest";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  Direction,
  ExperimentSchema,
  GuardrailAction,
  RampSafetyAction,
  type Experiment,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { versionDiff } from "./diff.js";

function experiment(overrides: MessageInitShape<typeof ExperimentSchema> = {}): Experiment {
  return create(ExperimentSchema, {
    name: "Button colour",
    flagKey: "button_color",
    audiencePercent: 100,
    variants: [
      {
        key: "control",
        value: { kind: { case: "stringValue", value: "blue" } },
        weight: 50,
        control: true,
      },
      { key: "green", value: { kind: { case: "stringValue", value: "green" } }, weight: 50 },
    ],
    primaryMetricKey: "conversion",
    ...overrides,
  });
}

describe("versionDiff", () => {
  it("is empty for the first version", () => {
    expect(versionDiff(undefined, experiment())).toEqual([]);
  });

  it("is empty when nothing changed but the status and version", () => {
    expect(versionDiff(experiment(), experiment({ status: 2, version: 2 }))).toEqual([]);
  });

  it("names changed scalar fields with before and after", () => {
    const changes = versionDiff(
      experiment(),
      experiment({ name: "Button color", targetingRule: 'country == "RU"', priority: 5 }),
    );
    expect(changes).toEqual([
      { field: "Name", before: "Button colour", after: "Button color" },
      { field: "Targeting rule", before: "—", after: 'country == "RU"' },
      { field: "Priority", before: "0", after: "5" },
    ]);
  });

  it("compares variants field by field and reports added ones", () => {
    const before = experiment();
    const after = experiment();
    after.variants[0]!.weight = 40;
    after.variants[1]!.value = {
      $typeName: "google.protobuf.Value",
      kind: { case: "stringValue", value: "teal" },
    };
    after.variants.push({ ...after.variants[1]!, key: "red", weight: 10 });
    const changes = versionDiff(before, after);
    expect(changes).toContainEqual({
      field: "Variant 1 (control) weight",
      before: "50 %",
      after: "40 %",
    });
    expect(changes).toContainEqual({
      field: "Variant 2 (green) value",
      before: "green",
      after: "teal",
    });
    expect(changes.find((c) => c.field === "Variant 3 (red)")).toMatchObject({ before: "—" });
  });

  it("reports removed guardrails and changed lists", () => {
    const before = experiment({
      metricKeys: ["revenue"],
      guardrails: [
        {
          metricKey: "error_rate",
          threshold: 0.05,
          direction: Direction.INCREASE_IS_BAD,
          action: GuardrailAction.PAUSE,
          windowSeconds: 0,
          minSampleSize: 100,
        },
      ],
    });
    const after = experiment({ metricKeys: ["revenue", "clicks"] });
    const changes = versionDiff(before, after);
    expect(changes).toContainEqual({
      field: "Secondary metrics",
      before: "revenue",
      after: "revenue, clicks",
    });
    const removed = changes.find((c) => c.field === "Guardrail 1 (error_rate)");
    expect(removed?.after).toBe("—");
    expect(removed?.before).toContain("threshold 0.05");
  });
  it("reports a ramp plan added, then a step and the safety action changed", () => {
    const plan = {
      steps: [5, 25, 100],
      gates: { minStepSeconds: 600 },
      safetyAction: RampSafetyAction.STEP_BACK,
    };
    const added = versionDiff(experiment(), experiment({ rampPlan: plan }));
    expect(added).toHaveLength(1);
    expect(added[0]!.field).toBe("Ramp plan");
    expect(added[0]!.before).toBe("—");
    expect(added[0]!.after).toContain("5 % → 25 % → 100 %");
    const changed = versionDiff(
      experiment({ rampPlan: plan }),
      experiment({
        rampPlan: { ...plan, steps: [5, 50, 100], safetyAction: RampSafetyAction.PAUSE },
      }),
    );
    expect(changed.map((c) => c.field)).toEqual(["Ramp plan steps", "Ramp plan safety action"]);
    expect(changed[0]).toMatchObject({ before: "5 % → 25 % → 100 %", after: "5 % → 50 % → 100 %" });
    expect(versionDiff(experiment({ rampPlan: plan }), experiment({ rampPlan: plan }))).toEqual([]);
  });
});
