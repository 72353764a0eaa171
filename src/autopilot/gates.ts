/**
 * The gates of a ramp step (docs/autopilot.md#gates), as pure functions of
 * the step's figures: no I/O, no clock of their own.
 *
 * Three effects:
 * - wait (sufficiency): too early or too little data; the ramp stays and
 *   is evaluated again.
 * - hold (data health): SRM, traffic skew, rejected events; the ramp stays,
 *   the hold is recorded and notified (`ramp.held`) until it clears.
 * - safety: a guardrail fired during the step, or a ramp threshold is
 *   crossed; the plan's safety action runs.
 *
 * Bounds are inclusive where the name says "min"/"max": a gate passes at
 * exactly its bound. Thresholds fail strictly beyond theirs, as guardrails do.
 */
import type { RampGatesConfig } from "../experiments/lookup.js";
import type { RampGateResult } from "../experiments/transitions.js";

/** One variant over the step's window. */
export interface VariantFigures {
  key: string;
  control: boolean;
  /** Weight in percent of all traffic (the configured layout). */
  weight: number;
  exposures: number;
  subjects: number;
  /** Metric values by metric key. */
  metrics: Map<string, number>;
  /** The observations behind each metric value (the report's sample size); 0: no value yet. */
  samples: Map<string, number>;
}

/** What the gates read: the experiment's report over the current step, and the clock. */
export interface StepFigures {
  /** Seconds since the step began. */
  stepSeconds: number;
  variants: VariantFigures[];
  srm: { pValue: number; mismatch: boolean };
  rejectedShare: number;
  /** Guardrail triggers recorded since the step began (metric keys). */
  guardrailsFired: string[];
}

export interface GateVerdict {
  gates: RampGateResult[];
  /** Every gate passed: the ramp may move up. */
  advance: boolean;
  /** A safety gate failed: the plan's safety action runs. */
  safety: boolean;
  /** A health gate failed (and no safety gate): the ramp is held. */
  hold: boolean;
}

/** A figure in words: at most four significant digits. */
function figure(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

function gate(
  name: string,
  effect: RampGateResult["effect"],
  passed: boolean,
  observed: number,
  threshold: number,
  detail: string,
): RampGateResult {
  return { gate: name, passed, observed, threshold, effect, detail };
}

/** Minimum time on the step. */
export function stepTimeGate(gates: RampGatesConfig, f: StepFigures): RampGateResult {
  const passed = f.stepSeconds >= gates.minStepSeconds;
  return gate(
    "min_step_seconds",
    "wait",
    passed,
    Math.floor(f.stepSeconds),
    gates.minStepSeconds,
    `${Math.floor(f.stepSeconds)} s on the step, ${gates.minStepSeconds} s needed`,
  );
}

/** Minimum exposures of the step, all variants together. */
export function exposuresGate(gates: RampGatesConfig, f: StepFigures): RampGateResult {
  const total = f.variants.reduce((sum, v) => sum + v.exposures, 0);
  return gate(
    "min_exposures",
    "wait",
    total >= gates.minExposures,
    total,
    gates.minExposures,
    `${total} exposures on the step, ${gates.minExposures} needed`,
  );
}

/** Minimum exposures of the step in every variant (the smallest is reported). */
export function exposuresPerVariantGate(gates: RampGatesConfig, f: StepFigures): RampGateResult {
  let least: VariantFigures | undefined;
  for (const v of f.variants) if (least === undefined || v.exposures < least.exposures) least = v;
  const observed = least?.exposures ?? 0;
  return gate(
    "min_exposures_per_variant",
    "wait",
    observed >= gates.minExposuresPerVariant,
    observed,
    gates.minExposuresPerVariant,
    `fewest exposures: ${observed} in ${least?.key ?? "no variant"}, ${gates.minExposuresPerVariant} needed per variant`,
  );
}

/** No guardrail of the experiment fired during the step. */
export function guardrailGate(f: StepFigures): RampGateResult {
  const fired = f.guardrailsFired.length;
  return gate(
    "guardrail",
    "safety",
    fired === 0,
    fired,
    0,
    fired === 0
      ? "no guardrail fired on the step"
      : `guardrail fired on the step: ${[...new Set(f.guardrailsFired)].join(", ")}`,
  );
}

/**
 * Each ramp threshold, on every non-control variant (the worst is
 * reported). Judged only once every variant has min_exposures_per_variant
 * exposures (`judged`): a rate over a handful of events is noise.
 */
export function thresholdGates(
  gates: RampGatesConfig,
  f: StepFigures,
  judged = true,
): RampGateResult[] {
  return gates.thresholds.map((t) => {
    const increaseIsBad = t.direction === "increase_is_bad";
    let worst: { key: string; value: number } | undefined;
    for (const v of f.variants) {
      if (v.control) continue;
      const value = v.metrics.get(t.metricKey);
      // No observations: no value (a rate of 0 over nothing must not trip a
      // decrease-is-bad threshold).
      if (value === undefined || !Number.isFinite(value) || !(v.samples.get(t.metricKey)! > 0)) {
        continue;
      }
      if (worst === undefined || (increaseIsBad ? value > worst.value : value < worst.value)) {
        worst = { key: v.key, value };
      }
    }
    const observed = worst?.value ?? 0;
    const passed =
      !judged ||
      worst === undefined ||
      (increaseIsBad ? observed <= t.threshold : observed >= t.threshold);
    return gate(
      "threshold",
      "safety",
      passed,
      observed,
      t.threshold,
      !judged
        ? `${t.metricKey}: not judged before every variant has ${gates.minExposuresPerVariant} exposures`
        : worst === undefined
          ? `${t.metricKey}: no value yet`
          : `${t.metricKey} in ${worst.key}: ${figure(observed)}, ${increaseIsBad ? "at most" : "at least"} ${figure(t.threshold)} allowed`,
    );
  });
}

/** No sample ratio mismatch over the step (unless the plan allows one). */
export function srmGate(gates: RampGatesConfig, f: StepFigures): RampGateResult | undefined {
  if (gates.allowSrm) return undefined;
  return gate(
    "srm",
    "hold",
    !f.srm.mismatch,
    f.srm.pValue,
    0.001,
    f.srm.mismatch
      ? `sample ratio mismatch over the step (p = ${f.srm.pValue.toPrecision(3)})`
      : "no sample ratio mismatch",
  );
}

/**
 * Traffic skew: the largest relative deviation of a variant's share of the
 * step's subjects from its weight's share. No subjects: nothing to compare
 * (passes; the exposure gates wait for data).
 */
export function trafficSkewGate(
  gates: RampGatesConfig,
  f: StepFigures,
): RampGateResult | undefined {
  if (gates.maxTrafficSkew === null) return undefined;
  const subjects = f.variants.reduce((sum, v) => sum + v.subjects, 0);
  const weights = f.variants.reduce((sum, v) => sum + v.weight, 0);
  let worst = { key: "", skew: 0 };
  if (subjects > 0 && weights > 0) {
    for (const v of f.variants) {
      if (v.weight === 0) continue;
      // |observed share / expected share − 1|, as one division (exact at the bound).
      const skew = Math.abs(v.subjects * weights - subjects * v.weight) / (subjects * v.weight);
      if (skew > worst.skew) worst = { key: v.key, skew };
    }
  }
  return gate(
    "traffic_skew",
    "hold",
    worst.skew <= gates.maxTrafficSkew,
    worst.skew,
    gates.maxTrafficSkew,
    worst.key === ""
      ? "traffic matches the weights"
      : `${worst.key} got ${(worst.skew * 100).toFixed(1)} % more or less than its weight's share`,
  );
}

/** Share of rejected events over the step. */
export function rejectedShareGate(
  gates: RampGatesConfig,
  f: StepFigures,
): RampGateResult | undefined {
  if (gates.maxRejectedShare === null) return undefined;
  return gate(
    "rejected_share",
    "hold",
    f.rejectedShare <= gates.maxRejectedShare,
    f.rejectedShare,
    gates.maxRejectedShare,
    `${(f.rejectedShare * 100).toFixed(2)} % of events rejected, at most ${(gates.maxRejectedShare * 100).toFixed(2)} %`,
  );
}

/** Every gate of the plan on the step's figures, and what follows from them. */
export function evaluateGates(gates: RampGatesConfig, f: StepFigures): GateVerdict {
  const perVariant = exposuresPerVariantGate(gates, f);
  const results: RampGateResult[] = [
    stepTimeGate(gates, f),
    exposuresGate(gates, f),
    perVariant,
    guardrailGate(f),
    ...thresholdGates(gates, f, perVariant.passed),
  ];
  for (const optional of [
    srmGate(gates, f),
    trafficSkewGate(gates, f),
    rejectedShareGate(gates, f),
  ]) {
    if (optional !== undefined) results.push(optional);
  }
  const failed = (effect: RampGateResult["effect"]) =>
    results.some((r) => !r.passed && r.effect === effect);
  const safety = failed("safety");
  return {
    gates: results,
    advance: results.every((r) => r.passed),
    safety,
    hold: !safety && failed("hold"),
  };
}
