/**
 * Ramp commands (docs/autopilot.md): the one way a ramp's step or mode
 * changes, for the autopilot (src/autopilot) and ControlRamp alike.
 *
 * A move runs in one transaction that locks the experiment row and checks
 * that the ramp still stands on the step the caller saw (compare and set),
 * so two drivers racing, or a driver and a user, make each move once, and
 * a driver killed before its commit left nothing behind to repeat. A step
 * change saves a new configuration version (same configuration, another
 * share), is audited, announced to decide nodes through the outbox and
 * notified (`ramp.step`); a safety action is notified as
 * `ramp.safety_action`, a hold by the health gates as `ramp.held`.
 */
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { LockMode, type EntityManager } from "@mikro-orm/core";
import type pg from "pg";
import type { ChangePublisher } from "../platform/changes.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import { notFound } from "../platform/errors.js";
import { mutate } from "../platform/mutation.js";
import type { AuditEntry } from "../platform/audit.js";
import {
  Experiment,
  ExperimentVersion,
  type RampModeName,
  type RampPlanConfig,
  type RampSafetyActionName,
} from "./entities.js";
import { ENTITY_TYPE, experimentEvent } from "./transitions.js";

export const RAMP_TRIGGERS = {
  step: "ramp.step",
  held: "ramp.held",
  safety: "ramp.safety_action",
} as const;

/** One gate as evaluated (src/autopilot/gates.ts). */
export interface RampGateResult {
  gate: string;
  passed: boolean;
  observed: number;
  threshold: number;
  effect: "wait" | "hold" | "safety";
  detail: string;
}

export type RampEventKindName = "started" | "advanced" | "blocked" | "safety_action" | "manual";
export type RampControlName =
  "manual" | "resume_autopilot" | "hold" | "advance" | "skip" | "step_back";

/** A ramp history row as stored. */
export interface RampEventRow {
  id: string;
  at: Date;
  kind: RampEventKindName;
  actorId: string | null;
  fromStep: number;
  toStep: number;
  fromPercent: number;
  toPercent: number;
  mode: RampModeName;
  gates: RampGateResult[];
  reason: string;
  version: number;
  safetyAction: RampSafetyActionName | null;
  control: RampControlName | null;
}

/** What a move changes; anything left undefined stays as it is. */
export interface RampMove {
  experimentId: string;
  /** The step the caller saw; the move happens only if the ramp still stands there. */
  expectedStep: number;
  /** The mode and status the caller saw (the autopilot); the move happens only if unchanged. */
  expected?: { mode: RampModeName; status: string };
  kind: RampEventKindName;
  /** Null for the autopilot. */
  actorId: string | null;
  reason: string;
  toStep?: number;
  mode?: RampModeName;
  gates?: RampGateResult[];
  safetyAction?: RampSafetyActionName;
  control?: RampControlName;
  /** Pause the running experiment too (safety actions pause and rollback). */
  pause?: { rollback: boolean };
  /** Restart the step's clock (resume autopilot). */
  restartClock?: boolean;
  /** Audited, announced and notified (`ramp.held`) although nothing changes (a hold by the health gates). */
  announceHold?: boolean;
  /**
   * Runs first inside the transaction, on the locked row: permissions,
   * forbidden moves; it may also complete the move (its target step, its
   * mode) from the row.
   */
  check?: (experiment: Experiment) => void;
}

/** Thrown when the ramp no longer stands where the caller saw it: somebody else moved or steered it. */
export class RampMoved extends ConnectError {
  constructor(what: string) {
    super(`the ramp changed meanwhile (${what}); read it again`, Code.Aborted);
  }
}

/** The experiment's plan, or FAILED_PRECONDITION when it has none. */
export function rampPlanOf(experiment: Experiment): RampPlanConfig {
  const plan = experiment.config.rampPlan;
  if (plan === undefined || plan.steps.length === 0) {
    throw new ConnectError("the experiment has no ramp plan", Code.FailedPrecondition);
  }
  return plan;
}

/**
 * The ramp's first step, set by StartExperiment in its transaction, or the
 * step's clock started again by ResumeExperiment (no new version: neither
 * is a configuration change). Returns the history row to insert with it,
 * or undefined without a plan.
 */
export function beginRamp(
  experiment: Experiment,
  actorId: string | null,
  reason: string,
  now = new Date(),
): RampEventRow | undefined {
  const plan = experiment.config.rampPlan;
  if (plan === undefined || plan.steps.length === 0) return undefined;
  const resumed = experiment.rampStep !== null && experiment.rampStep !== undefined;
  const step = resumed ? (experiment.rampStep as number) : 0;
  experiment.rampStep = step;
  experiment.rampPercent = plan.steps[step] as number;
  experiment.rampMode ??= "auto";
  experiment.rampStepStartedAt = now;
  return {
    id: randomUUID(),
    at: now,
    kind: "started",
    actorId,
    fromStep: step,
    toStep: step,
    fromPercent: experiment.rampPercent,
    toPercent: experiment.rampPercent,
    mode: experiment.rampMode,
    gates: [],
    reason,
    version: experiment.version,
    safetyAction: null,
    control: null,
  };
}

/** Stores a ramp history row in the transaction of `tx`. */
export async function insertRampEvent(
  tx: EntityManager,
  experimentId: string,
  row: RampEventRow,
): Promise<void> {
  await tx.getConnection().execute(
    `insert into ramp_events (id, experiment_id, at, kind, actor_id, from_step, to_step,
         from_percent, to_percent, mode, gates, reason, version, safety_action, control, signature)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?)`,
    [
      row.id,
      experimentId,
      row.at,
      row.kind,
      row.actorId,
      row.fromStep,
      row.toStep,
      row.fromPercent,
      row.toPercent,
      row.mode,
      JSON.stringify(row.gates),
      row.reason,
      row.version,
      row.safetyAction,
      row.control,
      blockSignature(row),
    ],
    "run",
    tx.getTransactionContext(),
  );
}

/** What makes two blocked evaluations "the same": the step and the failing gates. */
function blockSignature(row: RampEventRow): string | null {
  if (row.kind !== "blocked") return null;
  const failing = row.gates
    .filter((g) => !g.passed)
    .map((g) => g.gate)
    .sort();
  return `${row.toStep}:${failing.join(",")}`;
}

/**
 * Whether the last history entry of the experiment is the same block as
 * `row` (same step, same failing gates): a repeated block is not recorded.
 */
async function isRepeatedBlock(
  tx: EntityManager,
  experimentId: string,
  row: RampEventRow,
): Promise<boolean> {
  const last = await tx
    .getConnection()
    .execute<{ signature: string | null }[]>(
      `select signature from ramp_events where experiment_id = ? order by at desc, id desc limit 1`,
      [experimentId],
      "all",
      tx.getTransactionContext(),
    );
  return last[0]?.signature === blockSignature(row);
}

function auditActionOf(move: RampMove, stepChanged: boolean): string | undefined {
  if (move.kind === "safety_action") return "ramp_safety_action";
  if (stepChanged) return "ramp_stepped";
  if (move.announceHold) return "ramp_held";
  if (move.mode !== undefined) return "ramp_mode_changed";
  return undefined;
}

function triggerOf(move: RampMove, stepChanged: boolean): string | undefined {
  if (move.kind === "safety_action") return RAMP_TRIGGERS.safety;
  if (stepChanged) return RAMP_TRIGGERS.step;
  if (move.announceHold) return RAMP_TRIGGERS.held;
  return undefined;
}

export interface RampMoveResult {
  experiment: Experiment;
  em: EntityManager;
  /** The history row written; undefined when the move was a repeated block. */
  event: RampEventRow | undefined;
}

/**
 * Applies one move (see RampMove). Throws NOT_FOUND, FAILED_PRECONDITION
 * (no plan, or what `check` refuses) and RampMoved (ABORTED) when the ramp
 * left `expectedStep` meanwhile.
 */
export async function moveRamp(
  db: DatabaseHandle,
  changes: ChangePublisher,
  move: RampMove,
): Promise<RampMoveResult> {
  const em = db.orm.em.fork();
  const { result } = await mutate<{ experiment: Experiment; event: RampEventRow | undefined }>(
    em,
    changes,
    async (tx) => {
      const experiment = await tx.findOne(
        Experiment,
        { id: move.experimentId },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (experiment === null) throw notFound("experiment", move.experimentId);
      move.check?.(experiment);
      const plan = rampPlanOf(experiment);
      if (experiment.rampStep === null || experiment.rampStep === undefined) {
        throw new ConnectError(
          "the ramp has not begun: start the experiment first",
          Code.FailedPrecondition,
        );
      }
      if (experiment.rampStep !== move.expectedStep) {
        throw new RampMoved(`step ${experiment.rampStep + 1}, not ${move.expectedStep + 1}`);
      }
      const seen = move.expected;
      if (
        seen !== undefined &&
        (experiment.rampMode !== seen.mode || experiment.status !== seen.status)
      ) {
        throw new RampMoved(`${experiment.status} and ${experiment.rampMode ?? "no mode"}`);
      }
      const now = new Date();
      const fromStep = experiment.rampStep;
      const fromPercent = experiment.rampPercent ?? (plan.steps[fromStep] as number);
      const fromStatus = experiment.status;
      const toStep = move.toStep ?? fromStep;
      const stepChanged = toStep !== fromStep;
      if (toStep < 0 || toStep >= plan.steps.length) {
        throw new ConnectError(
          `the plan has no step ${toStep + 1} (it has ${plan.steps.length})`,
          Code.FailedPrecondition,
        );
      }
      if (stepChanged) {
        experiment.rampStep = toStep;
        experiment.rampPercent = plan.steps[toStep] as number;
        experiment.rampStepStartedAt = now;
        experiment.version += 1;
        tx.create(ExperimentVersion, {
          experiment,
          version: experiment.version,
          config: experiment.config,
          authorId: move.actorId,
          rampPercent: experiment.rampPercent,
        });
      }
      if (move.mode !== undefined) experiment.rampMode = move.mode;
      if (move.restartClock) experiment.rampStepStartedAt = now;
      if (move.pause !== undefined && experiment.status === "running") {
        experiment.status = "paused";
        if (move.pause.rollback) experiment.rolledBack = true;
      }
      const statusChanged = experiment.status !== fromStatus;
      const event: RampEventRow = {
        id: randomUUID(),
        at: now,
        kind: move.kind,
        actorId: move.actorId,
        fromStep,
        toStep,
        fromPercent,
        toPercent: experiment.rampPercent ?? fromPercent,
        mode: experiment.rampMode ?? "auto",
        gates: move.gates ?? [],
        reason: move.reason,
        version: experiment.version,
        safetyAction: move.safetyAction ?? null,
        control: move.control ?? null,
      };
      if (move.kind === "blocked" && (await isRepeatedBlock(tx, experiment.id, event))) {
        return { result: { experiment, event: undefined } };
      }
      await insertRampEvent(tx, experiment.id, event);
      const auditAction = auditActionOf(move, stepChanged);
      if (auditAction === undefined) {
        await tx.flush();
        return { result: { experiment, event } };
      }
      const trigger = triggerOf(move, stepChanged);
      return {
        result: { experiment, event },
        audit: {
          actorId: move.actorId,
          entityType: ENTITY_TYPE,
          entityId: experiment.id,
          action: auditAction,
          fromStatus,
          toStatus: experiment.status,
          version: experiment.version,
          comment: move.reason,
        },
        // Decide nodes reload when what they serve changed.
        notice:
          stepChanged || statusChanged
            ? {
                kind: "experiment",
                key: experiment.id,
                action: "ramp",
                version: experiment.version,
              }
            : undefined,
        lifecycle:
          trigger === undefined
            ? undefined
            : (entry: AuditEntry) =>
                experimentEvent(experiment, fromStatus, entry, trigger, {
                  fromStep: fromStep + 1,
                  toStep: toStep + 1,
                  fromPercent,
                  toPercent: event.toPercent,
                  effectiveAudiencePercent: effectiveAudience(
                    experiment.config.audiencePercent,
                    event.toPercent,
                  ),
                  mode: event.mode,
                  safetyAction: event.safetyAction,
                  failedGates: event.gates.filter((g) => !g.passed),
                }),
      };
    },
  );
  return { experiment: result.experiment, em, event: result.event };
}

/** audience × step / 100, at 0.01 % resolution (each variant rounds down separately). */
export function effectiveAudience(audiencePercent: number, stepPercent: number): number {
  return Math.round(audiencePercent * stepPercent) / 100;
}

/** Keeps the autopilot's last evaluation of an experiment (shown with its ramp state). */
export async function recordRampEvaluation(
  db: pg.Pool,
  experimentId: string,
  at: Date,
  step: number,
  gates: RampGateResult[],
): Promise<void> {
  await db.query(
    `insert into ramp_evaluations (experiment_id, at, step, gates) values ($1, $2, $3, $4::jsonb)
     on conflict (experiment_id) do update set at = excluded.at, step = excluded.step, gates = excluded.gates`,
    [experimentId, at, step, JSON.stringify(gates)],
  );
}

/** The autopilot's last evaluation of an experiment (table ramp_evaluations). */
export interface RampEvaluation {
  at: Date;
  step: number;
  gates: RampGateResult[];
}

/** The autopilot's last evaluation of an experiment, if any. */
export async function lastRampEvaluation(
  em: EntityManager,
  experimentId: string,
): Promise<RampEvaluation | undefined> {
  const rows = await em
    .getConnection()
    .execute<{ at: Date; step: number; gates: unknown }[]>(
      `select at, step, gates from ramp_evaluations where experiment_id = ?`,
      [experimentId],
      "all",
    );
  const row = rows[0];
  if (row === undefined) return undefined;
  return { at: new Date(row.at), step: Number(row.step), gates: gatesOf(row.gates) };
}

/** A jsonb column of gates, as the driver returns it (parsed or as text). */
function gatesOf(value: unknown): RampGateResult[] {
  return (typeof value === "string" ? JSON.parse(value) : value) as RampGateResult[];
}

/** The ramp history of an experiment, oldest first. */
export async function listRampEvents(
  em: EntityManager,
  experimentId: string,
): Promise<RampEventRow[]> {
  const rows = await em.getConnection().execute<Record<string, unknown>[]>(
    `select id::text as id, at, kind, actor_id::text as actor_id, from_step, to_step, from_percent,
       to_percent, mode, gates, reason, version, safety_action, control
     from ramp_events where experiment_id = ? order by at, id`,
    [experimentId],
    "all",
  );
  return rows.map((r: Record<string, unknown>) => ({
    id: r.id as string,
    at: new Date(r.at as string | Date),
    kind: r.kind as RampEventKindName,
    actorId: (r.actor_id as string | null) ?? null,
    fromStep: Number(r.from_step),
    toStep: Number(r.to_step),
    fromPercent: Number(r.from_percent),
    toPercent: Number(r.to_percent),
    mode: r.mode as RampModeName,
    gates: gatesOf(r.gates),
    reason: r.reason as string,
    version: Number(r.version),
    safetyAction: (r.safety_action as RampSafetyActionName | null) ?? null,
    control: (r.control as RampControlName | null) ?? null,
  }));
}
