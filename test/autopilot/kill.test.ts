/**
 * A real autopilot killed with SIGKILL between deciding a move and
 * committing it: a separate Lotty process (workers role, dist/src/main.js)
 * on the test's database and bus prefix evaluates a ramping experiment and
 * decides to move it up, while the test holds the experiment's row lock, so
 * the move's transaction waits on it; the process is then killed. Nothing
 * of the move may remain, and the next driver moves exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { create } from "@bufbuild/protobuf";
import pg from "pg";
import {
  ExperimentService,
  RampEventKind,
  RampPlanSchema,
  RampSafetyAction,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { TEST_NATS_URL } from "../support/env.js";
import { greyBlue, makeTeam, makeTypedFlag, runExperiment } from "../support/builders.js";
import { spawnLotty } from "../support/process.js";

describe("ramp autopilot killed mid-move", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ rampIntervalMs: 3_600_000 });
  });

  afterAll(async () => {
    await t?.stop();
  });

  it("leaves no trace of the move it was committing; the next driver moves once", async () => {
    const team = await makeTeam(t);
    const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
    const { id, version } = await runExperiment(
      t,
      team,
      flagKey,
      greyBlue({
        primaryMetricKey: "conversion_rate",
        rampPlan: create(RampPlanSchema, {
          steps: [10, 50, 100],
          gates: {},
          safetyAction: RampSafetyAction.STEP_BACK,
        }),
      }),
    );
    const experiments = client(ExperimentService, t.baseUrl, t.adminKey);

    const locker = new pg.Client({ connectionString: t.database.url });
    await locker.connect();
    // pg_stat_activity is read outside the locker's transaction: inside one,
    // PostgreSQL serves the same snapshot of it on every read.
    const watcher = new pg.Client({ connectionString: t.database.url });
    await watcher.connect();
    const worker = spawnLotty({
      PORT: "0",
      DATABASE_URL: t.database.url,
      NATS_URL: TEST_NATS_URL,
      LOTTY_NATS_PREFIX: t.app.names.streamPrefix,
      LOTTY_ROLES: "workers",
      LOG_LEVEL: "warn",
    });
    try {
      await locker.query("begin");
      // FOR NO KEY UPDATE: the evaluation the worker records first (whose
      // foreign key takes a key-share lock on the row) goes through; the
      // move's own FOR UPDATE of the row waits.
      await locker.query("select 1 from experiments where id = $1 for no key update", [id]);
      // The worker's first autopilot pass (5 s after it starts) reads the
      // experiment, finds every gate passed and opens the move's
      // transaction, whose row lock waits here: decided, not committed.
      await waitFor(
        async () => {
          const { rows } = await watcher.query<{ n: string }>(
            `select count(*)::text as n from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock'
               and query ilike '%from "experiments"%for update%'`,
          );
          return rows[0]?.n === "1";
        },
        30_000,
        "the worker's move waiting on the row lock",
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}; the worker said:\n${worker.output()}`);
      });
      worker.child.kill("SIGKILL");
      expect((await worker.exited).signal).toBe("SIGKILL");
      await locker.query("rollback");
    } finally {
      if (worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill("SIGKILL");
      }
      await locker.end();
      await watcher.end();
    }

    // Nothing of the move: same step, same version, no history entry.
    const { experiment } = await experiments.getExperiment({ id });
    expect([experiment!.ramp!.stepIndex, experiment!.version]).toEqual([0, version]);
    const before = await experiments.listRampEvents({ id });
    expect(before.events.map((e) => e.kind)).toEqual([RampEventKind.STARTED]);

    // The next driver (this process's) decides afresh and moves once.
    expect(await t.app.rampDriver!.evaluate(id)).toBe("advanced");
    const after = await experiments.getExperiment({ id });
    expect([after.experiment!.ramp!.stepIndex, after.experiment!.version]).toEqual([
      1,
      version + 1,
    ]);
    const { events } = await experiments.listRampEvents({ id });
    expect(events.filter((e) => e.kind === RampEventKind.ADVANCED)).toHaveLength(1);
  });
});
