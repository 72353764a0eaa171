/**
 * Multiple-comparison corrections for the family of tests in one report
 * (every treatment variant × every metric): Holm's step-down procedure for
 * the family-wise error rate and Benjamini–Hochberg's step-up procedure for
 * the false discovery rate. Both return adjusted p-values in the input
 * order: a test is significant at level α after correction when its
 * adjusted p-value is ≤ α.
 */
import { requireClosedUnit } from "./validation.js";

/** A correction method. */
export type CorrectionMethod = "holm" | "benjamini-hochberg" | "none";

/**
 * The default correction: Holm. A ship decision usually rests on "no
 * metric or variant in this report moved by chance", which is the
 * family-wise error rate; with the handful of variants × metrics of a
 * typical report Holm costs little power. Benjamini–Hochberg suits
 * exploratory views over many metrics.
 */
export const DEFAULT_CORRECTION: CorrectionMethod = "holm";

function checked(where: string, pValues: readonly number[]): number[] {
  return pValues.map((p, i) => requireClosedUnit(where, `pValues[${String(i)}]`, p));
}

/** Indices of `values` in ascending order of value (stable for ties). */
function ascendingOrder(values: readonly number[]): number[] {
  return values.map((_, i) => i).sort((a, b) => (values[a] ?? 0) - (values[b] ?? 0) || a - b);
}

/**
 * Holm–Bonferroni adjusted p-values. With the m p-values sorted ascending,
 * p₍₁₎ ≤ … ≤ p₍ₘ₎, the adjusted value of the i-th is
 * max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎). Controls the family-wise error
 * rate at α under any dependence between the tests. Each adjusted value is
 * ≥ its raw p-value, and the adjusted values keep the raw ones' order.
 *
 * @param pValues raw p-values, each in [0, 1]; may be empty
 * @returns adjusted p-values in the input order, each in [0, 1]
 * @throws RangeError naming the first p-value outside [0, 1]
 */
export function holm(pValues: readonly number[]): number[] {
  const p = checked("holm", pValues);
  const m = p.length;
  const adjusted = new Array<number>(m).fill(0);
  let running = 0;
  ascendingOrder(p).forEach((index, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * (p[index] ?? 0)));
    adjusted[index] = running;
  });
  return adjusted;
}

/**
 * Benjamini–Hochberg adjusted p-values (q-values of the step-up procedure).
 * With the m p-values sorted ascending, the adjusted value of the i-th is
 * min over j ≥ i of min(1, m·p₍ⱼ₎/j). Controls the false discovery rate at α
 * for independent or positively dependent (PRDS) tests. Each adjusted value
 * is ≥ its raw p-value and ≤ its Holm-adjusted value.
 *
 * @param pValues raw p-values, each in [0, 1]; may be empty
 * @returns adjusted p-values in the input order, each in [0, 1]
 * @throws RangeError naming the first p-value outside [0, 1]
 */
export function benjaminiHochberg(pValues: readonly number[]): number[] {
  const p = checked("benjaminiHochberg", pValues);
  const m = p.length;
  const adjusted = new Array<number>(m).fill(0);
  const order = ascendingOrder(p);
  let running = 1;
  for (let rank = m - 1; rank >= 0; rank -= 1) {
    const index = order[rank] ?? 0;
    // p·(m/j) with m/j ≥ 1 never rounds below p (and is exactly p for j = m).
    running = Math.min(running, (p[index] ?? 0) * (m / (rank + 1)));
    adjusted[index] = running;
  }
  return adjusted;
}

/**
 * Adjusted p-values by the chosen method (default {@link DEFAULT_CORRECTION},
 * Holm); "none" returns the raw p-values, checked.
 *
 * @param pValues raw p-values, each in [0, 1]
 * @param method "holm" (default), "benjamini-hochberg" or "none"
 */
export function adjustPValues(
  pValues: readonly number[],
  method: CorrectionMethod = DEFAULT_CORRECTION,
): number[] {
  switch (method) {
    case "holm":
      return holm(pValues);
    case "benjamini-hochberg":
      return benjaminiHochberg(pValues);
    case "none":
      return checked("adjustPValues", pValues);
    default:
      throw new RangeError(
        `adjustPValues: method must be one of holm, benjamini-hochberg, none (got ${String(method)})`,
      );
  }
}
