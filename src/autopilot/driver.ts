/**
 * The ramp autopilot (workers role; docs/autopilot.md). Every interval it
 * evaluates the gates of each ramping experiment on the experiment's report
 * over the current step (the rollups: no raw-event scan for a window that
 * ends now), moves the ramp up when every gate passes, records and notifies
 * a hold, and runs the plan's safety action when a safety gate fails.
 *
 * One driver acts at a time across processes: a lease row in PostgreSQL
 * (`ramp_leases`), taken or renewed at the start of every pass and given
 * up at stop; a driver that dies leaves it to expire. Each move is also a
 * compare-and-set on the experiment's step (experiments/ramp.ts), so even
 * two drivers that both believed they held the lease would move once, and
 * a driver killed before its commit left nothing that a restart repeats:
 * it evaluates the step as stored and decides again.
 */
import { randomUUID } from "node:crypto";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type pg from "pg";
import {
  Experiment,
  rampingExperimentIds,
  rampSafetyActionSince,
  type RampSafetyActionName,
} from "../experiments/lookup.js";
import {
  moveRamp,
  RampMoved,
  recordRampEvaluation,
  type RampMove,
} from "../experiments/transitions.js";
import { guardrailTriggersSince } from "../guardrails/lookup.js";
import type { ReportBuilder } from "../reports/lookup.js";
import type { ChangePublisher } from "../platform/changes.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import type { Logger } from "../platform/logging.js";
import { LeasedJob } from "../platform/lease.js";
import { throttledWarning } from "../platform/throttled-warning.js";
import { evaluateGates, type GateVerdict, type StepFigures } from "./gates.js";
import type { RampMetrics } from "./metrics.js";

/** How often the autopilot evaluates every ramping experiment. */
export const RAMP_INTERVAL_MS = 5_000;
const MINUTE_MS = 60_000;
/** How long a driver's lease lasts without renewal. */
export const LEASE_SECONDS = 20;
const LEASE_NAME = "driver";

export interface RampDriverDeps {
  db: DatabaseHandle;
  pool: pg.Pool;
  changes: ChangePublisher;
  reports: ReportBuilder;
  logger: Logger;
  /** Default RAMP_INTERVAL_MS. */
  intervalMs?: number;
  /** Default LEASE_SECONDS. */
  leaseSeconds?: number;
  /** Counted when given (the app's registry). */
  metrics?: RampMetrics;
  /** This driver's name in the lease; default a random id. */
  holder?: string;
  /**
   * Test seam: runs inside a move's transaction, after the decision and
   * before the commit; throwing there is a driver that died mid-move.
   */
  beforeCommit?: (experimentId: string) => void;
}

/** What one evaluation did. */
export type RampOutcome =
  "advanced" | "blocked" | "held" | "safety_action" | "raced" | "skipped" | "not_ramping";

export class RampDriver {
  private readonly job: LeasedJob<Map<string, RampOutcome>>;
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(private readonly deps: RampDriverDeps) {
    this.warn = throttledWarning(deps.logger);
    this.job = new LeasedJob({
      pool: deps.pool,
      name: LEASE_NAME,
      holder: deps.holder ?? `driver-${randomUUID()}`,
      intervalMs: deps.intervalMs ?? RAMP_INTERVAL_MS,
      leaseSeconds: deps.leaseSeconds ?? LEASE_SECONDS,
      logger: deps.logger,
      failure: "ramp autopilot pass failed; retrying",
      pass: (now) => this.pass(now),
      idle: () => new Map(),
      onLease: (held) => deps.metrics?.leaseHeld.set(held ? 1 : 0),
    });
  }

  start(): void {
    this.job.start();
  }

  async stop(): Promise<void> {
    await this.job.stop();
  }

  /** Takes or renews the lease; true when this driver holds it. */
  async acquireLease(): Promise<boolean> {
    return this.job.acquire();
  }

  /** One pass: with the lease, evaluates every ramping experiment. Returns what each did. */
  async tick(now = Date.now()): Promise<Map<string, RampOutcome>> {
    return this.job.tick(now);
  }

  private async pass(now: number): Promise<Map<string, RampOutcome>> {
    const outcomes = new Map<string, RampOutcome>();
    const metrics = this.deps.metrics;
    const timer = metrics?.passSeconds.startTimer();
    for (const id of await rampingExperimentIds(this.deps.pool)) {
      if (this.job.stopping) break;
      try {
        const outcome = await this.evaluate(id, now);
        outcomes.set(id, outcome);
        metrics?.outcomes.inc({ outcome });
      } catch (error) {
        metrics?.evaluationErrors.inc();
        this.warn(error, "ramp evaluation failed; retrying on the next pass");
      }
    }
    timer?.();
    return outcomes;
  }

  /**
   * Evaluates one experiment's gates and acts on them. Does not check the
   * lease (tick does): tests call it directly to race two drivers.
   */
  async evaluate(experimentId: string, now = Date.now()): Promise<RampOutcome> {
    const em = this.deps.db.orm.em.fork();
    const experiment = await em.findOne(Experiment, { id: experimentId });
    const plan = experiment?.config.rampPlan;
    if (
      experiment === null ||
      plan === undefined ||
      plan.steps.length === 0 ||
      experiment.rampStep === null ||
      experiment.rampStep === undefined ||
      (experiment.rampMode !== "auto" && experiment.rampMode !== "hold")
    ) {
      return "not_ramping";
    }
    const step = experiment.rampStep;
    const stepStart = (
      experiment.rampStepStartedAt ??
      experiment.startedAt ??
      new Date(now)
    ).getTime();
    const fired = await guardrailTriggersSince(this.deps.pool, experimentId, new Date(stepStart));

    if (experiment.status === "paused") {
      // A guardrail paused it on this step: its own action stands; the
      // plan's safety action runs once on top (step back and hold, or hold).
      if (
        fired.latest === undefined ||
        (await rampSafetyActionSince(this.deps.pool, experimentId, fired.latest))
      ) {
        return "skipped";
      }
      const verdict: GateVerdict = {
        gates: [
          {
            gate: "guardrail",
            passed: false,
            observed: fired.metricKeys.length,
            threshold: 0,
            effect: "safety",
            detail: `guardrail fired on the step: ${[...new Set(fired.metricKeys)].join(", ")}`,
          },
        ],
        advance: false,
        safety: true,
        hold: false,
      };
      return this.safetyAction(experiment, step, plan.safetyAction, verdict, false);
    }
    if (experiment.status !== "running") return "skipped";

    // The report's windows are whole minutes. Under the autopilot the step's
    // window starts at the minute the step began (subjects first exposed in
    // that minute before the step count toward it). Held, it starts at the
    // next whole minute, so the data that caused a safety action cannot cause
    // another one a step lower (25 % → 10 % → pause within one minute).
    const windowStart =
      experiment.rampMode === "hold"
        ? Math.ceil(stepStart / MINUTE_MS) * MINUTE_MS
        : Math.floor(stepStart / MINUTE_MS) * MINUTE_MS;
    const figures = await this.stepFigures(
      experiment,
      windowStart,
      stepStart,
      now,
      fired.metricKeys,
    );
    const verdict = evaluateGates(plan.gates, figures);
    await recordRampEvaluation(this.deps.pool, experimentId, new Date(now), step, verdict.gates);
    if (verdict.safety) {
      return this.safetyAction(experiment, step, plan.safetyAction, verdict, true);
    }
    if (experiment.rampMode !== "auto") return "skipped";
    if (verdict.advance) {
      const toStep = step + 1;
      const last = toStep >= plan.steps.length - 1;
      return this.move(
        {
          experimentId,
          expectedStep: step,
          kind: "advanced",
          actorId: null,
          toStep: Math.min(toStep, plan.steps.length - 1),
          mode: last ? "done" : undefined,
          gates: verdict.gates,
          reason: `every gate passed on ${plan.steps[step]} %; moving to ${plan.steps[Math.min(toStep, plan.steps.length - 1)]} %`,
        },
        experiment,
      ).then((outcome) => (outcome === "done" ? "advanced" : outcome));
    }
    const failing = verdict.gates.filter((g) => !g.passed);
    return this.move(
      {
        experimentId,
        expectedStep: step,
        kind: "blocked",
        actorId: null,
        gates: verdict.gates,
        announceHold: verdict.hold,
        reason: `${verdict.hold ? "held" : "waiting"} on ${plan.steps[step]} %: ${failing.map((g) => g.detail).join("; ")}`,
      },
      experiment,
    ).then((outcome) => (outcome === "done" ? (verdict.hold ? "held" : "blocked") : outcome));
  }

  private async safetyAction(
    experiment: Experiment,
    step: number,
    action: RampSafetyActionName,
    verdict: GateVerdict,
    running: boolean,
  ): Promise<RampOutcome> {
    const failing = verdict.gates.filter((g) => !g.passed && g.effect === "safety");
    const why = failing.map((g) => g.detail).join("; ");
    const stepBack = action === "step_back" && step > 0;
    const move: RampMove = {
      experimentId: experiment.id,
      expectedStep: step,
      kind: "safety_action",
      actorId: null,
      gates: verdict.gates,
      // What ran: a step back at the first step is a pause.
      safetyAction: action === "step_back" && !stepBack ? "pause" : action,
      mode: "hold",
      toStep: stepBack ? step - 1 : undefined,
      // At the first step there is nothing to step back to: pause instead.
      pause: running && !stepBack ? { rollback: action === "rollback" } : undefined,
      reason: stepBack
        ? `safety gate failed: ${why}; stepped back one level and held`
        : `safety gate failed: ${why}; ${action === "rollback" ? "rolled back to control" : action === "step_back" ? "no step below the first: paused" : "paused"} and held`,
    };
    const outcome = await this.move(move, experiment);
    return outcome === "done" ? "safety_action" : outcome;
  }

  private async move(move: RampMove, seen: Experiment): Promise<RampOutcome | "done"> {
    // Moved only if nobody changed the ramp's step, mode or the status since it was read.
    move.expected = { mode: seen.rampMode ?? "auto", status: seen.status };
    const hook = this.deps.beforeCommit;
    try {
      await moveRamp(this.deps.db, this.deps.changes, {
        ...move,
        check: hook === undefined ? undefined : () => hook(move.experimentId),
      });
      if (move.kind !== "blocked") {
        this.deps.logger.info(
          { experimentId: move.experimentId, kind: move.kind, toStep: move.toStep },
          "ramp moved",
        );
      }
      return "done";
    } catch (error) {
      if (error instanceof RampMoved) return "raced";
      throw error;
    }
  }

  /** The experiment's report over [windowStart, now), as the gates read it. */
  private async stepFigures(
    experiment: Experiment,
    windowStart: number,
    stepStart: number,
    now: number,
    fired: string[],
  ): Promise<StepFigures> {
    const weights = new Map(experiment.config.variants.map((v) => [v.key, v.weight]));
    const stepSeconds = Math.max(0, (now - stepStart) / 1000);
    if (now <= windowStart) {
      // No whole minute of the step yet: no data.
      return {
        stepSeconds,
        variants: experiment.config.variants.map((v) => ({
          key: v.key,
          control: v.control,
          weight: v.weight,
          exposures: 0,
          subjects: 0,
          metrics: new Map(),
          samples: new Map(),
        })),
        srm: { pValue: 1, mismatch: false },
        rejectedShare: 0,
        guardrailsFired: fired,
      };
    }
    const { reports } = this.deps;
    // The gates read the thresholds' metrics only.
    const thresholdKeys = (experiment.config.rampPlan?.gates.thresholds ?? []).map(
      (t) => t.metricKey,
    );
    const plan = reports.narrow(await reports.plan(experiment.id), thresholdKeys);
    const window = reports.window(plan, {
      from: timestampFromMs(windowStart),
      to: timestampFromMs(now),
      bucketSeconds: 0,
    });
    const report = await reports.build(plan, window);
    return {
      stepSeconds,
      variants: report.variants.map((v) => ({
        key: v.variantKey,
        control: v.control,
        weight: weights.get(v.variantKey) ?? 0,
        exposures: v.exposures,
        subjects: v.subjects,
        metrics: new Map(v.metrics.map((m) => [m.metricKey, m.value])),
        samples: new Map(v.metrics.map((m) => [m.metricKey, m.sampleSize])),
      })),
      srm: { pValue: report.srm?.pValue ?? 1, mismatch: report.srm?.mismatch ?? false },
      rejectedShare: report.dataHealth?.rejectedShare ?? 0,
      guardrailsFired: fired,
    };
  }
}
