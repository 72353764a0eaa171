/**
 * Guardrails end to end on the real PostgreSQL and NATS: events through
 * IngestEvents → event store → counted signal on JetStream → monitor →
 * pause or rollback in one transaction with the trigger record → decide.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  Direction,
  ExperimentAction,
  ExperimentStatus,
  GuardrailAction,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { DecisionService, DecisionReason } from "../../gen/lotty/decision/v1/decision_pb.js";
import { Code } from "@connectrpc/connect";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { errorOf } from "../experiments/support.js";
import { plain } from "../decision/support.js";
import {
  experimentClient,
  guardedExperiment,
  guardrailClient,
  sendTraffic,
  triggersOf,
  untilTriggered,
} from "./support.js";

async function statusOf(t: TestApp, id: string) {
  const { experiment } = await experimentClient(t).getExperiment({ id });
  return experiment!;
}

async function guardrailHistory(t: TestApp, id: string) {
  const { entries } = await experimentClient(t).getExperimentHistory({ id });
  return entries.filter(
    (e) =>
      e.action === ExperimentAction.GUARDRAIL_PAUSED ||
      e.action === ExperimentAction.GUARDRAIL_ROLLED_BACK,
  );
}

describe("guardrails", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });

  afterAll(async () => {
    await t?.stop();
  });

  it("pauses an experiment whose treatment has a high error rate, records every field and serves the default", async () => {
    const before = Date.now();
    const { flagKey, experimentId } = await guardedExperiment(t, [
      { metricKey: "error_rate", threshold: 0.2, minSampleSize: 40, windowSeconds: 600 },
    ]);
    // 25 subjects per variant: control never fails, blue fails on every exposure.
    await sendTraffic(t, flagKey, experimentId, { subjects: 25, errors: { control: 0, blue: 1 } });

    const trigger = await untilTriggered(t, experimentId);
    expect(trigger).toMatchObject({
      experimentId,
      metricKey: "error_rate",
      threshold: 0.2,
      windowSeconds: 600,
      action: GuardrailAction.PAUSE,
      direction: Direction.INCREASE_IS_BAD,
      observedValue: 1,
      variantKey: "blue",
      sampleSize: 50,
      experimentVersion: 1,
    });
    expect(trigger.id).toMatch(/^[0-9a-f-]{36}$/);
    const at = timestampDate(trigger.triggeredAt!).getTime();
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());

    const experiment = await statusOf(t, experimentId);
    expect(experiment.status).toBe(ExperimentStatus.PAUSED);
    expect(experiment.rolledBack).toBe(false);

    const [entry, ...others] = await guardrailHistory(t, experimentId);
    expect(others).toHaveLength(0);
    expect(entry).toMatchObject({
      actorId: "",
      action: ExperimentAction.GUARDRAIL_PAUSED,
      fromStatus: ExperimentStatus.RUNNING,
      toStatus: ExperimentStatus.PAUSED,
      version: 1,
    });
    expect(entry!.comment).toContain("error_rate: 1 > 0.2 in variant blue");

    const decide = client(DecisionService, t.baseUrl, t.adminKey);
    await waitFor(
      async () => {
        const { decisions } = await decide.decide({ subjectId: "g-1", flagKeys: [flagKey] });
        return decisions[0]?.reason === DecisionReason.DEFAULT;
      },
      5_000,
      "decide serving the default",
    );
    for (let i = 0; i < 20; i++) {
      const { decisions } = await decide.decide({ subjectId: `after-${i}`, flagKeys: [flagKey] });
      expect(decisions[0]?.reason).toBe(DecisionReason.DEFAULT);
      expect(plain(decisions[0]?.value)).toBe("grey");
    }

    // The same breach never fires twice: the monitor, asked again, does nothing.
    expect(await t.app.guardrailMonitor!.check(experimentId)).toBeUndefined();
    expect(await triggersOf(t, experimentId)).toHaveLength(1);

    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/lotty_guardrail_triggers_total\{action="pause"\} [1-9]/);
    expect(metrics).toMatch(/lotty_guardrail_evaluation_lag_seconds_count [1-9]/);
  });

  it("rolls back: every subject gets the control value with ROLLED_BACK, until an explicit resume", async () => {
    const { flagKey, experimentId } = await guardedExperiment(t, [
      {
        metricKey: "errors",
        threshold: 10,
        minSampleSize: 20,
        action: GuardrailAction.ROLLBACK,
      },
    ]);
    await sendTraffic(t, flagKey, experimentId, {
      subjects: 15,
      errors: { control: 0, blue: 2 },
      prefix: "rb",
    });
    const trigger = await untilTriggered(t, experimentId);
    expect(trigger).toMatchObject({
      action: GuardrailAction.ROLLBACK,
      observedValue: 30,
      variantKey: "blue",
    });

    const experiment = await statusOf(t, experimentId);
    expect(experiment.status).toBe(ExperimentStatus.PAUSED);
    expect(experiment.rolledBack).toBe(true);
    const [entry] = await guardrailHistory(t, experimentId);
    expect(entry?.action).toBe(ExperimentAction.GUARDRAIL_ROLLED_BACK);

    const decide = client(DecisionService, t.baseUrl, t.adminKey);
    await waitFor(
      async () => {
        const { decisions } = await decide.decide({ subjectId: "x", flagKeys: [flagKey] });
        return decisions[0]?.reason === DecisionReason.ROLLED_BACK;
      },
      5_000,
      "decide serving the rollback",
    );
    for (let i = 0; i < 100; i++) {
      const { decisions } = await decide.decide({ subjectId: `rb-any-${i}`, flagKeys: [flagKey] });
      expect(decisions[0]).toMatchObject({
        reason: DecisionReason.ROLLED_BACK,
        experimentId,
        variantKey: "control",
      });
      expect(plain(decisions[0]?.value)).toBe("grey");
    }

    // Only an explicit action reverses it: resuming clears the rollback.
    const { experiment: resumed } = await experimentClient(t).resumeExperiment({
      id: experimentId,
    });
    expect(resumed?.status).toBe(ExperimentStatus.RUNNING);
    expect(resumed?.rolledBack).toBe(false);
  });

  it("does not fire below the minimum sample", async () => {
    const { flagKey, experimentId } = await guardedExperiment(t, [
      { metricKey: "error_rate", threshold: 0.2, minSampleSize: 1_000 },
    ]);
    await sendTraffic(t, flagKey, experimentId, {
      subjects: 10,
      errors: { control: 0, blue: 3 },
      prefix: "few",
    });
    expect(await t.app.guardrailMonitor!.check(experimentId)).toBeUndefined();
    expect((await statusOf(t, experimentId)).status).toBe(ExperimentStatus.RUNNING);
    expect(await triggersOf(t, experimentId)).toHaveLength(0);
  });

  it("does not fire for a healthy experiment", async () => {
    const { flagKey, experimentId } = await guardedExperiment(t, [
      { metricKey: "error_rate", threshold: 0.5, minSampleSize: 10 },
      { metricKey: "latency_mean", threshold: 300, minSampleSize: 10 },
      {
        metricKey: "conversion_rate",
        threshold: 0.2,
        direction: Direction.DECREASE_IS_BAD,
        minSampleSize: 10,
      },
    ]);
    await sendTraffic(t, flagKey, experimentId, {
      subjects: 20,
      errors: { control: 0, blue: 0 },
      conversions: { control: 1, blue: 1 },
      latency: { control: 120, blue: 140 },
      prefix: "ok",
    });
    expect(await t.app.guardrailMonitor!.check(experimentId)).toBeUndefined();
    expect((await statusOf(t, experimentId)).status).toBe(ExperimentStatus.RUNNING);
    expect(await triggersOf(t, experimentId)).toHaveLength(0);
  });

  it("a control variant beyond the threshold does not fire: the treatment is what is guarded", async () => {
    const { flagKey, experimentId } = await guardedExperiment(t, [
      { metricKey: "error_rate", threshold: 0.2, minSampleSize: 10 },
    ]);
    await sendTraffic(t, flagKey, experimentId, {
      subjects: 10,
      errors: { control: 1, blue: 0 },
      prefix: "ctl",
    });
    expect(await t.app.guardrailMonitor!.check(experimentId)).toBeUndefined();
    expect((await statusOf(t, experimentId)).status).toBe(ExperimentStatus.RUNNING);
  });

  it("handles decrease-is-bad metrics: fires when the treatment's conversion rate falls below", async () => {
    const { flagKey, experimentId } = await guardedExperiment(t, [
      {
        metricKey: "conversion_rate",
        threshold: 0.5,
        direction: Direction.DECREASE_IS_BAD,
        minSampleSize: 20,
      },
    ]);
    await sendTraffic(t, flagKey, experimentId, {
      subjects: 12,
      conversions: { control: 1, blue: 0 },
      prefix: "cr",
    });
    const trigger = await untilTriggered(t, experimentId);
    expect(trigger).toMatchObject({
      metricKey: "conversion_rate",
      direction: Direction.DECREASE_IS_BAD,
      observedValue: 0,
      variantKey: "blue",
      sampleSize: 24,
    });
    expect((await statusOf(t, experimentId)).status).toBe(ExperimentStatus.PAUSED);
  });

  it("fires on a high p95 latency in the treatment", async () => {
    const { flagKey, experimentId } = await guardedExperiment(t, [
      { metricKey: "latency_p95", threshold: 500, minSampleSize: 20 },
    ]);
    await sendTraffic(t, flagKey, experimentId, {
      subjects: 12,
      latency: { control: 100, blue: 900 },
      prefix: "p95",
    });
    const trigger = await untilTriggered(t, experimentId);
    expect(trigger).toMatchObject({ metricKey: "latency_p95", observedValue: 900, sampleSize: 24 });
  });

  it("a monitor restarted in the middle of a breach fires exactly once", async () => {
    const first = await startTestApp();
    let second: TestApp | undefined;
    try {
      const { flagKey, experimentId } = await guardedExperiment(first, [
        { metricKey: "error_rate", threshold: 0.2, minSampleSize: 40 },
      ]);
      // The first half of the breach: below the minimum sample.
      await sendTraffic(first, flagKey, experimentId, {
        subjects: 10,
        errors: { control: 0, blue: 1 },
        prefix: "r1",
      });
      expect(await first.app.guardrailMonitor!.check(experimentId)).toBeUndefined();
      // The monitor goes down; the rest of the breach arrives meanwhile.
      await first.app.guardrailMonitor!.stop();
      await sendTraffic(first, flagKey, experimentId, {
        subjects: 10,
        errors: { control: 0, blue: 1 },
        prefix: "r2",
      });
      expect((await statusOf(first, experimentId)).status).toBe(ExperimentStatus.RUNNING);
      // A new worker process takes over the same database and consumers.
      second = await startTestApp({
        database: first.database,
        busPrefix: first.app.names.streamPrefix,
        env: { LOTTY_ROLES: "workers" },
      });
      await waitFor(
        async () => (await triggersOf(first, experimentId)).length === 1,
        15_000,
        "a trigger",
      );
      expect(await second.app.guardrailMonitor!.check(experimentId)).toBeUndefined();
      expect(await triggersOf(first, experimentId)).toHaveLength(1);
      expect(await guardrailHistory(first, experimentId)).toHaveLength(1);
      expect((await statusOf(first, experimentId)).status).toBe(ExperimentStatus.PAUSED);
    } finally {
      await second?.app.stop();
      await first.stop();
    }
  });

  it("two monitors racing on one breach write one trigger", async () => {
    const { flagKey, experimentId } = await guardedExperiment(t, [
      { metricKey: "errors", threshold: 5, minSampleSize: 10 },
    ]);
    await t.app.guardrailMonitor!.stop();
    await sendTraffic(t, flagKey, experimentId, {
      subjects: 10,
      errors: { control: 0, blue: 1 },
      prefix: "race",
    });
    const { GuardrailMonitor } = await import("../../src/guardrails/monitor.js");
    const monitors = [0, 1, 2].map(
      () =>
        new GuardrailMonitor({
          bus: t.app.bus!,
          names: t.app.names,
          db: t.app.db,
          pool: t.app.pool(),
          changes: t.app.changes,
          metrics: t.app.guardrailMetrics,
          logger: t.app.logger,
        }),
    );
    const fired = await Promise.all(monitors.map((m) => m.check(experimentId)));
    expect(fired.filter((f) => f !== undefined)).toHaveLength(1);
    expect(await triggersOf(t, experimentId)).toHaveLength(1);
    expect(await guardrailHistory(t, experimentId)).toHaveLength(1);
  });

  it("ListGuardrailTriggers validates its input and pages newest first", async () => {
    const guardrails = guardrailClient(t);
    const bad = await errorOf(guardrails.listGuardrailTriggers({ experimentId: "nope" }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toContain("experiment_id");
    const unknown = await errorOf(
      guardrails.listGuardrailTriggers({ experimentId: "00000000-0000-4000-8000-000000000000" }),
    );
    expect(unknown.code).toBe(Code.NotFound);

    const all: string[] = [];
    let pageToken = "";
    do {
      const page = await guardrails.listGuardrailTriggers({ pageSize: 1, pageToken });
      all.push(...page.triggers.map((tr) => tr.id));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    const { triggers } = await guardrails.listGuardrailTriggers({ pageSize: 500 });
    expect(all).toEqual(triggers.map((tr) => tr.id));
    expect(all.length).toBeGreaterThanOrEqual(3);
    const times = triggers.map((tr) => timestampDate(tr.triggeredAt!).getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });
});
