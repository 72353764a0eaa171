/**
 * Validation of an experiment's configuration, at create and update. Every
 * problem names its field (proto spelling, with indexes); all problems of a
 * request come back in one INVALID_ARGUMENT.
 */
import type { EntityManager } from "@mikro-orm/core";
import {
  Direction,
  GuardrailAction,
  RampSafetyAction,
  type Experiment as ExperimentMessage,
  type RampPlan,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { FieldViolations } from "../platform/errors.js";
import { checkText, checkUuid, CONTROL_CHARACTERS } from "../platform/validation.js";
import {
  checkFlagKey,
  checkValueMatchesType,
  requireActiveFlag,
  type Flag,
} from "../flags/lookup.js";
import { compileTargetingRule, findSegmentReferences } from "../targeting/index.js";
import {
  findCohortMetricKeys,
  findUnusableMetricKeys,
  lockSavedSegmentRules,
} from "../catalog/lookup.js";
import type {
  ExperimentConfig,
  GuardrailConfig,
  RampPlanConfig,
  RampSafetyActionName,
  VariantConfig,
} from "./entities.js";

export const LIMITS = {
  nameLength: 200,
  descriptionLength: 10_000,
  minVariants: 2,
  maxVariants: 20,
  variantKey: /^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$/,
  maxMetrics: 50,
  maxGuardrails: 10,
  maxConflictDomains: 10,
  conflictDomain: /^[a-z0-9][a-z0-9_.-]{0,49}$/,
  priority: 1_000_000,
  defaultGuardrailWindowSeconds: 600,
  minGuardrailWindowSeconds: 60,
  maxGuardrailWindowSeconds: 7 * 86_400,
  justificationLength: 10_000,
  maxRampSteps: 20,
  maxRampStepSeconds: 30 * 86_400,
  maxRampExposures: 1_000_000_000,
  maxRampThresholds: 10,
};

const SAFETY_ACTIONS: Partial<Record<RampSafetyAction, RampSafetyActionName>> = {
  [RampSafetyAction.PAUSE]: "pause",
  [RampSafetyAction.ROLLBACK]: "rollback",
  [RampSafetyAction.STEP_BACK]: "step_back",
};

/**
 * The stored ramp plan, or undefined without steps. Problems are added to
 * `v` with their field; the thresholds' metrics must be among `metricKeys`
 * (the experiment's own, so that its report computes them).
 */
function validateRampPlan(
  v: FieldViolations,
  input: RampPlan | undefined,
  metricKeys: ReadonlySet<string>,
): RampPlanConfig | undefined {
  if (input === undefined || input.steps.length === 0) {
    if (input !== undefined && input.safetyAction !== RampSafetyAction.UNSPECIFIED) {
      v.add("experiment.ramp_plan.steps", "needs at least one step");
    }
    return undefined;
  }
  const field = "experiment.ramp_plan";
  if (input.steps.length > LIMITS.maxRampSteps) {
    v.add(`${field}.steps`, `must have at most ${LIMITS.maxRampSteps} steps`);
  }
  input.steps.forEach((step, i) => {
    checkPercent(v, `${field}.steps[${i}]`, step, false);
    const before = input.steps[i - 1];
    if (before !== undefined && !(step > before)) {
      v.add(`${field}.steps[${i}]`, `must be greater than the step before it (${before})`);
    }
  });
  const g = input.gates;
  const whole = (name: string, value: number, max: number) => {
    if (!Number.isInteger(value) || value < 0 || value > max) {
      v.add(`${field}.gates.${name}`, `must be a whole number between 0 and ${max}`);
    }
  };
  whole("min_step_seconds", g?.minStepSeconds ?? 0, LIMITS.maxRampStepSeconds);
  whole("min_exposures", g?.minExposures ?? 0, LIMITS.maxRampExposures);
  whole("min_exposures_per_variant", g?.minExposuresPerVariant ?? 0, LIMITS.maxRampExposures);
  const thresholds = g?.thresholds ?? [];
  if (thresholds.length > LIMITS.maxRampThresholds) {
    v.add(`${field}.gates.thresholds`, `must have at most ${LIMITS.maxRampThresholds} thresholds`);
  }
  thresholds.forEach((t, i) => {
    const at = `${field}.gates.thresholds[${i}]`;
    if (t.metricKey === "") v.add(`${at}.metric_key`, "is required");
    else if (!metricKeys.has(t.metricKey)) {
      v.add(
        `${at}.metric_key`,
        `must be one of the experiment's metrics (primary, secondary or guardrail), not ${JSON.stringify(t.metricKey)}`,
      );
    }
    if (!Number.isFinite(t.threshold)) v.add(`${at}.threshold`, "must be a finite number");
    if (t.direction === Direction.UNSPECIFIED || Direction[t.direction] === undefined) {
      v.add(`${at}.direction`, "must be DIRECTION_INCREASE_IS_BAD or DIRECTION_DECREASE_IS_BAD");
    }
  });
  const skew = g?.maxTrafficSkew;
  if (skew !== undefined && (!Number.isFinite(skew) || skew <= 0 || skew > 1)) {
    v.add(`${field}.gates.max_traffic_skew`, "must be greater than 0 and at most 1 (0.1 = 10 %)");
  }
  const rejected = g?.maxRejectedShare;
  if (rejected !== undefined && (!Number.isFinite(rejected) || rejected < 0 || rejected > 1)) {
    v.add(`${field}.gates.max_rejected_share`, "must be between 0 and 1");
  }
  const safetyAction = SAFETY_ACTIONS[input.safetyAction];
  if (safetyAction === undefined) {
    v.add(
      `${field}.safety_action`,
      "must be RAMP_SAFETY_ACTION_PAUSE, RAMP_SAFETY_ACTION_ROLLBACK or RAMP_SAFETY_ACTION_STEP_BACK",
    );
  }
  return {
    steps: [...input.steps],
    gates: {
      minStepSeconds: g?.minStepSeconds ?? 0,
      minExposures: g?.minExposures ?? 0,
      minExposuresPerVariant: g?.minExposuresPerVariant ?? 0,
      thresholds: thresholds.map((t) => ({
        metricKey: t.metricKey,
        threshold: t.threshold,
        direction:
          t.direction === Direction.DECREASE_IS_BAD ? "decrease_is_bad" : "increase_is_bad",
      })),
      allowSrm: g?.allowSrm ?? false,
      maxTrafficSkew: skew ?? null,
      maxRejectedShare: rejected ?? null,
    },
    safetyAction: safetyAction ?? "pause",
  };
}

/** Percent values are kept at 0.01 resolution: compared as whole hundredths. */
export function hundredths(percent: number): number | undefined {
  const scaled = Math.round(percent * 100);
  return Math.abs(scaled - percent * 100) < 1e-6 ? scaled : undefined;
}

function checkPercent(v: FieldViolations, field: string, value: number, allowZero: boolean): void {
  if (!Number.isFinite(value) || value < 0 || value > 100 || (!allowZero && value === 0)) {
    v.add(
      field,
      allowZero ? "must be between 0 and 100" : "must be greater than 0 and at most 100",
    );
  } else if (hundredths(value) === undefined) {
    v.add(field, "must have at most two decimals (0.01 % resolution)");
  }
}

export interface ValidatedExperiment {
  flag: Flag;
  config: ExperimentConfig;
}

/**
 * Checks `input` against the flag and the catalog and returns the stored
 * configuration. Throws INVALID_ARGUMENT (all problems), NOT_FOUND or
 * FAILED_PRECONDITION (missing or archived flag).
 */
export async function validateExperiment(
  em: EntityManager,
  input: ExperimentMessage,
): Promise<ValidatedExperiment> {
  const v = new FieldViolations();
  const name = checkText(v, "experiment.name", input.name, LIMITS.nameLength);
  const description = input.description.trim();
  if ([...description].length > LIMITS.descriptionLength) {
    v.add("experiment.description", `must be at most ${LIMITS.descriptionLength} characters`);
  } else if (CONTROL_CHARACTERS.test(description)) {
    v.add("experiment.description", "must not contain control characters");
  }
  // The flag's type is needed for the variant values: without a usable key
  // stop here; otherwise name and description problems are reported with
  // the rest (a missing or archived flag still wins with its own code).
  const before = v.size;
  checkFlagKey(v, "experiment.flag_key", input.flagKey);
  if (v.size > before) v.throwIfAny();
  const flag = await requireActiveFlag(em, input.flagKey, "experiment.flag_key");

  checkPercent(v, "experiment.audience_percent", input.audiencePercent, false);

  const variants: VariantConfig[] = [];
  if (input.variants.length < LIMITS.minVariants || input.variants.length > LIMITS.maxVariants) {
    v.add(
      "experiment.variants",
      `must have between ${LIMITS.minVariants} and ${LIMITS.maxVariants} variants`,
    );
  }
  const keys = new Set<string>();
  let controls = 0;
  let weightSum = 0;
  input.variants.forEach((variant, i) => {
    const field = `experiment.variants[${i}]`;
    if (!LIMITS.variantKey.test(variant.key)) {
      v.add(
        `${field}.key`,
        "must be 1–50 letters, digits, '_' or '-', starting with a letter or digit",
      );
    } else if (keys.has(variant.key)) {
      v.add(`${field}.key`, `duplicate variant key ${JSON.stringify(variant.key)}`);
    }
    keys.add(variant.key);
    if (variant.control) controls++;
    checkPercent(v, `${field}.weight`, variant.weight, false);
    weightSum += hundredths(variant.weight) ?? 0;
    const value = checkValueMatchesType(flag.type, variant.value, `${field}.value`, v);
    variants.push({ key: variant.key, value, weight: variant.weight, control: variant.control });
  });
  if (input.variants.length > 0 && controls !== 1) {
    v.add("experiment.variants", `exactly one variant must be the control (found ${controls})`);
  }
  const audience = hundredths(input.audiencePercent);
  if (audience !== undefined && input.variants.length > 0 && weightSum !== audience) {
    v.add(
      "experiment.variants",
      `weights add up to ${(weightSum / 100).toFixed(2)} % but must equal audience_percent ${(audience / 100).toFixed(2)} %`,
    );
  }

  // Saved segments are read (and locked against deletion) only when the
  // rule references them; the rule is compiled with them inlined.
  const references = findSegmentReferences(input.targetingRule);
  const segmentRules = await lockSavedSegmentRules(
    em,
    references.ok ? references.references.map((r) => r.key) : [],
  );
  const targeting = compileTargetingRule(input.targetingRule, (key) => segmentRules.get(key));
  if (!targeting.ok) v.add("experiment.targeting_rule", targeting.message);

  if (input.primaryMetricKey === "") v.add("experiment.primary_metric_key", "is required");
  const metricKeys = [...new Set(input.metricKeys)];
  if (metricKeys.length !== input.metricKeys.length) {
    v.add("experiment.metric_keys", "must not repeat a metric");
  }
  if (metricKeys.length > LIMITS.maxMetrics) {
    v.add("experiment.metric_keys", `must have at most ${LIMITS.maxMetrics} metrics`);
  }

  const guardrails: GuardrailConfig[] = [];
  if (input.guardrails.length > LIMITS.maxGuardrails) {
    v.add("experiment.guardrails", `must have at most ${LIMITS.maxGuardrails} guardrails`);
  }
  input.guardrails.forEach((g, i) => {
    const field = `experiment.guardrails[${i}]`;
    if (g.metricKey === "") v.add(`${field}.metric_key`, "is required");
    if (!Number.isFinite(g.threshold)) v.add(`${field}.threshold`, "must be a finite number");
    if (g.direction === Direction.UNSPECIFIED || Direction[g.direction] === undefined) {
      v.add(`${field}.direction`, "must be DIRECTION_INCREASE_IS_BAD or DIRECTION_DECREASE_IS_BAD");
    }
    if (g.action === GuardrailAction.UNSPECIFIED || GuardrailAction[g.action] === undefined) {
      v.add(`${field}.action`, "must be GUARDRAIL_ACTION_PAUSE or GUARDRAIL_ACTION_ROLLBACK");
    }
    const window = g.windowSeconds === 0 ? LIMITS.defaultGuardrailWindowSeconds : g.windowSeconds;
    if (window < LIMITS.minGuardrailWindowSeconds || window > LIMITS.maxGuardrailWindowSeconds) {
      v.add(
        `${field}.window_seconds`,
        `must be between ${LIMITS.minGuardrailWindowSeconds} and ${LIMITS.maxGuardrailWindowSeconds} (0 means ${LIMITS.defaultGuardrailWindowSeconds})`,
      );
    }
    if (g.minSampleSize < 0) v.add(`${field}.min_sample_size`, "must not be negative");
    guardrails.push({
      metricKey: g.metricKey,
      threshold: g.threshold,
      direction: g.direction === Direction.DECREASE_IS_BAD ? "decrease_is_bad" : "increase_is_bad",
      windowSeconds: window,
      minSampleSize: g.minSampleSize,
      action: g.action === GuardrailAction.ROLLBACK ? "rollback" : "pause",
    });
  });

  const domains = [...new Set(input.conflictDomains)];
  if (domains.length !== input.conflictDomains.length) {
    v.add("experiment.conflict_domains", "must not repeat a domain");
  }
  if (domains.length > LIMITS.maxConflictDomains) {
    v.add("experiment.conflict_domains", `must have at most ${LIMITS.maxConflictDomains} domains`);
  }
  input.conflictDomains.forEach((d, i) => {
    if (!LIMITS.conflictDomain.test(d)) {
      v.add(
        `experiment.conflict_domains[${i}]`,
        "must be 1–50 lower-case letters, digits, '_', '.' or '-'",
      );
    }
  });
  if (!Number.isInteger(input.priority) || Math.abs(input.priority) > LIMITS.priority) {
    v.add(
      "experiment.priority",
      `must be a whole number between -${LIMITS.priority} and ${LIMITS.priority}`,
    );
  }
  const rampPlan = validateRampPlan(
    v,
    input.rampPlan,
    new Set([input.primaryMetricKey, ...metricKeys, ...guardrails.map((g) => g.metricKey)]),
  );
  v.throwIfAny();

  // Catalog references, checked once the shape is right.
  const referenced = [input.primaryMetricKey, ...metricKeys, ...guardrails.map((g) => g.metricKey)];
  const unusable = new Set(await findUnusableMetricKeys(em, [...new Set(referenced)]));
  if (unusable.has(input.primaryMetricKey)) {
    v.add(
      "experiment.primary_metric_key",
      `metric ${JSON.stringify(input.primaryMetricKey)} does not exist or is archived`,
    );
  }
  input.metricKeys.forEach((key, i) => {
    if (unusable.has(key)) {
      v.add(
        `experiment.metric_keys[${i}]`,
        `metric ${JSON.stringify(key)} does not exist or is archived`,
      );
    }
  });
  const cohortOnly = new Set(
    await findCohortMetricKeys(
      em,
      guardrails.map((g) => g.metricKey),
    ),
  );
  guardrails.forEach((g, i) => {
    if (unusable.has(g.metricKey)) {
      v.add(
        `experiment.guardrails[${i}].metric_key`,
        `metric ${JSON.stringify(g.metricKey)} does not exist or is archived`,
      );
    } else if (cohortOnly.has(g.metricKey)) {
      v.add(
        `experiment.guardrails[${i}].metric_key`,
        `metric ${JSON.stringify(g.metricKey)} is a funnel, retention or session metric; guardrails watch COUNT, SUM, MEAN, RATIO, PERCENTILE and CONVERSION_RATE metrics`,
      );
    }
  });
  v.throwIfAny();

  return {
    flag,
    config: {
      name,
      description,
      audiencePercent: input.audiencePercent,
      variants,
      ...(targeting.ok && targeting.used.length > 0
        ? {
            targetingRule: targeting.compiled.trim(),
            targetingRuleSource: input.targetingRule.trim(),
            savedSegments: targeting.used.map((u) => ({ key: u.key, version: u.version })),
          }
        : { targetingRule: input.targetingRule.trim() }),
      primaryMetricKey: input.primaryMetricKey,
      metricKeys,
      guardrails,
      conflictDomains: domains,
      priority: input.priority,
      ...(rampPlan === undefined ? {} : { rampPlan }),
    },
  };
}

/** INVALID_ARGUMENT naming `field` unless `id` is a UUID. */
export function checkId(id: string, field = "id"): void {
  const v = new FieldViolations();
  checkUuid(v, field, id);
  v.throwIfAny();
}

/** The trimmed comment; INVALID_ARGUMENT naming `field` when too long or with control characters. */
export function checkComment(comment: string, field = "comment"): string {
  const text = comment.trim();
  const v = new FieldViolations();
  if ([...text].length > LIMITS.justificationLength) {
    v.add(field, `must be at most ${LIMITS.justificationLength} characters`);
  } else if (CONTROL_CHARACTERS.test(text)) {
    v.add(field, "must not contain control characters");
  }
  v.throwIfAny();
  return text;
}
