/**
 * The ramp gates (src/autopilot/gates.ts): pure functions, each at, just
 * below and just above its bound.
 */
import { describe, expect, it } from "@jest/globals";
import {
  evaluateGates,
  exposuresGate,
  exposuresPerVariantGate,
  guardrailGate,
  rejectedShareGate,
  srmGate,
  stepTimeGate,
  thresholdGates,
  trafficSkewGate,
  type StepFigures,
  type VariantFigures,
} from "../../src/autopilot/gates.js";
import type { RampGatesConfig } from "../../src/experiments/lookup.js";

const GATES: RampGatesConfig = {
  minStepSeconds: 600,
  minExposures: 1_000,
  minExposuresPerVariant: 400,
  thresholds: [{ metricKey: "error_rate", threshold: 0.02, direction: "increase_is_bad" }],
  allowSrm: false,
  maxTrafficSkew: 0.1,
  maxRejectedShare: 0.05,
};

function variant(key: string, over: Partial<VariantFigures> = {}): VariantFigures {
  return {
    key,
    control: key === "control",
    weight: 50,
    exposures: 600,
    subjects: 500,
    metrics: new Map([["error_rate", 0.01]]),
    ...over,
    samples:
      over.samples ??
      new Map([...(over.metrics ?? new Map([["error_rate", 0.01]])).keys()].map((k) => [k, 600])),
  };
}

function figures(over: Partial<StepFigures> = {}): StepFigures {
  return {
    stepSeconds: 900,
    variants: [variant("control"), variant("blue")],
    srm: { pValue: 0.5, mismatch: false },
    rejectedShare: 0.01,
    guardrailsFired: [],
    ...over,
  };
}

/** [value, passes] at, just below and just above a bound. */
function edges(bound: number, step: number, passesAbove: boolean): [number, boolean][] {
  return [
    [bound - step, !passesAbove],
    [bound, true],
    [bound + step, passesAbove],
  ];
}

describe("sufficiency gates (wait)", () => {
  it("minimum time on the step: passes at the bound", () => {
    for (const [seconds, passes] of edges(600, 1, true)) {
      const g = stepTimeGate(GATES, figures({ stepSeconds: seconds }));
      expect([seconds, g.passed, g.effect]).toEqual([seconds, passes, "wait"]);
    }
  });

  it("minimum exposures in total: all variants together", () => {
    for (const [total, passes] of edges(1_000, 1, true)) {
      const f = figures({
        variants: [
          variant("control", { exposures: total - 500 }),
          variant("blue", { exposures: 500 }),
        ],
      });
      const g = exposuresGate(GATES, f);
      expect([total, g.passed, g.observed]).toEqual([total, passes, total]);
    }
  });

  it("minimum exposures per variant: the smallest variant decides", () => {
    for (const [least, passes] of edges(400, 1, true)) {
      const f = figures({
        variants: [variant("control", { exposures: 5_000 }), variant("blue", { exposures: least })],
      });
      const g = exposuresPerVariantGate(GATES, f);
      expect([least, g.passed, g.observed]).toEqual([least, passes, least]);
      expect(g.detail).toContain("blue");
    }
  });
});

describe("safety gates", () => {
  it("a guardrail that fired on the step fails, with its metric named", () => {
    expect(guardrailGate(figures()).passed).toBe(true);
    const g = guardrailGate(figures({ guardrailsFired: ["error_rate", "error_rate"] }));
    expect([g.passed, g.effect, g.observed]).toEqual([false, "safety", 2]);
    expect(g.detail).toContain("error_rate");
  });

  it("increase-is-bad thresholds pass at the bound and fail strictly above, on treatments only", () => {
    for (const [value, passes] of edges(0.02, 0.0001, false)) {
      const f = figures({
        variants: [
          variant("control", { metrics: new Map([["error_rate", 0.9]]) }),
          variant("blue", { metrics: new Map([["error_rate", value]]) }),
        ],
      });
      const [g] = thresholdGates(GATES, f);
      expect([value, g!.passed, g!.effect]).toEqual([value, passes, "safety"]);
    }
  });

  it("decrease-is-bad thresholds pass at the bound and fail strictly below; the worst treatment is reported", () => {
    const gates = {
      ...GATES,
      thresholds: [
        { metricKey: "conversion_rate", threshold: 0.3, direction: "decrease_is_bad" as const },
      ],
    };
    for (const [value, passes] of edges(0.3, 0.001, true)) {
      const f = figures({
        variants: [
          variant("control"),
          variant("blue", { metrics: new Map([["conversion_rate", 0.5]]) }),
          variant("green", { metrics: new Map([["conversion_rate", value]]) }),
        ],
      });
      const [g] = thresholdGates(gates, f);
      expect([value, g!.passed, g!.observed]).toEqual([value, passes, value]);
    }
  });

  it("thresholds are not judged before every variant has its minimum exposures", () => {
    const f = figures({
      variants: [
        variant("control"),
        variant("blue", { exposures: 399, metrics: new Map([["error_rate", 0.5]]) }),
      ],
    });
    const verdict = evaluateGates(GATES, f);
    const threshold = verdict.gates.find((g) => g.gate === "threshold")!;
    expect(threshold.passed).toBe(true);
    expect(threshold.detail).toContain("not judged");
    expect(verdict.safety).toBe(false);
    const judged = figures({
      variants: [
        variant("control"),
        variant("blue", { exposures: 400, metrics: new Map([["error_rate", 0.5]]) }),
      ],
    });
    expect(evaluateGates(GATES, judged).safety).toBe(true);
  });

  it("a variant without observations of the metric has no value: nothing to judge", () => {
    const gates = {
      ...GATES,
      thresholds: [
        { metricKey: "conversion_rate", threshold: 0.05, direction: "decrease_is_bad" as const },
      ],
    };
    const empty = figures({
      variants: [
        variant("control"),
        variant("blue", {
          metrics: new Map([["conversion_rate", 0]]),
          samples: new Map([["conversion_rate", 0]]),
        }),
      ],
    });
    const [g] = thresholdGates(gates, empty);
    expect(g).toMatchObject({ passed: true, detail: "conversion_rate: no value yet" });
    const observed = figures({
      variants: [
        variant("control"),
        variant("blue", {
          metrics: new Map([["conversion_rate", 0]]),
          samples: new Map([["conversion_rate", 1]]),
        }),
      ],
    });
    expect(thresholdGates(gates, observed)[0]!.passed).toBe(false);
  });
});

describe("health gates (hold)", () => {
  it("SRM blocks unless the plan allows it", () => {
    const mismatch = figures({ srm: { pValue: 0.0001, mismatch: true } });
    expect(srmGate(GATES, mismatch)).toMatchObject({ passed: false, effect: "hold" });
    expect(srmGate(GATES, figures())!.passed).toBe(true);
    expect(srmGate({ ...GATES, allowSrm: true }, mismatch)).toBeUndefined();
  });

  it("traffic skew: relative deviation from the weight's share, passing at the bound", () => {
    // Weights 50/50: blue's share 0.55 is 10 % above its expected 0.5.
    for (const [skew, passes] of edges(0.1, 0.01, false)) {
      const blue = Math.round(1_000 * 0.5 * (1 + skew));
      const f = figures({
        variants: [
          variant("control", { subjects: 1_000 - blue }),
          variant("blue", { subjects: blue }),
        ],
      });
      const g = trafficSkewGate(GATES, f)!;
      expect([skew, g.passed]).toEqual([skew, passes]);
      expect(g.observed).toBeCloseTo(skew, 10);
    }
    expect(trafficSkewGate({ ...GATES, maxTrafficSkew: null }, figures())).toBeUndefined();
  });

  it("traffic skew follows unequal weights and passes with no subjects yet", () => {
    const f = figures({
      variants: [
        variant("control", { weight: 20, subjects: 200 }),
        variant("blue", { weight: 80, subjects: 800 }),
      ],
    });
    expect(trafficSkewGate(GATES, f)!.observed).toBeCloseTo(0, 12);
    const none = figures({
      variants: [variant("control", { subjects: 0 }), variant("blue", { subjects: 0 })],
    });
    expect(trafficSkewGate(GATES, none)!.passed).toBe(true);
  });

  it("rejected share passes at the bound", () => {
    for (const [share, passes] of edges(0.05, 0.001, false)) {
      const g = rejectedShareGate(GATES, figures({ rejectedShare: share }))!;
      expect([share, g.passed, g.effect]).toEqual([share, passes, "hold"]);
    }
    expect(rejectedShareGate({ ...GATES, maxRejectedShare: null }, figures())).toBeUndefined();
  });
});

describe("evaluateGates", () => {
  it("advances only when every gate passes", () => {
    const verdict = evaluateGates(GATES, figures());
    expect(verdict).toMatchObject({ advance: true, safety: false, hold: false });
    expect(verdict.gates.map((g) => g.gate)).toEqual([
      "min_step_seconds",
      "min_exposures",
      "min_exposures_per_variant",
      "guardrail",
      "threshold",
      "srm",
      "traffic_skew",
      "rejected_share",
    ]);
  });

  it("waiting is neither a hold nor a safety action", () => {
    const verdict = evaluateGates(GATES, figures({ stepSeconds: 10 }));
    expect(verdict).toMatchObject({ advance: false, safety: false, hold: false });
  });

  it("a failing health gate holds; a failing safety gate wins over it", () => {
    const srm = { srm: { pValue: 0.0001, mismatch: true } };
    expect(evaluateGates(GATES, figures(srm))).toMatchObject({ advance: false, hold: true });
    const both = evaluateGates(GATES, figures({ ...srm, guardrailsFired: ["error_rate"] }));
    expect(both).toMatchObject({ advance: false, hold: false, safety: true });
  });
});
