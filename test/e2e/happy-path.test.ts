/**
 * Acceptance B1-5, the happy path end to end through the Node client package
 * against a real server: an admin sets up the team, an experimenter defines a
 * flag and an experiment, an approver approves it, the experimenter starts it,
 * a backend service decides and sends exposures and conversions, the report
 * shows exactly what was sent, and the experimenter completes the experiment
 * with a rollout, after which decide serves the flag's default again.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  accessV1,
  createLottyClient,
  decideAndExpose,
  decisionV1,
  EventSender,
  experimentsV1,
  flagsV1,
  type ExposedDecision,
  type LottyClient,
  type reportsV1,
} from "../../clients/node/src/index.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";

const { Role } = accessV1;
const { ExperimentStatus, Outcome } = experimentsV1;
const { DecisionReason } = decisionV1;
const { FlagType } = flagsV1;

const FLAG = "checkout_button_color";
const SUBJECTS = 120;

/**
 * Which subjects convert: in control every fifth, in "green" every second;
 * subjects whose number is a multiple of 6 convert twice. Fixed by the
 * subject, so the expected counts follow from the assignment alone.
 */
function conversionsOf(subject: number, variantKey: string): number {
  const converts = variantKey === "green" ? subject % 2 === 0 : subject % 5 === 0;
  if (!converts) return 0;
  return subject % 6 === 0 ? 2 : 1;
}

let t: TestApp;
let admin: LottyClient;
let experimenter: LottyClient;
let approver: LottyClient;
let service: LottyClient;
let experimentId: string;

async function userWithKey(email: string, role: accessV1.Role): Promise<LottyClient> {
  const { user } = await admin.access.createUser({ email, displayName: email, roles: [role] });
  const { secret } = await admin.access.createApiKey({ userId: user!.id, name: "e2e" });
  return createLottyClient({ baseUrl: t.baseUrl, apiKey: secret });
}

beforeAll(async () => {
  t = await startTestApp();
  admin = createLottyClient({ baseUrl: t.baseUrl, apiKey: t.adminKey });
});

afterAll(async () => {
  await t?.stop();
});

describe("the happy path (B1-5)", () => {
  it("admin creates an experimenter, an approver and a service, and a review policy", async () => {
    experimenter = await userWithKey("erin.experimenter@example.com", Role.EXPERIMENTER);
    approver = await userWithKey("aaron.approver@example.com", Role.APPROVER);
    service = await userWithKey("checkout-service@example.com", Role.SERVICE);
    const experimenterId = (await experimenter.access.getCurrentUser({})).user!.id;
    const approverId = (await approver.access.getCurrentUser({})).user!.id;
    const { policy } = await admin.access.setReviewPolicy({
      experimenterId,
      approverIds: [approverId],
      minApprovals: 1,
    });
    expect(policy).toMatchObject({
      experimenterId,
      approverIds: [approverId],
      minApprovals: 1,
      isDefault: false,
    });
  });

  it("experimenter creates a flag and an experiment and submits it; approver approves; experimenter starts", async () => {
    const { flag } = await experimenter.flags.createFlag({
      key: FLAG,
      type: FlagType.STRING,
      defaultValue: { kind: { case: "stringValue", value: "grey" } },
      description: "Colour of the checkout button",
    });
    expect(flag).toMatchObject({ key: FLAG, type: FlagType.STRING, archived: false });

    const { experiment: draft } = await experimenter.experiments.createExperiment({
      experiment: {
        flagKey: FLAG,
        name: "Green checkout button",
        description: "A green button converts better than the grey one",
        audiencePercent: 100,
        variants: [
          {
            key: "control",
            value: { kind: { case: "stringValue", value: "grey" } },
            weight: 50,
            control: true,
          },
          { key: "green", value: { kind: { case: "stringValue", value: "green" } }, weight: 50 },
        ],
        primaryMetricKey: "conversion_rate",
        metricKeys: ["conversions"],
      },
    });
    expect(draft).toMatchObject({ status: ExperimentStatus.DRAFT, version: 1 });
    experimentId = draft!.id;

    const { experiment: submitted } = await experimenter.experiments.submitExperiment({
      id: experimentId,
      comment: "ready",
    });
    expect(submitted).toMatchObject({
      status: ExperimentStatus.IN_REVIEW,
      requiredApprovals: 1,
      approvals: [],
    });

    const { experiment: approved } = await approver.experiments.approveExperiment({
      id: experimentId,
      comment: "looks right",
    });
    expect(approved?.status).toBe(ExperimentStatus.APPROVED);
    expect(approved?.approvals).toHaveLength(1);
    expect(approved?.approvals[0]).toMatchObject({ comment: "looks right", version: 1 });

    const { experiment: started } = await experimenter.experiments.startExperiment({
      id: experimentId,
    });
    expect(started?.status).toBe(ExperimentStatus.RUNNING);
    expect(started?.startedAt).toBeDefined();
  });

  it("the service decides and exposes N subjects and sends conversions; the report shows exactly them", async () => {
    await waitFor(
      async () => {
        const { decisions } = await service.decision.decide({
          subjectId: "probe",
          flagKeys: [FLAG],
        });
        return decisions[0]?.reason === DecisionReason.EXPERIMENT;
      },
      10_000,
      "decide to serve the experiment",
    );

    const sender = new EventSender(service.events, { flushIntervalMs: 100 });
    const expected: Record<string, { subjects: number; converters: number; conversions: number }> =
      {
        control: { subjects: 0, converters: 0, conversions: 0 },
        green: { subjects: 0, converters: 0, conversions: 0 },
      };
    const decided: ExposedDecision[] = [];
    for (let subject = 1; subject <= SUBJECTS; subject++) {
      const decision = await decideAndExpose(service.decision, sender, {
        subjectId: `user-${subject}`,
        flagKey: FLAG,
        attributes: { country: "DE", platform: subject % 2 === 0 ? "ios" : "android" },
      });
      decided.push(decision);
      expect(decision).toMatchObject({ reason: DecisionReason.EXPERIMENT, experimentId });
      expect(decision.value).toBe(decision.variantKey === "green" ? "green" : "grey");
      expect(decision.exposureEventId).toEqual(expect.any(String));
      const counts = expected[decision.variantKey]!;
      counts.subjects++;
      const n = conversionsOf(subject, decision.variantKey);
      if (n > 0) counts.converters++;
      counts.conversions += n;
      for (let i = 0; i < n; i++) {
        sender.send({ eventType: "conversion", decisionId: decision.decisionId });
      }
    }
    // The same subject decided again gets the same decision (sticky, same id).
    const again = await service.decision.decide({ subjectId: "user-1", flagKeys: [FLAG] });
    expect(again.decisions[0]).toMatchObject({
      decisionId: decided[0]!.decisionId,
      variantKey: decided[0]!.variantKey,
    });

    await sender.close();
    const sent = SUBJECTS + expected.control!.conversions + expected.green!.conversions;
    expect(sender.stats).toMatchObject({
      accepted: sent,
      duplicates: 0,
      rejected: 0,
      dropped: 0,
      buffered: 0,
    });
    // Both arms got subjects, and the assignment is close to 50/50.
    expect(expected.control!.subjects + expected.green!.subjects).toBe(SUBJECTS);
    expect(expected.control!.subjects).toBeGreaterThan(20);
    expect(expected.green!.subjects).toBeGreaterThan(20);

    let report: reportsV1.Report | undefined;
    const variantOf = (key: string) => report?.variants.find((v) => v.variantKey === key);
    const metricOf = (key: string, metric: string) =>
      variantOf(key)?.metrics.find((m) => m.metricKey === metric);
    await waitFor(
      async () => {
        report = (await experimenter.reports.getExperimentReport({ experimentId })).report;
        // Data health is read apart from the variants' figures, so under load
        // it may trail them by a batch: wait for both.
        return (
          report?.dataHealth?.receivedEvents === sent &&
          ["control", "green"].every(
            (key) =>
              variantOf(key)?.subjects === expected[key]!.subjects &&
              metricOf(key, "conversions")?.value === expected[key]!.conversions,
          )
        );
      },
      20_000,
      "the report to show every exposure and conversion",
    );

    expect(report).toMatchObject({
      experimentId,
      primaryMetricKey: "conversion_rate",
      exposures: SUBJECTS,
      subjects: SUBJECTS,
      experimentVersion: 1,
    });
    expect(report!.dataHealth?.receivedEvents).toBe(sent);
    expect(report!.dataHealth?.pendingAttributionEvents ?? 0).toBe(0);
    for (const key of ["control", "green"]) {
      const { subjects, converters, conversions } = expected[key]!;
      expect(variantOf(key)).toMatchObject({
        variantKey: key,
        control: key === "control",
        weight: 50,
        exposures: subjects,
        subjects,
      });
      expect(metricOf(key, "conversion_rate")).toMatchObject({ sampleSize: subjects });
      expect(metricOf(key, "conversion_rate")!.value).toBeCloseTo(converters / subjects, 12);
      expect(metricOf(key, "conversions")).toMatchObject({
        value: conversions,
        sampleSize: subjects,
      });
    }
    const rateOf = (key: string) => expected[key]!.converters / expected[key]!.subjects;
    const comparison = metricOf("green", "conversion_rate")!.comparison!;
    expect(comparison.absoluteDiff).toBeCloseTo(rateOf("green") - rateOf("control"), 12);
    expect(comparison.absoluteDiff).toBeGreaterThan(0);
    expect(metricOf("control", "conversion_rate")!.comparison).toBeUndefined();
  });

  it("the experimenter completes it with a rollout of the winner; decide then serves the default", async () => {
    const { experiment: completed } = await experimenter.experiments.completeExperiment({
      id: experimentId,
      outcome: Outcome.ROLLOUT,
      winnerVariantKey: "green",
      justification: "green converts better",
    });
    expect(completed).toMatchObject({
      status: ExperimentStatus.COMPLETED,
      outcome: Outcome.ROLLOUT,
      winnerVariantKey: "green",
      justification: "green converts better",
    });
    expect(completed?.completedAt).toBeDefined();
    const { experiment: stored } = await admin.experiments.getExperiment({ id: experimentId });
    expect(stored).toMatchObject({
      status: ExperimentStatus.COMPLETED,
      outcome: Outcome.ROLLOUT,
      winnerVariantKey: "green",
    });

    const outcome = await experimenter.reports.getOutcomeReport({ experimentId });
    expect(outcome).toMatchObject({
      outcome: Outcome.ROLLOUT,
      winnerVariantKey: "green",
      justification: "green converts better",
    });
    expect(outcome.report).toMatchObject({ experimentId, subjects: SUBJECTS, exposures: SUBJECTS });

    // After completion (once the snapshot has reloaded, within a second) decide answers the
    // flag's default to everyone, outside any experiment, and nothing is exposed.
    await waitFor(
      async () => {
        const { decisions } = await service.decision.decide({
          subjectId: "user-2",
          flagKeys: [FLAG],
        });
        return decisions[0]?.reason === DecisionReason.DEFAULT;
      },
      10_000,
      "decide to serve the default after completion",
    );
    const check = new EventSender(service.events);
    for (const subject of [1, 2, 3, SUBJECTS]) {
      const after = await decideAndExpose(service.decision, check, {
        subjectId: `user-${subject}`,
        flagKey: FLAG,
      });
      expect(after).toMatchObject({
        flagKey: FLAG,
        value: "grey",
        reason: DecisionReason.DEFAULT,
        experimentId: "",
        variantKey: "",
      });
      expect(after.decisionId).not.toBe("");
      expect(after.exposureEventId).toBeUndefined();
    }
    await check.close();
    expect(check.stats).toMatchObject({ accepted: 0, buffered: 0 });
    // The flag itself is unchanged: rolling out is a separate UpdateFlag.
    const { flag } = await experimenter.flags.getFlag({ key: FLAG });
    expect(flag?.defaultValue?.kind).toEqual({ case: "stringValue", value: "grey" });
  });
});
