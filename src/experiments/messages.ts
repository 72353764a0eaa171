/**
 * ExperimentService's messages: the mapping between the stored experiment
 * (entities.ts) and the contract's Experiment message, status, history
 * action and outcome enums.
 */
import { fromJson, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  Direction,
  ExperimentAction as ActionEnum,
  ExperimentStatus,
  GuardrailAction,
  Outcome,
  RampControl,
  RampEventKind,
  RampMode,
  RampSafetyAction,
  type ExperimentSchema as ExperimentMessageSchema,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import type { AuditEntry } from "../platform/audit.js";
import type {
  Experiment,
  ExperimentApproval,
  ExperimentConfig,
  GuardrailConfig,
  ExperimentStatusName,
  ExperimentVersion,
  RampModeName,
  RampPlanConfig,
  RampSafetyActionName,
} from "./entities.js";
import {
  effectiveAudience,
  type RampControlName,
  type RampEventKindName,
  type RampEvaluation,
  type RampEventRow,
} from "./ramp.js";

export type ExperimentInit = MessageInitShape<typeof ExperimentMessageSchema>;

const STATUS_TO_ENUM: Record<ExperimentStatusName, ExperimentStatus> = {
  draft: ExperimentStatus.DRAFT,
  in_review: ExperimentStatus.IN_REVIEW,
  approved: ExperimentStatus.APPROVED,
  rejected: ExperimentStatus.REJECTED,
  running: ExperimentStatus.RUNNING,
  paused: ExperimentStatus.PAUSED,
  completed: ExperimentStatus.COMPLETED,
  archived: ExperimentStatus.ARCHIVED,
};
export const ENUM_TO_STATUS = new Map(
  Object.entries(STATUS_TO_ENUM).map(([name, value]) => [value, name as ExperimentStatusName]),
);

/** Audit action names and their history enum values. */
const ACTION_TO_ENUM: Record<string, ActionEnum> = {
  created: ActionEnum.CREATED,
  updated: ActionEnum.UPDATED,
  submit: ActionEnum.SUBMITTED,
  approve: ActionEnum.APPROVED,
  request_changes: ActionEnum.CHANGES_REQUESTED,
  reject: ActionEnum.REJECTED,
  rework: ActionEnum.REWORKED,
  start: ActionEnum.STARTED,
  pause: ActionEnum.PAUSED,
  resume: ActionEnum.RESUMED,
  complete: ActionEnum.COMPLETED,
  archive: ActionEnum.ARCHIVED,
  guardrail_paused: ActionEnum.GUARDRAIL_PAUSED,
  guardrail_rolled_back: ActionEnum.GUARDRAIL_ROLLED_BACK,
  ramp_stepped: ActionEnum.RAMP_STEPPED,
  ramp_mode_changed: ActionEnum.RAMP_MODE_CHANGED,
  ramp_safety_action: ActionEnum.RAMP_SAFETY_ACTION,
  ramp_held: ActionEnum.RAMP_HELD,
};

const SAFETY_TO_ENUM: Record<RampSafetyActionName, RampSafetyAction> = {
  pause: RampSafetyAction.PAUSE,
  rollback: RampSafetyAction.ROLLBACK,
  step_back: RampSafetyAction.STEP_BACK,
};
const MODE_TO_ENUM: Record<RampModeName, RampMode> = {
  auto: RampMode.AUTO,
  hold: RampMode.HOLD,
  manual: RampMode.MANUAL,
  done: RampMode.DONE,
};
const CONTROL_TO_ENUM: Record<RampControlName, RampControl> = {
  manual: RampControl.MANUAL,
  resume_autopilot: RampControl.RESUME_AUTOPILOT,
  hold: RampControl.HOLD,
  advance: RampControl.ADVANCE,
  skip: RampControl.SKIP,
  step_back: RampControl.STEP_BACK,
};
export const ENUM_TO_CONTROL = new Map(
  Object.entries(CONTROL_TO_ENUM).map(([k, v]) => [v, k as RampControlName]),
);
const KIND_TO_ENUM: Record<RampEventKindName, RampEventKind> = {
  started: RampEventKind.STARTED,
  advanced: RampEventKind.ADVANCED,
  blocked: RampEventKind.BLOCKED,
  safety_action: RampEventKind.SAFETY_ACTION,
  manual: RampEventKind.MANUAL,
};

function directionEnum(direction: "increase_is_bad" | "decrease_is_bad"): Direction {
  return direction === "decrease_is_bad" ? Direction.DECREASE_IS_BAD : Direction.INCREASE_IS_BAD;
}

/** A ramp plan as the contract spells it. */
export function rampPlanToMessage(plan: RampPlanConfig) {
  return {
    steps: plan.steps,
    gates: {
      minStepSeconds: plan.gates.minStepSeconds,
      minExposures: plan.gates.minExposures,
      minExposuresPerVariant: plan.gates.minExposuresPerVariant,
      thresholds: plan.gates.thresholds.map((t) => ({
        metricKey: t.metricKey,
        threshold: t.threshold,
        direction: directionEnum(t.direction),
      })),
      allowSrm: plan.gates.allowSrm,
      maxTrafficSkew: plan.gates.maxTrafficSkew ?? undefined,
      maxRejectedShare: plan.gates.maxRejectedShare ?? undefined,
    },
    safetyAction: SAFETY_TO_ENUM[plan.safetyAction],
  };
}

/** The ramp state of a started experiment with a plan; undefined otherwise. */
function rampStateToMessage(experiment: Experiment, evaluation: RampEvaluation | undefined) {
  const plan = experiment.config.rampPlan;
  if (plan === undefined || plan.steps.length === 0 || experiment.rampStep == null)
    return undefined;
  const stepPercent = experiment.rampPercent ?? plan.steps[experiment.rampStep] ?? 100;
  return {
    mode: MODE_TO_ENUM[experiment.rampMode ?? "auto"],
    stepIndex: experiment.rampStep,
    stepPercent,
    effectiveAudiencePercent: effectiveAudience(experiment.config.audiencePercent, stepPercent),
    stepStartedAt: experiment.rampStepStartedAt
      ? timestampFromDate(experiment.rampStepStartedAt)
      : undefined,
    lastGates:
      evaluation !== undefined && evaluation.step === experiment.rampStep ? evaluation.gates : [],
    lastEvaluatedAt:
      evaluation !== undefined && evaluation.step === experiment.rampStep
        ? timestampFromDate(evaluation.at)
        : undefined,
  };
}

/** One ramp history entry as ListRampEvents returns it. */
export function rampEventToMessage(row: RampEventRow) {
  return {
    id: row.id,
    at: timestampFromDate(row.at),
    kind: KIND_TO_ENUM[row.kind],
    actorId: row.actorId ?? "",
    fromStep: row.fromStep,
    toStep: row.toStep,
    fromPercent: row.fromPercent,
    toPercent: row.toPercent,
    mode: MODE_TO_ENUM[row.mode],
    gates: row.gates,
    reason: row.reason,
    version: row.version,
    safetyAction: row.safetyAction
      ? SAFETY_TO_ENUM[row.safetyAction]
      : RampSafetyAction.UNSPECIFIED,
    control: row.control ? CONTROL_TO_ENUM[row.control] : RampControl.UNSPECIFIED,
  };
}

export const OUTCOME_NAMES: Partial<Record<Outcome, string>> = {
  [Outcome.ROLLOUT]: "rollout",
  [Outcome.ROLLBACK]: "rollback",
  [Outcome.NO_EFFECT]: "no_effect",
};
export const OUTCOME_VALUES = new Map(
  Object.entries(OUTCOME_NAMES).map(([k, v]) => [v, Number(k) as Outcome]),
);

/** A guardrail rule as the contract spells it. */
export function guardrailToMessage(g: GuardrailConfig) {
  return {
    metricKey: g.metricKey,
    threshold: g.threshold,
    direction: directionEnum(g.direction),
    windowSeconds: g.windowSeconds,
    minSampleSize: g.minSampleSize,
    action: g.action === "rollback" ? GuardrailAction.ROLLBACK : GuardrailAction.PAUSE,
  };
}

function configToMessage(config: ExperimentConfig) {
  return {
    name: config.name,
    description: config.description,
    audiencePercent: config.audiencePercent,
    variants: config.variants.map((variant) => ({
      key: variant.key,
      value: fromJson(ValueSchema, variant.value as JsonValue),
      weight: variant.weight,
      control: variant.control,
    })),
    // As written; what decide evaluates is compiledTargetingRule.
    targetingRule: config.targetingRuleSource ?? config.targetingRule,
    compiledTargetingRule: config.targetingRule,
    savedSegments: (config.savedSegments ?? []).map((s) => ({ key: s.key, version: s.version })),
    primaryMetricKey: config.primaryMetricKey,
    metricKeys: config.metricKeys,
    guardrails: config.guardrails.map(guardrailToMessage),
    conflictDomains: config.conflictDomains,
    priority: config.priority,
    rampPlan: config.rampPlan ? rampPlanToMessage(config.rampPlan) : undefined,
  };
}

export function toMessage(
  experiment: Experiment,
  approvals: ExperimentApproval[],
  requiredApprovals: number,
  evaluation?: RampEvaluation,
): ExperimentInit {
  return {
    id: experiment.id,
    flagKey: experiment.flag.key,
    ownerId: experiment.ownerId,
    status: STATUS_TO_ENUM[experiment.status],
    version: experiment.version,
    ...configToMessage(experiment.config),
    createdAt: timestampFromDate(experiment.createdAt),
    updatedAt: timestampFromDate(experiment.updatedAt),
    outcome: experiment.outcome
      ? (OUTCOME_VALUES.get(experiment.outcome) ?? Outcome.UNSPECIFIED)
      : Outcome.UNSPECIFIED,
    winnerVariantKey: experiment.winnerVariantKey ?? "",
    justification: experiment.justification ?? "",
    rolledBack: experiment.rolledBack,
    approvals: approvals.map((a) => ({
      approverId: a.approverId,
      comment: a.comment,
      approvedAt: timestampFromDate(a.approvedAt),
      version: a.version,
    })),
    requiredApprovals,
    startedAt: experiment.startedAt ? timestampFromDate(experiment.startedAt) : undefined,
    completedAt: experiment.completedAt ? timestampFromDate(experiment.completedAt) : undefined,
    ramp: rampStateToMessage(experiment, evaluation),
  };
}

/** One saved configuration version of `experiment`, as ListExperimentVersions returns it. */
export function toVersionMessage(experiment: Experiment, version: ExperimentVersion) {
  return {
    version: version.version,
    createdAt: timestampFromDate(version.createdAt),
    authorId: version.authorId ?? "",
    rampPercent: version.rampPercent ?? 100,
    experiment: {
      id: experiment.id,
      flagKey: experiment.flag.key,
      ownerId: experiment.ownerId,
      version: version.version,
      ...configToMessage(version.config),
    },
  };
}

function statusEnum(name: string | null | undefined): ExperimentStatus {
  return name ? STATUS_TO_ENUM[name as ExperimentStatusName] : ExperimentStatus.UNSPECIFIED;
}

/** One audit entry of an experiment, as GetExperimentHistory returns it. */
export function toHistoryEntryMessage(entry: AuditEntry) {
  return {
    at: timestampFromDate(entry.at),
    actorId: entry.actorId ?? "",
    action: ACTION_TO_ENUM[entry.action] ?? ActionEnum.UNSPECIFIED,
    fromStatus: statusEnum(entry.fromStatus),
    toStatus: statusEnum(entry.toStatus),
    version: entry.version ?? 0,
    comment: entry.comment ?? "",
  };
}
