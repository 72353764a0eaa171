/**
 * The decision log (src/decision/decision-log.ts): lines written by hand
 * must be what JSON.stringify writes for the record, and records written
 * into byte batches must all reach NATS once, in order, whatever the batch
 * boundaries (record count, bytes, a batch closed while it is published).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { connect } from "@nats-io/transport-node";
import { BATCH_SIZE, decisionLine, type DecisionRecord } from "../../src/decision/decision-log.js";
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

  it("delivers every record once across many batches, long subjects included", async () => {
    const team = await makeTeam(t);
    const flagKey = await makeFlag(t);
    const experiment = await runExperiment(t, team, flagKey, greyBlue());
    await untilInSnapshot(t, flagKey, experiment.id);
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const seen = new Map<string, number>();
      let batches = 0;
      const sub = nc.subscribe(`${t.app.names.subjectPrefix}.decisions.>`, {
        callback: (_err, msg) => {
          batches++;
          for (const line of msg.string().split("\n")) {
            const record = JSON.parse(line) as DecisionRecord;
            seen.set(record.decisionId, (seen.get(record.decisionId) ?? 0) + 1);
          }
        },
      });
      await nc.flush();
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
      await t.app.decisionLog.flush();
      const deadline = Date.now() + 10_000;
      while (issued.some((id) => !seen.has(id)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        await t.app.decisionLog.flush();
      }
      sub.unsubscribe();
      expect(issued.filter((id) => seen.get(id) !== 1)).toEqual([]);
      expect(batches).toBeGreaterThanOrEqual(3);
      expect(t.app.decisionLog.buffered).toBe(0);
    } finally {
      await nc.close();
    }
  });
});
