/**
 * The experiments' command functions: the lifecycle engine every state
 * change goes through, ExperimentService's RPCs and the guardrails'
 * automatic pause alike.
 *
 * Every state change runs in one transaction that locks the experiment
 * row, checks the status machine (lifecycle.ts), runs the caller's
 * authorisation and changes, and writes the audit entry; change
 * notifications are published after the commit.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { LockMode, UniqueConstraintViolationException, type EntityManager } from "@mikro-orm/core";
import type { AuditEntry } from "../platform/audit.js";
import type { ChangePublisher, LifecycleEvent } from "../platform/changes.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import { notFound } from "../platform/errors.js";
import { mutate } from "../platform/mutation.js";
import { reviewPolicyFor, type EffectiveReviewPolicy } from "../access/lookup.js";
import { Experiment, ExperimentApproval, type ExperimentStatusName } from "./entities.js";
import { findTransition, type LifecycleAction } from "./lifecycle.js";

export * from "./ramp.js";

/** Notification triggers published when a transition lands in a status. */
const LIFECYCLE_TRIGGERS: Partial<Record<LifecycleAction, string>> = {
  submit: "experiment.submitted",
  approve: "experiment.approved",
  reject: "experiment.rejected",
  start: "experiment.started",
  pause: "experiment.paused",
  resume: "experiment.resumed",
  complete: "experiment.completed",
};

/** The audit entity type of experiments. */
export const ENTITY_TYPE = "experiment";

/** One lifecycle move, by a user or by Lotty itself. */
export interface TransitionRequest {
  /** The experiment's id (already checked to be a UUID). */
  id: string;
  action: LifecycleAction;
  /** The user who acts; null when Lotty acts on its own (guardrails). */
  actorId: string | null;
  comment: string;
  /** The history action recorded; default: the lifecycle action. */
  auditAction?: string;
  /** Authorisation, inside the transaction, before the status machine. */
  authorize?: (experiment: Experiment, policy: EffectiveReviewPolicy) => void;
  /**
   * Action-specific checks and changes, inside the transaction, after the
   * status has moved. Returns false when the action changes nothing (a
   * repeated approval): it is then neither audited nor announced.
   */
  apply?: (
    tx: EntityManager,
    experiment: Experiment,
    policy: EffectiveReviewPolicy,
  ) => Promise<boolean>;
  /** The notification published instead of the action's own trigger. */
  notice?: { trigger: string; details: Record<string, unknown> };
}

export interface TransitionOutcome {
  em: EntityManager;
  experiment: Experiment;
  /** The history entry written; undefined when nothing changed. */
  entry: AuditEntry | undefined;
}

/**
 * One state change: lock the row, check the status machine, apply, audit,
 * commit, then announce (configuration change for decide nodes, by
 * platform/mutation.ts, then the lifecycle notification). Every lifecycle move goes through here, the
 * guardrails' automatic pause included.
 */
export async function runTransition(
  db: DatabaseHandle,
  changes: ChangePublisher,
  request: TransitionRequest,
): Promise<TransitionOutcome> {
  const { id, action, actorId, comment } = request;
  const em = db.orm.em.fork();
  let result: { experiment: Experiment; fromStatus: ExperimentStatusName };
  let entry: AuditEntry | undefined;
  try {
    const mutated = await mutate(em, changes, async (tx) => {
      const experiment = await tx.findOne(
        Experiment,
        { id },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (experiment === null) throw notFound("experiment", id);
      const policy = await reviewPolicyFor(tx, experiment.ownerId);
      request.authorize?.(experiment, policy);
      const fromStatus = experiment.status;
      const transition = findTransition(fromStatus, action);
      if (transition === undefined) {
        throw new ConnectError(
          `cannot ${action.replace("_", " ")} an experiment that is ${fromStatus}`,
          Code.FailedPrecondition,
        );
      }
      experiment.status = transition.to;
      const changed = (await request.apply?.(tx, experiment, policy)) ?? true;
      const result = { experiment, fromStatus };
      if (!changed) return { result };
      return {
        result,
        audit: {
          actorId,
          entityType: ENTITY_TYPE,
          entityId: experiment.id,
          action: request.auditAction ?? action,
          fromStatus,
          toStatus: experiment.status,
          version: experiment.version,
          comment,
        },
        notice: { kind: "experiment", key: experiment.id, action, version: experiment.version },
        lifecycle: (written) =>
          lifecycleEvent(experiment, action, fromStatus, written, request.notice),
      };
    });
    result = mutated.result;
    entry = mutated.entries[0];
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException && action === "start") {
      throw new ConnectError(
        "the flag already has a running or paused experiment; complete it first",
        Code.FailedPrecondition,
      );
    }
    throw error;
  }
  return { em, experiment: result.experiment, entry };
}

/**
 * Records an approval; the experiment is approved once distinct approvals
 * reach the threshold. Returns whether anything changed.
 */
export async function approve(
  tx: EntityManager,
  experiment: Experiment,
  approverId: string,
  comment: string,
  policy: EffectiveReviewPolicy,
): Promise<boolean> {
  const existing = await tx.findOne(ExperimentApproval, { experiment, approverId });
  if (existing === null) {
    tx.create(ExperimentApproval, {
      experiment,
      approverId,
      version: experiment.version,
      comment,
    });
    await tx.flush();
  }
  const approvals = await tx.count(ExperimentApproval, { experiment });
  experiment.status = approvals >= policy.minApprovals ? "approved" : "in_review";
  // A repeated approval changes nothing, unless the threshold was lowered
  // meanwhile and it now approves: that status change is audited and
  // announced like any other.
  return existing === null || experiment.status === "approved";
}

/**
 * The lifecycle notification of a transition, staged in its transaction
 * after its configuration notice; undefined when the move announces
 * nothing (an approval that does not yet reach the threshold).
 */
function lifecycleEvent(
  experiment: Experiment,
  action: LifecycleAction,
  fromStatus: ExperimentStatusName,
  entry: AuditEntry,
  notice: TransitionRequest["notice"],
): LifecycleEvent | undefined {
  const trigger =
    notice?.trigger ??
    (action === "approve" && experiment.status !== "approved"
      ? undefined
      : LIFECYCLE_TRIGGERS[action]);
  if (trigger === undefined) return undefined;
  return experimentEvent(experiment, fromStatus, entry, trigger, notice?.details ?? {});
}

/**
 * The notification `trigger` of a change to `experiment` audited as
 * `entry` (transitions here, ramp moves in ramp.ts).
 */
export function experimentEvent(
  experiment: Experiment,
  fromStatus: ExperimentStatusName,
  entry: AuditEntry,
  trigger: string,
  details: Record<string, unknown>,
): LifecycleEvent {
  return {
    trigger,
    experimentId: experiment.id,
    experimentName: experiment.config.name,
    ownerId: experiment.ownerId,
    flagKey: experiment.flag.key,
    actorId: entry.actorId ?? null,
    fromStatus,
    toStatus: experiment.status,
    version: experiment.version,
    comment: entry.comment ?? "",
    occurredAt: entry.at.toISOString(),
    dedupKey: `${trigger}:${experiment.id}:${entry.id}`,
    details,
  };
}
