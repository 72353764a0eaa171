/**
 * Whether a guardrail rule is breached, from the windowed figures of its
 * metric (figures.ts). Pure: no I/O, so every edge is unit-tested.
 *
 * A rule is breached when
 * - the metric's sample in the window, all variants together, is at least
 *   the rule's min_sample_size (and at least 1), and
 * - some non-control variant with a sample of its own has a value strictly
 *   beyond the threshold in the rule's direction (greater for
 *   increase_is_bad, less for decrease_is_bad).
 * The control variant never breaches a rule: the experiment is guarded
 * against what its treatments do. When several variants breach, the worst
 * one is reported (highest for increase_is_bad, lowest for decrease_is_bad).
 */
import type { GuardrailConfig } from "../experiments/lookup.js";

/** A metric's value and sample over the window, for one variant or ("") all. */
export interface WindowFigure {
  value: number;
  sample: number;
}

/** By variant key; "" holds all variants together. */
export type WindowFigures = ReadonlyMap<string, WindowFigure>;

export interface Breach {
  variantKey: string;
  observedValue: number;
  /** The metric's sample in the window, all variants together. */
  sampleSize: number;
}

export type GuardrailRule = Pick<GuardrailConfig, "threshold" | "direction" | "minSampleSize">;

export function isBeyond(rule: Pick<GuardrailRule, "threshold" | "direction">, value: number) {
  return rule.direction === "increase_is_bad" ? value > rule.threshold : value < rule.threshold;
}

export function findBreach(
  rule: GuardrailRule,
  figures: WindowFigures,
  controlKey: string,
): Breach | undefined {
  const sampleSize = figures.get("")?.sample ?? 0;
  if (sampleSize < Math.max(1, rule.minSampleSize)) return undefined;
  let worst: Breach | undefined;
  for (const [variantKey, figure] of figures) {
    if (variantKey === "" || variantKey === controlKey) continue;
    if (figure.sample <= 0 || !Number.isFinite(figure.value)) continue;
    if (!isBeyond(rule, figure.value)) continue;
    if (
      worst === undefined ||
      isBeyond({ ...rule, threshold: worst.observedValue }, figure.value)
    ) {
      worst = { variantKey, observedValue: figure.value, sampleSize };
    }
  }
  return worst;
}

/** The readable line recorded in the history and sent as the summary. */
export function describeBreach(
  rule: Pick<GuardrailConfig, "metricKey" | "threshold" | "direction" | "windowSeconds" | "action">,
  breach: Breach,
): string {
  const sign = rule.direction === "increase_is_bad" ? ">" : "<";
  const action = rule.action === "rollback" ? "rolled back to control" : "paused";
  return (
    `guardrail ${rule.metricKey}: ${formatNumber(breach.observedValue)} ${sign} ` +
    `${formatNumber(rule.threshold)} in variant ${breach.variantKey} over the last ` +
    `${rule.windowSeconds} s (sample ${breach.sampleSize}); ${action}`
  );
}

function formatNumber(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}
