/** The whole lifecycle of product.md §3 through the generated client. */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentAction,
  ExperimentStatus,
  Outcome,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { makeFlag, makeUser, validExperiment, type Actor } from "../support/builders.js";

describe("experiment lifecycle", () => {
  let t: TestApp;
  let owner: Actor;
  let approver: Actor;
  beforeAll(async () => {
    t = await startTestApp();
    owner = await makeUser(t, Role.EXPERIMENTER);
    approver = await makeUser(t, Role.APPROVER);
  });
  afterAll(async () => {
    await t.stop();
  });

  it("goes draft → review → approved → running → paused → running → completed → archived", async () => {
    const flagKey = await makeFlag(t);
    const { experiment: created } = await owner.experiments.createExperiment({
      experiment: validExperiment(flagKey),
    });
    expect(created?.status).toBe(ExperimentStatus.DRAFT);
    expect(created?.version).toBe(1);
    expect(created?.ownerId).toBe(owner.id);
    expect(created?.requiredApprovals).toBe(1);
    const id = created!.id;

    const updated = await owner.experiments.updateExperiment({
      experiment: { ...validExperiment(flagKey, { name: "Blue button v2" }), id },
      expectedVersion: 1,
    });
    expect(updated.experiment?.version).toBe(2);
    expect(updated.experiment?.name).toBe("Blue button v2");

    const steps: [
      string,
      () => Promise<{ experiment?: { status: ExperimentStatus } }>,
      ExperimentStatus,
    ][] = [
      [
        "submit",
        () => owner.experiments.submitExperiment({ id, comment: "ready" }),
        ExperimentStatus.IN_REVIEW,
      ],
      [
        "approve",
        () => approver.experiments.approveExperiment({ id, comment: "ok" }),
        ExperimentStatus.APPROVED,
      ],
      ["start", () => owner.experiments.startExperiment({ id }), ExperimentStatus.RUNNING],
      [
        "pause",
        () => owner.experiments.pauseExperiment({ id, comment: "checking" }),
        ExperimentStatus.PAUSED,
      ],
      ["resume", () => owner.experiments.resumeExperiment({ id }), ExperimentStatus.RUNNING],
    ];
    for (const [, step, status] of steps) {
      expect((await step()).experiment?.status).toBe(status);
    }
    const completed = await owner.experiments.completeExperiment({
      id,
      outcome: Outcome.ROLLOUT,
      winnerVariantKey: "blue",
      justification: "blue won on conversion rate",
    });
    expect(completed.experiment?.status).toBe(ExperimentStatus.COMPLETED);
    expect(completed.experiment?.outcome).toBe(Outcome.ROLLOUT);
    expect(completed.experiment?.winnerVariantKey).toBe("blue");
    expect(completed.experiment?.completedAt).toBeDefined();
    const archived = await owner.experiments.archiveExperiment({ id });
    expect(archived.experiment?.status).toBe(ExperimentStatus.ARCHIVED);

    const { versions } = await owner.experiments.listExperimentVersions({ id });
    expect(versions.map((v) => [v.version, v.experiment?.name])).toEqual([
      [1, "Blue button"],
      [2, "Blue button v2"],
    ]);
    const { entries } = await owner.experiments.getExperimentHistory({ id });
    expect(
      entries.map((e) => [
        ExperimentAction[e.action],
        ExperimentStatus[e.fromStatus],
        ExperimentStatus[e.toStatus],
        e.version,
      ]),
    ).toEqual([
      ["CREATED", "UNSPECIFIED", "DRAFT", 1],
      ["UPDATED", "DRAFT", "DRAFT", 2],
      ["SUBMITTED", "DRAFT", "IN_REVIEW", 2],
      ["APPROVED", "IN_REVIEW", "APPROVED", 2],
      ["STARTED", "APPROVED", "RUNNING", 2],
      ["PAUSED", "RUNNING", "PAUSED", 2],
      ["RESUMED", "PAUSED", "RUNNING", 2],
      ["COMPLETED", "RUNNING", "COMPLETED", 2],
      ["ARCHIVED", "COMPLETED", "ARCHIVED", 2],
    ]);
    expect(entries[3]?.actorId).toBe(approver.id);
    expect(entries[7]?.comment).toBe("blue won on conversion rate");
  });
});
