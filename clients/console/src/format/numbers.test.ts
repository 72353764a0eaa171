import { describe, expect, it } from "vitest";
import {
  MINUS,
  formatBytes,
  formatCount,
  formatInterval,
  formatNumber,
  formatPercent,
  formatPoints,
  formatProbability,
  formatPValue,
  formatSigned,
  formatSignedPercent,
  significanceWords,
} from "./numbers.js";

describe("missing values", () => {
  it.each([undefined, null, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    "%s → —",
    (x) => {
      expect(formatNumber(x)).toBe("—");
      expect(formatSigned(x)).toBe("—");
      expect(formatCount(x)).toBe("—");
      expect(formatPercent(x)).toBe("—");
      expect(formatSignedPercent(x)).toBe("—");
      expect(formatPoints(x)).toBe("—");
      expect(formatPValue(x)).toBe("—");
      expect(formatProbability(x)).toBe("—");
      expect(formatInterval(x, 1, String)).toBe("—");
    },
  );
});

describe("signs", () => {
  it("uses a real minus sign, never a hyphen", () => {
    expect(formatNumber(-3.5)).toBe(`${MINUS}3.5`);
    expect(formatSigned(-0.5)).toBe("−0.5");
    expect(formatSignedPercent(-0.012)).toBe("−1.2 %");
    expect(formatPoints(-0.0231)).not.toContain("-");
  });
  it("puts + on positive differences", () => {
    expect(formatSigned(1.234)).toBe("+1.23");
    expect(formatPoints(0.0231)).toBe("+2.31 pp");
    expect(formatSignedPercent(0.05)).toBe("+5.0 %");
  });
  it("drops the sign when it rounds to zero", () => {
    expect(formatSigned(0)).toBe("0");
    expect(formatSignedPercent(-0.00001)).toBe("0.0 %");
    expect(formatNumber(-0.0000001, 2)).toBe("0.00");
  });
});

describe("magnitudes", () => {
  it("groups thousands and adapts precision", () => {
    expect(formatNumber(2118)).toBe("2,118");
    expect(formatNumber(902.12)).toBe("902.1");
    expect(formatNumber(2.4163)).toBe("2.42");
    expect(formatNumber(0.0255681)).toBe("0.0256");
    expect(formatCount(12345.4)).toBe("12,345");
    expect(formatPercent(0.0511, 2)).toBe("5.11 %");
  });
});

describe("intervals", () => {
  it("formats both bounds with the given formatter", () => {
    expect(formatInterval(-0.004, 0.031, (x) => formatSignedPercent(x))).toBe("[−0.4 %, +3.1 %]");
  });
});

describe("p-values", () => {
  it("follows the thresholds", () => {
    expect(formatPValue(0)).toBe("p < 0.001");
    expect(formatPValue(0.000999)).toBe("p < 0.001");
    expect(formatPValue(0.001)).toBe("p = 0.001");
    expect(formatPValue(0.0370202)).toBe("p = 0.037");
    expect(formatPValue(0.8408)).toBe("p = 0.84");
    expect(formatPValue(1)).toBe("p > 0.99");
    expect(formatPValue(-0.1)).toBe("—");
    expect(formatPValue(1.5)).toBe("—");
  });
  it("never claims certainty for probabilities", () => {
    expect(formatProbability(1)).toBe("> 99.9 %");
    expect(formatProbability(0)).toBe("< 0.1 %");
    expect(formatProbability(0.981)).toBe("98.1 %");
  });
});

describe("significance in words", () => {
  it("says improvement or decline by direction", () => {
    expect(significanceWords({ diff: 0.02, significant: true }).label).toBe(
      "Significant improvement",
    );
    expect(significanceWords({ diff: -0.02, significant: true }).label).toBe("Significant decline");
    expect(significanceWords({ diff: 0.3, significant: true, lowerIsBetter: true })).toEqual({
      label: "Significant decline",
      tone: "bad",
    });
    expect(significanceWords({ diff: -0.3, significant: true, lowerIsBetter: true }).tone).toBe(
      "good",
    );
  });
  it("says not significant otherwise", () => {
    expect(significanceWords({ diff: 0.02, significant: false }).label).toBe("Not significant");
    expect(
      significanceWords({ diff: 0.02, significant: false, significantUncorrected: true }).label,
    ).toBe("Not significant after correction");
    expect(significanceWords({ diff: Number.NaN, significant: true }).label).toBe("No comparison");
  });
});

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.0 KB"],
    [1536, "1.5 KB"],
    [287_309_824, "274.0 MB"],
    [3 * 1024 ** 3, "3.0 GB"],
    [-1, "—"],
    [Number.NaN, "—"],
  ])("%s bytes → %s", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
