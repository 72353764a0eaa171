/**
 * The transactional outbox (src/platform/outbox.ts): lifecycle
 * notifications and configuration notices of changes made while NATS is
 * down wait in PostgreSQL and are relayed once it is back — each webhook
 * delivered once, in order — and the changes themselves never wait for
 * NATS.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../src/platform/embedded-postgres.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { webhookRule } from "../support/builders.js";
import { query } from "../events/support.js";
import { natsServer, type NatsServer } from "../events/reliability-support.js";
import { experimentClient, guardedExperiment } from "../guardrails/support.js";
import { Receiver } from "./receiver.js";

describe("notifications of changes made while NATS is down", () => {
  let nats: NatsServer;
  let dir: string;
  let t: TestApp;
  let receiver: Receiver;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "lotty-outbox-nats-"));
    nats = natsServer(await freePort(), dir);
    await nats.start();
    receiver = new Receiver();
    await receiver.start();
    t = await startTestApp({ env: { NATS_URL: nats.url } });
  });

  afterAll(async () => {
    await t?.stop();
    await nats?.kill();
    await receiver?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("are relayed from the outbox once NATS is back, each delivered once and in order", async () => {
    const { experimentId } = await guardedExperiment(t, []);
    await webhookRule(
      t,
      "outbox",
      `${receiver.url}/hook/outbox`,
      ["experiment.paused", "experiment.resumed"],
      experimentId,
    );

    await nats.kill();
    await waitFor(async () => t.app.bus?.connected !== true, 10_000, "Lotty to see NATS gone");
    const experiments = experimentClient(t);
    const comments = ["outbox pause 1", "outbox pause 2"];
    await experiments.pauseExperiment({ id: experimentId, comment: comments[0] });
    await experiments.resumeExperiment({ id: experimentId });
    await experiments.pauseExperiment({ id: experimentId, comment: comments[1] });
    // Staged: three lifecycle events and their three configuration notices.
    const staged = await query<{ n: string }>(t, `select count(*)::text as n from outbox`);
    expect(Number(staged[0]!.n)).toBeGreaterThanOrEqual(6);
    expect(receiver.at("/hook/outbox")).toHaveLength(0);

    await nats.start();
    await waitFor(
      async () => receiver.at("/hook/outbox").length >= 3,
      30_000,
      "three webhooks after NATS came back",
    );
    // Nothing more arrives: each was delivered once.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const received = receiver.at("/hook/outbox").map((r) => r.json);
    expect(received.map((b) => b.trigger)).toEqual([
      "experiment.paused",
      "experiment.resumed",
      "experiment.paused",
    ]);
    expect(new Set(received.map((b) => b.dedupKey)).size).toBe(3);
    const times = received.map((b) => Date.parse(b.occurredAt as string));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    await waitFor(
      async () =>
        Number((await query<{ n: string }>(t, `select count(*)::text as n from outbox`))[0]!.n) ===
        0,
      10_000,
      "the outbox to be empty",
    );
  }, 120_000);
});
