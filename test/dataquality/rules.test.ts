/** The data-quality alarm rules (pure): robust z-score, volume, rejected share, backlog. */
import { describe, expect, it } from "@jest/globals";
import {
  backlogVerdict,
  DEFAULT_VOLUME_RULE,
  median,
  rejectedShareVerdict,
  robustZ,
  volumeVerdict,
} from "../../src/dataquality/rules.js";

describe("robust z-score", () => {
  it("is 0.6745·(x − median)/MAD", () => {
    // median 100, deviations 10,0,10,5,5 → MAD 5.
    const baseline = [90, 100, 110, 95, 105];
    expect(median(baseline)).toBe(100);
    const score = robustZ(130, baseline);
    expect(score.median).toBe(100);
    expect(score.mad).toBe(5);
    expect(score.z).toBeCloseTo((0.6745 * 30) / 5, 10);
    expect(robustZ(80, baseline).z).toBeCloseTo((0.6745 * -20) / 5, 10);
  });

  it("with MAD 0 uses the mean absolute deviation, and an infinite z when nothing varies", () => {
    // Most days equal: MAD 0, mean absolute deviation (0+0+0+0+50)/5 = 10.
    const mostlyFlat = [100, 100, 100, 100, 150];
    const score = robustZ(160, mostlyFlat);
    expect(score.mad).toBe(0);
    expect(score.z).toBeCloseTo(60 / (1.2533 * 10), 10);
    expect(robustZ(200, [100, 100, 100]).z).toBe(Infinity);
    expect(robustZ(0, [100, 100, 100]).z).toBe(-Infinity);
    expect(robustZ(100, [100, 100, 100]).z).toBe(0);
  });
});

describe("volume verdict", () => {
  // median 1000, MAD 20 → z = 0.6745·Δ/20; |z| = 3.5 at Δ ≈ 103.8.
  const steady = [980, 1000, 1020, 990, 1010, 1040, 960];
  const threshold = (3.5 * 20) / 0.6745;

  it("fires at and above the threshold, not below it", () => {
    const below = volumeVerdict(1000 + Math.floor(threshold), steady);
    expect(Math.abs(below.z)).toBeLessThan(3.5);
    expect(below).toMatchObject({ alarm: null, reason: "within_baseline" });
    // Exactly at |z| = 3.5 (within floating point): use a rule at that z.
    const at = volumeVerdict(1200, steady, {
      ...DEFAULT_VOLUME_RULE,
      zThreshold: (0.6745 * 200) / 20,
    });
    expect(at.alarm).toBe("spike");
    const above = volumeVerdict(1000 + Math.ceil(threshold) + 100, steady);
    expect(above.alarm).toBe("spike");
    expect(above.z).toBeGreaterThanOrEqual(3.5);
    const drop = volumeVerdict(400, steady);
    expect(drop).toMatchObject({ alarm: "drop", reason: "", median: 1000, mad: 20 });
    expect(drop.z).toBeCloseTo((0.6745 * -600) / 20, 10);
  });

  it("needs a material change: 20 % and the minimum count", () => {
    // z is huge (MAD 1) but 5 % is not material.
    const tight = [1000, 1001, 999, 1000, 1001, 999, 1000];
    expect(volumeVerdict(1050, tight)).toMatchObject({ alarm: null, reason: "not_material" });
    expect(volumeVerdict(1300, tight).alarm).toBe("spike");
    // Tiny volumes: +100 % is only 10 events.
    const tiny = [10, 11, 9, 10, 10, 11, 9];
    expect(volumeVerdict(20, tiny)).toMatchObject({ alarm: null, reason: "not_material" });
  });

  it("handles a baseline that never varied (MAD 0)", () => {
    const flat = [500, 500, 500, 500, 500, 500, 500];
    expect(volumeVerdict(500, flat)).toMatchObject({ alarm: null, mad: 0, z: 0 });
    expect(volumeVerdict(0, flat)).toMatchObject({ alarm: "drop", z: -Infinity });
    expect(volumeVerdict(900, flat)).toMatchObject({ alarm: "spike", z: Infinity });
    expect(volumeVerdict(520, flat)).toMatchObject({ alarm: null, reason: "not_material" });
  });

  it("needs at least 3 days of history from the type's first day with events", () => {
    expect(volumeVerdict(5000, [])).toMatchObject({ alarm: null, reason: "too_little_history" });
    expect(volumeVerdict(5000, [1000, 1000])).toMatchObject({
      alarm: null,
      reason: "too_little_history",
    });
    // A new event type: days before its first events are no history.
    expect(volumeVerdict(5000, [0, 0, 0, 0, 0, 1000, 1000]).reason).toBe("too_little_history");
    expect(volumeVerdict(5000, [0, 0, 0, 0, 1000, 1000, 1000])).toMatchObject({
      alarm: "spike",
      historyDays: 3,
    });
    // After its first day, a day without events counts as 0.
    expect(volumeVerdict(1000, [1000, 0, 1000, 1000, 1000, 1000, 1000]).historyDays).toBe(7);
  });
});

describe("rejected share and backlog verdicts", () => {
  it("rejected share: above the bound with enough volume", () => {
    expect(rejectedShareVerdict({ stored: 900, duplicates: 0, rejected: 100 })).toEqual({
      alarm: true,
      received: 1000,
      share: 0.1,
    });
    expect(rejectedShareVerdict({ stored: 950, duplicates: 0, rejected: 50 }).alarm).toBe(false);
    expect(rejectedShareVerdict({ stored: 20, duplicates: 0, rejected: 20 }).alarm).toBe(false);
    expect(
      rejectedShareVerdict(
        { stored: 20, duplicates: 0, rejected: 20 },
        { maxShare: 0.05, minEvents: 10 },
      ).alarm,
    ).toBe(true);
  });

  it("backlog: above the bound, or grown by half within the hour", () => {
    expect(backlogVerdict(10_000, undefined).alarm).toBe("above_bound");
    expect(backlogVerdict(9_999, undefined).alarm).toBeNull();
    expect(backlogVerdict(3_000, 2_000).alarm).toBe("growing");
    expect(backlogVerdict(2_999, 2_000).alarm).toBeNull();
    expect(backlogVerdict(900, 100).alarm).toBeNull();
  });
});
