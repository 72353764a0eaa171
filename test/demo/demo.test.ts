/**
 * `npm run demo`'s loader (src/cli/demo.ts) against a real server, run twice:
 * the first run builds the tenant (users in every role, review policies,
 * catalog, flags) and leaves experiment A running with a significant winner,
 * B paused by its guardrail and C in review, after completing the earlier
 * experiments D–G for the learnings library (D, E, F written up, F's p95
 * latency guardrail fired, G not written up), and has the autopilot ramp H to
 * its last step and step I back when its error-share threshold fails (the
 * app's autopilot runs every 300 ms here, and H's steps last a second); the
 * second run finds everything and changes nothing. In between, the console
 * shows the three experiments as the README's "where to click" describes
 * them (headless Chromium).
 *
 * The analytics of issue #21 on the same data: the dimensions country and
 * platform, the saved segment mobile (J's targeting, A's report filter), J's
 * lost exposures raising the data-quality monitor's SRM alarm (it runs every
 * second here; the server's default is a minute), the demo's webhook channel
 * and rules with the deliveries of B's guardrail, I's safety action and J's
 * alarm sent to the demo's own receiver (on a free port here), K's funnel
 * and retention, and a CSV export of A's raw events.
 */
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  accessV1,
  createLottyClient,
  decisionV1,
  eventExportV1,
  experimentsV1,
  flagsV1,
  notificationsV1,
  type LottyClient,
} from "../../clients/node/src/index.js";
import {
  ALERT_TRIGGERS,
  DIGEST_HOUR_UTC,
  guide,
  runDemo,
  USERS,
  type DemoSummary,
} from "../../src/cli/demo.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { launchBrowser } from "../support/browser.js";

const { Role } = accessV1;
const {
  ExperimentAction,
  ExperimentStatus,
  GuardrailAction,
  Direction,
  Outcome,
  RampEventKind,
  RampMode,
  RampSafetyAction,
} = experimentsV1;
const { DecisionReason } = decisionV1;
const { FlagType } = flagsV1;
const { DeliveryStatus, DigestPeriod } = notificationsV1;
const { EventExportStatus } = eventExportV1;

/** Members through A (B gets half as many): enough for a lift of about 25 points to be clear. */
const SUBJECTS = 800;
/** The autopilot's interval here (the server's default is 5 s), and H's time on a step. */
const RAMP_INTERVAL_MS = 300;
const RAMP_STEP_SECONDS = 1;
/** The data-quality monitor's interval here (the server's default is 60 s). */
const DATA_QUALITY_INTERVAL_MS = 1_000;

/** A port nothing listens on now, for the demo's webhook receiver (both runs use it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

let t: TestApp;
let webhookPort: number;
let admin: LottyClient;
let first: DemoSummary;
const firstLog: string[] = [];

beforeAll(async () => {
  t = await startTestApp({
    rampIntervalMs: RAMP_INTERVAL_MS,
    dataQualityIntervalMs: DATA_QUALITY_INTERVAL_MS,
  });
  admin = createLottyClient({ baseUrl: t.baseUrl, apiKey: t.adminKey });
  webhookPort = await freePort();
  first = await runDemo({
    baseUrl: t.baseUrl,
    apiKey: t.adminKey,
    subjects: SUBJECTS,
    log: (line) => firstLog.push(line),
    guardrailTimeoutMs: 30_000,
    rampStepSeconds: RAMP_STEP_SECONDS,
    rampTimeoutMs: 30_000,
    dataQualityTimeoutMs: 30_000,
    webhookPort,
  });
});

afterAll(async () => {
  await t?.stop();
});

async function allUsers(): Promise<accessV1.User[]> {
  return (await admin.access.listUsers({ pageSize: 500 })).users;
}

async function experimentById(id: string): Promise<experimentsV1.Experiment> {
  const { experiment } = await admin.experiments.getExperiment({ id });
  if (experiment === undefined) throw new Error(`no experiment ${id}`);
  return experiment;
}

async function reportOf(experimentId: string) {
  const { report } = await admin.reports.getExperimentReport({ experimentId });
  if (report === undefined) throw new Error("no report");
  return report;
}

async function rampEvents(id: string) {
  return (await admin.experiments.listRampEvents({ id })).events;
}

/** H's or I's state and ramp history, as the second run must leave them. */
async function rampOf(id: string) {
  const e = await experimentById(id);
  return {
    status: e.status,
    version: e.version,
    ramp: e.ramp && [e.ramp.mode, e.ramp.stepIndex],
    events: (await rampEvents(id)).map((r) => [r.id, r.kind]),
  };
}

/** What the second run must leave unchanged. */
async function counts() {
  const [users, flags, experiments, eventTypes, metrics, triggers, learnings] = await Promise.all([
    allUsers(),
    admin.flags.listFlags({ pageSize: 500 }),
    admin.experiments.listExperiments({ pageSize: 500 }),
    admin.catalog.listEventTypes({ pageSize: 500 }),
    admin.catalog.listMetrics({ pageSize: 500 }),
    admin.guardrails.listGuardrailTriggers({ pageSize: 500 }),
    admin.learnings.searchLearnings({ pageSize: 500 }),
  ]);
  const n = admin.notifications;
  const [dimensions, savedSegments, channels, rules, alarms, exportsOfA] = await Promise.all([
    admin.catalog.listDimensions({ pageSize: 500, includeArchived: true }),
    admin.catalog.listSavedSegments({ pageSize: 500 }),
    n.listChannels({ pageSize: 500 }),
    n.listRules({ pageSize: 500 }),
    n.listDataQualityAlarms({ pageSize: 500 }),
    admin.eventExports.listEventExports({ experimentId: first.experiments.A.id, pageSize: 100 }),
  ]);
  return {
    dimensions: dimensions.dimensions.map((d) => d.key),
    savedSegments: savedSegments.savedSegments.map((x) => `${x.key} v${x.version}`),
    channels: channels.channels.map((c) => c.id),
    rules: rules.rules.map((r) => r.id),
    alarms: alarms.alarms.map((a) => a.id),
    exportsOfA: exportsOfA.eventExports.map((e) => e.id),
    users: users.length,
    flags: flags.flags.length,
    experiments: experiments.experiments.length,
    eventTypes: eventTypes.eventTypes.length,
    metrics: metrics.metrics.length,
    triggers: triggers.triggers.length,
    learnings: learnings.results.map((r) => `${r.learning?.experimentId} v${r.learning?.version}`),
    H: await rampOf(first.ramps.H.id),
    I: await rampOf(first.ramps.I.id),
  };
}

describe("the first run", () => {
  it("creates users in every role, each with a working key printed once, and review policies", async () => {
    const users = await allUsers();
    const byEmail = new Map(users.map((u) => [u.email, u]));
    for (const [handle, spec] of Object.entries(USERS)) {
      const user = byEmail.get(spec.email);
      expect(user?.roles).toEqual(spec.roles);
      expect(first.users[handle as keyof typeof USERS]).toMatchObject({
        id: user?.id,
        created: true,
      });
    }
    const roles = new Set(users.flatMap((u) => u.roles));
    for (const role of [Role.ADMIN, Role.EXPERIMENTER, Role.APPROVER, Role.VIEWER, Role.SERVICE]) {
      expect(roles.has(role)).toBe(true);
    }

    expect(first.newApiKeys.map((k) => k.email).sort()).toEqual(
      Object.values(USERS)
        .map((u) => u.email)
        .sort(),
    );
    for (const { email, secret } of first.newApiKeys) {
      expect(firstLog.join("\n")).toContain(secret);
      const me = createLottyClient({ baseUrl: t.baseUrl, apiKey: secret });
      expect((await me.access.getCurrentUser({})).user?.email).toBe(email);
    }

    const { policy } = await admin.access.getReviewPolicy({
      experimenterId: first.users.growthPm.id,
    });
    expect(policy).toMatchObject({ isDefault: false, minApprovals: 2 });
    expect([...policy!.approverIds].sort()).toEqual(
      [first.users.headOfProduct.id, first.users.dataLead.id].sort(),
    );
  });

  it("creates the event types, metrics and flags", async () => {
    const { eventType: purchase } = await admin.catalog.getEventType({ key: "purchase" });
    expect(purchase?.properties.find((p) => p.name === "amount")).toMatchObject({
      required: true,
    });
    for (const key of ["workout_completed", "promo_click", "error", "latency"]) {
      expect((await admin.catalog.getEventType({ key })).eventType?.archived).toBe(false);
    }
    for (const key of first.metrics) {
      expect((await admin.catalog.getMetric({ key })).metric?.key).toBe(key);
    }
    const layout = (await admin.flags.getFlag({ key: "workout_summary_layout" })).flag;
    expect(layout).toMatchObject({ type: FlagType.STRING, createdBy: first.users.growthPm.id });
    expect(layout?.defaultValue?.kind).toEqual({ case: "stringValue", value: "classic" });
    const banner = (await admin.flags.getFlag({ key: "shoe_promo_banner" })).flag;
    expect(banner).toMatchObject({ type: FlagType.BOOL, createdBy: first.users.commercePm.id });
  });

  it("leaves A running, reviewed by both approvers, with the cards layout significantly better", async () => {
    const a = await experimentById(first.experiments.A.id);
    expect(a.status).toBe(ExperimentStatus.RUNNING);
    expect(a.ownerId).toBe(first.users.growthPm.id);
    const { entries } = await admin.experiments.getExperimentHistory({ id: a.id });
    expect(entries.map((e) => [ExperimentAction[e.action], e.actorId])).toEqual([
      ["CREATED", first.users.growthPm.id],
      ["SUBMITTED", first.users.growthPm.id],
      ["APPROVED", first.users.headOfProduct.id],
      ["APPROVED", first.users.dataLead.id],
      ["STARTED", first.users.growthPm.id],
    ]);

    const traffic = first.traffic.A!;
    expect(traffic.decided).toBe(SUBJECTS);
    expect(traffic.exposed.classic! + traffic.exposed.cards!).toBe(SUBJECTS);

    const report = await reportOf(a.id);
    expect(report.primaryMetricKey).toBe("workout_completion_rate");
    expect(report.subjects).toBe(SUBJECTS);
    expect(report.dataHealth?.pendingAttributionEvents ?? 0).toBe(0);
    expect(report.dataHealth?.rejectedEvents ?? 0).toBe(0);
    expect(report.srm?.mismatch ?? false).toBe(false);
    const [classic, cards] = report.variants;
    expect([classic?.variantKey, classic?.control, cards?.variantKey]).toEqual([
      "classic",
      true,
      "cards",
    ]);
    for (const v of [classic!, cards!]) {
      const key = v.variantKey;
      expect(v.subjects).toBe(traffic.exposed[key]);
      expect(v.exposures).toBe(traffic.events[key]!.exposure);
      const rate = v.metrics.find((m) => m.metricKey === "workout_completion_rate")!;
      expect(rate.sampleSize).toBe(traffic.exposed[key]);
      expect(rate.value).toBeCloseTo(
        traffic.members[key]!.workout_completed! / traffic.exposed[key]!,
        12,
      );
      const workouts = v.metrics.find((m) => m.metricKey === "workouts_per_member")!;
      expect(workouts.value).toBe(traffic.events[key]!.workout_completed);
    }

    const control = classic!.metrics[0]!;
    const treatment = cards!.metrics[0]!;
    expect(control.comparison).toBeUndefined();
    const comparison = treatment.comparison!;
    expect(treatment.value).toBeGreaterThan(control.value + 0.1);
    expect(comparison.absoluteDiff).toBeCloseTo(treatment.value - control.value, 12);
    expect(comparison.ciLow).toBeGreaterThan(0);
    expect(comparison.ciHigh).toBeGreaterThan(comparison.ciLow);
    // The split into variants changes with the experiment id (bucketing is
    // salted by it), so the p-value varies from run to run: with 400 members
    // p reached 0.004 and 0.011 in CI runs. 800 members and p < 0.01 keep the
    // demo's point, a clear and significant win, without flaking.
    expect(comparison.pValue).toBeLessThan(0.01);
    expect(comparison.significant).toBe(true);
    expect(comparison.adjustedPValue).toBeGreaterThanOrEqual(comparison.pValue);
    expect(comparison.adjustedPValue).toBeLessThan(0.05);
    expect(comparison.adjustedSignificant).toBe(true);
    expect(comparison.chanceToBeatControl).toBeGreaterThan(0.99);

    expect(first.winner).toMatchObject({
      metricKey: "workout_completion_rate",
      control: { key: "classic", subjects: classic!.subjects, value: control.value },
      treatment: { key: "cards", subjects: cards!.subjects, value: treatment.value },
      pValue: comparison.pValue,
      adjustedSignificant: true,
      srmMismatch: false,
    });
  });

  it("leaves B paused by its guardrail, with the trigger recorded and the default served", async () => {
    const b = await experimentById(first.experiments.B.id);
    expect(b.status).toBe(ExperimentStatus.PAUSED);
    expect(first.experiments.B.status).toBe(ExperimentStatus.PAUSED);
    expect(b.ownerId).toBe(first.users.commercePm.id);

    const { triggers } = await admin.guardrails.listGuardrailTriggers({ experimentId: b.id });
    expect(triggers).toHaveLength(1);
    const trigger = triggers[0]!;
    expect(trigger).toMatchObject({
      experimentId: b.id,
      variantKey: "banner",
      action: GuardrailAction.PAUSE,
      direction: Direction.INCREASE_IS_BAD,
      windowSeconds: 120,
      experimentVersion: 1,
    });
    expect(["error_rate", "latency_p95"]).toContain(trigger.metricKey);
    expect(trigger.threshold).toBe(trigger.metricKey === "error_rate" ? 0.05 : 1_200);
    expect(trigger.observedValue).toBeGreaterThan(trigger.threshold);
    expect(trigger.sampleSize).toBeGreaterThanOrEqual(100);
    expect(first.trigger).toMatchObject({
      id: trigger.id,
      metricKey: trigger.metricKey,
      observedValue: trigger.observedValue,
    });

    const { entries } = await admin.experiments.getExperimentHistory({ id: b.id });
    const last = entries[entries.length - 1]!;
    expect(last).toMatchObject({
      action: ExperimentAction.GUARDRAIL_PAUSED,
      actorId: "",
      fromStatus: ExperimentStatus.RUNNING,
      toStatus: ExperimentStatus.PAUSED,
    });

    const { decisions } = await admin.decision.decide({
      subjectId: "member-00001",
      flagKeys: ["shoe_promo_banner"],
      attributes: { platform: "ios" },
    });
    expect(decisions[0]).toMatchObject({ reason: DecisionReason.DEFAULT, variantKey: "" });
    expect(decisions[0]?.value?.kind).toEqual({ case: "boolValue", value: false });
  });

  it("leaves C in review with one of its two approvals", async () => {
    const c = await experimentById(first.experiments.C.id);
    expect(c.status).toBe(ExperimentStatus.IN_REVIEW);
    expect(c.ownerId).toBe(first.users.growthPm.id);
    expect(c.requiredApprovals).toBe(2);
    expect(c.approvals.map((a) => a.approverId)).toEqual([first.users.headOfProduct.id]);
    const { experiments } = await admin.experiments.listExperiments({
      status: ExperimentStatus.IN_REVIEW,
    });
    expect(experiments.map((e) => e.id)).toEqual([c.id]);
  });

  it("prints the commands to look at each experiment, with the ids filled in", () => {
    const text = guide(first).join("\n");
    const { A, B, C } = first.experiments;
    expect(text).toContain(
      `-d '{"experimentId":"${A.id}"}' \\\n      ${t.baseUrl}/lotty.reports.v1.ReportService/GetExperimentReport`,
    );
    expect(text).toContain(
      `-d '{"experimentId":"${B.id}"}' \\\n      ${t.baseUrl}/lotty.guardrails.v1.GuardrailService/ListGuardrailTriggers`,
    );
    expect(text).toContain(`-d '{"status":"EXPERIMENT_STATUS_IN_REVIEW"}'`);
    expect(text).toContain(`C · "${C.name}" (${C.id}) is IN_REVIEW with 1 of 2 approvals.`);
    expect(text).toContain('"outcome":"OUTCOME_ROLLOUT","winnerVariantKey":"cards"');
    expect(text).toContain(`${t.baseUrl}/console/experiments/${A.id}/results`);
    expect(text).toContain(`${t.baseUrl}/console/experiments/${C.id}`);
  });
});

describe("the learnings library after the first run", () => {
  const byId = (ids: string[]) => expect.arrayContaining(ids);

  it("completes the earlier experiments D–G with real traffic, and writes up D, E and F", async () => {
    const { D, E, F, G } = first.past;
    for (const p of [D, E, F, G]) {
      expect((await experimentById(p.id)).status).toBe(ExperimentStatus.COMPLETED);
      expect(first.traffic[p.label]!.decided).toBeGreaterThanOrEqual(300);
    }
    expect([D, E, F].map((p) => p.writtenUp)).toEqual([true, true, true]);
    expect(G.writtenUp).toBe(false);

    const { results } = await admin.learnings.searchLearnings({ needsWritingUp: false });
    expect(results.length).toBeGreaterThanOrEqual(3);
    expect(results.map((r) => r.learning!.experimentId)).toEqual(byId([D.id, E.id, F.id]));
    for (const { learning } of results) {
      const l = learning!;
      expect(l.filled).toBe(true);
      expect(l.updatedBy).toBe(l.ownerId);
      expect(l.notes.split("\n").length).toBeGreaterThanOrEqual(3);
      expect(l.notes.split("\n").length).toBeLessThanOrEqual(8);
      expect(l.action).not.toBe("");
      expect(l.tags.length).toBeGreaterThan(2);
      expect(l.plannedDays).toBeGreaterThan(0);
      expect(l.links[0]?.url).toMatch(/^https:\/\//);
      // The outcome report had real events: the primary effect and the result come from it.
      expect(l.primaryEffect?.metricKey).toBe(l.primaryMetricKey);
      expect(l.result).toContain(l.primaryMetricKey);
    }
    const { learning: e } = await admin.learnings.getLearning({ experimentId: E.id });
    expect(e).toMatchObject({ outcome: Outcome.ROLLOUT, winnerVariantKey: "goal_picker" });
    expect(e!.primaryEffect).toMatchObject({
      variantKey: "goal_picker",
      controlVariantKey: "no_picker",
    });
    expect(e!.primaryEffect!.absoluteDifference).toBeGreaterThan(0);
  });

  it("finds G waiting for its write-up and F by its fired p95 latency guardrail", async () => {
    const needs = await admin.learnings.searchLearnings({ needsWritingUp: true });
    expect(needs.results.length).toBeGreaterThanOrEqual(1);
    expect(needs.results.map((r) => r.learning!.experimentId)).toContain(first.past.G.id);
    expect(needs.results[0]!.learning!.missingFields).toContain("notes");

    const fired = await admin.learnings.searchLearnings({
      guardrailFired: true,
      metricKey: "latency_p95",
    });
    expect(fired.results.length).toBeGreaterThanOrEqual(1);
    const f = fired.results.find((r) => r.learning!.experimentId === first.past.F.id)?.learning;
    expect(f?.firedGuardrailMetricKeys).toEqual(["latency_p95"]);
    expect(f?.outcome).toBe(Outcome.ROLLBACK);
    expect(first.past.F.firedGuardrails).toEqual(["latency_p95"]);

    const text = await admin.learnings.searchLearnings({ query: "home screen latency" });
    expect(text.results[0]?.learning?.experimentId).toBe(first.past.F.id);
    expect(text.results[0]?.snippet).toContain("**");

    const byTag = await admin.learnings.searchLearnings({ tags: ["onboarding"] });
    expect(byTag.results.map((r) => r.learning!.experimentId)).toEqual(
      byId([first.past.D.id, first.past.E.id]),
    );
  });

  it("relates C to the earlier onboarding experiments and B to F, with reasons", async () => {
    const forC = await admin.learnings.findSimilar({ experimentId: first.experiments.C.id });
    const top = forC.similar.slice(0, 2);
    expect(top.map((m) => m.learning!.experimentId).sort()).toEqual(
      [first.past.D.id, first.past.E.id].sort(),
    );
    for (const m of top) {
      expect(m.reasons).toEqual(expect.arrayContaining(["shared_tags", "same_primary_metric"]));
      expect(m.reasonDetails.length).toBe(m.reasons.length);
    }
    expect(first.library?.similarToC[0]?.experimentId).toBe(top[0]!.learning!.experimentId);

    const forB = await admin.learnings.findSimilar({ experimentId: first.experiments.B.id });
    expect(forB.similar[0]?.learning?.experimentId).toBe(first.past.F.id);
    expect(forB.similar[0]?.reasons).toEqual(
      expect.arrayContaining(["shared_tags", "same_primary_metric", "similar_audience"]),
    );
  });

  it("points to the library in the guide: console, a search and FindSimilar", () => {
    const text = guide(first).join("\n");
    expect(text).toContain(`${t.baseUrl}/console/learnings`);
    expect(text).toContain(
      `-d '{"guardrailFired":true,"metricKey":"latency_p95"}' \\\n      ${t.baseUrl}/lotty.learnings.v1.LearningService/SearchLearnings`,
    );
    expect(text).toContain(
      `-d '{"experimentId":"${first.experiments.C.id}"}' \\\n      ${t.baseUrl}/lotty.learnings.v1.LearningService/FindSimilar`,
    );
    expect(text).toContain(`G · "${first.past.G.name}" (${first.past.G.id}): OUTCOME_ROLLOUT`);
    expect(first.library).toMatchObject({ needsWritingUp: 1, guardrailFired: 1 });
    expect(first.library!.writtenUp).toBe(3);
  });
});

describe("the autopilot after the first run", () => {
  it("ramps H, reviewed and started by its owner, through every step: each move with every gate passed", async () => {
    const h = await experimentById(first.ramps.H.id);
    expect(h.ownerId).toBe(first.users.growthPm.id);
    expect(h.rampPlan?.steps).toEqual([5, 25, 50, 100]);
    expect(h.rampPlan?.gates?.minStepSeconds).toBe(RAMP_STEP_SECONDS);
    expect(h.status).toBe(ExperimentStatus.RUNNING);
    expect(h.ramp).toMatchObject({ mode: RampMode.DONE, stepIndex: 3, stepPercent: 100 });

    const events = await rampEvents(h.id);
    expect(events[0]).toMatchObject({ kind: RampEventKind.STARTED, toPercent: 5 });
    expect(events.some((e) => e.kind === RampEventKind.SAFETY_ACTION)).toBe(false);
    const advanced = events.filter((e) => e.kind === RampEventKind.ADVANCED);
    expect(advanced.map((e) => [e.fromPercent, e.toPercent])).toEqual([
      [5, 25],
      [25, 50],
      [50, 100],
    ]);
    for (const e of advanced) {
      expect(e.actorId).toBe("");
      expect(e.gates.map((g) => g.gate)).toEqual(
        expect.arrayContaining(["min_step_seconds", "min_exposures_per_variant", "threshold"]),
      );
      expect(e.gates.every((g) => g.passed)).toBe(true);
      const waited = e.gates.find((g) => g.gate === "min_step_seconds")!;
      expect(waited.observed).toBeGreaterThanOrEqual(RAMP_STEP_SECONDS);
    }
    expect(advanced.at(-1)!.mode).toBe(RampMode.DONE);
    const { entries } = await admin.experiments.getExperimentHistory({ id: h.id });
    expect(entries.map((e) => ExperimentAction[e.action])).toEqual([
      "CREATED",
      "SUBMITTED",
      "APPROVED",
      "APPROVED",
      "STARTED",
      "RAMP_STEPPED",
      "RAMP_STEPPED",
      "RAMP_STEPPED",
    ]);

    const traffic = first.traffic.H!;
    expect(traffic.exposed.no_share_card).toBeGreaterThan(0);
    expect(traffic.exposed.share_card).toBeGreaterThan(0);
    expect(first.ramps.H).toMatchObject({ status: ExperimentStatus.RUNNING, created: true });
    expect(first.ramps.H.ramp).toMatchObject({
      mode: "RAMP_MODE_DONE",
      stepPercent: 100,
      highestStep: 3,
      safetyActions: [],
    });
    expect(first.ramps.H.ramp!.advanced.map((m) => m.toPercent)).toEqual([25, 50, 100]);
  });

  it("steps I back one level and holds it once its error-share threshold fails", async () => {
    const i = await experimentById(first.ramps.I.id);
    expect(i.ownerId).toBe(first.users.commercePm.id);
    const events = await rampEvents(i.id);
    const safetyAt = events.findIndex((e) => e.kind === RampEventKind.SAFETY_ACTION);
    expect(safetyAt).toBeGreaterThan(0);
    // Healthy until the autopilot advanced at least once.
    const before = events.slice(0, safetyAt);
    expect(before.filter((e) => e.kind === RampEventKind.ADVANCED).length).toBeGreaterThanOrEqual(
      1,
    );
    const safety = events[safetyAt]!;
    expect(safety).toMatchObject({
      actorId: "",
      safetyAction: RampSafetyAction.STEP_BACK,
      toStep: safety.fromStep - 1,
      mode: RampMode.HOLD,
    });
    expect(safety.toPercent).toBeLessThan(safety.fromPercent);
    // The safety gate that failed (min_step_seconds may still wait on the new step: not a cause).
    const failed = safety.gates.filter((g) => !g.passed && g.effect === "safety");
    expect(failed.map((g) => g.gate)).toEqual(["threshold"]);
    expect(failed[0]!.threshold).toBe(0.02);
    expect(failed[0]!.observed).toBeGreaterThan(0.02);
    expect(failed[0]!.detail).toContain("error_rate in express_checkout");

    const highest = Math.max(...events.map((e) => Math.max(e.fromStep, e.toStep)));
    expect(highest).toBe(safety.fromStep);
    expect(i.ramp).toMatchObject({ mode: RampMode.HOLD, stepIndex: highest - 1 });
    expect(first.ramps.I.status).toBe(i.status);
    const { entries } = await admin.experiments.getExperimentHistory({ id: i.id });
    expect(entries.find((e) => e.action === ExperimentAction.RAMP_SAFETY_ACTION)?.actorId).toBe("");

    const traffic = first.traffic.I!;
    expect(traffic.events.express_checkout?.error ?? 0).toBeGreaterThan(0);
    expect(traffic.events.standard_checkout?.error ?? 0).toBe(0);
    expect(first.ramps.I.ramp).toMatchObject({ mode: "RAMP_MODE_HOLD", highestStep: highest });
    expect(first.ramps.I.ramp!.safetyActions[0]).toMatchObject({
      safetyAction: "RAMP_SAFETY_ACTION_STEP_BACK",
      fromPercent: safety.fromPercent,
      toPercent: safety.toPercent,
    });
  });

  it("prints where to look at H and I: their pages, their ramp state and history", () => {
    const text = guide(first).join("\n");
    const { H, I } = first.ramps;
    for (const e of [H, I]) {
      expect(text).toContain(`${t.baseUrl}/console/experiments/${e.id}`);
      expect(text).toContain(
        `-d '{"id":"${e.id}"}' \\\n      ${t.baseUrl}/lotty.experiments.v1.ExperimentService/ListRampEvents`,
      );
    }
    expect(text).toContain(`H · "${H.name}" (${H.id}) is RUNNING.`);
    expect(text).toContain("5 % → 25 %: every gate passed");
    expect(text).toContain(
      "safety action RAMP_SAFETY_ACTION_STEP_BACK: threshold error_rate in express_checkout ",
    );
    expect(firstLog.join("\n")).toContain("safety action RAMP_SAFETY_ACTION_STEP_BACK");
  });
});

describe("the analytics after the first run", () => {
  it("declares country and platform, targets J with the saved segment mobile and filters A by it", async () => {
    const { dimensions } = await admin.catalog.listDimensions({});
    expect(dimensions.map((d) => d.key)).toEqual(expect.arrayContaining(["country", "platform"]));

    const j = await experimentById(first.dataQuality!.experiment.id);
    expect(j.targetingRule).toBe('segment("mobile")');
    expect(j.compiledTargetingRule).toBe('(platform IN ["ios", "android"])');
    expect(j.savedSegments.map((r) => [r.key, r.version])).toEqual([["mobile", 1]]);
    const { savedSegment } = await admin.catalog.getSavedSegment({ key: "mobile" });
    expect(savedSegment?.createdBy).toBe(first.users.growthPm.id);
    expect(savedSegment?.usedBy.map((u) => u.experimentId)).toEqual([j.id]);

    // A's report by platform (recorded from the exposures): the mobile segment is ios + android.
    const A = first.experiments.A.id;
    const whole = await reportOf(A);
    const { report: byPlatform } = await admin.reports.getExperimentReport({
      experimentId: A,
      breakdownDimension: "platform",
    });
    const subjectsOf = (value: string) =>
      byPlatform!.segments.find((x) => x.value === value)?.subjects ?? 0;
    expect(byPlatform!.segments.reduce((sum, x) => sum + x.subjects, 0)).toBe(whole.subjects);
    const { report: mobile } = await admin.reports.getExperimentReport({
      experimentId: A,
      savedSegment: "mobile",
    });
    expect(mobile!.savedSegment).toBe("mobile");
    expect(mobile!.subjects).toBe(subjectsOf("ios") + subjectsOf("android"));
    expect(mobile!.subjects).toBeGreaterThan(0);
    expect(mobile!.subjects).toBeLessThan(whole.subjects);
    expect(first.savedSegment).toMatchObject({
      key: "mobile",
      version: 1,
      usedBy: [j.id],
      wholeSubjects: whole.subjects,
      filteredSubjects: mobile!.subjects,
    });
    expect(guide(first).join("\n")).toContain(
      `${t.baseUrl}/console/experiments/${A}/results?saved=mobile`,
    );
  });

  it("raises the data-quality monitor's SRM alarm on J, whose client lost treatment exposures", async () => {
    const j = first.dataQuality!.experiment;
    expect(j.status).toBe(ExperimentStatus.RUNNING);
    const traffic = first.traffic.J!;
    expect(traffic.lost?.reminder ?? 0).toBeGreaterThan(0);
    expect(traffic.lost?.no_reminder ?? 0).toBe(0);
    const report = await reportOf(j.id);
    expect(report.srm?.mismatch).toBe(true);
    expect(report.variants.map((v) => [v.variantKey, v.subjects])).toEqual([
      ["no_reminder", traffic.exposed.no_reminder],
      ["reminder", traffic.exposed.reminder],
    ]);

    const { alarms } = await admin.notifications.listDataQualityAlarms({
      kind: "data_quality.srm",
    });
    const alarm = alarms.find((a) => a.experimentId === j.id);
    expect(alarm).toBeDefined();
    expect(alarm!.figures.p_value).toBeLessThan(0.001);
    // The monitor saw the report of its pass, with J's exposures so far.
    expect(alarm!.figures.exposures).toBeGreaterThan(0);
    expect(alarm!.figures.exposures).toBeLessThanOrEqual(report.exposures);
    expect(first.dataQuality!.alarm).toMatchObject({ id: alarm!.id, kind: "data_quality.srm" });
    // Only J's ratio is broken.
    expect(alarms.map((a) => a.experimentId)).toEqual([j.id]);

    const text = guide(first).join("\n");
    expect(text).toContain(`${t.baseUrl}/console/data-quality`);
    expect(text).toContain(`-d '{"kind":"data_quality.srm"}'`);
  });

  it("sends B's guardrail, I's safety action and J's alarm to the demo's webhook; a daily digest is scheduled", async () => {
    const n = first.notifications!;
    expect(n.ownReceiver).toBe(true);
    const { channels } = await admin.notifications.listChannels({});
    expect(channels.find((c) => c.id === n.channelId)?.url).toBe(
      `http://127.0.0.1:${webhookPort}/…`,
    );
    const { rules } = await admin.notifications.listRules({});
    const alerts = rules.find((r) => r.id === n.ruleId);
    expect(alerts?.triggers).toEqual(ALERT_TRIGGERS);
    expect(alerts?.channelIds).toEqual([n.channelId]);
    const digest = rules.find((r) => r.id === n.digestRuleId);
    expect(digest?.triggers).toEqual(["digest.daily"]);
    expect(digest?.digest).toMatchObject({ period: DigestPeriod.DAILY, hourUtc: DIGEST_HOUR_UTC });

    const { deliveries } = await admin.notifications.listDeliveries({ channelId: n.channelId });
    const expected = [
      ["guardrail.triggered", first.experiments.B.id],
      ["ramp.safety_action", first.ramps.I.id],
      ["data_quality.srm", first.dataQuality!.experiment.id],
    ];
    for (const [trigger, experimentId] of expected) {
      const delivery = deliveries.find(
        (d) => d.trigger === trigger && d.experimentId === experimentId,
      );
      expect(delivery?.status).toBe(DeliveryStatus.SENT);
      // The demo's receiver got it, with the same dedup key.
      expect(n.received).toContainEqual({ trigger, experimentId, dedupKey: delivery!.dedupKey });
    }
    // F's guardrail (during the earlier experiments) too; every delivery was sent.
    expect(deliveries.map((d) => d.status)).toEqual(deliveries.map(() => DeliveryStatus.SENT));
    expect(n.received.length).toBe(deliveries.length);
    expect(guide(first).join("\n")).toContain(
      `-d '{"channelId":"${n.channelId}"}' \\\n      ${t.baseUrl}/lotty.notifications.v1.NotificationService/ListDeliveries`,
    );
  });

  it("measures K by a strict funnel, each step at most the one before, and a retention still maturing", async () => {
    const f = first.funnel!;
    const k = await experimentById(f.experiment.id);
    expect(k.status).toBe(ExperimentStatus.RUNNING);
    const traffic = first.traffic.K!;
    const report = await reportOf(k.id);
    expect(report.primaryMetricKey).toBe("workout_to_purchase_funnel");
    for (const v of report.variants) {
      const key = v.variantKey;
      expect(v.subjects).toBe(traffic.exposed[key]);
      const funnel = v.metrics.find((m) => m.metricKey === "workout_to_purchase_funnel")!.funnel!;
      expect(funnel.steps.map((s) => s.eventTypeKey)).toEqual([
        "workout_completed",
        "promo_click",
        "purchase",
      ]);
      // Every click follows a workout and every purchase a click, a millisecond apart:
      // each step's subjects are the members who sent its event.
      const members = traffic.members[key]!;
      expect(funnel.steps.map((s) => s.subjects)).toEqual([
        members.workout_completed ?? 0,
        members.promo_click ?? 0,
        members.purchase ?? 0,
      ]);
      expect(funnel.steps[0]!.subjects).toBeGreaterThan(0);
      for (let i = 1; i < funnel.steps.length; i++) {
        expect(funnel.steps[i]!.subjects).toBeLessThanOrEqual(funnel.steps[i - 1]!.subjects);
      }
      expect(funnel.steps[0]!.share).toBeCloseTo(funnel.steps[0]!.subjects / v.subjects, 12);
      const retention = v.metrics.find((m) => m.metricKey === "first_week_return_rate")!.retention!;
      expect(retention).toMatchObject({ eligibleSubjects: 0, maturingSubjects: v.subjects });
    }
    const offer = report.variants.find((v) => v.variantKey === "offer")!;
    const last = offer.metrics.find((m) => m.metricKey === "workout_to_purchase_funnel")!.funnel!;
    expect(last.steps[2]!.subjects).toBeGreaterThan(0);
    expect(f.variants.map((v) => v.steps.map((s) => s.subjects))).toEqual(
      report.variants.map((v) =>
        v.metrics
          .find((m) => m.metricKey === "workout_to_purchase_funnel")!
          .funnel!.steps.map((s) => s.subjects),
      ),
    );
    expect(guide(first).join("\n")).toContain(`${t.baseUrl}/console/experiments/${k.id}/results`);
  });

  it("exports A's attributed events as CSV, every event the demo sent", async () => {
    const e = first.eventExport!;
    const { eventExport: job } = await admin.eventExports.getEventExport({ id: e.id });
    expect(job?.status).toBe(EventExportStatus.DONE);
    expect(job?.createdBy).toBe(first.users.growthPm.id);
    const sent = Object.values(first.traffic.A!.events)
      .flatMap((perType) => Object.values(perType))
      .reduce((sum, x) => sum + x, 0);
    expect(Number(job!.rows)).toBe(sent);
    expect(e).toMatchObject({ status: "EVENT_EXPORT_STATUS_DONE", rows: sent, created: true });
    const { data } = await admin.eventExports.readEventExport({ id: e.id, maxBytes: 200 });
    expect(new TextDecoder().decode(data)).toMatch(/^event_id,event_type,subject_id,/);
    expect(guide(first).join("\n")).toContain(
      `-d '{"id":"${e.id}"}' \\\n      ${t.baseUrl}/lotty.reports.v1.EventExportService/CreateEventExportLink`,
    );
  });
});

describe("the demo in the console", () => {
  it("shows A's winner, B paused by its guardrail, C waiting for its second approval, A's mobile members, K's funnel and J's alarm", async () => {
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const { A, B, C } = first.experiments;
      const consoleUrl = `${t.baseUrl}/console`;

      // Signing in as the README says: the admin key on the sign-in page.
      await page.goto(`${consoleUrl}/sign-in`);
      await page.getByLabel("API key").fill(t.adminKey);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { level: 1, name: "Experiments" }).waitFor();
      for (const e of [A, B, C]) {
        await page.getByRole("link", { name: e.name }).waitFor();
      }

      // A: the results page says which variant wins, in words.
      await page.getByRole("link", { name: A.name }).click();
      await page.getByRole("link", { name: "View results" }).click();
      const table = page.getByTestId("results-table");
      const cards = table
        .getByRole("row")
        .filter({ has: page.getByRole("rowheader", { name: /cards/ }) });
      await cards.getByText("Significant improvement").waitFor();
      expect(await page.getByTestId("interval-chart").count()).toBe(1);

      // B: paused, and its results page lists the guardrail trigger.
      await page.goto(`${consoleUrl}/experiments/${B.id}/results`);
      await page.getByRole("heading", { name: "Guardrail triggers" }).waitFor();
      const triggers = page.getByTestId("trigger-table");
      await triggers.getByText(first.trigger!.metricKey).first().waitFor();
      expect(await page.getByText(/paused/i).count()).toBeGreaterThan(0);

      // C: in review with one of its two approvals.
      await page.goto(`${consoleUrl}/experiments/${C.id}`);
      await page.getByText("1 of 2 required approvals in this review round.").waitFor();

      // A filtered by the saved segment, as the guide links it.
      await page.goto(`${consoleUrl}/experiments/${A.id}/results?saved=mobile`);
      await page.getByTestId("saved-segment-banner").waitFor();

      // K: a funnel chart per variant.
      await page.goto(`${consoleUrl}/experiments/${first.funnel!.experiment.id}/results`);
      await page.getByTestId("funnel-chart-no_offer").waitFor();
      await page.getByTestId("funnel-chart-offer").waitFor();

      // J's alarm on the Data quality page.
      await page.goto(`${consoleUrl}/data-quality`);
      await page
        .getByRole("table", { name: "Data-quality alarms, newest first" })
        .getByRole("row")
        .filter({ hasText: "Sample ratio mismatch" })
        .first()
        .waitFor();
      await context.close();
    } finally {
      await browser.close();
    }
  }, 60_000);
});

describe("a second run", () => {
  it("succeeds, creates nothing, sends no traffic and leaves every experiment as it was", async () => {
    const before = await counts();
    const reportBefore = await reportOf(first.experiments.A.id);
    const deliveriesBefore = await admin.notifications.listDeliveries({ pageSize: 500 });
    const second = await runDemo({
      baseUrl: t.baseUrl,
      apiKey: t.adminKey,
      subjects: SUBJECTS,
      log: () => {},
      guardrailTimeoutMs: 30_000,
      dataQualityTimeoutMs: 30_000,
      webhookPort,
    });
    expect(await counts()).toEqual(before);
    expect(second.created).toEqual([]);
    expect(second.newApiKeys).toEqual([]);
    expect(second.traffic).toEqual({});

    // The same segment, channel, rules, alarm and export; nothing new delivered.
    expect(second.savedSegment).toEqual(first.savedSegment);
    expect(second.dataQuality?.experiment).toMatchObject({
      id: first.dataQuality!.experiment.id,
      status: ExperimentStatus.RUNNING,
      created: false,
    });
    expect(second.dataQuality?.alarm).toEqual(first.dataQuality?.alarm);
    expect(second.notifications).toMatchObject({
      channelId: first.notifications!.channelId,
      ruleId: first.notifications!.ruleId,
      digestRuleId: first.notifications!.digestRuleId,
      received: [],
    });
    expect(second.eventExport).toEqual({ ...first.eventExport, created: false });
    expect(second.funnel).toEqual(
      first.funnel && {
        ...first.funnel,
        experiment: { ...first.funnel.experiment, created: false },
      },
    );
    const deliveriesAfter = await admin.notifications.listDeliveries({ pageSize: 500 });
    expect(deliveriesAfter.deliveries.map((d) => d.id)).toEqual(
      deliveriesBefore.deliveries.map((d) => d.id),
    );

    for (const label of ["A", "B", "C"] as const) {
      expect(second.experiments[label]).toMatchObject({
        id: first.experiments[label].id,
        status: first.experiments[label].status,
        created: false,
      });
    }
    expect(second.trigger?.id).toBe(first.trigger?.id);
    for (const label of ["H", "I"] as const) {
      expect(second.ramps[label]).toMatchObject({
        id: first.ramps[label].id,
        status: before[label].status,
        created: false,
      });
    }
    expect(second.ramps.H.ramp).toEqual(first.ramps.H.ramp);
    expect(second.ramps.I.ramp?.safetyActions[0]).toEqual(first.ramps.I.ramp?.safetyActions[0]);
    for (const label of ["D", "E", "F", "G"] as const) {
      expect(second.past[label]).toMatchObject({
        id: first.past[label].id,
        status: ExperimentStatus.COMPLETED,
        writtenUp: first.past[label].writtenUp,
        created: false,
      });
    }
    expect(second.library).toEqual(first.library);
    expect(Object.values(second.users).map((u) => u.id)).toEqual(
      Object.values(first.users).map((u) => u.id),
    );

    const reportAfter = await reportOf(first.experiments.A.id);
    expect(reportAfter.subjects).toBe(reportBefore.subjects);
    expect(reportAfter.variants.map((v) => v.exposures)).toEqual(
      reportBefore.variants.map((v) => v.exposures),
    );
    expect(second.winner?.pValue).toBe(first.winner?.pValue);

    // Users acted through temporary keys that are revoked: each still has one valid key.
    for (const user of Object.values(second.users)) {
      const { apiKeys } = await admin.access.listApiKeys({ userId: user.id });
      expect(apiKeys.filter((k) => k.revokedAt === undefined)).toHaveLength(1);
    }
  });
});
