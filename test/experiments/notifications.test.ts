/**
 * The change notifications an experiment's lifecycle leaves on NATS
 * (src/platform/changes.ts, docs/experiments.md "History and
 * notifications"): a config message per committed change on
 * `<p>.config.experiment`, and the lifecycle events the notifier turns into
 * deliveries on `<p>.lifecycle.experiment.<trigger>`.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import type { ConfigChange, LifecycleEvent } from "../../src/platform/changes.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { TEST_NATS_URL } from "../support/env.js";
import { AccessService } from "../../gen/lotty/access/v1/access_pb.js";
import {
  act,
  makeFlag,
  makeUser,
  validExperiment,
  JUSTIFICATION,
  type Team,
} from "../support/builders.js";

interface Received<T> {
  subject: string;
  body: T;
}

describe("experiment notifications", () => {
  let t: TestApp;
  let team: Team;
  let nc: NatsConnection;
  let prefix: string;
  const config: Received<ConfigChange>[] = [];
  const lifecycle: Received<LifecycleEvent>[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    team = {
      owner: await makeUser(t, Role.EXPERIMENTER),
      approver: await makeUser(t, Role.APPROVER),
    };
    prefix = t.app.names.subjectPrefix;
    nc = await connect({ servers: TEST_NATS_URL });
    nc.subscribe(`${prefix}.config.experiment`, {
      callback: (error, msg) => {
        if (error === null) config.push({ subject: msg.subject, body: msg.json() });
      },
    });
    nc.subscribe(`${prefix}.lifecycle.>`, {
      callback: (error, msg) => {
        if (error === null) lifecycle.push({ subject: msg.subject, body: msg.json() });
      },
    });
    await nc.flush();
  });
  afterAll(async () => {
    await nc?.close();
    await t.stop();
  });

  const configOf = (id: string) => config.filter((m) => m.body.key === id);
  const lifecycleOf = (id: string) => lifecycle.filter((m) => m.body.experimentId === id);

  it("submit → approve → start → pause → resume → complete", async () => {
    const { owner, approver } = team;
    const flagKey = await makeFlag(t);
    const { experiment } = await owner.experiments.createExperiment({
      experiment: validExperiment(flagKey),
    });
    const id = experiment!.id;
    await act(owner, "submit", id, "ready");
    await act(approver, "approve", id, "ok");
    await act(owner, "start", id);
    await act(owner, "pause", id, "checking");
    await act(owner, "resume", id);
    await act(owner, "complete", id);

    await waitFor(() => configOf(id).length >= 7, 5_000, "7 config messages");
    await waitFor(() => lifecycleOf(id).length >= 6, 5_000, "6 lifecycle events");
    // Give stragglers a moment to show that there are no more.
    await new Promise((resolve) => setTimeout(resolve, 200));

    const configs = configOf(id);
    expect(configs.map((m) => m.subject)).toEqual(Array(7).fill(`${prefix}.config.experiment`));
    expect(
      configs.map(({ body: { kind, key, action, version } }) => ({ kind, key, action, version })),
    ).toEqual(
      ["created", "submit", "approve", "start", "pause", "resume", "complete"].map((action) => ({
        kind: "experiment",
        key: id,
        action,
        version: 1,
      })),
    );
    for (const m of configs) expect(Number.isNaN(Date.parse(m.body.at))).toBe(false);

    const events = lifecycleOf(id);
    expect(events.map((m) => m.subject)).toEqual(
      ["submitted", "approved", "started", "paused", "resumed", "completed"].map(
        (trigger) => `${prefix}.lifecycle.experiment.${trigger}`,
      ),
    );
    expect(
      events.map(({ body }) => [
        body.trigger,
        body.experimentId,
        body.flagKey,
        body.fromStatus,
        body.toStatus,
        body.actorId,
        body.version,
        body.comment,
      ]),
    ).toEqual([
      ["experiment.submitted", id, flagKey, "draft", "in_review", owner.id, 1, "ready"],
      ["experiment.approved", id, flagKey, "in_review", "approved", approver.id, 1, "ok"],
      ["experiment.started", id, flagKey, "approved", "running", owner.id, 1, ""],
      ["experiment.paused", id, flagKey, "running", "paused", owner.id, 1, "checking"],
      ["experiment.resumed", id, flagKey, "paused", "running", owner.id, 1, ""],
      ["experiment.completed", id, flagKey, "running", "completed", owner.id, 1, JUSTIFICATION],
    ]);
    const dedupKeys = events.map((m) => m.body.dedupKey);
    expect(new Set(dedupKeys).size).toBe(dedupKeys.length);
    for (const key of dedupKeys) expect(key).toContain(id);
    const times = events.map((m) => Date.parse(m.body.occurredAt));
    expect(times.every((x) => !Number.isNaN(x))).toBe(true);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it("announces approved only when the threshold is reached, and rejections", async () => {
    const owner = await makeUser(t, Role.EXPERIMENTER);
    const [a1, a2] = [team.approver, await makeUser(t, Role.APPROVER)];
    await client(AccessService, t.baseUrl, t.adminKey).setReviewPolicy({
      experimenterId: owner.id,
      approverIds: [a1.id, a2.id],
      minApprovals: 2,
    });
    const flagKey = await makeFlag(t);
    const { experiment } = await owner.experiments.createExperiment({
      experiment: validExperiment(flagKey),
    });
    const id = experiment!.id;
    await act(owner, "submit", id);
    await act(a1, "approve", id);
    await act(a2, "request_changes", id, "no");
    await act(owner, "submit", id);
    await act(a1, "reject", id, "still no");
    await act(owner, "rework", id);
    await act(owner, "submit", id);
    await act(a1, "approve", id);
    await act(a2, "approve", id);

    await waitFor(() => configOf(id).length >= 10, 5_000, "10 config messages");
    await waitFor(() => lifecycleOf(id).length >= 5, 5_000, "5 lifecycle events");
    await new Promise((resolve) => setTimeout(resolve, 200));

    expect(configOf(id).map((m) => m.body.action)).toEqual([
      "created",
      "submit",
      "approve",
      "request_changes",
      "submit",
      "reject",
      "rework",
      "submit",
      "approve",
      "approve",
    ]);
    expect(lifecycleOf(id).map((m) => [m.body.trigger, m.body.actorId, m.body.toStatus])).toEqual([
      ["experiment.submitted", owner.id, "in_review"],
      ["experiment.submitted", owner.id, "in_review"],
      ["experiment.rejected", a1.id, "rejected"],
      ["experiment.submitted", owner.id, "in_review"],
      ["experiment.approved", a2.id, "approved"],
    ]);
    const dedupKeys = lifecycleOf(id).map((m) => m.body.dedupKey);
    expect(new Set(dedupKeys).size).toBe(dedupKeys.length);
  });

  it("announces nothing for a refused call", async () => {
    const flagKey = await makeFlag(t);
    const { experiment } = await team.owner.experiments.createExperiment({
      experiment: validExperiment(flagKey),
    });
    const id = experiment!.id;
    await expect(act(team.owner, "start", id)).rejects.toThrow(/cannot start/);
    await act(team.owner, "submit", id);
    await waitFor(() => lifecycleOf(id).length >= 1, 5_000, "the submit event");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(configOf(id).map((m) => m.body.action)).toEqual(["created", "submit"]);
    expect(lifecycleOf(id).map((m) => m.body.trigger)).toEqual(["experiment.submitted"]);
  });
});
