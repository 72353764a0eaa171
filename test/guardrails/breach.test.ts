/**
 * The breach rule (src/guardrails/evaluate.ts) and the trailing window
 * (src/guardrails/figures.ts): pure, no storage.
 */
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import {
  describeBreach,
  findBreach,
  isBeyond,
  type WindowFigure,
} from "../../src/guardrails/evaluate.js";
import { trailingWindow } from "../../src/guardrails/figures.js";

const up = { threshold: 0.1, direction: "increase_is_bad" as const, minSampleSize: 100 };
const down = { threshold: 0.5, direction: "decrease_is_bad" as const, minSampleSize: 100 };

function figures(entries: Record<string, [number, number]>): Map<string, WindowFigure> {
  return new Map(Object.entries(entries).map(([k, [value, sample]]) => [k, { value, sample }]));
}

describe("findBreach", () => {
  it("fires when a treatment is strictly beyond the threshold with enough sample", () => {
    const f = figures({ "": [0.2, 200], control: [0.05, 100], blue: [0.3, 100] });
    expect(findBreach(up, f, "control")).toEqual({
      variantKey: "blue",
      observedValue: 0.3,
      sampleSize: 200,
    });
  });

  it("does not fire below the minimum sample, all variants together", () => {
    const f = figures({ "": [0.2, 99], control: [0.05, 50], blue: [0.3, 49] });
    expect(findBreach(up, f, "control")).toBeUndefined();
    expect(findBreach({ ...up, minSampleSize: 99 }, f, "control")?.variantKey).toBe("blue");
  });

  it("needs a sample of at least one even with minimum 0", () => {
    const empty = figures({ "": [0, 0], control: [0, 0], blue: [0, 0] });
    expect(findBreach({ ...down, minSampleSize: 0 }, empty, "control")).toBeUndefined();
  });

  it("is strict at the threshold in both directions", () => {
    const atUp = figures({ "": [0.1, 200], control: [0.1, 100], blue: [0.1, 100] });
    expect(findBreach(up, atUp, "control")).toBeUndefined();
    const atDown = figures({ "": [0.5, 200], control: [0.5, 100], blue: [0.5, 100] });
    expect(findBreach(down, atDown, "control")).toBeUndefined();
  });

  it("handles decrease-is-bad: fires below, not above", () => {
    const low = figures({ "": [0.4, 200], control: [0.6, 100], blue: [0.2, 100] });
    expect(findBreach(down, low, "control")?.observedValue).toBe(0.2);
    const high = figures({ "": [0.7, 200], control: [0.6, 100], blue: [0.8, 100] });
    expect(findBreach(down, high, "control")).toBeUndefined();
  });

  it("never fires on the control, and skips variants without a sample of their own", () => {
    const f = figures({ "": [0.5, 200], control: [0.9, 200], blue: [0, 0] });
    expect(findBreach(up, f, "control")).toBeUndefined();
    expect(findBreach(down, f, "control")).toBeUndefined();
  });

  it("skips values that are not finite", () => {
    const f = figures({ "": [1, 200], control: [0, 100], blue: [Number.NaN, 100] });
    expect(findBreach(up, f, "control")).toBeUndefined();
  });

  it("reports the worst treatment", () => {
    const f = figures({
      "": [0.3, 400],
      control: [0.05, 100],
      a: [0.2, 100],
      b: [0.4, 100],
      c: [0.3, 100],
    });
    expect(findBreach(up, f, "control")?.variantKey).toBe("b");
    const g = figures({ "": [0.3, 400], control: [0.9, 100], a: [0.3, 100], b: [0.1, 100] });
    expect(findBreach(down, g, "control")?.variantKey).toBe("b");
  });

  it("property: the reported variant is a treatment beyond the threshold, and healthy variants change nothing", () => {
    const variant = fc.record({
      value: fc.double({ min: 0, max: 1, noNaN: true }),
      sample: fc.nat(500),
    });
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom("a", "b", "c", "d"), variant),
        variant,
        fc.nat(600),
        fc.constantFrom("increase_is_bad" as const, "decrease_is_bad" as const),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (treatments, control, overall, direction, threshold) => {
          const rule = { threshold, direction, minSampleSize: 100 };
          const f = new Map<string, WindowFigure>([
            ["", { value: 0, sample: overall }],
            ["control", control],
            ...Object.entries(treatments),
          ]);
          const breach = findBreach(rule, f, "control");
          if (breach === undefined) return;
          expect(breach.variantKey).not.toBe("control");
          expect(isBeyond(rule, breach.observedValue)).toBe(true);
          expect(breach.sampleSize).toBe(overall);
          // A treatment at the threshold never breaches and never changes the answer.
          f.set("healthy", { value: threshold, sample: 1_000 });
          expect(findBreach(rule, f, "control")).toEqual(breach);
        },
      ),
    );
  });
});

describe("describeBreach", () => {
  it("says what, how much, where and what was done", () => {
    const text = describeBreach(
      {
        metricKey: "error_rate",
        threshold: 0.02,
        direction: "increase_is_bad",
        windowSeconds: 600,
        action: "rollback",
      },
      { variantKey: "blue", observedValue: 0.3141592653, sampleSize: 1840 },
    );
    expect(text).toBe(
      "guardrail error_rate: 0.314159 > 0.02 in variant blue over the last 600 s (sample 1840); rolled back to control",
    );
    expect(
      describeBreach(
        {
          metricKey: "conversion_rate",
          threshold: 0.5,
          direction: "decrease_is_bad",
          windowSeconds: 60,
          action: "pause",
        },
        { variantKey: "b", observedValue: 0, sampleSize: 10 },
      ),
    ).toBe(
      "guardrail conversion_rate: 0 < 0.5 in variant b over the last 60 s (sample 10); paused",
    );
  });
});

describe("trailingWindow", () => {
  const T = Date.UTC(2026, 11, 5, 12, 30, 45, 500);

  it("starts at the minute of now − window and leaves room for events dated ahead", () => {
    const w = trailingWindow(600, T);
    expect(new Date(w.from).toISOString()).toBe("2026-12-05T12:20:00.000Z");
    expect(new Date(w.to).toISOString()).toBe("2026-12-05T12:41:00.000Z");
    expect(w.bucketSeconds).toBe(0);
  });

  it("keeps a whole-minute start as it is", () => {
    const w = trailingWindow(60, Date.UTC(2026, 11, 5, 12, 31, 0));
    expect(new Date(w.from).toISOString()).toBe("2026-12-05T12:30:00.000Z");
    expect(new Date(w.to).toISOString()).toBe("2026-12-05T12:41:00.000Z");
  });
});
