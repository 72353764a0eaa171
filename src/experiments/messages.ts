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
} from "./entities.js";

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
};

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
    direction:
      g.direction === "decrease_is_bad" ? Direction.DECREASE_IS_BAD : Direction.INCREASE_IS_BAD,
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
    targetingRule: config.targetingRule,
    primaryMetricKey: config.primaryMetricKey,
    metricKeys: config.metricKeys,
    guardrails: config.guardrails.map(guardrailToMessage),
    conflictDomains: config.conflictDomains,
    priority: config.priority,
  };
}

export function toMessage(
  experiment: Experiment,
  approvals: ExperimentApproval[],
  requiredApprovals: number,
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
  };
}

/** One saved configuration version of `experiment`, as ListExperimentVersions returns it. */
export function toVersionMessage(experiment: Experiment, version: ExperimentVersion) {
  return {
    version: version.version,
    createdAt: timestampFromDate(version.createdAt),
    authorId: version.authorId,
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
