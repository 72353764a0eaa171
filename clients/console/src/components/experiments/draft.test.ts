import { describe, expect, it } from "vitest";
import { create, equals } from "@bufbuild/protobuf";
import {
  Direction,
  ExperimentSchema,
  RampPlanSchema,
  RampSafetyAction,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagType } from "../../../../../gen/lotty/flags/v1/flags_pb.js";
import {
  draftFromExperiment,
  draftToExperiment,
  emptyDraft,
  emptyGuardrail,
  emptyRampThreshold,
  fractionToPercentText,
  percentTextToFraction,
  secondsToMinutesText,
  shiftDecimal,
  type ExperimentDraft,
} from "./draft.js";

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

/** A draft the server would take but for its ramp plan (string flag). */
function rampDraft(ramp: Partial<ExperimentDraft["ramp"]> = {}): ExperimentDraft {
  const draft = emptyDraft();
  draft.variants = draft.variants.map((v) => ({ ...v, value: v.key }));
  draft.primaryMetricKey = "conversion_rate";
  draft.ramp = { ...draft.ramp, enabled: true, ...ramp };
  return draft;
}

function rampedExperiment(rampPlan: Parameters<typeof create<typeof RampPlanSchema>>[1]) {
  return create(ExperimentSchema, {
    id: "x",
    name: "Ramped",
    flagKey: "f",
    audiencePercent: 100,
    variants: [
      { key: "a", value: { kind: { case: "stringValue", value: "a" } }, weight: 50, control: true },
      { key: "b", value: { kind: { case: "stringValue", value: "b" } }, weight: 50 },
    ],
    primaryMetricKey: "conversion_rate",
    metricKeys: ["error_rate"],
    rampPlan,
  });
}

describe("the ramp plan", () => {
  it("is off by default: no plan is sent", () => {
    const draft = rampDraft({ enabled: false });
    const { experiment, problems } = draftToExperiment(draft, FlagType.STRING);
    expect(problems).toEqual([]);
    expect(experiment.rampPlan).toBeUndefined();
    expect("rampPlan" in experiment).toBe(false);
  });

  it("turned on, sends the typical plan the fieldset opens with", () => {
    const { experiment, problems } = draftToExperiment(rampDraft(), FlagType.STRING);
    expect(problems).toEqual([]);
    expect(experiment.rampPlan).toEqual({
      steps: [1, 5, 10, 25, 50, 100],
      gates: {
        minStepSeconds: 1800,
        minExposures: 0,
        minExposuresPerVariant: 500,
        thresholds: [],
        allowSrm: false,
      },
      safetyAction: RampSafetyAction.PAUSE,
    });
  });

  it("converts the form's units: minutes to seconds, percent to fractions, '%' and a trailing comma allowed", () => {
    const draft = rampDraft({
      steps: " 2.5%, 10 %,100, ",
      minStepMinutes: "1.5",
      minExposures: "200",
      minExposuresPerVariant: "",
      thresholds: [
        { metricKey: "error_rate", threshold: "0.02", direction: Direction.INCREASE_IS_BAD },
      ],
      srmHolds: false,
      maxTrafficSkewPercent: "10",
      maxRejectedSharePercent: "2.5 %",
      safetyAction: RampSafetyAction.STEP_BACK,
    });
    const { experiment, problems } = draftToExperiment(draft, FlagType.STRING);
    expect(problems).toEqual([]);
    expect(experiment.rampPlan).toEqual({
      steps: [2.5, 10, 100],
      gates: {
        minStepSeconds: 90,
        minExposures: 200,
        minExposuresPerVariant: 0,
        thresholds: [
          { metricKey: "error_rate", threshold: 0.02, direction: Direction.INCREASE_IS_BAD },
        ],
        allowSrm: true,
        maxTrafficSkew: 0.1,
        maxRejectedShare: 0.025,
      },
      safetyAction: RampSafetyAction.STEP_BACK,
    });
  });

  it("names the proto field of every value that is not a number, as the server does", () => {
    const draft = rampDraft({
      steps: "1, five,, 50",
      minStepMinutes: "soon",
      minExposures: "1.5",
      minExposuresPerVariant: "-1",
      thresholds: [emptyRampThreshold(), { ...emptyRampThreshold(), threshold: "0.1x" }],
      maxTrafficSkewPercent: "ten",
      maxRejectedSharePercent: "%",
    });
    const { problems } = draftToExperiment(draft, FlagType.STRING);
    expect(problems).toEqual([
      { field: "experiment.ramp_plan.steps[1]", message: 'must be a number, not "five"' },
      { field: "experiment.ramp_plan.steps[2]", message: "is empty (two commas in a row)" },
      {
        field: "experiment.ramp_plan.gates.min_step_seconds",
        message: "must be a number of minutes between 0 and 43200 (30 days)",
      },
      {
        field: "experiment.ramp_plan.gates.min_exposures",
        message: "must be a whole number between 0 and 1000000000",
      },
      {
        field: "experiment.ramp_plan.gates.min_exposures_per_variant",
        message: "must be a whole number between 0 and 1000000000",
      },
      { field: "experiment.ramp_plan.gates.thresholds[0].threshold", message: "must be a number" },
      { field: "experiment.ramp_plan.gates.thresholds[1].threshold", message: "must be a number" },
      {
        field: "experiment.ramp_plan.gates.max_traffic_skew",
        message: "must be a number of percent",
      },
      {
        field: "experiment.ramp_plan.gates.max_rejected_share",
        message: "must be a number of percent",
      },
    ]);
  });

  it("leaves range checks of numbers to the server (5, 5 is sent as it is)", () => {
    const draft = rampDraft({ steps: "5, 5", maxTrafficSkewPercent: "150" });
    const { experiment, problems } = draftToExperiment(draft, FlagType.STRING);
    expect(problems).toEqual([]);
    expect(experiment.rampPlan?.steps).toEqual([5, 5]);
    expect(experiment.rampPlan?.gates?.maxTrafficSkew).toBe(1.5);
  });

  it("opens an experiment's plan filled in, in the form's units", () => {
    const e = rampedExperiment({
      steps: [1, 2.5, 10, 100],
      gates: {
        minStepSeconds: 100,
        minExposures: 200,
        minExposuresPerVariant: 50,
        thresholds: [
          { metricKey: "error_rate", threshold: 0.02, direction: Direction.INCREASE_IS_BAD },
        ],
        allowSrm: true,
        maxTrafficSkew: 0.07,
        maxRejectedShare: 0.001,
      },
      safetyAction: RampSafetyAction.STEP_BACK,
    });
    expect(draftFromExperiment(e).ramp).toEqual({
      enabled: true,
      steps: "1, 2.5, 10, 100",
      minStepMinutes: "1.6667",
      minExposures: "200",
      minExposuresPerVariant: "50",
      thresholds: [
        { metricKey: "error_rate", threshold: "0.02", direction: Direction.INCREASE_IS_BAD },
      ],
      srmHolds: false,
      maxTrafficSkewPercent: "7",
      maxRejectedSharePercent: "0.1",
      safetyAction: RampSafetyAction.STEP_BACK,
    });
  });

  it("survives a save round trip unchanged when untouched", () => {
    const plans = [
      {
        steps: [1, 2.5, 10, 100],
        gates: {
          minStepSeconds: 100,
          minExposures: 200,
          minExposuresPerVariant: 50,
          thresholds: [
            { metricKey: "error_rate", threshold: 0.02, direction: Direction.INCREASE_IS_BAD },
            {
              metricKey: "conversion_rate",
              threshold: 0.1 + 0.2,
              direction: Direction.DECREASE_IS_BAD,
            },
          ],
          allowSrm: true,
          maxTrafficSkew: 0.07,
          maxRejectedShare: 1 / 3,
        },
        safetyAction: RampSafetyAction.STEP_BACK,
      },
      { steps: [10, 50, 100], gates: { minExposures: 20 }, safetyAction: RampSafetyAction.PAUSE },
      {
        steps: [33.33, 100],
        gates: { minStepSeconds: 2_592_000, maxTrafficSkew: 1, maxRejectedShare: 0 },
        safetyAction: RampSafetyAction.ROLLBACK,
      },
    ];
    for (const plan of plans) {
      const e = rampedExperiment(plan);
      const { experiment, problems } = draftToExperiment(draftFromExperiment(e), FlagType.STRING);
      expect(problems).toEqual([]);
      const back = create(RampPlanSchema, experiment.rampPlan);
      expect(equals(RampPlanSchema, back, e.rampPlan!)).toBe(true);
    }
  });

  it("turned off on an experiment with a plan, removes it", () => {
    const draft = draftFromExperiment(
      rampedExperiment({ steps: [10, 100], safetyAction: RampSafetyAction.PAUSE }),
    );
    draft.ramp.enabled = false;
    expect(draftToExperiment(draft, FlagType.STRING).experiment.rampPlan).toBeUndefined();
  });

  it("opens an experiment without a plan with the fieldset off", () => {
    const ramp = draftFromExperiment(rampedExperiment(undefined)).ramp;
    expect(ramp.enabled).toBe(false);
    expect(ramp.steps).toBe("1, 5, 10, 25, 50, 100");
  });
});

describe("unit conversions", () => {
  it("shows seconds as minutes with at most four decimals", () => {
    expect([0, 60, 90, 100, 1800, 2_592_000].map(secondsToMinutesText)).toEqual([
      "0",
      "1",
      "1.5",
      "1.6667",
      "30",
      "43200",
    ]);
  });

  it("shows fractions as the shortest percent that converts back exactly", () => {
    for (const [fraction, text] of [
      [0.1, "10"],
      [0.07, "7"],
      [0.025, "2.5"],
      [0.001, "0.1"],
      [1, "100"],
      [0, "0"],
      [0.29, "29"],
    ] as const) {
      expect(fractionToPercentText(fraction)).toBe(text);
    }
    for (const fraction of [1 / 3, 0.123456789012345, 0.1 + 0.2, Math.PI / 10]) {
      expect(percentTextToFraction(fractionToPercentText(fraction))).toBe(fraction);
    }
  });

  it("reads percents as typed into fractions without rounding twice", () => {
    expect(
      ["7", "2.5 %", " 10%", ".5", "1e1", "0", "abc", "", "%"].map(percentTextToFraction),
    ).toEqual([0.07, 0.025, 0.1, 0.005, 0.1, 0, NaN, NaN, NaN]);
    // 0.07 * 100 is 7.000000000000001 in floating point; the text is exact.
    expect(fractionToPercentText(0.07)).toBe("7");
    expect(fractionToPercentText(1e-7)).toBe("0.00001");
  });

  it("moves a decimal point in text", () => {
    expect(shiftDecimal("0.025", 2)).toBe("2.5");
    expect(shiftDecimal("7", -2)).toBe("0.07");
    expect(shiftDecimal("-1.5e-3", 2)).toBe("-0.15");
    expect(shiftDecimal("120", -2)).toBe("1.2");
    expect(shiftDecimal("0x10", 2)).toBeUndefined();
    expect(shiftDecimal(".", 2)).toBeUndefined();
  });
});
