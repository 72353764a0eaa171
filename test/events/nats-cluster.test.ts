/**
 * The NATS-cluster drill (issue #22): a three-node JetStream cluster on
 * loopback, Lotty with LOTTY_NATS_REPLICAS=3, events ingested by several
 * clients, and the node leading the events stream killed with SIGKILL in
 * the middle. Every acknowledged event must be stored and counted exactly
 * once, and ingestion must go on by itself: no restart, no operator.
 * With LOTTY_DRILL_REPORT=1 the figures (calls refused, time to the first
 * acknowledgement after the kill) are printed for docs/scaling.md.
 */
import { afterAll, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { freePort } from "../../src/platform/embedded-postgres.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { waitFor } from "../support/app.js";
import { eventClient } from "./support.js";
import {
  RETRYABLE_FAILURES,
  adminKey,
  childLotty,
  drainedBacklog,
  expectStoredAndCountedOnce,
  failureKind,
  ingestUntilOk,
  natsCluster,
  seedDecisions,
  eventBatches,
  streamLeader,
  type ChildLotty,
  type NatsClusterNode,
} from "./reliability-support.js";

const dirs: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

describe("a three-node NATS cluster losing the events stream's leader under ingestion", () => {
  const BATCHES = 160;
  const BATCH_SIZE = 50;
  const WORKERS = 4;
  const KILL_AFTER_BATCHES = 40;
  const SUBJECTS = 29;

  let nodes: NatsClusterNode[] = [];
  let database: TestDatabase | undefined;
  let lotty: ChildLotty | undefined;

  afterAll(async () => {
    await lotty?.stop();
    await Promise.all(nodes.map((n) => n.kill()));
    await database?.drop();
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it("stores and counts every acknowledged event once, and ingestion resumes by itself", async () => {
    nodes = await natsCluster(3, (i) => tempDir(`lotty-cluster-n${i}-`));
    database = await createTestDatabase();
    lotty = childLotty(
      {
        PORT: String(await freePort()),
        DATABASE_URL: database.url,
        NATS_URL: nodes.map((n) => n.url).join(","),
        LOTTY_NATS_REPLICAS: "3",
        LOTTY_BOOTSTRAP_ADMIN_KEY: adminKey(),
        LOTTY_DECISION_SECRET: randomBytes(32).toString("base64url"),
        LOTTY_INGEST_RATE_LIMIT: "0",
        LOG_LEVEL: "warn",
      },
      await tempDir("lotty-cluster-cwd-"),
    );
    const child = lotty;
    await child.start();

    // Every stream has three replicas on three servers.
    const nc = await connect({ servers: nodes[0]!.url });
    try {
      const jsm = await jetstreamManager(nc);
      for await (const info of jsm.streams.list()) {
        if (!info.config.name.startsWith("LOTTY_")) continue;
        expect({ stream: info.config.name, replicas: info.config.num_replicas }).toEqual({
          stream: info.config.name,
          replicas: 3,
        });
        expect(info.cluster?.replicas ?? []).toHaveLength(2);
      }
    } finally {
      await nc.close();
    }

    const { t, experiment, decisions } = await seedDecisions(child, SUBJECTS);

    // Exposures first for every subject, then conversions: all of them count.
    const { batches, expectedByKey } = eventBatches(
      decisions,
      "cluster",
      BATCHES,
      BATCH_SIZE,
      (i) => (i < SUBJECTS ? "exposure" : "conversion"),
    );

    const events = await eventClient(t);
    const acked = new Set<string>();
    const failures = new Map<string, number>();
    let ackedBatches = 0;
    let killedAt: number | undefined;
    let firstAckAfterKill: number | undefined;
    let killedNode: NatsClusterNode | undefined;
    let killing: Promise<void> | undefined;
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        const answer = await ingestUntilOk(events, batch, {
          timeoutMs: 120_000,
          onError: (e) => failures.set(failureKind(e), (failures.get(failureKind(e)) ?? 0) + 1),
        });
        expect(answer.rejected).toBe(0);
        expect(answer.accepted + answer.duplicates).toBe(batch.length);
        for (const e of batch) acked.add(e.eventId);
        ackedBatches++;
        if (killedAt !== undefined && firstAckAfterKill === undefined && killing === undefined) {
          firstAckAfterKill = performance.now() - killedAt;
        }
        if (ackedBatches === KILL_AFTER_BATCHES) {
          // kill -9 the node leading the events stream, calls in flight.
          killing = (async () => {
            const leader = await streamLeader(nodes[0]!.url, "LOTTY_EVENTS");
            killedNode = nodes.find((n) => n.name === leader);
            expect(killedNode).toBeDefined();
            killedAt = performance.now();
            await killedNode!.kill();
          })();
          await killing;
          killing = undefined;
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    expect(killedNode).toBeDefined();
    expect(acked.size).toBe(BATCHES * BATCH_SIZE);
    expect([...failures.keys()].filter((kind) => !RETRYABLE_FAILURES.has(kind))).toEqual([]);

    // The events stream has a new leader among the survivors.
    const survivor = nodes.find((n) => n !== killedNode)!;
    // Asked at once, the JetStream API may still be electing (the killed node
    // may have led the meta group too): ask until a survivor answers.
    let newLeader: string | undefined;
    await waitFor(
      async () => {
        newLeader = await streamLeader(survivor.url, "LOTTY_EVENTS").catch(() => undefined);
        return newLeader !== undefined && newLeader !== killedNode!.name;
      },
      30_000,
      "a new leader of the events stream",
    );
    expect(newLeader).toBeDefined();
    expect(newLeader).not.toBe(killedNode!.name);

    const backlog = await drainedBacklog(survivor.url, "LOTTY", 150_000);
    await expectStoredAndCountedOnce(database.url, experiment.id, acked, expectedByKey);
    expect(backlog).toMatchObject({ pending: 0, ackPending: 0 });

    if (process.env.LOTTY_DRILL_REPORT === "1") {
      process.stderr.write(
        `NATS drill: ${acked.size} events acknowledged and stored once, ` +
          `refused calls ${JSON.stringify(Object.fromEntries(failures))}, ` +
          `first acknowledgement ${Math.round(firstAckAfterKill ?? -1)} ms after the kill\n`,
      );
    }
    const exit = await child.stop();
    expect(exit).toEqual({ code: 0, signal: null });
  }, 300_000);
});
