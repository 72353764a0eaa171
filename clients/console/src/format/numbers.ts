/**
 * Numbers as the results page shows them. Every function takes possibly
 * missing input and answers "—" for undefined, null, NaN and infinities.
 * Negative numbers use a real minus sign (U+2212), positive differences an
 * explicit "+", and units are separated by a space ("5.1 %", "+2.31 pp").
 */

export const MINUS = "\u2212";
export const MISSING = "—";

type Num = number | null | undefined;

function usable(x: Num): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

/** Formats a non-negative magnitude with sensible precision for its size. */
function magnitude(abs: number, fractionDigits?: number): string {
  if (fractionDigits !== undefined) {
    return abs.toLocaleString("en-US", {
      minimumFractionDigits: fractionDigits,
      maximumFractionDigits: fractionDigits,
    });
  }
  if (abs === 0) return "0";
  if (abs >= 1000) return abs.toLocaleString("en-US", { maximumFractionDigits: 0 });
  if (abs >= 100) return abs.toLocaleString("en-US", { maximumFractionDigits: 1 });
  if (abs >= 1) return abs.toLocaleString("en-US", { maximumFractionDigits: 2 });
  return abs.toLocaleString("en-US", { maximumSignificantDigits: 3 });
}

function isZeroText(text: string): boolean {
  return /^[0.,]*$/.test(text);
}

/** "1,234", "0.0512", "−3.5"; precision adapts to size unless fractionDigits is given. */
export function formatNumber(x: Num, fractionDigits?: number): string {
  if (!usable(x)) return MISSING;
  const text = magnitude(Math.abs(x), fractionDigits);
  return x < 0 && !isZeroText(text) ? `${MINUS}${text}` : text;
}

/** "+1.23", "−0.5", "0" (no sign when it rounds to zero). */
export function formatSigned(x: Num, fractionDigits?: number): string {
  if (!usable(x)) return MISSING;
  const text = magnitude(Math.abs(x), fractionDigits);
  if (isZeroText(text)) return text;
  return `${x < 0 ? MINUS : "+"}${text}`;
}

/** Whole counts with grouping: "12,345". */
export function formatCount(x: Num): string {
  if (!usable(x)) return MISSING;
  return formatNumber(Math.round(x), 0);
}

/** A file size: "512 B", "2.0 KB", "274.1 MB" (binary units, one decimal). */
export function formatBytes(bytes: Num): string {
  if (!usable(bytes) || bytes < 0) return MISSING;
  const units = ["KB", "MB", "GB", "TB"];
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A 0–1 fraction as a percentage: 0.0512 → "5.1 %". */
export function formatPercent(fraction: Num, fractionDigits = 1): string {
  if (!usable(fraction)) return MISSING;
  return `${formatNumber(fraction * 100, fractionDigits)} %`;
}

/** A relative change given as a fraction: 0.05 → "+5.0 %", −0.012 → "−1.2 %". */
export function formatSignedPercent(fraction: Num, fractionDigits = 1): string {
  if (!usable(fraction)) return MISSING;
  return `${formatSigned(fraction * 100, fractionDigits)} %`;
}

/** A difference of two rates in percentage points: 0.0231 → "+2.31 pp". */
export function formatPoints(fraction: Num, fractionDigits = 2): string {
  if (!usable(fraction)) return MISSING;
  return `${formatSigned(fraction * 100, fractionDigits)} pp`;
}

/** "[−0.4 %, +3.1 %]" with the bounds formatted by `format`. */
export function formatInterval(low: Num, high: Num, format: (x: number) => string): string {
  if (!usable(low) || !usable(high)) return MISSING;
  return `[${format(low)}, ${format(high)}]`;
}

/** "p < 0.001", "p = 0.037", "p = 0.84". */
export function formatPValue(p: Num): string {
  if (!usable(p) || p < 0 || p > 1) return MISSING;
  if (p < 0.001) return "p < 0.001";
  if (p < 0.1) return `p = ${p.toFixed(3)}`;
  if (p > 0.99) return "p > 0.99";
  return `p = ${p.toFixed(2)}`;
}

/** A probability as a percentage, never claiming certainty: "98.1 %", "> 99.9 %", "< 0.1 %". */
export function formatProbability(p: Num): string {
  if (!usable(p) || p < 0 || p > 1) return MISSING;
  if (p > 0.999) return "> 99.9 %";
  if (p < 0.001) return "< 0.1 %";
  return formatPercent(p, 1);
}

export type Tone = "good" | "bad" | "neutral";

export interface Significance {
  /** The verdict in words, e.g. "Significant improvement". */
  label: string;
  /** Colour hint only; the label carries the meaning on its own. */
  tone: Tone;
}

/**
 * Significance in words. `significant` is the decision to use (the report's
 * adjusted_significant after the multiple-testing correction);
 * `lowerIsBetter` turns an increase into a decline.
 */
export function significanceWords(input: {
  diff: Num;
  significant: boolean;
  lowerIsBetter?: boolean;
  /** Significant before correction only. */
  significantUncorrected?: boolean;
}): Significance {
  if (!usable(input.diff)) return { label: "No comparison", tone: "neutral" };
  if (!input.significant || input.diff === 0) {
    return input.significantUncorrected === true && input.diff !== 0
      ? { label: "Not significant after correction", tone: "neutral" }
      : { label: "Not significant", tone: "neutral" };
  }
  const better = input.lowerIsBetter === true ? input.diff < 0 : input.diff > 0;
  return better
    ? { label: "Significant improvement", tone: "good" }
    : { label: "Significant decline", tone: "bad" };
}
