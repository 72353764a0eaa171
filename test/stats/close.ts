/** Tolerance assertions for the statistics tests. */
import { expect } from "@jest/globals";

/** Relative tolerance for quantities computed by exact formulas (same math, different code). */
export const EXACT = 1e-9;

/**
 * Asserts |actual − expected| ≤ relative·|expected| (or ≤ relative when
 * expected is 0), with a readable message.
 */
export function expectClose(actual: number | null, expected: number, relative = EXACT): void {
  expect(actual).not.toBeNull();
  const value = actual ?? Number.NaN;
  const allowed = expected === 0 ? relative : relative * Math.abs(expected);
  const error = Math.abs(value - expected);
  if (!(error <= allowed)) {
    throw new Error(
      `expected ${String(value)} to be within ${String(relative)} (relative) of ${String(expected)}; off by ${String(error)}`,
    );
  }
}

/** Asserts |actual − expected| ≤ absolute. */
export function expectWithin(actual: number, expected: number, absolute: number): void {
  const error = Math.abs(actual - expected);
  if (!(error <= absolute)) {
    throw new Error(
      `expected ${String(actual)} to be within ${String(absolute)} of ${String(expected)}; off by ${String(error)}`,
    );
  }
}
