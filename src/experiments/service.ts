/**
 * lotty.experiments.v1.ExperimentService: experiments, their review, their
 * lifecycle and their history.
 *
 * Every state change runs in one transaction that locks the experiment
 * row, checks the status machine (lifecycle.ts) and the permission table
 * (permissions.ts), changes the row and writes the audit entry; change
 * notifications are published after the commit.
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { fromJson, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import { LockMode, UniqueConstraintViolationException, type EntityManager } from "@mikro-orm/core";
import {
  Direction,
  ExperimentAction as ActionEnum,
  ExperimentService,
  ExperimentStatus,
  GuardrailAction,
  Outcome,
  type Experiment as ExperimentMessage,
  type ExperimentSchema as ExperimentMessageSchema,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { AuditEntry, recordAudit } from "../platform/audit.js";
import { requirePrincipal, type Principal } from "../platform/auth.js";
import type { ChangePublisher } from "../platform/changes.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import { FieldViolations, notFound } from "../platform/errors.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import { checkUuid, CONTROL_CHARACTERS } from "../platform/validation.js";
import { reviewPolicyFor, type EffectiveReviewPolicy } from "../access/review-policy.js";
import { requireActiveFlag } from "../flags/service.js";
import {
  Experiment,
  ExperimentApproval,
  ExperimentVersion,
  type ExperimentConfig,
  type ExperimentStatusName,
} from "./entities.js";
import { findTransition, isEditable, type LifecycleAction } from "./lifecycle.js";
import { denialReason, type ExperimentAction, type ReviewRights } from "./permissions.js";
import { LIMITS, validateExperiment } from "./validation.js";

type ExperimentInit = MessageInitShape<typeof ExperimentMessageSchema>;

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
const ENUM_TO_STATUS = new Map(
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

const OUTCOME_NAMES: Partial<Record<Outcome, string>> = {
  [Outcome.ROLLOUT]: "rollout",
  [Outcome.ROLLBACK]: "rollback",
  [Outcome.NO_EFFECT]: "no_effect",
};
const OUTCOME_VALUES = new Map(
  Object.entries(OUTCOME_NAMES).map(([k, v]) => [v, Number(k) as Outcome]),
);

const ENTITY_TYPE = "experiment";

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
    guardrails: config.guardrails.map((g) => ({
      metricKey: g.metricKey,
      threshold: g.threshold,
      direction:
        g.direction === "decrease_is_bad" ? Direction.DECREASE_IS_BAD : Direction.INCREASE_IS_BAD,
      windowSeconds: g.windowSeconds,
      minSampleSize: g.minSampleSize,
      action: g.action === "rollback" ? GuardrailAction.ROLLBACK : GuardrailAction.PAUSE,
    })),
    conflictDomains: config.conflictDomains,
    priority: config.priority,
  };
}

function toMessage(
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

function checkId(id: string, field = "id"): void {
  const v = new FieldViolations();
  checkUuid(v, field, id);
  v.throwIfAny();
}

function checkComment(comment: string, field = "comment"): string {
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

function denyUnless(
  principal: Principal,
  action: ExperimentAction,
  ownerId: string,
  policy: ReviewRights,
) {
  const reason = denialReason(principal, action, ownerId, policy);
  if (reason !== undefined) throw new ConnectError(reason, Code.PermissionDenied);
}

interface TransitionOptions {
  comment?: string;
  /** Action-specific checks and changes, inside the transaction. */
  apply?: (
    tx: EntityManager,
    experiment: Experiment,
    policy: EffectiveReviewPolicy,
  ) => Promise<void>;
}

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
 * commit, then announce (configuration change for decide nodes and the
 * lifecycle notification). Every lifecycle move goes through here, the
 * guardrails' automatic pause included.
 */
export async function runTransition(
  db: DatabaseHandle,
  changes: ChangePublisher,
  request: TransitionRequest,
): Promise<TransitionOutcome> {
  const { id, action, actorId, comment } = request;
  const em = db.orm.em.fork();
  let result: { experiment: Experiment; fromStatus: ExperimentStatusName; entry?: AuditEntry };
  try {
    result = await em.transactional(async (tx) => {
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
      if (!changed) return { experiment, fromStatus };
      const entry = recordAudit(tx, {
        actorId,
        entityType: ENTITY_TYPE,
        entityId: experiment.id,
        action: request.auditAction ?? action,
        fromStatus,
        toStatus: experiment.status,
        version: experiment.version,
        comment,
      });
      return { experiment, fromStatus, entry };
    });
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException && action === "start") {
      throw new ConnectError(
        "the flag already has a running or paused experiment; complete it first",
        Code.FailedPrecondition,
      );
    }
    throw error;
  }
  const { experiment, fromStatus, entry } = result;
  if (entry !== undefined) {
    await announce(changes, experiment, action, fromStatus, entry, request.notice);
  }
  return { em, experiment, entry };
}

/**
 * Records an approval; the experiment is approved once distinct approvals
 * reach the threshold. Returns whether anything changed.
 */
async function approve(
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

async function announce(
  changes: ChangePublisher,
  experiment: Experiment,
  action: LifecycleAction,
  fromStatus: ExperimentStatusName,
  entry: AuditEntry,
  notice: TransitionRequest["notice"],
): Promise<void> {
  await changes.configChanged({
    kind: "experiment",
    key: experiment.id,
    action,
    version: experiment.version,
  });
  // An approval that does not yet reach the threshold is not "approved".
  const trigger =
    notice?.trigger ??
    (action === "approve" && experiment.status !== "approved"
      ? undefined
      : LIFECYCLE_TRIGGERS[action]);
  if (trigger === undefined) return;
  await changes.lifecycle({
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
    details: notice?.details ?? {},
  });
}

export class ExperimentServiceImpl implements ServiceImpl<typeof ExperimentService> {
  constructor(
    private readonly db: DatabaseHandle,
    private readonly changes: ChangePublisher,
    /**
     * Builds the report an outcome is decided on (proto3 JSON of a
     * lotty.reports.v1.Report), stored with the outcome by
     * CompleteExperiment.
     */
    private readonly outcomeReport?: (experimentId: string) => Promise<string>,
  ) {}

  private async render(em: EntityManager, experiment: Experiment): Promise<ExperimentInit> {
    const [approvals, policy] = await Promise.all([
      em.find(ExperimentApproval, { experiment }, { orderBy: { approvedAt: "asc" } }),
      reviewPolicyFor(em, experiment.ownerId),
    ]);
    return toMessage(experiment, approvals, policy.minApprovals);
  }

  private async load(em: EntityManager, id: string, lock = false): Promise<Experiment> {
    checkId(id);
    const experiment = await em.findOne(
      Experiment,
      { id },
      lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {},
    );
    if (experiment === null) throw notFound("experiment", id);
    return experiment;
  }

  async createExperiment(req: { experiment?: ExperimentMessage }, ctx: HandlerContext) {
    const principal = requirePrincipal(ctx);
    if (req.experiment === undefined) {
      throw new ConnectError("experiment: is required", Code.InvalidArgument);
    }
    denyUnless(principal, "create", principal.userId, { approverIds: [] });
    const input = req.experiment;
    const em = this.db.orm.em.fork();
    // In a transaction, so the flag stays locked (FOR SHARE) against a
    // concurrent archive until the experiment is stored.
    const experiment = await em.transactional(async (tx) => {
      const { flag, config } = await validateExperiment(tx, input);
      const created = tx.create(Experiment, {
        flag,
        ownerId: principal.userId,
        status: "draft",
        version: 1,
        config,
      });
      tx.create(ExperimentVersion, {
        experiment: created,
        version: 1,
        config,
        authorId: principal.userId,
      });
      recordAudit(tx, {
        actorId: principal.userId,
        entityType: ENTITY_TYPE,
        entityId: created.id,
        action: "created",
        toStatus: "draft",
        version: 1,
      });
      return created;
    });
    await this.changes.configChanged({
      kind: "experiment",
      key: experiment.id,
      action: "created",
      version: 1,
    });
    return { experiment: await this.render(em, experiment) };
  }

  async getExperiment(req: { id: string }) {
    const em = this.db.orm.em.fork();
    return { experiment: await this.render(em, await this.load(em, req.id)) };
  }

  async listExperiments(req: {
    flagKey?: string;
    status: ExperimentStatus;
    pageSize: number;
    pageToken: string;
    ownerId?: string;
  }) {
    const size = pageSize(req.pageSize);
    const after = decodePageToken(req.pageToken);
    const v = new FieldViolations();
    if (req.ownerId !== undefined) checkUuid(v, "owner_id", req.ownerId);
    const status =
      req.status === ExperimentStatus.UNSPECIFIED ? undefined : ENUM_TO_STATUS.get(req.status);
    if (req.status !== ExperimentStatus.UNSPECIFIED && status === undefined) {
      v.add("status", "is not a known experiment status");
    }
    v.throwIfAny();
    const em = this.db.orm.em.fork();
    const where: Record<string, unknown> = {};
    if (req.flagKey !== undefined && req.flagKey !== "") where.flag = req.flagKey;
    if (status !== undefined) where.status = status;
    if (req.ownerId !== undefined) where.ownerId = req.ownerId;
    // Newest first; the token is the id of the last experiment of the page.
    if (after !== undefined) {
      checkId(after, "page_token");
      const last = await em.findOne(Experiment, { id: after });
      if (last === null)
        throw new ConnectError("page_token: is no longer valid", Code.InvalidArgument);
      where.$or = [
        { createdAt: { $lt: last.createdAt } },
        { createdAt: last.createdAt, id: { $lt: last.id } },
      ];
    }
    const found = await em.find(Experiment, where, {
      orderBy: { createdAt: "desc", id: "desc" },
      limit: size + 1,
    });
    const page = found.slice(0, size);
    const experiments = [];
    for (const experiment of page) experiments.push(await this.render(em, experiment));
    const last = page.at(-1);
    return {
      experiments,
      nextPageToken: found.length > size && last ? encodePageToken(last.id) : "",
    };
  }

  async updateExperiment(
    req: { experiment?: ExperimentMessage; expectedVersion: number },
    ctx: HandlerContext,
  ) {
    const principal = requirePrincipal(ctx);
    const input = req.experiment;
    if (input === undefined)
      throw new ConnectError("experiment: is required", Code.InvalidArgument);
    checkId(input.id, "experiment.id");
    if (req.expectedVersion < 1) {
      throw new ConnectError(
        "expected_version: is required: pass the version you read (1 or more)",
        Code.InvalidArgument,
      );
    }
    const em = this.db.orm.em.fork();
    const updated = await em.transactional(async (tx) => {
      const experiment = await this.load(tx, input.id, true);
      denyUnless(principal, "update", experiment.ownerId, { approverIds: [] });
      if (!isEditable(experiment.status)) {
        throw new ConnectError(
          `only drafts can be edited; this experiment is ${experiment.status}`,
          Code.FailedPrecondition,
        );
      }
      if (experiment.version !== req.expectedVersion) {
        throw new ConnectError(
          `expected_version: the experiment is at version ${experiment.version}, not ${req.expectedVersion}; read it again`,
          Code.Aborted,
        );
      }
      if (input.flagKey !== experiment.flag.key) {
        throw new ConnectError(
          `experiment.flag_key: cannot change (${experiment.flag.key}); create a new experiment`,
          Code.InvalidArgument,
        );
      }
      const { config } = await validateExperiment(tx, input);
      experiment.config = config;
      experiment.version += 1;
      tx.create(ExperimentVersion, {
        experiment,
        version: experiment.version,
        config,
        authorId: principal.userId,
      });
      recordAudit(tx, {
        actorId: principal.userId,
        entityType: ENTITY_TYPE,
        entityId: experiment.id,
        action: "updated",
        fromStatus: experiment.status,
        toStatus: experiment.status,
        version: experiment.version,
      });
      return experiment;
    });
    await this.changes.configChanged({
      kind: "experiment",
      key: updated.id,
      action: "updated",
      version: updated.version,
    });
    return { experiment: await this.render(em, updated) };
  }

  async listExperimentVersions(req: { id: string }) {
    const em = this.db.orm.em.fork();
    const experiment = await this.load(em, req.id);
    const versions = await em.find(
      ExperimentVersion,
      { experiment },
      { orderBy: { version: "asc" } },
    );
    return {
      versions: versions.map((v) => ({
        version: v.version,
        createdAt: timestampFromDate(v.createdAt),
        authorId: v.authorId,
        experiment: {
          id: experiment.id,
          flagKey: experiment.flag.key,
          ownerId: experiment.ownerId,
          version: v.version,
          ...configToMessage(v.config),
        },
      })),
    };
  }

  async getExperimentHistory(req: { id: string }) {
    const em = this.db.orm.em.fork();
    const experiment = await this.load(em, req.id);
    const entries = await em.find(
      AuditEntry,
      { entityType: ENTITY_TYPE, entityId: experiment.id },
      { orderBy: { at: "asc", id: "asc" } },
    );
    const status = (name: string | null | undefined) =>
      name ? STATUS_TO_ENUM[name as ExperimentStatusName] : ExperimentStatus.UNSPECIFIED;
    return {
      entries: entries.map((e) => ({
        at: timestampFromDate(e.at),
        actorId: e.actorId ?? "",
        action: ACTION_TO_ENUM[e.action] ?? ActionEnum.UNSPECIFIED,
        fromStatus: status(e.fromStatus),
        toStatus: status(e.toStatus),
        version: e.version ?? 0,
        comment: e.comment ?? "",
      })),
    };
  }

  /**
   * A state change requested by a user: authorised by the permission table,
   * then run by runTransition.
   */
  private async transition(
    ctx: HandlerContext,
    id: string,
    action: LifecycleAction,
    options: TransitionOptions = {},
  ) {
    const principal = requirePrincipal(ctx);
    const comment = checkComment(options.comment ?? "");
    checkId(id);
    const { em, experiment } = await runTransition(this.db, this.changes, {
      id,
      action,
      actorId: principal.userId,
      comment,
      authorize: (experiment, policy) => denyUnless(principal, action, experiment.ownerId, policy),
      apply: async (tx, experiment, policy) => {
        if (action === "approve") {
          return approve(tx, experiment, principal.userId, comment, policy);
        }
        await options.apply?.(tx, experiment, policy);
        return true;
      },
    });
    return { experiment: await this.render(em, experiment) };
  }

  submitExperiment(req: { id: string; comment: string }, ctx: HandlerContext) {
    return this.transition(ctx, req.id, "submit", { comment: req.comment });
  }

  approveExperiment(req: { id: string; comment: string }, ctx: HandlerContext) {
    return this.transition(ctx, req.id, "approve", { comment: req.comment });
  }

  requestChanges(req: { id: string; comment: string }, ctx: HandlerContext) {
    return this.transition(ctx, req.id, "request_changes", {
      comment: req.comment,
      apply: (tx, experiment) => tx.nativeDelete(ExperimentApproval, { experiment }).then(() => {}),
    });
  }

  rejectExperiment(req: { id: string; comment: string }, ctx: HandlerContext) {
    return this.transition(ctx, req.id, "reject", {
      comment: req.comment,
      apply: (tx, experiment) => tx.nativeDelete(ExperimentApproval, { experiment }).then(() => {}),
    });
  }

  reworkExperiment(req: { id: string; comment: string }, ctx: HandlerContext) {
    return this.transition(ctx, req.id, "rework", {
      comment: req.comment,
      apply: (tx, experiment) => tx.nativeDelete(ExperimentApproval, { experiment }).then(() => {}),
    });
  }

  startExperiment(req: { id: string }, ctx: HandlerContext) {
    return this.transition(ctx, req.id, "start", {
      apply: async (tx, experiment, policy) => {
        const approvals = await tx.count(ExperimentApproval, { experiment });
        if (approvals < policy.minApprovals) {
          throw new ConnectError(
            `the experiment has ${approvals} of ${policy.minApprovals} required approvals`,
            Code.FailedPrecondition,
          );
        }
        await requireActiveFlag(tx, experiment.flag.key, "flag_key");
        experiment.startedAt ??= new Date();
        experiment.rolledBack = false;
        // Flush inside the transaction so a concurrent start of another
        // experiment on the flag fails on the partial unique index here.
        await tx.flush();
      },
    });
  }

  pauseExperiment(req: { id: string; comment: string }, ctx: HandlerContext) {
    return this.transition(ctx, req.id, "pause", { comment: req.comment });
  }

  resumeExperiment(req: { id: string }, ctx: HandlerContext) {
    return this.transition(ctx, req.id, "resume", {
      apply: async (_tx, experiment) => {
        experiment.rolledBack = false;
      },
    });
  }

  completeExperiment(
    req: { id: string; outcome: Outcome; winnerVariantKey: string; justification: string },
    ctx: HandlerContext,
  ) {
    const v = new FieldViolations();
    const outcome = OUTCOME_NAMES[req.outcome];
    if (outcome === undefined) {
      v.add("outcome", "must be OUTCOME_ROLLOUT, OUTCOME_ROLLBACK or OUTCOME_NO_EFFECT");
    }
    const justification = req.justification.trim();
    if (justification === "") v.add("justification", "is required: say why this outcome");
    else if ([...justification].length > LIMITS.justificationLength) {
      v.add("justification", `must be at most ${LIMITS.justificationLength} characters`);
    } else if (CONTROL_CHARACTERS.test(justification)) {
      v.add("justification", "must not contain control characters");
    }
    if (outcome === "rollout" && req.winnerVariantKey === "") {
      v.add("winner_variant_key", "is required for OUTCOME_ROLLOUT");
    }
    if (outcome !== undefined && outcome !== "rollout" && req.winnerVariantKey !== "") {
      v.add("winner_variant_key", "is only set for OUTCOME_ROLLOUT");
    }
    v.throwIfAny();
    return this.transition(ctx, req.id, "complete", {
      comment: justification,
      apply: async (tx, experiment) => {
        if (
          outcome === "rollout" &&
          !experiment.config.variants.some((variant) => variant.key === req.winnerVariantKey)
        ) {
          throw new ConnectError(
            `winner_variant_key: the experiment has no variant ${JSON.stringify(req.winnerVariantKey)}`,
            Code.InvalidArgument,
          );
        }
        experiment.outcome = outcome ?? null;
        experiment.winnerVariantKey = outcome === "rollout" ? req.winnerVariantKey : null;
        experiment.justification = justification;
        experiment.completedAt = new Date();
        if (this.outcomeReport !== undefined) {
          // The report the outcome was decided on, in the same transaction.
          const report = await this.outcomeReport(experiment.id);
          await tx.getConnection().execute(
            `insert into outcome_reports (experiment_id, report, created_at) values (?, ?::jsonb, now())
               on conflict (experiment_id) do update set report = excluded.report, created_at = excluded.created_at`,
            [experiment.id, report],
            "run",
            tx.getTransactionContext(),
          );
        }
      },
    });
  }

  archiveExperiment(req: { id: string }, ctx: HandlerContext) {
    return this.transition(ctx, req.id, "archive");
  }
}
