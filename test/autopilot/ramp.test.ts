/**
 * The ramp autopilot end to end on the real PostgreSQL and NATS: ramp plans
 * through the API, the driver's passes (RampDriver.evaluate / tick, called
 * directly so each pass is deterministic; the app's own timer runs once an
 * hour here), decide following each step, safety actions, holds, racing
 * drivers, a driver dying mid-move, and ControlRamp with its audit.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import {
  Direction,
  ExperimentAction,
  ExperimentService,
  ExperimentStatus,
  GuardrailAction,
  RampControl,
  RampEventKind,
  RampMode,
  RampSafetyAction,
  RampGatesSchema,
  RampPlanSchema,
  type RampPlan,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { DecisionService } from "../../gen/lotty/decision/v1/decision_pb.js";
import type { SnapshotSource } from "../../src/decision/core/index.js";
import { NotificationService } from "../../gen/lotty/notifications/v1/notifications_pb.js";
import type { Event } from "../../gen/lotty/events/v1/events_pb.js";
import { RampDriver } from "../../src/autopilot/driver.js";
import { moveRamp, RampMoved } from "../../src/experiments/transitions.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import {
  greyBlue,
  makeTeam,
  makeTypedFlag,
  makeUser,
  runExperiment,
  untilInSnapshot,
  validExperiment,
  webhookRule,
  type ExperimentInit,
  type Team,
} from "../support/builders.js";
import { decisionFor, event, eventClient, untilStored } from "../events/support.js";
import { untilNothingPending } from "../reports/support.js";
import { errorOf } from "../experiments/support.js";
import { rule, untilTriggered } from "../guardrails/support.js";

interface PlanInit {
  steps?: number[];
  gates?: MessageInitShape<typeof RampGatesSchema>;
  safetyAction?: RampSafetyAction;
}

function plan(over: PlanInit = {}): RampPlan {
  return create(RampPlanSchema, {
    steps: [10, 50, 100],
    gates: { minStepSeconds: 0, minExposures: 0, minExposuresPerVariant: 0 },
    safetyAction: RampSafetyAction.STEP_BACK,
    ...over,
  });
}

interface Ramping {
  team: Team;
  flagKey: string;
  id: string;
}

describe("ramp autopilot", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ rampIntervalMs: 3_600_000 });
  });

  afterAll(async () => {
    await t?.stop();
  });

  const admin = () => client(ExperimentService, t.baseUrl, t.adminKey);
  const decision = () => client(DecisionService, t.baseUrl, t.adminKey);
  const driver = () => t.app.rampDriver!;

  /** Another driver on the same database, as a second workers process would run it. */
  function secondDriver(holder: string, beforeCommit?: (id: string) => void) {
    return new RampDriver({
      db: t.app.db,
      pool: t.app.pool(),
      changes: t.app.changes,
      reports: t.app.reports.builder,
      logger: t.app.logger,
      holder,
      beforeCommit,
    });
  }

  async function ramping(rampPlan: RampPlan, extra: ExperimentInit = {}): Promise<Ramping> {
    const team = await makeTeam(t);
    const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
    const experiment = await runExperiment(
      t,
      team,
      flagKey,
      greyBlue({
        primaryMetricKey: "conversion_rate",
        metricKeys: ["error_rate"],
        rampPlan,
        ...extra,
      }),
    );
    await untilInSnapshot(t, flagKey, experiment.id);
    return { team, flagKey, id: experiment.id };
  }

  async function read(id: string) {
    const { experiment } = await admin().getExperiment({ id });
    return experiment!;
  }

  async function events(id: string) {
    return (await admin().listRampEvents({ id })).events;
  }

  /** Waits until decide serves the experiment at `version` (its step). */
  async function untilServing(r: Ramping, version: number) {
    await waitFor(
      () => t.app.snapshots.current?.experimentByFlag.get(r.flagKey)?.version === version,
      5_000,
      `decide at version ${version}`,
    );
  }

  /** Variant of each of `n` subjects ("" outside), from in-process decide. */
  function assignments(flagKey: string, n: number, prefix = "u"): string[] {
    return Array.from(
      { length: n },
      (_, i) => decisionFor(t, flagKey, `${prefix}-${i}`).variantKey,
    );
  }

  /** Exposures (and errors per subject) for `count` subjects of each variant, through IngestEvents. */
  async function traffic(
    r: Ramping,
    count: { control: number; blue: number },
    errors: { control: number; blue: number } = { control: 0, blue: 0 },
    prefix = "t",
  ) {
    const picked: Record<string, string[]> = { control: [], blue: [] };
    for (let i = 0; i < 50_000; i++) {
      if (picked.control!.length >= count.control && picked.blue!.length >= count.blue) break;
      const d = decisionFor(t, r.flagKey, `${prefix}-${i}`);
      const list = picked[d.variantKey];
      const want = d.variantKey === "control" ? count.control : count.blue;
      if (list !== undefined && list.length < want) list.push(d.decisionId);
    }
    const sent: Event[] = [];
    for (const variant of ["control", "blue"] as const) {
      for (const decisionId of picked[variant]!) {
        sent.push(event("exposure", decisionId));
        for (let e = 0; e < errors[variant]; e++) sent.push(event("error", decisionId));
      }
    }
    const ingest = await eventClient(t);
    for (let i = 0; i < sent.length; i += 500) {
      const answer = await ingest.ingestEvents({ events: sent.slice(i, i + 500) });
      expect(answer.rejected).toBe(0);
    }
    await untilStored(
      t,
      sent.map((e) => e.eventId),
    );
    await untilNothingPending(t, r.id);
  }

  it("validates a ramp plan field by field", async () => {
    const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
    const bad = await errorOf(
      admin().createExperiment({
        experiment: validExperiment(flagKey, {
          rampPlan: create(RampPlanSchema, {
            steps: [5, 5, 120],
            gates: {
              minStepSeconds: -1,
              thresholds: [{ metricKey: "latency_p95", threshold: Number.NaN }],
              maxTrafficSkew: 0,
              maxRejectedShare: 1.5,
            },
          }),
        }),
      }),
    );
    expect(bad.code).toBe(Code.InvalidArgument);
    for (const field of [
      "experiment.ramp_plan.steps[1]",
      "experiment.ramp_plan.steps[2]",
      "experiment.ramp_plan.gates.min_step_seconds",
      "experiment.ramp_plan.gates.thresholds[0].metric_key",
      "experiment.ramp_plan.gates.thresholds[0].threshold",
      "experiment.ramp_plan.gates.thresholds[0].direction",
      "experiment.ramp_plan.gates.max_traffic_skew",
      "experiment.ramp_plan.gates.max_rejected_share",
      "experiment.ramp_plan.safety_action",
    ]) {
      expect(bad.message).toContain(field);
    }
    const fine = await admin().createExperiment({
      experiment: validExperiment(flagKey, { rampPlan: plan({ steps: [1, 2.5, 100] }) }),
    });
    expect(fine.experiment!.rampPlan!.steps).toEqual([1, 2.5, 100]);
    expect(fine.experiment!.ramp).toBeUndefined();
  });

  it("ramps a clean experiment to 100 %: each step a new version decide serves, nobody changes variant", async () => {
    const r = await ramping(plan());
    const started = await read(r.id);
    expect(started.ramp).toMatchObject({ mode: RampMode.AUTO, stepIndex: 0, stepPercent: 10 });
    expect(started.ramp!.effectiveAudiencePercent).toBe(10);
    // Local deciders get the share too, in configuration format 2.
    const rampOf = async () => {
      const { configuration } = await decision().getConfiguration({});
      const source = JSON.parse(configuration!.sourceJson) as SnapshotSource;
      return {
        format: configuration!.format,
        rampPercent: source.experiments.find((e) => e.id === r.id)?.rampPercent,
      };
    };
    expect(await rampOf()).toEqual({ format: 2, rampPercent: 10 });
    const atTen = assignments(r.flagKey, 4_000);
    const inAtTen = atTen.filter((v) => v !== "").length;
    expect(inAtTen).toBeGreaterThan(300);
    expect(inAtTen).toBeLessThan(500);

    expect(await driver().evaluate(r.id)).toBe("advanced");
    const fifty = await read(r.id);
    expect(fifty.ramp).toMatchObject({ stepIndex: 1, stepPercent: 50, mode: RampMode.AUTO });
    expect(fifty.version).toBe(started.version + 1);
    await untilServing(r, fifty.version);
    const atFifty = assignments(r.flagKey, 4_000);
    atTen.forEach((variant, i) => {
      if (variant !== "") expect(atFifty[i]).toBe(variant);
    });
    expect(atFifty.filter((v) => v !== "").length).toBeGreaterThan(1_800);

    expect(await driver().evaluate(r.id)).toBe("advanced");
    const full = await read(r.id);
    expect(full.ramp).toMatchObject({ stepIndex: 2, stepPercent: 100, mode: RampMode.DONE });
    await untilServing(r, full.version);
    expect((await rampOf()).rampPercent).toBeUndefined();
    const atFull = assignments(r.flagKey, 4_000);
    expect(atFull.every((v) => v !== "")).toBe(true);
    atFifty.forEach((variant, i) => {
      if (variant !== "") expect(atFull[i]).toBe(variant);
    });
    // Done: the autopilot leaves it alone.
    expect(await driver().evaluate(r.id)).toBe("not_ramping");

    const history = await events(r.id);
    expect(history.map((e) => [e.kind, e.fromPercent, e.toPercent])).toEqual([
      [RampEventKind.STARTED, 10, 10],
      [RampEventKind.ADVANCED, 10, 50],
      [RampEventKind.ADVANCED, 50, 100],
    ]);
    expect(history[1]!.actorId).toBe("");
    expect(history[1]!.gates.map((g) => g.gate)).toContain("min_exposures_per_variant");
    expect(history[2]!.mode).toBe(RampMode.DONE);
    const { versions } = await admin().listExperimentVersions({ id: r.id });
    expect(versions.slice(-2).map((v) => [v.rampPercent, v.authorId])).toEqual([
      [50, ""],
      [100, ""],
    ]);
    const { entries } = await admin().getExperimentHistory({ id: r.id });
    expect(entries.filter((e) => e.action === ExperimentAction.RAMP_STEPPED)).toHaveLength(2);
  });

  it("waits for enough exposures, records the block once, then advances", async () => {
    const r = await ramping(plan({ gates: { minExposuresPerVariant: 20, minStepSeconds: 0 } }));
    expect(await driver().evaluate(r.id)).toBe("blocked");
    expect(await driver().evaluate(r.id)).toBe("blocked");
    const blocked = (await events(r.id)).filter((e) => e.kind === RampEventKind.BLOCKED);
    expect(blocked).toHaveLength(1);
    const gate = blocked[0]!.gates.find((g) => g.gate === "min_exposures_per_variant")!;
    expect(gate).toMatchObject({ passed: false, observed: 0, threshold: 20, effect: "wait" });
    const state = await read(r.id);
    expect(state.ramp!.lastGates.length).toBeGreaterThan(3);
    expect(state.ramp!.lastEvaluatedAt).toBeDefined();

    await traffic(r, { control: 20, blue: 20 });
    expect(await driver().evaluate(r.id)).toBe("advanced");
    expect((await read(r.id)).ramp!.stepPercent).toBe(50);
  });

  it("steps back one level and holds when a ramp threshold is crossed, and notifies", async () => {
    const r = await ramping(
      plan({
        steps: [10, 25, 50, 100],
        gates: {
          minExposuresPerVariant: 10,
          thresholds: [
            { metricKey: "error_rate", threshold: 0.1, direction: Direction.INCREASE_IS_BAD },
          ],
        },
      }),
    );
    await webhookRule(
      t,
      "ramp watch",
      "http://127.0.0.1:9/hook",
      ["ramp.step", "ramp.safety_action"],
      r.id,
    );
    await r.team.owner.experiments.controlRamp({
      id: r.id,
      action: RampControl.ADVANCE,
      comment: "straight to 25 %",
    });
    expect((await read(r.id)).ramp!.stepPercent).toBe(25);
    await traffic(r, { control: 15, blue: 15 }, { control: 0, blue: 1 });
    expect(await driver().evaluate(r.id)).toBe("safety_action");
    const after = await read(r.id);
    expect(after.status).toBe(ExperimentStatus.RUNNING);
    expect(after.ramp).toMatchObject({ stepPercent: 10, mode: RampMode.HOLD });
    const last = (await events(r.id)).at(-1)!;
    expect(last).toMatchObject({
      kind: RampEventKind.SAFETY_ACTION,
      safetyAction: RampSafetyAction.STEP_BACK,
      fromPercent: 25,
      toPercent: 10,
    });
    const failed = last.gates.find((g) => !g.passed)!;
    expect(failed).toMatchObject({ gate: "threshold", observed: 1, threshold: 0.1 });
    // Held: it does not move up on its own, and the data that caused the step
    // back does not cause another safety action one step lower.
    expect(await driver().evaluate(r.id)).toBe("skipped");
    expect(await driver().evaluate(r.id, Date.now() + 120_000)).toBe("skipped");
    expect(await read(r.id)).toMatchObject({
      status: ExperimentStatus.RUNNING,
      ramp: { stepPercent: 10, mode: RampMode.HOLD },
    });
    const notifications = client(NotificationService, t.baseUrl, t.adminKey);
    await waitFor(
      async () => {
        const { deliveries } = await notifications.listDeliveries({
          experimentId: r.id,
          pageSize: 50,
        });
        const triggers = deliveries.map((d) => d.trigger);
        return triggers.includes("ramp.step") && triggers.includes("ramp.safety_action");
      },
      10_000,
      "ramp deliveries",
    );
  });

  it("pauses, or rolls back to control, when the plan says so", async () => {
    const threshold = {
      minExposuresPerVariant: 5,
      thresholds: [
        { metricKey: "error_rate", threshold: 0.1, direction: Direction.INCREASE_IS_BAD },
      ],
    };
    const paused = await ramping(plan({ gates: threshold, safetyAction: RampSafetyAction.PAUSE }));
    await traffic(paused, { control: 8, blue: 8 }, { control: 0, blue: 1 });
    expect(await driver().evaluate(paused.id)).toBe("safety_action");
    expect(await read(paused.id)).toMatchObject({
      status: ExperimentStatus.PAUSED,
      rolledBack: false,
      ramp: { stepPercent: 10, mode: RampMode.HOLD },
    });

    const rolled = await ramping(
      plan({ gates: threshold, safetyAction: RampSafetyAction.ROLLBACK }),
    );
    await traffic(rolled, { control: 8, blue: 8 }, { control: 0, blue: 1 }, "rb");
    expect(await driver().evaluate(rolled.id)).toBe("safety_action");
    expect(await read(rolled.id)).toMatchObject({
      status: ExperimentStatus.PAUSED,
      rolledBack: true,
    });
    const { entries } = await admin().getExperimentHistory({ id: rolled.id });
    expect(entries.at(-1)!.action).toBe(ExperimentAction.RAMP_SAFETY_ACTION);
    expect(entries.at(-1)!.actorId).toBe("");
  });

  it("a guardrail breach at 25 % pauses (the guardrail's own action) and steps the ramp back to 10 %", async () => {
    const r = await ramping(plan({ steps: [10, 25, 50, 100] }), {
      guardrails: [
        rule({
          metricKey: "error_rate",
          threshold: 0.2,
          minSampleSize: 20,
          action: GuardrailAction.PAUSE,
        }),
      ],
    });
    await r.team.owner.experiments.controlRamp({
      id: r.id,
      action: RampControl.ADVANCE,
      comment: "to 25 %",
    });
    await untilServing(r, (await read(r.id)).version);
    await traffic(r, { control: 15, blue: 15 }, { control: 0, blue: 1 }, "gb");
    await untilTriggered(t, r.id);
    expect((await read(r.id)).status).toBe(ExperimentStatus.PAUSED);
    expect(await driver().evaluate(r.id)).toBe("safety_action");
    expect((await read(r.id)).ramp).toMatchObject({ stepPercent: 10, mode: RampMode.HOLD });
    // Once per breach.
    expect(await driver().evaluate(r.id)).toBe("skipped");
    const last = (await events(r.id)).at(-1)!;
    expect(last.gates[0]).toMatchObject({ gate: "guardrail", passed: false });
    expect(last.reason).toContain("error_rate");
  });

  it("holds the plan on a sample ratio mismatch, records and notifies the hold once", async () => {
    const r = await ramping(plan());
    await webhookRule(t, "ramp held", "http://127.0.0.1:9/hook", ["ramp.held"], r.id);
    await traffic(r, { control: 150, blue: 60 }, undefined, "srm");
    expect(await driver().evaluate(r.id)).toBe("held");
    expect(await driver().evaluate(r.id)).toBe("held");
    const state = await read(r.id);
    expect(state.ramp).toMatchObject({ stepPercent: 10, mode: RampMode.AUTO });
    const held = (await events(r.id)).filter((e) => e.kind === RampEventKind.BLOCKED);
    expect(held).toHaveLength(1);
    expect(held[0]!.gates.find((g) => g.gate === "srm")).toMatchObject({
      passed: false,
      effect: "hold",
    });
    const { entries } = await admin().getExperimentHistory({ id: r.id });
    expect(entries.filter((e) => e.action === ExperimentAction.RAMP_HELD)).toHaveLength(1);
    const notifications = client(NotificationService, t.baseUrl, t.adminKey);
    await waitFor(
      async () =>
        (await notifications.listDeliveries({ experimentId: r.id, pageSize: 50 })).deliveries.some(
          (d) => d.trigger === "ramp.held",
        ),
      10_000,
      "ramp.held delivery",
    );
  });

  it("two drivers racing make each move once; only one holds the lease", async () => {
    const r = await ramping(plan());
    const other = secondDriver("racer");
    const outcomes = await Promise.all([driver().evaluate(r.id), other.evaluate(r.id)]);
    expect(outcomes.sort()).toEqual(["advanced", "raced"]);
    const after = await read(r.id);
    expect(after.ramp!.stepPercent).toBe(50);
    expect((await events(r.id)).filter((e) => e.kind === RampEventKind.ADVANCED)).toHaveLength(1);

    // The lease: the app's driver took it in tick(); another cannot until it expires or is given up.
    const gauge = async () =>
      (await t.app.metrics.registry.getSingleMetric("lotty_ramp_lease_held")!.get()).values[0]
        ?.value;
    const passes = async () =>
      (await t.app.metrics.registry.getSingleMetric("lotty_ramp_pass_seconds")!.get()).values.find(
        (v) => (v as { metricName?: string }).metricName === "lotty_ramp_pass_seconds_count",
      )?.value ?? 0;
    const before = await passes();
    await driver().tick();
    expect(await gauge()).toBe(1);
    expect(await passes()).toBe(before + 1);
    expect(await other.acquireLease()).toBe(false);
    expect((await other.tick()).size).toBe(0);
    await t.app.pool().query(`update ramp_leases set expires_at = now() - interval '1 second'`);
    expect(await other.acquireLease()).toBe(true);
    expect(await driver().acquireLease()).toBe(false);
    expect(await gauge()).toBe(0);
    await other.stop();
    expect(await driver().acquireLease()).toBe(true);
  });

  it("an autopilot move made on a stale read (the owner switched to manual meanwhile) does not happen", async () => {
    const r = await ramping(plan());
    await r.team.owner.experiments.controlRamp({
      id: r.id,
      action: RampControl.MANUAL,
      comment: "mine now",
    });
    // What the driver would commit had it read the experiment before the switch.
    const stale = moveRamp(t.app.db, t.app.changes, {
      experimentId: r.id,
      expectedStep: 0,
      expected: { mode: "auto", status: "running" },
      kind: "advanced",
      actorId: null,
      toStep: 1,
      reason: "every gate passed",
    });
    await expect(stale).rejects.toBeInstanceOf(RampMoved);
    expect((await read(r.id)).ramp).toMatchObject({ stepIndex: 0, mode: RampMode.MANUAL });
    expect((await events(r.id)).map((e) => e.kind)).toEqual([
      RampEventKind.STARTED,
      RampEventKind.MANUAL,
    ]);
  });

  it("a driver that dies between deciding and committing leaves nothing; the next one moves once", async () => {
    const r = await ramping(plan());
    const before = await read(r.id);
    const dying = secondDriver("dying", () => {
      throw new Error("killed mid-move");
    });
    await expect(dying.evaluate(r.id)).rejects.toThrow("killed mid-move");
    const unchanged = await read(r.id);
    expect([unchanged.version, unchanged.ramp!.stepIndex]).toEqual([before.version, 0]);
    expect((await events(r.id)).map((e) => e.kind)).toEqual([RampEventKind.STARTED]);
    expect(await driver().evaluate(r.id)).toBe("advanced");
    const moved = await read(r.id);
    expect([moved.version, moved.ramp!.stepIndex]).toEqual([before.version + 1, 1]);
    expect((await events(r.id)).filter((e) => e.kind === RampEventKind.ADVANCED)).toHaveLength(1);
  });

  it("manual control: permissions, comments, each command, forbidden moves and the audit", async () => {
    const r = await ramping(plan({ steps: [5, 10, 25, 50, 100] }));
    const owner = r.team.owner.experiments;
    const steer = async (action: RampControl, comment: string) =>
      (await owner.controlRamp({ id: r.id, action, comment })).experiment!;
    const refused = (action: RampControl, comment: string) =>
      errorOf(owner.controlRamp({ id: r.id, action, comment }));
    const stranger = await makeUser(t, Role.EXPERIMENTER);
    const viewer = await makeUser(t, Role.VIEWER);
    for (const who of [stranger, viewer]) {
      const denied = await errorOf(
        who.experiments.controlRamp({ id: r.id, action: RampControl.HOLD, comment: "mine" }),
      );
      expect(denied.code).toBe(Code.PermissionDenied);
    }
    const noComment = await refused(RampControl.HOLD, " ");
    expect([noComment.code, noComment.message.includes("comment")]).toEqual([
      Code.InvalidArgument,
      true,
    ]);
    const noAction = await refused(RampControl.UNSPECIFIED, "x");
    expect([noAction.code, noAction.message.includes("action")]).toEqual([
      Code.InvalidArgument,
      true,
    ]);
    const firstStep = await refused(RampControl.STEP_BACK, "down");
    expect(firstStep.code).toBe(Code.FailedPrecondition);
    expect(firstStep.message).toContain("first step");

    const manual = await steer(RampControl.MANUAL, "I drive");
    expect(manual.ramp!.mode).toBe(RampMode.MANUAL);
    expect(await driver().evaluate(r.id)).toBe("not_ramping");
    const again = await refused(RampControl.MANUAL, "again");
    expect(again.code).toBe(Code.FailedPrecondition);

    const skipped = await steer(RampControl.SKIP, "skip 10");
    expect(skipped.ramp!.stepPercent).toBe(25);
    const advanced = await steer(RampControl.ADVANCE, "50");
    expect(advanced.ramp!.stepPercent).toBe(50);
    const back = await steer(RampControl.STEP_BACK, "too fast");
    expect(back.ramp!.stepPercent).toBe(25);
    await untilServing(r, back.version);
    const held = await steer(RampControl.HOLD, "wait");
    expect(held.ramp!.mode).toBe(RampMode.HOLD);
    const auto = await steer(RampControl.RESUME_AUTOPILOT, "go");
    expect(auto.ramp!.mode).toBe(RampMode.AUTO);

    await owner.pauseExperiment({ id: r.id, comment: "lunch" });
    const pausedAdvance = await refused(RampControl.ADVANCE, "up");
    expect(pausedAdvance.code).toBe(Code.FailedPrecondition);
    expect(pausedAdvance.message).toContain("paused");
    // Stepping back a paused experiment is allowed (fewer subjects when it resumes).
    const pausedBack = await steer(RampControl.STEP_BACK, "safer");
    expect(pausedBack.ramp!.stepPercent).toBe(10);
    await owner.resumeExperiment({ id: r.id });
    const skipTooFar = await steer(RampControl.SKIP, "to 50");
    expect(skipTooFar.ramp!.stepPercent).toBe(50);
    const last = await steer(RampControl.ADVANCE, "all in");
    expect(last.ramp).toMatchObject({ stepPercent: 100, mode: RampMode.DONE });
    const beyond = await refused(RampControl.ADVANCE, "more");
    expect([beyond.code, beyond.message.includes("last step")]).toEqual([
      Code.FailedPrecondition,
      true,
    ]);

    const backFromDone = await steer(RampControl.STEP_BACK, "not yet");
    expect(backFromDone.ramp).toMatchObject({ stepPercent: 50, mode: RampMode.HOLD });

    const manualEvents = (await events(r.id)).filter((e) => e.kind === RampEventKind.MANUAL);
    expect(manualEvents.map((e) => [e.control, e.reason])).toEqual([
      [RampControl.MANUAL, "I drive"],
      [RampControl.SKIP, "skip 10"],
      [RampControl.ADVANCE, "50"],
      [RampControl.STEP_BACK, "too fast"],
      [RampControl.HOLD, "wait"],
      [RampControl.RESUME_AUTOPILOT, "go"],
      [RampControl.STEP_BACK, "safer"],
      [RampControl.SKIP, "to 50"],
      [RampControl.ADVANCE, "all in"],
      [RampControl.STEP_BACK, "not yet"],
    ]);
    expect(manualEvents.every((e) => e.actorId === r.team.owner.id)).toBe(true);
    const { entries } = await admin().getExperimentHistory({ id: r.id });
    const audited = entries.filter(
      (e) =>
        e.action === ExperimentAction.RAMP_STEPPED ||
        e.action === ExperimentAction.RAMP_MODE_CHANGED,
    );
    expect(audited.map((e) => e.comment)).toEqual(manualEvents.map((e) => e.reason));

    const notRamping = await runExperiment(
      t,
      await makeTeam(t),
      await makeTypedFlag(t, FlagType.STRING, "grey"),
      greyBlue(),
    );
    const none = await errorOf(
      admin().controlRamp({ id: notRamping.id, action: RampControl.HOLD, comment: "x" }),
    );
    expect([none.code, none.rawMessage]).toEqual([
      Code.FailedPrecondition,
      "the experiment has no ramp plan",
    ]);
  });
});
