/**
 * The decision log (src/decision/decision-log.ts): lines written by hand
 * must be what JSON.stringify writes for the record, and records written
 * into byte batches must all reach NATS once, in order, whatever the batch
 * boundaries (record count, bytes, a batch closed while it is published).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Counter } from "prom-client";
import {
  BATCH_SIZE,
  DecisionLog,
  FLUSH_INTERVAL_MS,
  decisionLine,
  type DecisionRecord,
} from "../../src/decision/decision-log.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { TEST_NATS_URL } from "../support/env.js";
import {
  greyBlue,
  makeFlag,
  makeTeam,
  runExperiment,
  untilInSnapshot,
} from "../support/builders.js";

describe("decision log lines", () => {
  it("are JSON.stringify of the record, key order and omissions included", () => {
    const text = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('a"b', "a\\b", "é", "\u2028", "\ud800", "\u0001", ""),
    );
    fc.assert(
      fc.property(
        fc.stringMatching(/^d[12]\.[A-Za-z0-9_-]{1,40}\.[A-Za-z0-9_-]{22}$/),
        text,
        text,
        fc.constantFrom("experiment", "default", "targeting_mismatch"),
        text,
        text,
        fc.integer({ min: 0, max: 2 ** 45 }),
        (decisionId, flagKey, subjectId, reason, experimentId, variantKey, at) => {
          const record: DecisionRecord = {
            decisionId,
            flagKey,
            subjectId,
            reason,
            experimentId: experimentId || undefined,
            variantKey: variantKey || undefined,
            at,
          };
          const line = decisionLine(
            decisionId,
            flagKey,
            JSON.stringify(subjectId),
            reason,
            experimentId,
            variantKey,
            at,
          );
          expect(line).toBe(JSON.stringify(record));
        },
      ),
      { numRuns: 5_000 },
    );
  });
});

describe("the decision log on NATS", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });

  afterAll(async () => {
    await t?.stop();
  });

  /** Every record the stream stored, by decision id, with the number of messages read. */
  async function stored(
    nc: NatsConnection,
  ): Promise<{ seen: Map<string, number>; messages: number }> {
    const js = jetstream(nc);
    const stream = `${t.app.names.streamPrefix}_DECISIONS`;
    const consumer = await js.consumers.get(stream);
    const seen = new Map<string, number>();
    let messages = 0;
    const { state } = await (await jetstreamManager(nc)).streams.info(stream);
    while (messages < state.messages) {
      const batch = await consumer.fetch({
        max_messages: Math.min(1_000, state.messages - messages),
        expires: 2_000,
      });
      for await (const msg of batch) {
        messages++;
        for (const line of msg.string().split("\n")) {
          const record = JSON.parse(line) as DecisionRecord;
          seen.set(record.decisionId, (seen.get(record.decisionId) ?? 0) + 1);
        }
      }
    }
    return { seen, messages };
  }

  async function drained(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (t.app.decisionLog.buffered > 0 && Date.now() < deadline) {
      await t.app.decisionLog.flush();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(t.app.decisionLog.buffered).toBe(0);
  }

  type Publish = ReturnType<typeof bus>["js"]["publish"];
  const bus = () => t.app.bus!;

  /** A decision log on the real bus whose publishes go through `wrap(publish)`. */
  function logPublishingThrough(name: string, wrap: (publish: Publish) => Publish): DecisionLog {
    const real = bus();
    const js = Object.create(real.js) as typeof real.js;
    js.publish = wrap(real.js.publish.bind(real.js));
    return new DecisionLog(
      () => Object.assign(Object.create(real) as typeof real, { js }),
      t.app.names,
      new Counter({ name: `${name}_dropped_total`, help: "test", registers: [] }),
      t.app.logger,
    );
  }

  /** A decision log on the real bus that counts its publishes. */
  function countingLog(name: string): { log: DecisionLog; publishes: () => number } {
    let publishes = 0;
    const log = logPublishingThrough(name, (publish) => (...args) => {
      publishes++;
      return publish(...args);
    });
    return { log, publishes: () => publishes };
  }

  it("stores every record once across many batches, long subjects included", async () => {
    const team = await makeTeam(t);
    const flagKey = await makeFlag(t);
    const experiment = await runExperiment(t, team, flagKey, greyBlue());
    await untilInSnapshot(t, flagKey, experiment.id);
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const issued: string[] = [];
      // More than two full batches; some subjects long enough (and
      // multi-byte) to close batches on bytes rather than on count.
      const total = BATCH_SIZE * 2 + 700;
      for (let i = 0; i < total; i++) {
        const subjectId = i % 97 === 0 ? `long-${i}-${"é".repeat(240)}` : `log-${i}`;
        const [decision] = t.app.decide({ subjectId, flagKeys: [flagKey] });
        issued.push(decision!.decisionId);
        // Let a publish start now and then, so records arrive while a
        // batch is being published.
        if (i % 1_500 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await drained();
      const { seen, messages } = await stored(nc);
      expect(issued.filter((id) => seen.get(id) !== 1)).toEqual([]);
      expect(seen.size).toBe(total);
      expect(messages).toBeGreaterThanOrEqual(3);
    } finally {
      await nc.close();
    }
  });

  it("publishes full batches under load, not what arrived during each ack", async () => {
    const flagKey = await makeFlag(t);
    const { log, publishes } = countingLog("full_batches");
    try {
      const started = Date.now();
      const total = BATCH_SIZE * 5;
      for (let i = 0; i < total; i++) {
        const id = `d1.${flagKey}.full-${String(i).padStart(16, "0")}`;
        log.recordLine(decisionLine(id, flagKey, JSON.stringify(`s${i}`), "default", "", "", 1));
        // Give acks time to arrive while the next batch fills.
        if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Five full batches, plus at most one partial batch per timer tick.
      const ticks = Math.ceil((Date.now() - started) / FLUSH_INTERVAL_MS) + 1;
      expect(publishes()).toBeGreaterThanOrEqual(5);
      expect(publishes()).toBeLessThanOrEqual(5 + ticks);
      await log.stop();
      expect(log.buffered).toBe(0);
    } finally {
      await log.stop();
    }
  });

  it("publishes everything at stop, also while a full batch is being published", async () => {
    const flagKey = await makeFlag(t);
    const { log, publishes } = countingLog("stop");
    const total = BATCH_SIZE + 10;
    for (let i = 0; i < total; i++) {
      const id = `d1.${flagKey}.stop-${String(i).padStart(16, "0")}`;
      log.recordLine(decisionLine(id, flagKey, JSON.stringify(`s${i}`), "default", "", "", 1));
    }
    // The full batch's publish is under way; ten records wait in the next.
    expect(publishes()).toBe(1);
    await log.stop();
    expect(log.buffered).toBe(0);
    expect(publishes()).toBe(2);
  });

  it("stores a batch once when its ack is lost and the publish is retried", async () => {
    const flagKey = await makeFlag(t);
    const nc = await connect({ servers: TEST_NATS_URL });
    const before = (await stored(nc)).seen.size;
    // The real bus, whose first publish reaches the stream but whose ack
    // the caller never sees (as when the 2 s timeout fires under load).
    let lost = 0;
    const log = logPublishingThrough("lost_ack", (publish) => async (...args) => {
      const ack = await publish(...args);
      if (lost++ === 0) throw new Error("TIMEOUT: the ack did not arrive");
      return ack;
    });
    try {
      const ids = Array.from(
        { length: 10 },
        (_, i) => `d1.${flagKey}.lost-ack-${String(i).padStart(13, "0")}`,
      );
      for (const id of ids)
        log.recordLine(decisionLine(id, flagKey, JSON.stringify("s"), "default", "", "", 1));
      await log.flush();
      expect(log.buffered).toBe(10);
      await log.flush();
      expect(log.buffered).toBe(0);
      expect(lost).toBe(2);
      const { seen } = await stored(nc);
      expect(seen.size).toBe(before + ids.length);
      expect(ids.filter((id) => seen.get(id) !== 1)).toEqual([]);
    } finally {
      await log.stop();
      await nc.close();
    }
  });
});
