/**
 * Who may do what to an experiment, in one table. The RPC-level role table
 * (src/platform/access-policy.ts) lets a role call an RPC at all; this
 * table adds ownership, and review rights come from the review policy.
 *
 * - admin: every action on every experiment, except that reviewing follows
 *   the review policy like for anyone else (the default policy includes
 *   admins), and nobody reviews their own experiment.
 * - experimenter: creates experiments; edits, submits, reworks, starts,
 *   pauses, resumes, steers the ramp of, completes and archives their own.
 * - approver: approves, requests changes or rejects when the owner's review
 *   policy names them (or, by default, any approver or admin).
 * - viewer: reads.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import type { LifecycleAction } from "./lifecycle.js";

export type ExperimentAction = LifecycleAction | "create" | "update" | "ramp";

export interface ActionRule {
  /** Roles that may act on experiments they own. */
  own: Role[];
  /** Roles that may act on anybody's experiments. */
  any: Role[];
  /** Decided by the owner's review policy instead of roles. */
  review?: true;
}

const OWNER_ACTION: ActionRule = { own: [Role.EXPERIMENTER, Role.ADMIN], any: [Role.ADMIN] };
const REVIEW: ActionRule = { own: [], any: [], review: true };

export const EXPERIMENT_PERMISSIONS: Readonly<Record<ExperimentAction, ActionRule>> = {
  create: OWNER_ACTION,
  update: OWNER_ACTION,
  submit: OWNER_ACTION,
  rework: OWNER_ACTION,
  start: OWNER_ACTION,
  pause: OWNER_ACTION,
  resume: OWNER_ACTION,
  complete: OWNER_ACTION,
  archive: OWNER_ACTION,
  ramp: OWNER_ACTION,
  approve: REVIEW,
  request_changes: REVIEW,
  reject: REVIEW,
};

export interface Actor {
  userId: string;
  roles: ReadonlySet<Role>;
}

export interface ReviewRights {
  /** Listed approvers; empty means any approver or admin. */
  approverIds: readonly string[];
}

/** Whether `actor` may review an experiment owned by `ownerId` under `policy`. */
export function mayReview(actor: Actor, ownerId: string, policy: ReviewRights): boolean {
  if (actor.userId === ownerId) return false;
  if (policy.approverIds.length > 0) return policy.approverIds.includes(actor.userId);
  return actor.roles.has(Role.APPROVER) || actor.roles.has(Role.ADMIN);
}

/** Why `actor` may not take `action`, or undefined when they may. */
export function denialReason(
  actor: Actor,
  action: ExperimentAction,
  ownerId: string,
  policy: ReviewRights,
): string | undefined {
  const rule = EXPERIMENT_PERMISSIONS[action];
  if (rule.review) {
    if (actor.userId === ownerId) return "nobody reviews their own experiment";
    return mayReview(actor, ownerId, policy)
      ? undefined
      : "the owner's review policy does not name you as an approver";
  }
  const roles = [...actor.roles];
  if (roles.some((r) => rule.any.includes(r))) return undefined;
  if (actor.userId === ownerId && roles.some((r) => rule.own.includes(r))) return undefined;
  return actor.userId === ownerId
    ? `your roles do not allow ${action}`
    : `only the owner or an admin may ${action.replace("_", " ")} this experiment`;
}

/** PERMISSION_DENIED with the reason unless the table allows `action` (denialReason). */
export function denyUnless(
  actor: Actor,
  action: ExperimentAction,
  ownerId: string,
  policy: ReviewRights,
): void {
  const reason = denialReason(actor, action, ownerId, policy);
  if (reason !== undefined) throw new ConnectError(reason, Code.PermissionDenied);
}
