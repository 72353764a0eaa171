/**
 * The decide snapshot is one consistent view of the configuration: a
 * commit landing while it is built must not leave half of it behind (an
 * experiment in the live list but missing from the ids ingestion checks).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import pg from "pg";
import { buildSnapshot } from "../../src/decision/snapshot.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { greyBlue, makeTeam, makeTypedFlag, runExperiment } from "../support/builders.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";

describe("decide snapshot", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });

  afterAll(async () => {
    await t.stop();
  });

  it("never shows a live experiment that its known experiment ids leave out", async () => {
    const team = await makeTeam(t);
    const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
    const experiment = await runExperiment(t, team, flagKey, greyBlue());

    // A second connection flips the experiment between a draft that never
    // started and a running one as fast as it can commit, while snapshots
    // are built one after another.
    const writer = new pg.Client({ connectionString: t.database.url });
    await writer.connect();
    let flipping = true;
    let flips = 0;
    const flipper = (async () => {
      while (flipping) {
        await writer.query(
          `update experiments set status = 'draft', started_at = null where id = $1`,
          [experiment.id],
        );
        await writer.query(
          `update experiments set status = 'running', started_at = now() where id = $1`,
          [experiment.id],
        );
        flips += 1;
      }
    })();

    const torn: string[] = [];
    let builds = 0;
    let sawLive = 0;
    try {
      const started = performance.now();
      while (performance.now() - started < 3_000) {
        const snapshot = await buildSnapshot(t.app.db.orm.em.fork(), t.app.logger);
        builds += 1;
        for (const live of snapshot.live) {
          if (live.id !== experiment.id) continue;
          sawLive += 1;
          if (!snapshot.knownExperimentIds.has(live.id)) torn.push(snapshot.version);
        }
      }
    } finally {
      flipping = false;
      await flipper;
      await writer.end();
    }
    // Both states were seen, so the builds really overlapped the commits.
    expect(flips).toBeGreaterThan(10);
    expect(sawLive).toBeGreaterThan(0);
    expect(sawLive).toBeLessThan(builds);
    expect(torn).toEqual([]);
  });
});
