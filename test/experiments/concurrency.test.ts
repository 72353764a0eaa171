/**
 * At most one experiment per flag is running or paused (product.md §3),
 * even when two starts race; concurrent edits with the same
 * expected_version let exactly one win.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code, ConnectError } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { ExperimentStatus, Outcome } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { errorOf, snapshot } from "./support.js";
import {
  act,
  experimentIn,
  makeFlag,
  makeUser,
  validExperiment,
  type Team,
} from "../support/builders.js";

const ONE_ACTIVE = "the flag already has a running or paused experiment; complete it first";

describe("concurrency", () => {
  let t: TestApp;
  let team: Team;

  beforeAll(async () => {
    t = await startTestApp();
    team = {
      owner: await makeUser(t, Role.EXPERIMENTER),
      approver: await makeUser(t, Role.APPROVER),
    };
  });
  afterAll(async () => {
    await t.stop();
  });

  const statusOf = async (id: string) =>
    ExperimentStatus[(await team.owner.experiments.getExperiment({ id })).experiment!.status];

  it.each([1, 2, 3, 4, 5])(
    "two concurrent starts on one flag: exactly one runs (round %i)",
    async () => {
      const flagKey = await makeFlag(t);
      const a = await experimentIn(t, team, "approved", { flagKey });
      const b = await experimentIn(t, team, "approved", { flagKey });
      const results = await Promise.allSettled([
        team.owner.experiments.startExperiment({ id: a.id }),
        team.owner.experiments.startExperiment({ id: b.id }),
      ]);
      const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.experiment!] : []));
      const lost = results.flatMap((r) =>
        r.status === "rejected" ? [ConnectError.from(r.reason)] : [],
      );
      expect(won).toHaveLength(1);
      expect(lost.map((e) => [Code[e.code], e.rawMessage])).toEqual([
        ["FailedPrecondition", ONE_ACTIVE],
      ]);
      const winner = won[0]!;
      const loser = winner.id === a.id ? b : a;
      expect(ExperimentStatus[winner.status]).toBe("RUNNING");
      expect(await statusOf(winner.id)).toBe("RUNNING");
      expect(await statusOf(loser.id)).toBe("APPROVED");
      // The loser changed nothing: no history entry, no start time.
      const after = await snapshot(team.owner, loser.id);
      expect(after.entries.map((e) => e.toStatus).at(-1)).toBe(ExperimentStatus.APPROVED);
      expect(after.experiment.startedAt).toBeUndefined();
      expect(after.experiment.updatedAt).toEqual(loser.updatedAt);
      const { experiments } = await team.owner.experiments.listExperiments({
        flagKey,
        status: ExperimentStatus.RUNNING,
      });
      expect(experiments.map((e) => e.id)).toEqual([winner.id]);
    },
  );

  it("two concurrent starts of the same experiment: one starts, one is refused", async () => {
    const a = await experimentIn(t, team, "approved");
    const results = await Promise.allSettled([
      team.owner.experiments.startExperiment({ id: a.id }),
      team.owner.experiments.startExperiment({ id: a.id }),
    ]);
    const codes = results
      .map((r) => (r.status === "fulfilled" ? "OK" : Code[ConnectError.from(r.reason).code]))
      .sort();
    expect(codes).toEqual(["FailedPrecondition", "OK"]);
    const { entries } = await team.owner.experiments.getExperimentHistory({ id: a.id });
    expect(entries.filter((e) => e.toStatus === ExperimentStatus.RUNNING)).toHaveLength(1);
  });

  it("two concurrent updates with the same expected_version: one wins, one is ABORTED", async () => {
    for (let round = 0; round < 3; round++) {
      const draft = await experimentIn(t, team, "draft");
      const names = ["Left", "Right"];
      const results = await Promise.allSettled(
        names.map((name) =>
          team.owner.experiments.updateExperiment({
            experiment: { ...validExperiment(draft.flagKey, { name }), id: draft.id },
            expectedVersion: draft.version,
          }),
        ),
      );
      const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.experiment!] : []));
      const lost = results.flatMap((r) =>
        r.status === "rejected" ? [ConnectError.from(r.reason)] : [],
      );
      expect(won).toHaveLength(1);
      expect(lost.map((e) => [Code[e.code], e.rawMessage])).toEqual([
        [
          "Aborted",
          `expected_version: the experiment is at version ${draft.version + 1}, not ${draft.version}; read it again`,
        ],
      ]);
      const after = await snapshot(team.owner, draft.id);
      expect(after.experiment.version).toBe(draft.version + 1);
      expect(after.experiment.name).toBe(won[0]!.name);
      expect(after.versions.map((v) => [v.version, v.experiment?.name])).toEqual([
        [1, "Blue button"],
        [2, won[0]!.name],
      ]);
      expect(after.entries.map((e) => e.version)).toEqual([1, 2]);
    }
  });

  it("a paused experiment still holds the flag; a completed one releases it", async () => {
    const flagKey = await makeFlag(t);
    const first = await experimentIn(t, team, "paused", { flagKey });
    const second = await experimentIn(t, team, "approved", { flagKey });

    const before = await snapshot(team.owner, second.id);
    const error = await errorOf(act(team.owner, "start", second.id));
    expect([Code[error.code], error.rawMessage]).toEqual(["FailedPrecondition", ONE_ACTIVE]);
    expect(await snapshot(team.owner, second.id)).toEqual(before);

    await team.owner.experiments.completeExperiment({
      id: first.id,
      outcome: Outcome.ROLLBACK,
      winnerVariantKey: "",
      justification: "blue lost",
    });
    const started = await act(team.owner, "start", second.id);
    expect(ExperimentStatus[started.status]).toBe("RUNNING");

    // And the running one holds it again, until it too completes.
    const third = await experimentIn(t, team, "approved", { flagKey });
    expect(Code[(await errorOf(act(team.owner, "start", third.id))).code]).toBe(
      "FailedPrecondition",
    );
    await act(team.owner, "complete", second.id);
    expect(ExperimentStatus[(await act(team.owner, "start", third.id)).status]).toBe("RUNNING");
  });
});
