/**
 * The Decider: snapshot in, decisions out. No I/O, no metrics, no logging,
 * no request validation: the server wraps it with those (decide.ts) and
 * every transport (the Decide RPC, the HTTP/1.1 fast path, OFREP) calls
 * that wrapper; a process evaluating in-process can call it directly.
 *
 * Part of the decide core (docs/architecture.md): imports nothing
 * server-only. Participation is resolved by eligibility.ts (claimExperiment
 * alone when no other experiment matters, resolveParticipation otherwise),
 * bucketing by bucketing.ts, decision ids by the signer given.
 */
import { DecisionReason } from "../../../gen/lotty/decision/v1/decision_pb.js";
import { assignVariant, bucketOf } from "../bucketing.js";
import type { DecisionSigner } from "../decision-id.js";
import {
  claimExperiment,
  needsGlobalResolution,
  resolveParticipation,
  type ParticipationOutcome,
} from "../eligibility.js";
import type { Snapshot, SnapshotExperiment } from "../types.js";

/**
 * One flag's decision with its value as plain JSON, before it becomes a
 * protobuf message (RPC) or JSON text (fast path, OFREP). Empty strings stand
 * for absent fields, as in proto3; `value` is absent only for FLAG_NOT_FOUND.
 */
export interface PlainDecision {
  flagKey: string;
  /** The value as JSON; `hasValue` is false only for FLAG_NOT_FOUND. */
  value: unknown;
  hasValue: boolean;
  decisionId: string;
  reason: DecisionReason;
  experimentId: string;
  variantKey: string;
}

/** What one decide call asks: one subject, its attributes, the flags. */
export interface DecideRequest {
  subjectId: string;
  /** The subject's attributes for targeting rules; none when absent. */
  attributes?: Readonly<Record<string, unknown>>;
  /** The flags to decide, in answer order; every active flag (sorted by key) when empty. */
  flagKeys: readonly string[];
}

export interface Decider {
  /**
   * Decides every requested flag for one subject. Deterministic for
   * (snapshot, signer, request): no clock, no randomness. Does not validate
   * the request (the server checks its limits first); a claim the signer
   * cannot encode throws.
   */
  decide(snapshot: Snapshot, request: DecideRequest): PlainDecision[];
}

/** The reasons' lower-case names, as the decision log and OFREP metadata write them. */
export const REASON_NAMES: Record<DecisionReason, string> = {
  [DecisionReason.UNSPECIFIED]: "unspecified",
  [DecisionReason.DEFAULT]: "default",
  [DecisionReason.EXPERIMENT]: "experiment",
  [DecisionReason.TARGETING_MISMATCH]: "targeting_mismatch",
  [DecisionReason.OUTSIDE_AUDIENCE]: "outside_audience",
  [DecisionReason.PARTICIPATION_LIMIT]: "participation_limit",
  [DecisionReason.DOMAIN_CONFLICT]: "domain_conflict",
  [DecisionReason.ROLLED_BACK]: "rolled_back",
  [DecisionReason.FLAG_NOT_FOUND]: "flag_not_found",
};

const OUTCOME_REASONS = {
  targeting_mismatch: DecisionReason.TARGETING_MISMATCH,
  outside_audience: DecisionReason.OUTSIDE_AUDIENCE,
  domain_conflict: DecisionReason.DOMAIN_CONFLICT,
  participation_limit: DecisionReason.PARTICIPATION_LIMIT,
} as const;

const NO_ATTRIBUTES: Readonly<Record<string, unknown>> = Object.freeze({});

/** A Decider whose decision ids `signer` signs. */
export function createDecider(signer: DecisionSigner): Decider {
  return { decide: (snapshot, request) => decide(snapshot, signer, request) };
}

/** The Decider as a function: decisions for `request` from `snapshot`, ids signed by `signer`. */
export function decide(
  snapshot: Snapshot,
  signer: DecisionSigner,
  request: DecideRequest,
): PlainDecision[] {
  const { subjectId, flagKeys } = request;
  const attributes = request.attributes ?? NO_ATTRIBUTES;
  const keys = flagKeys.length > 0 ? new Set(flagKeys) : snapshot.sortedFlagKeys;
  let global: Map<string, ParticipationOutcome> | undefined;
  const outcomeOf = (experiment: SnapshotExperiment): ParticipationOutcome => {
    if (needsGlobalResolution(snapshot.policy, experiment)) {
      // Every experiment of the snapshot is in `live`, so the map has it.
      global ??= resolveParticipation(snapshot, subjectId, attributes, bucketOf, assignVariant, 0);
      const outcome = global.get(experiment.id);
      if (outcome !== undefined) return outcome;
    }
    return claimExperiment(experiment, subjectId, attributes, bucketOf, assignVariant);
  };
  const decisions: PlainDecision[] = [];
  for (const flagKey of keys) {
    decisions.push(decideFlag(snapshot, flagKey, subjectId, outcomeOf, signer));
  }
  return decisions;
}

function decideFlag(
  snapshot: Snapshot,
  flagKey: string,
  subjectId: string,
  outcomeOf: (experiment: SnapshotExperiment) => ParticipationOutcome,
  signer: DecisionSigner,
): PlainDecision {
  const flag = snapshot.flags.get(flagKey);
  if (flag === undefined) {
    return {
      flagKey,
      value: undefined,
      hasValue: false,
      decisionId: "",
      reason: DecisionReason.FLAG_NOT_FOUND,
      experimentId: "",
      variantKey: "",
    };
  }
  const experiment = snapshot.experimentByFlag.get(flagKey);
  if (experiment === undefined || (experiment.status !== "running" && !experiment.rolledBack)) {
    return signed(signer, flagKey, subjectId, DecisionReason.DEFAULT, flag.defaultValue, "", "", 0);
  }
  const { id, version, controlKey } = experiment;
  if (experiment.rolledBack) {
    const value = experiment.values.get(controlKey);
    return signed(
      signer,
      flagKey,
      subjectId,
      DecisionReason.ROLLED_BACK,
      value,
      id,
      controlKey,
      version,
    );
  }
  const outcome = outcomeOf(experiment);
  if (outcome.kind === "variant") {
    const { variantKey } = outcome;
    const value = experiment.values.get(variantKey);
    return signed(
      signer,
      flagKey,
      subjectId,
      DecisionReason.EXPERIMENT,
      value,
      id,
      variantKey,
      version,
    );
  }
  const reason = OUTCOME_REASONS[outcome.kind];
  return signed(signer, flagKey, subjectId, reason, flag.defaultValue, id, "", version);
}

/** A decision with a value and its signed id (a function, not a closure per flag). */
function signed(
  signer: DecisionSigner,
  flagKey: string,
  subjectId: string,
  reason: DecisionReason,
  value: unknown,
  experimentId: string,
  variantKey: string,
  configVersion: number,
): PlainDecision {
  return {
    flagKey,
    value,
    hasValue: true,
    decisionId: signer.sign({
      flagKey,
      subjectId,
      experimentId: experimentId || undefined,
      variantKey: variantKey || undefined,
      configVersion,
    }),
    reason,
    experimentId,
    variantKey,
  };
}
