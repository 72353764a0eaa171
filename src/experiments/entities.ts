/**
 * Tables owned by the experiments module. The editable configuration of an
 * experiment is one JSON document (`config`), copied into
 * experiment_versions on every saved change; the columns beside it are what
 * queries and constraints need.
 */
import { randomUUID } from "node:crypto";
import { defineEntity, p } from "@mikro-orm/core";
import { timestampColumns } from "../platform/entity-columns.js";
import { Flag } from "../flags/lookup.js";

export type ExperimentStatusName =
  "draft" | "in_review" | "approved" | "rejected" | "running" | "paused" | "completed" | "archived";

export interface VariantConfig {
  key: string;
  /** A JSON value of the flag's type. */
  value: unknown;
  /** Percent of all traffic, 0.01 resolution. */
  weight: number;
  control: boolean;
}

export interface GuardrailConfig {
  metricKey: string;
  threshold: number;
  direction: "increase_is_bad" | "decrease_is_bad";
  windowSeconds: number;
  minSampleSize: number;
  action: "pause" | "rollback";
}

/** A ramp threshold: a metric bound checked on the current step (docs/autopilot.md#gates). */
export interface RampThresholdConfig {
  metricKey: string;
  threshold: number;
  direction: "increase_is_bad" | "decrease_is_bad";
}

/** The gates of every step of a ramp plan. */
export interface RampGatesConfig {
  minStepSeconds: number;
  minExposures: number;
  minExposuresPerVariant: number;
  thresholds: RampThresholdConfig[];
  /** When false, a sample ratio mismatch over the step blocks the move. */
  allowSrm: boolean;
  /** Relative deviation of a variant's subject share from its weight's; null: not checked. */
  maxTrafficSkew: number | null;
  /** Share of rejected events over the step; null: not checked. */
  maxRejectedShare: number | null;
}

export type RampSafetyActionName = "pause" | "rollback" | "step_back";

/** A ramp plan: steps in percent of the audience, gates, safety action. */
export interface RampPlanConfig {
  steps: number[];
  gates: RampGatesConfig;
  safetyAction: RampSafetyActionName;
}

/** Who moves a ramp: the autopilot (auto), nobody but safety (hold), users (manual); done at the last step. */
export type RampModeName = "auto" | "hold" | "manual" | "done";

/** A saved segment compiled into a configuration version. */
export interface SavedSegmentUse {
  key: string;
  version: number;
}

/** Everything UpdateExperiment may change; frozen once the experiment left draft. */
export interface ExperimentConfig {
  name: string;
  description: string;
  audiencePercent: number;
  variants: VariantConfig[];
  /**
   * The rule decide evaluates: with saved segments, the rule as written
   * with each `segment("key")` inlined (docs/saved-segments.md).
   */
  targetingRule: string;
  /** The rule as written, when it references saved segments; absent otherwise. */
  targetingRuleSource?: string;
  /** The saved segments inlined into targetingRule, frozen at these versions. */
  savedSegments?: SavedSegmentUse[];
  primaryMetricKey: string;
  metricKeys: string[];
  guardrails: GuardrailConfig[];
  conflictDomains: string[];
  priority: number;
  /** Absent (older versions) or undefined: no ramp. */
  rampPlan?: RampPlanConfig;
}

export const ExperimentSchema = defineEntity({
  name: "Experiment",
  tableName: "experiments",
  indexes: [{ properties: ["flag", "status"] }, { properties: ["status", "createdAt"] }],
  // At most one running-or-paused experiment per flag, enforced by the database.
  uniques: [
    {
      name: "experiments_one_active_per_flag",
      properties: ["flag"],
      where: { status: { $in: ["running", "paused"] } },
    },
  ],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    /** Column flag_key. */
    flag: () => p.manyToOne(Flag),
    ownerId: p.uuid().index(),
    status: p.string().length(20).$type<ExperimentStatusName>(),
    /** Configuration version: 1 at creation, +1 on every saved change. */
    version: p.integer(),
    config: p.json<ExperimentConfig>(),
    /** Set by a guardrail rollback: decide serves the control variant. */
    rolledBack: p.boolean().default(false),
    outcome: p.string().length(20).nullable(),
    winnerVariantKey: p.string().length(100).nullable(),
    justification: p.text().nullable(),
    startedAt: p.datetime().nullable(),
    completedAt: p.datetime().nullable(),
    /** The ramp's current step (0-based); null without a ramp plan or before the start. */
    rampStep: p.integer().nullable(),
    /** The current step's share of the audience, percent; what decide reads. */
    rampPercent: p.double().$type<number>().nullable(),
    rampMode: p.string().length(10).$type<RampModeName>().nullable(),
    /** When the current step began (or the ramp was resumed): the step's clock. */
    rampStepStartedAt: p.datetime().nullable(),
    ...timestampColumns(),
  },
});
export class Experiment extends ExperimentSchema.class {}
ExperimentSchema.setClass(Experiment);

export const ExperimentVersionSchema = defineEntity({
  name: "ExperimentVersion",
  tableName: "experiment_versions",
  properties: {
    experiment: () => p.manyToOne(Experiment).primary().deleteRule("cascade"),
    version: p.integer().primary(),
    config: p.json<ExperimentConfig>(),
    /** Null when Lotty saved it (an autopilot ramp step). */
    authorId: p.uuid().nullable(),
    /** The ramp's share of the audience in this version; null: the whole audience. */
    rampPercent: p.double().$type<number>().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export class ExperimentVersion extends ExperimentVersionSchema.class {}
ExperimentVersionSchema.setClass(ExperimentVersion);

export const ExperimentApprovalSchema = defineEntity({
  name: "ExperimentApproval",
  tableName: "experiment_approvals",
  properties: {
    experiment: () => p.manyToOne(Experiment).primary().deleteRule("cascade"),
    approverId: p.uuid().primary(),
    /** The configuration version that was approved. */
    version: p.integer(),
    comment: p.text(),
    approvedAt: p.datetime().onCreate(() => new Date()),
  },
});
export class ExperimentApproval extends ExperimentApprovalSchema.class {}
ExperimentApprovalSchema.setClass(ExperimentApproval);

export const experimentEntities = [
  ExperimentSchema,
  ExperimentVersionSchema,
  ExperimentApprovalSchema,
];
