/**
 * Ingestion reliability against real PostgreSQL and NATS: a server killed
 * with SIGKILL mid-stream loses no acknowledged event and stores nothing
 * twice; NATS going away makes IngestEvents UNAVAILABLE and it recovers by
 * itself; poison messages go to the dead-letter stream without blocking
 * the events stream; PostgreSQL going away delays storage but drops nothing.
 *
 * The crash test runs Lotty as a child process, which always uses the
 * default LOTTY stream prefix (there is no environment variable for it).
 * Other test files start children with the default prefix on the shared
 * NATS (test/platform/process.test.ts), and their event-store consumer
 * would share the LOTTY_EVENTS durable with ours and store our events in
 * their database, so the child gets a private nats-server instead.
 */
import { afterAll, afterEach, describe, expect, it } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { Event } from "../../gen/lotty/events/v1/events_pb.js";
import { DecisionService } from "../../gen/lotty/decision/v1/decision_pb.js";
import { eventsSubject } from "../../src/events/message.js";
import { freePort } from "../../src/platform/embedded-postgres.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { TEST_NATS_URL } from "../support/env.js";
import { metricValue } from "../decision/support.js";
import { decisionFor, event, eventClient, eventId, untilStored } from "./support.js";
import {
  RETRYABLE_FAILURES,
  adminKey,
  childLotty,
  consumerBacklog,
  drainedBacklog,
  expectStoredAndCountedOnce,
  failureKind,
  failureOf,
  ingestUntilOk,
  natsServer,
  seedDecisions,
  eventBatches,
  storeState,
  storedRows,
  tcpProxy,
  type ChildLotty,
  type NatsServer,
  type TcpProxy,
} from "./reliability-support.js";
import { runningExperiment } from "../support/builders.js";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Temporary directories made by this file, removed at the end. */
const dirs: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const DRAINED = { pending: 0, ackPending: 0 };

describe("a Lotty process killed with SIGKILL while events stream in", () => {
  const BATCHES = 200;
  const BATCH_SIZE = 50;
  const WORKERS = 4;
  const KILL_AFTER_BATCHES = 30;
  const SUBJECTS = 37;

  let nats: NatsServer | undefined;
  let database: TestDatabase | undefined;
  let lotty: ChildLotty | undefined;

  afterAll(async () => {
    await lotty?.stop();
    await nats?.kill();
    await database?.drop();
  });

  it("stores exactly the acknowledged events, once each, and counts each counted event once", async () => {
    nats = natsServer(await freePort(), await tempDir("lotty-rel-nats-"));
    await nats.start();
    database = await createTestDatabase();
    lotty = childLotty(
      {
        PORT: String(await freePort()),
        DATABASE_URL: database.url,
        NATS_URL: nats.url,
        LOTTY_BOOTSTRAP_ADMIN_KEY: adminKey(),
        // Set explicitly so the restarted process verifies the same decision ids.
        LOTTY_DECISION_SECRET: randomBytes(32).toString("base64url"),
        LOTTY_INGEST_RATE_LIMIT: "0",
        LOG_LEVEL: "warn",
      },
      await tempDir("lotty-rel-cwd-"),
    );
    const child = lotty;
    await child.start();

    // Seed through the public API: a flag with a running 50/50 experiment.
    const { t, experiment, decisions, decideOne } = await seedDecisions(child, SUBJECTS);

    // Events cycle through the subjects in rounds; round r is all exposures
    // when r % 3 === 1, else all conversions. The first round's conversions
    // arrive before any exposure (they wait for attribution); every subject
    // gets exposures, so in the end every event counts.
    const { batches, expectedByKey } = eventBatches(decisions, "crash", BATCHES, BATCH_SIZE, (i) =>
      Math.floor(i / SUBJECTS) % 3 === 1 ? "exposure" : "conversion",
    );

    const events = await eventClient(t);
    const acked = new Set<string>();
    const answers: { accepted: number; duplicates: number; rejected: number; size: number }[] = [];
    const failures = new Map<string, number>();
    let ackedBatches = 0;
    let batchesAtKill: number | undefined;
    let signalKill: () => void = () => {};
    const killed = new Promise<void>((resolve) => (signalKill = resolve));
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        const answer = await ingestUntilOk(events, batch, {
          timeoutMs: 120_000,
          onError: (e) => failures.set(failureKind(e), (failures.get(failureKind(e)) ?? 0) + 1),
        });
        answers.push({ ...answer, size: batch.length });
        for (const e of batch) acked.add(e.eventId);
        ackedBatches++;
        if (ackedBatches === KILL_AFTER_BATCHES) {
          // kill -9 at once, with the other workers' calls in flight.
          batchesAtKill = ackedBatches;
          void child.kill();
          signalKill();
        }
      }
    };
    const restart = (async () => {
      await killed;
      const exit = await child.kill();
      expect(exit.signal).toBe("SIGKILL");
      await child.start();
    })();
    await Promise.all([...Array.from({ length: WORKERS }, worker), restart]);

    // The kill happened mid-stream, and the client saw the server go away.
    expect(batchesAtKill).toBe(KILL_AFTER_BATCHES);
    expect(KILL_AFTER_BATCHES).toBeLessThan(BATCHES);
    expect(failures.size).toBeGreaterThan(0);
    expect([...failures.keys()].filter((kind) => !RETRYABLE_FAILURES.has(kind))).toEqual([]);
    // Every answer accounts for its whole batch and rejects nothing.
    for (const a of answers) {
      expect(a.rejected).toBe(0);
      expect(a.accepted + a.duplicates).toBe(a.size);
    }
    expect(acked.size).toBe(BATCHES * BATCH_SIZE);

    // The same decision ids are valid after the restart (same secret).
    expect((await decideOne("subject-0")).decisionId).toBe(decisions[0]!.decisionId);

    // Messages the killed process had pulled but not acked come back after
    // the consumer's ack_wait (30 s), hence the long wait.
    const backlog = await drainedBacklog(nats.url, "LOTTY", 150_000);
    await expectStoredAndCountedOnce(database.url, experiment.id, acked, expectedByKey);
    expect(backlog).toMatchObject(DRAINED);

    const exit = await child.stop();
    expect(exit).toEqual({ code: 0, signal: null });
  }, 300_000);
});

describe("IngestEvents while NATS is unavailable", () => {
  let nats: NatsServer | undefined;
  let t: TestApp | undefined;

  afterAll(async () => {
    await t?.stop();
    await nats?.kill();
  });

  it("answers UNAVAILABLE, stores nothing of refused calls, recovers by itself; decide keeps answering", async () => {
    nats = natsServer(await freePort(), await tempDir("lotty-rel-nats-"));
    await nats.start();
    t = await startTestApp({ env: { NATS_URL: nats.url } });
    const app = t;
    const events = await eventClient(app);
    const { flagKey, experimentId } = await runningExperiment(app);
    const d = decisionFor(app, flagKey, "subject-nats");
    const pair = (prefix: string) => [
      event("exposure", d.decisionId, { eventId: eventId(`${prefix}-exposure`) }),
      event("conversion", d.decisionId, { eventId: eventId(`${prefix}-conversion`) }),
    ];
    const idsOf = (batch: Event[]) => batch.map((e) => e.eventId);

    // Decide over HTTP, all the time, in the background.
    const decide = client(DecisionService, app.baseUrl, app.adminKey);
    let natsDown = false;
    let decideRunning = true;
    let decided = 0;
    let decidedWhileDown = 0;
    const decideProblems: string[] = [];
    const decideLoop = (async () => {
      for (let i = 0; decideRunning; i++) {
        try {
          const { decisions } = await decide.decide(
            { subjectId: `subject-${i % 100}`, flagKeys: [flagKey] },
            { timeoutMs: 5_000 },
          );
          if (decisions[0]?.experimentId !== experimentId) {
            decideProblems.push(`decision without the experiment: ${decisions[0]?.reason}`);
          }
          decided++;
          if (natsDown) decidedWhileDown++;
        } catch (error) {
          decideProblems.push(ConnectError.from(error).message);
        }
        await pause(20);
      }
    })();

    try {
      const before = pair("before");
      expect(await events.ingestEvents({ events: before })).toMatchObject({ accepted: 2 });
      await untilStored(app, idsOf(before));

      await nats.kill();
      natsDown = true;
      // At once (the app may not have noticed yet) and after it noticed.
      const refusedAtOnce = pair("refused-at-once");
      expect((await failureOf(events.ingestEvents({ events: refusedAtOnce })))?.code).toBe(
        Code.Unavailable,
      );
      await waitFor(() => app.app.bus?.connected === false, 20_000, "the bus to notice");
      const refused = pair("refused");
      expect((await failureOf(events.ingestEvents({ events: refused })))?.code).toBe(
        Code.Unavailable,
      );
      const retried = pair("retried");
      expect((await failureOf(events.ingestEvents({ events: retried })))?.code).toBe(
        Code.Unavailable,
      );
      await waitFor(() => decidedWhileDown >= 5, 20_000, "decide answering while NATS is down");
      expect(
        app.app.decision.decide({ subjectId: "in-process", flagKeys: [flagKey] }).decisions,
      ).toHaveLength(1);

      // Same port, same store directory: the streams and the consumer come back.
      await nats.start();
      natsDown = false;
      const answer = await ingestUntilOk(events, retried, { timeoutMs: 60_000 });
      expect(answer.rejected).toBe(0);
      expect(answer.accepted + answer.duplicates).toBe(2);
      await untilStored(app, idsOf(retried), 60_000);

      const after = pair("after");
      expect(await events.ingestEvents({ events: after })).toMatchObject({ accepted: 2 });
      await untilStored(app, idsOf(after), 30_000);
      // After a kill -9 of nats-server the consumer's acks may be lost: those
      // messages come again after ack_wait (30 s) and are applied as no-ops.
      const backlog = await drainedBacklog(nats.url, app.app.names.streamPrefix, 90_000);

      const url = app.database.url;
      expect(await storedRows(url, idsOf(before))).toBe(2);
      expect(await storedRows(url, idsOf(retried))).toBe(2);
      expect(await storedRows(url, idsOf(after))).toBe(2);
      expect(await storedRows(url, [...idsOf(refusedAtOnce), ...idsOf(refused)])).toBe(0);
      const state = await storeState(url, experimentId);
      expect(state.rows).toBe(6);
      expect(state.distinct).toBe(6);
      expect(backlog).toMatchObject(DRAINED);
    } finally {
      decideRunning = false;
      await decideLoop;
    }
    expect(decideProblems).toEqual([]);
    expect(decided).toBeGreaterThan(decidedWhileDown);
  }, 180_000);
});

describe("poison messages on the events subject", () => {
  let t: TestApp | undefined;

  afterAll(async () => {
    await t?.stop();
  });

  it("go to the dead-letter stream with a reason and do not block valid events", async () => {
    t = await startTestApp({ env: { NATS_URL: TEST_NATS_URL } });
    const app = t;
    const events = await eventClient(app);
    const { flagKey, experimentId } = await runningExperiment(app);
    const d = decisionFor(app, flagKey, "subject-poison");
    const js = app.app.bus!.js;
    const subject = eventsSubject(app.app.names.subjectPrefix);

    // Well-formed for decodeMessage, but PostgreSQL refuses it (not a uuid):
    // retried MAX_ATTEMPTS times, then dead-lettered.
    const unstorableId = eventId("unstorable");
    const unstorable = JSON.stringify({
      v: 1,
      receivedAt: Date.now(),
      events: [
        {
          eventId: unstorableId,
          eventType: "conversion",
          decisionId: d.decisionId,
          flagKey,
          experimentId: "not-a-uuid",
          variantKey: d.variantKey,
          subjectId: "subject-poison",
          occurredAt: Date.now(),
          properties: {},
          exposure: false,
          requiresExposure: false,
        },
      ],
      stats: [],
    });
    const poison = [
      "this is not JSON {",
      JSON.stringify({ hello: "world" }),
      JSON.stringify({ v: 1, receivedAt: Date.now(), events: [{ eventId: 42 }], stats: [] }),
      unstorable,
    ];
    for (const payload of poison) await js.publish(subject, payload);

    const valid = [event("exposure", d.decisionId), event("conversion", d.decisionId)];
    expect(await events.ingestEvents({ events: valid })).toMatchObject({
      accepted: 2,
      rejected: 0,
    });
    await untilStored(
      app,
      valid.map((e) => e.eventId),
      30_000,
    );

    // The undecodable ones go at once; the unstorable one after its retries.
    const deadLetters = `${app.app.names.streamPrefix}_DEADLETTER`;
    const jsm = app.app.bus!.jsm;
    await waitFor(
      async () => (await jsm.streams.info(deadLetters)).state.messages >= poison.length,
      60_000,
      "the poison messages in the dead-letter stream",
    );
    const info = await jsm.streams.info(deadLetters);
    expect(info.state.messages).toBe(poison.length);
    const letters: { data: string; reason: string; original: string }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(deadLetters, { seq });
      expect(m).not.toBeNull();
      letters.push({
        data: m!.string(),
        reason: m!.header.get("Lotty-Dead-Letter-Reason"),
        original: m!.header.get("Lotty-Original-Sequence"),
      });
    }
    expect(letters.map((l) => l.data).sort()).toEqual([...poison].sort());
    for (const l of letters) {
      expect(l.reason).not.toBe("");
      expect(Number(l.original)).toBeGreaterThan(0);
    }
    const reasonOf = (payload: string) => letters.find((l) => l.data === payload)!.reason;
    expect(reasonOf(poison[0]!)).toMatch(/^undecodable message: /);
    expect(reasonOf(poison[1]!)).toMatch(/^undecodable message: /);
    expect(reasonOf(poison[2]!)).toMatch(/^undecodable message: malformed event/);
    expect(reasonOf(unstorable)).toMatch(/uuid/);

    expect(await metricValue(app, "lotty_events_dead_letters_total")).toBe(poison.length);
    expect(await storedRows(app.database.url, [unstorableId])).toBe(0);

    // The stream is not stuck: a later event is stored too, and nothing is left pending.
    const later = [event("conversion", d.decisionId)];
    expect(await events.ingestEvents({ events: later })).toMatchObject({ accepted: 1 });
    await untilStored(
      app,
      later.map((e) => e.eventId),
      30_000,
    );
    const state = await storeState(app.database.url, experimentId);
    expect(state.rows).toBe(3);
    expect(state.distinct).toBe(3);
    expect(state.countsTotal).toBe(3);
    // Dead-lettered messages are terminated: nothing stays pending for
    // redelivery (else each comes back after ack_wait, is dead-lettered again,
    // and max_ack_pending of them stop the consumer).
    expect(await drainedBacklog(TEST_NATS_URL, app.app.names.streamPrefix, 15_000)).toMatchObject(
      DRAINED,
    );
  }, 120_000);

  it("a message with headers but garbage data is dead-lettered too", async () => {
    const app = t!;
    const before = await metricValue(app, "lotty_events_dead_letters_total");
    const h = natsHeaders();
    h.set("Nats-Msg-Id", `garbage-${randomBytes(4).toString("hex")}`);
    await app.app.bus!.js.publish(
      eventsSubject(app.app.names.subjectPrefix),
      new Uint8Array([0xff, 0xfe, 0x00]),
      { headers: h },
    );
    await waitFor(
      async () => (await metricValue(app, "lotty_events_dead_letters_total")) === before + 1,
      30_000,
      "the dead letter",
    );
  }, 60_000);
});

describe("PostgreSQL unavailable to the event store", () => {
  let database: TestDatabase | undefined;
  let proxy: TcpProxy | undefined;
  let t: TestApp | undefined;

  afterEach(async () => {
    await proxy?.resume().catch(() => {});
    await t?.stop();
    await proxy?.close();
    await database?.drop();
  });

  it("stores the events accepted during the outage once it is back, and dead-letters nothing", async () => {
    database = await createTestDatabase();
    const direct = new URL(database.url);
    proxy = await tcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    const viaProxy = new URL(database.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    t = await startTestApp({ database, env: { DATABASE_URL: viaProxy.toString() } });
    const app = t;
    const events = await eventClient(app);
    const { flagKey, experimentId } = await runningExperiment(app);
    const subjects = Array.from({ length: 5 }, (_, i) => decisionFor(app, flagKey, `pg-${i}`));

    const before = subjects.map((s) => event("exposure", s.decisionId));
    expect(await events.ingestEvents({ events: before })).toMatchObject({ accepted: 5 });
    await untilStored(
      app,
      before.map((e) => e.eventId),
    );

    await proxy.cut();
    // Accepted while the database is away (the key was verified before, and
    // the duplicate lookup is best effort).
    const during: Event[] = [];
    for (let round = 0; round < 3; round++) {
      const batch = subjects.flatMap((s) => [
        event("conversion", s.decisionId, { properties: { value: round } }),
        event("exposure", s.decisionId),
      ]);
      const answer = await ingestUntilOk(events, batch, { timeoutMs: 30_000 });
      expect(answer).toMatchObject({ accepted: batch.length, rejected: 0 });
      during.push(...batch);
    }
    const duringIds = during.map((e) => e.eventId);
    // The consumer got them, could not store them and nak'ed them.
    await waitFor(
      async () =>
        (await consumerBacklog(TEST_NATS_URL, app.app.names.streamPrefix)).redelivered > 0,
      30_000,
      "the consumer to retry the messages",
    );
    expect(await storedRows(database.url, duringIds)).toBe(0);

    await proxy.resume();
    await untilStored(app, duringIds, 60_000);
    expect(await drainedBacklog(TEST_NATS_URL, app.app.names.streamPrefix, 30_000)).toMatchObject(
      DRAINED,
    );
    expect(await storedRows(database.url, duringIds)).toBe(duringIds.length);
    const state = await storeState(database.url, experimentId);
    expect(state.rows).toBe(before.length + during.length);
    expect(state.distinct).toBe(state.rows);
    expect(state.pending).toBe(0);
    expect(state.countedEvents).toBe(state.rows);
    expect(state.countsTotal).toBe(state.rows);
    expect(await metricValue(app, "lotty_events_dead_letters_total")).toBe(0);
    const deadLetters = await app.app.bus!.jsm.streams.info(
      `${app.app.names.streamPrefix}_DEADLETTER`,
    );
    expect(deadLetters.state.messages).toBe(0);
  }, 120_000);
});
