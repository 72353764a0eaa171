/**
 * lotty.experiments.v1.ExperimentService: experiments, their review, their
 * lifecycle and their history.
 *
 * Every lifecycle move goes through runTransition (transitions.ts): one
 * transaction that locks the experiment row, checks the status machine
 * (lifecycle.ts) and the permission table (permissions.ts), changes the row
 * and writes the audit entry; change notifications are published after the
 * commit. Messages are mapped in messages.ts.
 *
 * Longer than the ~400 lines other files keep to, on purpose: it holds only
 * the handlers of the service's sixteen RPCs, each a few lines of checks
 * around runTransition or a read; splitting them by RPC would scatter one
 * service's shared checks (ownership, review rules) across files.
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { LockMode, type EntityManager } from "@mikro-orm/core";
import {
  ExperimentService,
  ExperimentStatus,
  Outcome,
  RampControl,
  type Experiment as ExperimentMessage,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { AuditEntry } from "../platform/audit.js";
import { mutate } from "../platform/mutation.js";
import { requirePrincipal } from "../platform/auth.js";
import type { ChangePublisher } from "../platform/changes.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import { FieldViolations, notFound } from "../platform/errors.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import { checkUuid, CONTROL_CHARACTERS } from "../platform/validation.js";
import { reviewPolicyFor, type EffectiveReviewPolicy } from "../access/lookup.js";
import { requireActiveFlag } from "../flags/lookup.js";
import { Experiment, ExperimentApproval, ExperimentVersion } from "./entities.js";
import { completedFacts, type CompletedExperimentFacts } from "./lookup.js";
import { isEditable, type LifecycleAction } from "./lifecycle.js";
import { denyUnless } from "./permissions.js";
import { checkComment, checkId, LIMITS, validateExperiment } from "./validation.js";
import {
  ENUM_TO_CONTROL,
  ENUM_TO_STATUS,
  OUTCOME_NAMES,
  rampEventToMessage,
  toHistoryEntryMessage,
  toMessage,
  toVersionMessage,
  type ExperimentInit,
} from "./messages.js";
import {
  approve,
  beginRamp,
  ENTITY_TYPE,
  insertRampEvent,
  lastRampEvaluation,
  listRampEvents,
  moveRamp,
  rampPlanOf,
  runTransition,
  type RampMove,
} from "./transitions.js";

/**
 * The learnings library's part in the lifecycle (wired by services.ts, so
 * this module does not import it): the learning is recorded in the
 * completing transaction, and archiving may wait for it to be written up.
 */
export interface LearningHooks {
  record(
    tx: EntityManager,
    experiment: CompletedExperimentFacts,
    reportJson: string | null,
  ): Promise<void>;
  /** Field names keeping the learning from counting as written up; empty when it counts. */
  missingForArchive(tx: EntityManager, experimentId: string): Promise<string[]>;
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

export class ExperimentServiceImpl implements ServiceImpl<typeof ExperimentService> {
  private readonly db: DatabaseHandle;
  private readonly changes: ChangePublisher;
  /**
   * Builds the report an outcome is decided on (proto3 JSON of a
   * lotty.reports.v1.Report), stored with the outcome by
   * CompleteExperiment.
   */
  private readonly outcomeReport?: (experimentId: string) => Promise<string>;
  private readonly learnings?: LearningHooks;

  constructor(deps: {
    db: DatabaseHandle;
    changes: ChangePublisher;
    outcomeReport?: (experimentId: string) => Promise<string>;
    learnings?: LearningHooks;
  }) {
    this.db = deps.db;
    this.changes = deps.changes;
    this.outcomeReport = deps.outcomeReport;
    this.learnings = deps.learnings;
  }

  private async render(em: EntityManager, experiment: Experiment): Promise<ExperimentInit> {
    const [approvals, policy, evaluation] = await Promise.all([
      em.find(ExperimentApproval, { experiment }, { orderBy: { approvedAt: "asc" } }),
      reviewPolicyFor(em, experiment.ownerId),
      experiment.rampStep === null || experiment.rampStep === undefined
        ? undefined
        : lastRampEvaluation(em, experiment.id),
    ]);
    return toMessage(experiment, approvals, policy.minApprovals, evaluation);
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
    const { result: experiment } = await mutate(em, this.changes, async (tx) => {
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
      return {
        result: created,
        audit: {
          actorId: principal.userId,
          entityType: ENTITY_TYPE,
          entityId: created.id,
          action: "created",
          toStatus: "draft",
          version: 1,
        },
        notice: { kind: "experiment", key: created.id, action: "created", version: 1 },
      };
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
    const { result: updated } = await mutate(em, this.changes, async (tx) => {
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
      return {
        result: experiment,
        audit: {
          actorId: principal.userId,
          entityType: ENTITY_TYPE,
          entityId: experiment.id,
          action: "updated",
          fromStatus: experiment.status,
          toStatus: experiment.status,
          version: experiment.version,
        },
        notice: {
          kind: "experiment",
          key: experiment.id,
          action: "updated",
          version: experiment.version,
        },
      };
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
    return { versions: versions.map((v) => toVersionMessage(experiment, v)) };
  }

  async getExperimentHistory(req: { id: string }) {
    const em = this.db.orm.em.fork();
    const experiment = await this.load(em, req.id);
    const entries = await em.find(
      AuditEntry,
      { entityType: ENTITY_TYPE, entityId: experiment.id },
      { orderBy: { at: "asc", id: "asc" } },
    );
    return { entries: entries.map(toHistoryEntryMessage) };
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
        const ramp = beginRamp(
          experiment,
          requirePrincipal(ctx).userId,
          "started at the first step",
        );
        if (ramp !== undefined) await insertRampEvent(tx, experiment.id, ramp);
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
      apply: async (tx, experiment) => {
        experiment.rolledBack = false;
        // The step's clock starts again: time paused does not count.
        const ramp = beginRamp(experiment, requirePrincipal(ctx).userId, "resumed on this step");
        if (ramp !== undefined) await insertRampEvent(tx, experiment.id, ramp);
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
        let report: string | null = null;
        if (this.outcomeReport !== undefined) {
          // The report the outcome was decided on, in the same transaction.
          report = await this.outcomeReport(experiment.id);
          await tx.getConnection().execute(
            `insert into outcome_reports (experiment_id, report, created_at) values (?, ?::jsonb, now())
               on conflict (experiment_id) do update set report = excluded.report, created_at = excluded.created_at`,
            [experiment.id, report],
            "run",
            tx.getTransactionContext(),
          );
        }
        // Its learning, pre-filled from the experiment and that report.
        await this.learnings?.record(tx, completedFacts(experiment), report);
      },
    });
  }

  archiveExperiment(req: { id: string }, ctx: HandlerContext) {
    return this.transition(ctx, req.id, "archive", {
      apply: async (tx, experiment, policy) => {
        if (!policy.requireLearningToArchive || this.learnings === undefined) return;
        const missing = await this.learnings.missingForArchive(tx, experiment.id);
        if (missing.length > 0) {
          throw new ConnectError(
            `the owner's review policy requires a written-up learning before archiving; missing: ${missing.join(", ")} (see UpsertLearning)`,
            Code.FailedPrecondition,
          );
        }
      },
    });
  }

  async controlRamp(
    req: { id: string; action: RampControl; comment: string },
    ctx: HandlerContext,
  ) {
    const principal = requirePrincipal(ctx);
    checkId(req.id);
    const v = new FieldViolations();
    const control = ENUM_TO_CONTROL.get(req.action);
    if (control === undefined) {
      v.add(
        "action",
        "must be RAMP_CONTROL_MANUAL, _RESUME_AUTOPILOT, _HOLD, _ADVANCE, _SKIP or _STEP_BACK",
      );
    }
    if (req.comment.trim() === "") v.add("comment", "is required: say why");
    v.throwIfAny();
    const comment = checkComment(req.comment);
    const em = this.db.orm.em.fork();
    const current = await this.load(em, req.id);
    const refuse = (why: string): never => {
      throw new ConnectError(why, Code.FailedPrecondition);
    };
    const move: RampMove = {
      experimentId: current.id,
      // The step this request is about; a move by someone else meanwhile is ABORTED.
      expectedStep: current.rampStep ?? -1,
      kind: "manual",
      actorId: principal.userId,
      control,
      reason: comment,
      // On the locked row: who may, then what the ramp allows now.
      check: (experiment) => {
        denyUnless(principal, "ramp", experiment.ownerId, { approverIds: [] });
        const plan = rampPlanOf(experiment);
        if (experiment.status !== "running" && experiment.status !== "paused") {
          refuse(
            `the experiment is ${experiment.status}; only a running or paused ramp can be steered`,
          );
        }
        const step = experiment.rampStep;
        if (step === null || step === undefined) {
          refuse("the ramp has not begun: start the experiment first");
          return;
        }
        const last = plan.steps.length - 1;
        const mode = experiment.rampMode;
        switch (control) {
          case "manual":
            if (mode === "manual") refuse("the ramp is already manual");
            move.mode = "manual";
            break;
          case "hold":
            if (mode === "hold") refuse("the ramp is already held");
            move.mode = "hold";
            break;
          case "resume_autopilot":
            if (mode === "auto") refuse("the autopilot already drives the ramp");
            if (mode === "done") {
              refuse("the ramp reached its last step; step back first to ramp again");
            }
            move.mode = "auto";
            move.restartClock = true;
            break;
          case "advance":
          case "skip": {
            if (experiment.status !== "running") {
              refuse(`cannot ${control} the ramp of a paused experiment; resume it first`);
            }
            const to = step + (control === "skip" ? 2 : 1);
            if (to > last) {
              refuse(
                control === "skip"
                  ? `no step to skip to: step ${step + 1} of ${last + 1}`
                  : `the ramp is at its last step (${plan.steps[last]} %)`,
              );
            }
            move.toStep = to;
            if (to === last) move.mode = "done";
            break;
          }
          case "step_back":
            if (step === 0) refuse("the ramp is at its first step; there is none below");
            move.toStep = step - 1;
            // A finished ramp stepped back is held.
            if (mode === "done") move.mode = "hold";
            break;
        }
      },
    };
    const moved = await moveRamp(this.db, this.changes, move);
    return { experiment: await this.render(moved.em, moved.experiment) };
  }

  async listRampEvents(req: { id: string }) {
    const em = this.db.orm.em.fork();
    const experiment = await this.load(em, req.id);
    const events = await listRampEvents(em, experiment.id);
    return { events: events.map(rampEventToMessage) };
  }
}
