import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { ExperimentSchema } from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagType } from "../../../../../gen/lotty/flags/v1/flags_pb.js";
import { draftFromExperiment, draftToExperiment, emptyDraft, emptyGuardrail } from "./draft.js";

describe("draftToExperiment", () => {
  it("converts text inputs into an Experiment with one control", () => {
    const draft = {
      ...emptyDraft(),
      name: " Checkout ",
      flagKey: "checkout",
      control: 1,
      conflictDomains: "checkout, ,ui",
    };
    draft.variants = [
      { key: "a", value: "1", weight: "25" },
      { key: "b", value: "2.5", weight: "25" },
    ];
    draft.audiencePercent = "50";
    const { experiment, problems } = draftToExperiment(draft, FlagType.NUMBER);
    expect(problems).toEqual([]);
    expect(experiment.name).toBe("Checkout");
    expect(experiment.audiencePercent).toBe(50);
    expect(experiment.variants?.map((v) => v.control)).toEqual([false, true]);
    expect(experiment.variants?.[1]?.value).toEqual({ kind: { case: "numberValue", value: 2.5 } });
    expect(experiment.conflictDomains).toEqual(["checkout", "ui"]);
  });

  it("reports values that do not fit the flag type at the variant's field", () => {
    const draft = emptyDraft();
    draft.variants = [
      { key: "a", value: "yes", weight: "50" },
      { key: "b", value: "false", weight: "x" },
    ];
    draft.guardrails = [{ ...emptyGuardrail(), threshold: "" }];
    const { problems } = draftToExperiment(draft, FlagType.BOOL);
    expect(problems.map((p) => p.field)).toEqual([
      "experiment.variants[0].value",
      "experiment.variants[1].weight",
      "experiment.guardrails[0].threshold",
    ]);
  });

  it("drops the primary metric from the secondary ones", () => {
    const draft = { ...emptyDraft(), primaryMetricKey: "m1", metricKeys: ["m1", "m2"] };
    draft.variants = draft.variants.map((v) => ({ ...v, value: "x" }));
    expect(draftToExperiment(draft, FlagType.STRING).experiment.metricKeys).toEqual(["m2"]);
  });
});

describe("draftFromExperiment", () => {
  it("round-trips an experiment's editable fields", () => {
    const e = create(ExperimentSchema, {
      id: "x",
      name: "N",
      flagKey: "f",
      audiencePercent: 80,
      variants: [
        { key: "a", value: { kind: { case: "stringValue", value: "red" } }, weight: 40 },
        {
          key: "b",
          value: { kind: { case: "stringValue", value: "blue" } },
          weight: 40,
          control: true,
        },
      ],
      primaryMetricKey: "m",
      conflictDomains: ["d1", "d2"],
      priority: 3,
    });
    const draft = draftFromExperiment(e);
    expect(draft.control).toBe(1);
    expect(draft.conflictDomains).toBe("d1, d2");
    const back = draftToExperiment(draft, FlagType.STRING, "x").experiment;
    expect(back.variants?.map((v) => [v.key, v.weight, v.control])).toEqual([
      ["a", 40, false],
      ["b", 40, true],
    ]);
    expect(back.priority).toBe(3);
  });
});
