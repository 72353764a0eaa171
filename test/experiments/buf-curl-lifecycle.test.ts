/**
 * An operator drives the whole experiment lifecycle with `buf curl` and
 * server reflection only: no .proto files, JSON in and out.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { makeUser, type Actor } from "../support/builders.js";

const run = promisify(execFile);
const BUF = path.resolve("node_modules", ".bin", "buf");

describe("experiment lifecycle through buf curl", () => {
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

  async function call<T>(key: string, method: string, body: object): Promise<T> {
    const { stdout } = await run(BUF, [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-H",
      `Authorization: Bearer ${key}`,
      "-d",
      JSON.stringify(body),
      `${t.baseUrl}/${method}`,
    ]);
    return JSON.parse(stdout) as T;
  }

  it("creates a flag and runs an experiment on it from draft to archived", async () => {
    const svc = "lotty.experiments.v1.ExperimentService";
    const flag = await call<{ flag: { key: string; type: string; defaultValue: string } }>(
      owner.key,
      "lotty.flags.v1.FlagService/CreateFlag",
      { key: "checkout_button", type: "FLAG_TYPE_STRING", defaultValue: "grey" },
    );
    expect(flag.flag).toMatchObject({
      key: "checkout_button",
      type: "FLAG_TYPE_STRING",
      defaultValue: "grey",
    });

    type Answer = { experiment: { id: string; status: string; version: number } };
    const created = await call<Answer>(owner.key, `${svc}/CreateExperiment`, {
      experiment: {
        flagKey: "checkout_button",
        name: "Green checkout",
        audiencePercent: 20,
        variants: [
          { key: "control", value: "grey", weight: 10, control: true },
          { key: "green", value: "green", weight: 10 },
        ],
        targetingRule: 'platform == "ios"',
        primaryMetricKey: "conversion_rate",
      },
    });
    expect(created.experiment).toMatchObject({ status: "EXPERIMENT_STATUS_DRAFT", version: 1 });
    const id = created.experiment.id;

    const steps: [string, string, object, string][] = [
      [
        owner.key,
        "SubmitExperiment",
        { id, comment: "please review" },
        "EXPERIMENT_STATUS_IN_REVIEW",
      ],
      [
        approver.key,
        "ApproveExperiment",
        { id, comment: "looks right" },
        "EXPERIMENT_STATUS_APPROVED",
      ],
      [owner.key, "StartExperiment", { id }, "EXPERIMENT_STATUS_RUNNING"],
      [owner.key, "PauseExperiment", { id, comment: "hold on" }, "EXPERIMENT_STATUS_PAUSED"],
      [owner.key, "ResumeExperiment", { id }, "EXPERIMENT_STATUS_RUNNING"],
      [
        owner.key,
        "CompleteExperiment",
        { id, outcome: "OUTCOME_NO_EFFECT", justification: "no difference in conversion" },
        "EXPERIMENT_STATUS_COMPLETED",
      ],
      [owner.key, "ArchiveExperiment", { id }, "EXPERIMENT_STATUS_ARCHIVED"],
    ];
    for (const [key, method, body, status] of steps) {
      const answer = await call<Answer>(key, `${svc}/${method}`, body);
      expect([method, answer.experiment.status]).toEqual([method, status]);
    }

    const history = await call<{ entries: { action: string }[] }>(
      owner.key,
      `${svc}/GetExperimentHistory`,
      { id },
    );
    expect(history.entries.map((e) => e.action)).toEqual([
      "EXPERIMENT_ACTION_CREATED",
      "EXPERIMENT_ACTION_SUBMITTED",
      "EXPERIMENT_ACTION_APPROVED",
      "EXPERIMENT_ACTION_STARTED",
      "EXPERIMENT_ACTION_PAUSED",
      "EXPERIMENT_ACTION_RESUMED",
      "EXPERIMENT_ACTION_COMPLETED",
      "EXPERIMENT_ACTION_ARCHIVED",
    ]);
  });

  it("reports errors with their code, e.g. not_found for an unknown experiment", async () => {
    const failure = await call(
      owner.key,
      "lotty.experiments.v1.ExperimentService/StartExperiment",
      {
        id: "00000000-0000-4000-8000-000000000000",
      },
    ).then(
      () => "",
      (error: { stderr: string }) => error.stderr,
    );
    expect(failure).toContain("not_found");
  });
});
