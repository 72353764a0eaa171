/**
 * The experiment form's state: every input as the text the user typed,
 * converted to and from the Experiment message. Problems the browser can
 * see on its own (a value that is not of the flag's type) come back in the
 * same {field, message} shape as the server's, so the form shows both alike.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Direction,
  GuardrailAction,
  RampSafetyAction,
  type Experiment,
  type ExperimentSchema,
  type RampPlanSchema,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagType } from "../../../../../gen/lotty/flags/v1/flags_pb.js";
import type { FieldError } from "../../api/errors.js";
import { parseValue, valueInput } from "./values.js";

export interface VariantDraft {
  key: string;
  value: string;
  weight: string;
}

export interface GuardrailDraft {
  metricKey: string;
  threshold: string;
  direction: Direction;
  action: GuardrailAction;
  windowSeconds: string;
  minSampleSize: string;
}

export interface RampThresholdDraft {
  metricKey: string;
  threshold: string;
  direction: Direction;
}

/** The autopilot ramp plan as typed; nothing of it is sent unless `enabled`. */
export interface RampDraft {
  enabled: boolean;
  /** Comma-separated percents of the audience ("1, 5, 10"). */
  steps: string;
  /** min_step_seconds, in minutes. */
  minStepMinutes: string;
  minExposures: string;
  minExposuresPerVariant: string;
  thresholds: RampThresholdDraft[];
  /** The inverse of allow_srm: a sample ratio mismatch holds the ramp. */
  srmHolds: boolean;
  /** max_traffic_skew in percent; empty: not checked. */
  maxTrafficSkewPercent: string;
  /** max_rejected_share in percent; empty: not checked. */
  maxRejectedSharePercent: string;
  safetyAction: RampSafetyAction;
}

export interface ExperimentDraft {
  name: string;
  description: string;
  flagKey: string;
  audiencePercent: string;
  variants: VariantDraft[];
  /** Index of the control variant. */
  control: number;
  targetingRule: string;
  primaryMetricKey: string;
  metricKeys: string[];
  guardrails: GuardrailDraft[];
  /** Comma-separated domain names. */
  conflictDomains: string;
  priority: string;
  ramp: RampDraft;
}

/** Limits the form checks itself: beyond them the numbers would not fit the message (int32). */
export const RAMP_LIMITS = {
  maxStepMinutes: 43_200,
  maxExposures: 1_000_000_000,
  maxSteps: 20,
  maxThresholds: 10,
} as const;

/** The plan the fieldset opens with: docs/autopilot.md's typical plan, pausing on a failure. */
export function emptyRamp(): RampDraft {
  return {
    enabled: false,
    steps: "1, 5, 10, 25, 50, 100",
    minStepMinutes: "30",
    minExposures: "0",
    minExposuresPerVariant: "500",
    thresholds: [],
    srmHolds: true,
    maxTrafficSkewPercent: "",
    maxRejectedSharePercent: "",
    safetyAction: RampSafetyAction.PAUSE,
  };
}

export function emptyRampThreshold(): RampThresholdDraft {
  return { metricKey: "", threshold: "", direction: Direction.INCREASE_IS_BAD };
}

export function emptyDraft(): ExperimentDraft {
  return {
    name: "",
    description: "",
    flagKey: "",
    audiencePercent: "100",
    variants: [
      { key: "control", value: "", weight: "50" },
      { key: "treatment", value: "", weight: "50" },
    ],
    control: 0,
    targetingRule: "",
    primaryMetricKey: "",
    metricKeys: [],
    guardrails: [],
    conflictDomains: "",
    priority: "0",
    ramp: emptyRamp(),
  };
}

export function emptyGuardrail(): GuardrailDraft {
  return {
    metricKey: "",
    threshold: "",
    direction: Direction.INCREASE_IS_BAD,
    action: GuardrailAction.PAUSE,
    windowSeconds: "600",
    minSampleSize: "0",
  };
}

export function draftFromExperiment(e: Experiment): ExperimentDraft {
  const control = e.variants.findIndex((v) => v.control);
  return {
    name: e.name,
    description: e.description,
    flagKey: e.flagKey,
    audiencePercent: String(e.audiencePercent),
    variants: e.variants.map((v) => ({
      key: v.key,
      value: valueInput(v.value),
      weight: String(v.weight),
    })),
    control: control < 0 ? 0 : control,
    targetingRule: e.targetingRule,
    primaryMetricKey: e.primaryMetricKey,
    metricKeys: [...e.metricKeys],
    guardrails: e.guardrails.map((g) => ({
      metricKey: g.metricKey,
      threshold: String(g.threshold),
      direction: g.direction,
      action: g.action,
      windowSeconds: String(g.windowSeconds === 0 ? 600 : g.windowSeconds),
      minSampleSize: String(g.minSampleSize),
    })),
    conflictDomains: e.conflictDomains.join(", "),
    priority: String(e.priority),
    ramp: rampDraftFrom(e),
  };
}

/**
 * A decimal number's text with the point moved `places` to the right,
 * without rounding ("0.025", 2 → "2.5"; "7", -2 → "0.07"); undefined for
 * text that is no plain decimal ("1e3" is one).
 */
export function shiftDecimal(text: string, places: number): string | undefined {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text.trim());
  if (m === null) return undefined;
  const [, sign = "", whole = "", frac = "", exp = "0"] = m;
  const exponent = Number(exp) + places;
  if ((whole === "" && frac === "") || Math.abs(exponent) > 400) return undefined;
  const digits = whole + frac;
  const point = whole.length + exponent;
  let out =
    point <= 0
      ? `0.${"0".repeat(-point)}${digits}`
      : point >= digits.length
        ? digits + "0".repeat(point - digits.length)
        : `${digits.slice(0, point)}.${digits.slice(point)}`;
  if (out.includes(".")) out = out.replace(/0+$/, "").replace(/\.$/, "");
  out = out.replace(/^0+(?=\d)/, "");
  return sign === "-" && /[1-9]/.test(out) ? `-${out}` : out;
}

/** A fraction (0.1) as the percent the form shows ("10"); it converts back to the same number. */
export function fractionToPercentText(fraction: number): string {
  return shiftDecimal(String(fraction), 2) ?? String(fraction * 100);
}

/** A percent as typed ("2.5", "2.5 %") as a fraction (0.025); NaN when it is no number. */
export function percentTextToFraction(text: string): number {
  const t = text.trim().replace(/\s*%$/, "");
  if (t === "" || !Number.isFinite(Number(t))) return Number.NaN;
  const shifted = shiftDecimal(t, -2);
  return shifted === undefined ? Number(t) / 100 : Number(shifted);
}

/** Seconds (90) as the minutes the form shows ("1.5"); whole seconds come back exactly. */
export function secondsToMinutesText(seconds: number): string {
  return String(Math.round((seconds / 60) * 10_000) / 10_000);
}

function rampDraftFrom(e: Experiment): RampDraft {
  const plan = e.rampPlan;
  if (plan === undefined || plan.steps.length === 0) return emptyRamp();
  const g = plan.gates;
  return {
    enabled: true,
    steps: plan.steps.map(String).join(", "),
    minStepMinutes: secondsToMinutesText(g?.minStepSeconds ?? 0),
    minExposures: String(g?.minExposures ?? 0),
    minExposuresPerVariant: String(g?.minExposuresPerVariant ?? 0),
    thresholds: (g?.thresholds ?? []).map((t) => ({
      metricKey: t.metricKey,
      threshold: String(t.threshold),
      direction: t.direction,
    })),
    srmHolds: !(g?.allowSrm ?? false),
    maxTrafficSkewPercent:
      g?.maxTrafficSkew === undefined ? "" : fractionToPercentText(g.maxTrafficSkew),
    maxRejectedSharePercent:
      g?.maxRejectedShare === undefined ? "" : fractionToPercentText(g.maxRejectedShare),
    safetyAction: plan.safetyAction,
  };
}

/** A number from a text input; NaN for text that is not one (the server names the field). */
function num(text: string): number {
  return text.trim() === "" ? 0 : Number(text);
}

function int(text: string): number {
  const n = num(text);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

/** A decimal number typed with an optional trailing "%" ("2.5 %"); NaN when it is none. */
function percentNumber(text: string): number {
  const t = text.trim().replace(/\s*%$/, "");
  return t === "" ? Number.NaN : Number(t);
}

/** The plan to send (undefined when the fieldset is off), and its problems. */
export function rampPlanFromDraft(
  ramp: RampDraft,
  problems: FieldError[],
): MessageInitShape<typeof RampPlanSchema> | undefined {
  if (!ramp.enabled) return undefined;
  const at = "experiment.ramp_plan";
  const parts = ramp.steps.split(",").map((s) => s.trim());
  // A trailing comma ("1, 5,") is no step.
  while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  const steps = parts.map((part, i) => {
    const step = percentNumber(part);
    if (!Number.isFinite(step)) {
      problems.push({
        field: `${at}.steps[${i}]`,
        message: part === "" ? "is empty (two commas in a row)" : `must be a number, not "${part}"`,
      });
      return 0;
    }
    return step;
  });
  const whole = (text: string, name: string, max: number): number => {
    const n = num(text);
    if (!Number.isInteger(n) || n < 0 || n > max) {
      problems.push({
        field: `${at}.gates.${name}`,
        message: `must be a whole number between 0 and ${max}`,
      });
      return 0;
    }
    return n;
  };
  const minutes = num(ramp.minStepMinutes);
  let minStepSeconds = 0;
  if (!Number.isFinite(minutes) || minutes < 0 || minutes > RAMP_LIMITS.maxStepMinutes) {
    problems.push({
      field: `${at}.gates.min_step_seconds`,
      message: `must be a number of minutes between 0 and ${RAMP_LIMITS.maxStepMinutes} (30 days)`,
    });
  } else {
    minStepSeconds = Math.round(minutes * 60);
  }
  const minExposures = whole(ramp.minExposures, "min_exposures", RAMP_LIMITS.maxExposures);
  const minExposuresPerVariant = whole(
    ramp.minExposuresPerVariant,
    "min_exposures_per_variant",
    RAMP_LIMITS.maxExposures,
  );
  const thresholds = ramp.thresholds.map((t, i) => {
    const threshold = Number(t.threshold);
    if (t.threshold.trim() === "" || !Number.isFinite(threshold)) {
      problems.push({
        field: `${at}.gates.thresholds[${i}].threshold`,
        message: "must be a number",
      });
    }
    return {
      metricKey: t.metricKey,
      threshold: Number.isFinite(threshold) ? threshold : 0,
      direction: t.direction,
    };
  });
  /** An optional percent field as a fraction; undefined when empty. */
  const fraction = (text: string, name: string): number | undefined => {
    if (text.trim() === "") return undefined;
    const value = percentTextToFraction(text);
    if (!Number.isFinite(value)) {
      problems.push({ field: `${at}.gates.${name}`, message: "must be a number of percent" });
      return undefined;
    }
    return value;
  };
  const maxTrafficSkew = fraction(ramp.maxTrafficSkewPercent, "max_traffic_skew");
  const maxRejectedShare = fraction(ramp.maxRejectedSharePercent, "max_rejected_share");
  return {
    steps,
    gates: {
      minStepSeconds,
      minExposures,
      minExposuresPerVariant,
      thresholds,
      allowSrm: !ramp.srmHolds,
      ...(maxTrafficSkew === undefined ? {} : { maxTrafficSkew }),
      ...(maxRejectedShare === undefined ? {} : { maxRejectedShare }),
    },
    safetyAction: ramp.safetyAction,
  };
}

/** The Experiment to send, and the problems found before sending. */
export function draftToExperiment(
  draft: ExperimentDraft,
  flagType: FlagType,
  id = "",
): { experiment: MessageInitShape<typeof ExperimentSchema>; problems: FieldError[] } {
  const problems: FieldError[] = [];
  const variants = draft.variants.map((v, i) => {
    const parsed = parseValue(v.value, flagType);
    if ("problem" in parsed)
      problems.push({ field: `experiment.variants[${i}].value`, message: parsed.problem });
    const weight = num(v.weight);
    if (!Number.isFinite(weight))
      problems.push({ field: `experiment.variants[${i}].weight`, message: "must be a number" });
    return {
      key: v.key.trim(),
      value: "value" in parsed ? parsed.value : undefined,
      weight: Number.isFinite(weight) ? weight : 0,
      control: i === draft.control,
    };
  });
  const audience = num(draft.audiencePercent);
  if (!Number.isFinite(audience))
    problems.push({ field: "experiment.audience_percent", message: "must be a number" });
  const guardrails = draft.guardrails.map((g, i) => {
    const threshold = Number(g.threshold);
    if (g.threshold.trim() === "" || !Number.isFinite(threshold)) {
      problems.push({
        field: `experiment.guardrails[${i}].threshold`,
        message: "must be a number",
      });
    }
    return {
      metricKey: g.metricKey,
      threshold: Number.isFinite(threshold) ? threshold : 0,
      direction: g.direction,
      action: g.action,
      windowSeconds: int(g.windowSeconds),
      minSampleSize: int(g.minSampleSize),
    };
  });
  const rampPlan = rampPlanFromDraft(draft.ramp, problems);
  return {
    experiment: {
      id,
      name: draft.name.trim(),
      description: draft.description,
      flagKey: draft.flagKey,
      audiencePercent: Number.isFinite(audience) ? audience : 0,
      variants,
      targetingRule: draft.targetingRule.trim(),
      primaryMetricKey: draft.primaryMetricKey,
      metricKeys: draft.metricKeys.filter((k) => k !== draft.primaryMetricKey),
      guardrails,
      conflictDomains: draft.conflictDomains
        .split(",")
        .map((d) => d.trim())
        .filter((d) => d !== ""),
      priority: int(draft.priority),
      ...(rampPlan === undefined ? {} : { rampPlan }),
    },
    problems,
  };
}
