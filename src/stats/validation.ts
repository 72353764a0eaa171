/**
 * Argument checks shared by the statistics functions. Each throws a
 * RangeError whose message names the function and the argument, e.g.
 * `welchTest: control.n must be an integer ≥ 2 (got 1)`.
 */

/** Confidence level used when none is given: 95 % two-sided intervals. */
export const DEFAULT_CONFIDENCE_LEVEL = 0.95;

function fail(where: string, name: string, rule: string, value: unknown): never {
  throw new RangeError(`${where}: ${name} must be ${rule} (got ${String(value)})`);
}

/** A finite number (not NaN, not ±Infinity). */
export function requireFinite(where: string, name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    fail(where, name, "a finite number", value);
  }
  return value;
}

/** A finite number ≥ 0. */
export function requireNonNegative(where: string, name: string, value: number): number {
  requireFinite(where, name, value);
  if (value < 0) fail(where, name, "≥ 0", value);
  return value;
}

/** A finite number > 0. */
export function requirePositive(where: string, name: string, value: number): number {
  requireFinite(where, name, value);
  if (value <= 0) fail(where, name, "> 0", value);
  return value;
}

/** A safe integer ≥ `min`. */
export function requireInteger(where: string, name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    fail(where, name, `an integer ≥ ${String(min)}`, value);
  }
  return value;
}

/** A probability strictly between 0 and 1 (confidence levels, quantiles, α). */
export function requireOpenUnit(where: string, name: string, value: number): number {
  requireFinite(where, name, value);
  if (value <= 0 || value >= 1) fail(where, name, "strictly between 0 and 1", value);
  return value;
}

/** A probability in [0, 1] (p-values). */
export function requireClosedUnit(where: string, name: string, value: number): number {
  requireFinite(where, name, value);
  if (value < 0 || value > 1) fail(where, name, "in [0, 1]", value);
  return value;
}

/** Success counts: integers with 0 ≤ successes ≤ trials and trials ≥ 1. */
export function requireCounts(
  where: string,
  name: string,
  counts: { readonly successes: number; readonly trials: number },
): void {
  requireInteger(where, `${name}.trials`, counts.trials, 1);
  requireInteger(where, `${name}.successes`, counts.successes, 0);
  if (counts.successes > counts.trials) {
    fail(
      where,
      `${name}.successes`,
      `≤ ${name}.trials (${String(counts.trials)})`,
      counts.successes,
    );
  }
}

/**
 * A sample variance rebuilt from sums, (Σv² − (Σv)²/n)/(n − 1). Floating-point
 * cancellation can make it slightly negative for (near-)constant data; a
 * negative value within 1e-9 of the scale Σv²/(n − 1) is taken as 0, anything
 * more negative means the sums are inconsistent and throws.
 */
export function varianceFromSums(
  where: string,
  name: string,
  n: number,
  sum: number,
  sumOfSquares: number,
): number {
  const variance = (sumOfSquares - (sum * sum) / n) / (n - 1);
  if (variance >= 0) return variance;
  const scale = Math.abs(sumOfSquares) / (n - 1);
  if (-variance <= 1e-9 * scale) return 0;
  return fail(where, name, "≥ (sum)²/n (sums of squares cannot be smaller)", sumOfSquares);
}

/** Resolved confidence level: the given one, checked, or 0.95. */
export function confidenceLevelOf(where: string, confidenceLevel: number | undefined): number {
  if (confidenceLevel === undefined) return DEFAULT_CONFIDENCE_LEVEL;
  return requireOpenUnit(where, "confidenceLevel", confidenceLevel);
}
