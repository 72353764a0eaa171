/**
 * Decide across replicas (product.md §5, architecture.md invariants 1–2):
 * two instances on one database and one bus prefix answer alike, a pause
 * through one is visible on the other within a second, a restarted
 * instance answers as before, and decide keeps answering from its
 * snapshot while PostgreSQL is unreachable.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from "@jest/globals";
import pg from "pg";
import type { JsonObject } from "@bufbuild/protobuf";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { DecisionService, type Decision } from "../../gen/lotty/decision/v1/decision_pb.js";
import { VERSION_POLL_MS } from "../../src/decision/snapshot.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { TEST_PG_ADMIN_URL } from "../support/env.js";
import { client } from "../support/clients.js";
import { DecisionReason, untilDecided, type LocalDecision } from "./support.js";
import {
  makeFlag,
  makeUser,
  type Actor,
  type Team,
  greyBlue,
  layout,
  makeTeam,
  runExperiment,
  untilInSnapshot,
} from "../support/builders.js";

const SUBJECTS = 1_000;
const TARGETING = 'country IN ["RU","KZ"] AND app_version >= "1.6.0"';

function attributesOf(i: number): JsonObject {
  switch (i % 4) {
    case 0:
      return { country: "RU", app_version: "1.6.0" };
    case 1:
      return { country: "KZ", app_version: "2.0.1", platform: "ios" };
    case 2:
      return { country: "US", app_version: "2.0.0" };
    default:
      return {};
  }
}

/** The four fields that make an answer, comparable between RPC and in-process results. */
function essence(d: Decision | LocalDecision) {
  return {
    flagKey: d.flagKey,
    reason: d.reason,
    value: d.value,
    decisionId: d.decisionId ?? "",
    experimentId: d.experimentId ?? "",
    variantKey: d.variantKey ?? "",
  };
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe("Decide on several instances", () => {
  let a: TestApp;
  let b: TestApp | undefined;
  let c: TestApp | undefined;
  let team: Team;
  let viewer: Actor;
  let flags: string[];
  let targeted: string;
  let everyone: string;
  /** Subject index → decisions for `flags`, as instance A answered over gRPC. */
  const recorded: ReturnType<typeof essence>[][] = [];

  const replica = (database = a.database) =>
    startTestApp({
      database,
      busPrefix: a.app.names.streamPrefix,
      env: { LOTTY_BOOTSTRAP_ADMIN_KEY: a.adminKey },
    });

  async function answersOf(t: TestApp, key = viewer.key) {
    const decide = client(DecisionService, t.baseUrl, key, "connect-binary-h2");
    const out: ReturnType<typeof essence>[][] = [];
    for (let start = 0; start < SUBJECTS; start += 100) {
      const chunk = await Promise.all(
        Array.from({ length: Math.min(100, SUBJECTS - start) }, (_, k) =>
          decide.decide({
            subjectId: `cluster-${start + k}`,
            attributes: attributesOf(start + k),
            flagKeys: flags,
          }),
        ),
      );
      for (const { decisions } of chunk) out.push(decisions.map(essence));
    }
    return out;
  }

  function localAnswersOf(t: TestApp) {
    const out: ReturnType<typeof essence>[][] = [];
    for (let i = 0; i < SUBJECTS; i++) {
      const { decisions } = t.app.decision.decide({
        subjectId: `cluster-${i}`,
        attributes: attributesOf(i),
        flagKeys: flags,
      });
      out.push((decisions as LocalDecision[]).map(essence));
    }
    return out;
  }

  beforeAll(async () => {
    a = await startTestApp();
    b = await replica();
    team = await makeTeam(a);
    viewer = await makeUser(a, Role.VIEWER);
    targeted = await makeFlag(a);
    everyone = await makeFlag(a);
    const plainFlag = await makeFlag(a);
    flags = [targeted, everyone, plainFlag, "missing_flag"];
    const e1 = await runExperiment(
      a,
      team,
      targeted,
      layout(
        [
          { key: "control", value: "grey", weight: 20, control: true },
          { key: "blue", value: "blue", weight: 20 },
          { key: "green", value: "green", weight: 20 },
        ],
        60,
        { targetingRule: TARGETING },
      ),
    );
    const e2 = await runExperiment(a, team, everyone, greyBlue());
    for (const x of [a, b]) {
      await untilInSnapshot(x, targeted, e1.id);
      await untilInSnapshot(x, everyone, e2.id);
      await untilInSnapshot(x, plainFlag);
    }
  });
  afterAll(async () => {
    await b?.stop();
    await c?.stop();
    await a?.stop();
  });

  it("answers identically on both instances for 1k subjects", async () => {
    const [fromA, fromB] = await Promise.all([answersOf(a), answersOf(b!)]);
    expect(fromB).toEqual(fromA);
    expect(localAnswersOf(b!)).toEqual(fromA);
    recorded.push(...fromA);
    const reasons = new Set(fromA.flat().map((d) => d.reason));
    expect([...reasons].sort()).toEqual(
      [
        DecisionReason.DEFAULT,
        DecisionReason.EXPERIMENT,
        DecisionReason.TARGETING_MISMATCH,
        DecisionReason.OUTSIDE_AUDIENCE,
        DecisionReason.FLAG_NOT_FOUND,
      ].sort(),
    );
    expect(b!.app.serverSecret).toBe(a.app.serverSecret);
  });

  it("shows a pause through instance A on instance B within a second", async () => {
    const experimentId = recorded[0]![1]!.experimentId;
    await team.owner.experiments.pauseExperiment({ id: experimentId, comment: "pause" });
    const paused = await untilDecided(
      b!,
      "cluster-0",
      everyone,
      (d) => d.reason === DecisionReason.DEFAULT,
    );
    expect(paused).toBeLessThan(1_000);

    await team.owner.experiments.resumeExperiment({ id: experimentId });
    const resumed = await untilDecided(
      b!,
      "cluster-0",
      everyone,
      (d) => d.reason === DecisionReason.EXPERIMENT,
    );
    expect(resumed).toBeLessThan(1_000);
    // Sticky: the same variants (and ids) as before the pause, on both.
    await untilDecided(a, "cluster-0", everyone, (d) => d.reason === DecisionReason.EXPERIMENT);
    expect(localAnswersOf(b!)).toEqual(recorded);
    expect(localAnswersOf(a)).toEqual(recorded);
  });

  it("answers the same after an instance restarts", async () => {
    await b!.stop();
    b = undefined;
    c = await replica();
    expect(c.app.serverSecret).toBe(a.app.serverSecret);
    expect(await answersOf(c)).toEqual(recorded);
  });

  it("picks up a change whose notification was lost and whose updated_at is not the newest", async () => {
    // A change written by a replica whose clock is behind (or whose
    // transaction committed after a later-stamped one), with no message on
    // the bus: only the version poll can find it.
    const experimentId = recorded[0]![0]!.experimentId;
    const url = new URL(a.database.url);
    const direct = new pg.Client({ connectionString: url.toString() });
    await direct.connect();
    try {
      await direct.query(
        `update experiments set status = 'paused', updated_at = '2001-01-01T00:00:00Z' where id = $1`,
        [experimentId],
      );
      const subject = "cluster-0"; // RU 1.6.0: matches the targeting rule
      const attributes = attributesOf(0);
      const seen = await untilDecided(
        c!,
        subject,
        targeted,
        (d) => d.reason === DecisionReason.DEFAULT,
        { attributes, timeoutMs: VERSION_POLL_MS * 2 + 1_000 },
      );
      expect(seen).toBeLessThan(VERSION_POLL_MS * 2 + 1_000);
    } finally {
      await team.owner.experiments.resumeExperiment({ id: experimentId });
      await direct.end();
    }
    for (const x of [a, c!]) {
      await untilDecided(x, "cluster-0", targeted, (d) => d.experimentId === experimentId, {
        attributes: attributesOf(0),
      });
    }
    expect(localAnswersOf(c!)).toEqual(recorded);
  });

  it("keeps answering from the snapshot while PostgreSQL is unreachable", async () => {
    const instance = c!;
    const name = a.database.name;
    // A key used for the first time now, so the authenticator caches it
    // (for KEY_CACHE_TTL_MS) and the RPCs below need no database.
    const fresh = await makeUser(a, Role.VIEWER);
    const decide = client(DecisionService, instance.baseUrl, fresh.key, "grpc");
    await decide.decide({ subjectId: "warm-up", flagKeys: flags });
    const before = instance.app.snapshots.current;
    const reload = jest.spyOn(instance.app.snapshots, "reload");
    try {
      await admin(async (pgAdmin) => {
        await pgAdmin.query(`alter database ${name} connection limit 0`);
        // The test role is a superuser, which connection limits do not bind.
        await pgAdmin.query(`alter database ${name} allow_connections false`);
        await pgAdmin.query(
          `select pg_terminate_backend(pid) from pg_stat_activity
            where datname = $1 and pid <> pg_backend_pid()`,
          [name],
        );
      });
      // Nobody can connect now.
      const probe = new pg.Client({ connectionString: a.database.url });
      await expect(probe.connect()).rejects.toThrow(/not currently accepting connections/);
      await probe.end().catch(() => {});

      const started = Date.now();
      let calls = 0;
      while (Date.now() - started < 3_000) {
        const i = calls % SUBJECTS;
        const local = instance.app.decision.decide({
          subjectId: `cluster-${i}`,
          attributes: attributesOf(i),
          flagKeys: flags,
        }).decisions as LocalDecision[];
        expect(local.map(essence)).toEqual(recorded[i]);
        const { decisions } = await decide.decide({
          subjectId: `cluster-${i}`,
          attributes: attributesOf(i),
          flagKeys: flags,
        });
        expect(decisions.map(essence)).toEqual(recorded[i]);
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(calls).toBeGreaterThan(20);
      // At least one version poll ran during the outage, failed, and left
      // the snapshot in place.
      const polls = reload.mock.calls.filter(([force]) => force === false);
      expect(polls.length).toBeGreaterThanOrEqual(1);
      await Promise.all(reload.mock.results.map((r) => r.value));
      expect(instance.app.snapshots.current).toBe(before);
    } finally {
      reload.mockRestore();
      await admin(async (pgAdmin) => {
        await pgAdmin.query(`alter database ${name} allow_connections true`);
        await pgAdmin.query(`alter database ${name} connection limit -1`);
      });
    }

    // Back to normal: a change reaches the snapshot again.
    const experimentId = recorded[0]![1]!.experimentId;
    await team.owner.experiments.pauseExperiment({ id: experimentId, comment: "after outage" });
    const paused = performance.now();
    // Both instances follow again (their pools reconnect on demand), within
    // a second of the Pause RPC's answer, as in normal operation.
    for (const x of [instance, a]) {
      await untilDecided(x, "cluster-0", everyone, (d) => d.reason === DecisionReason.DEFAULT, {
        timeoutMs: 10_000,
      });
      expect(performance.now() - paused).toBeLessThan(1_000);
    }
  });
});
