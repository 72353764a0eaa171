/**
 * The status machine over the real RPCs: every status × action pair (80),
 * each on a fresh experiment driven to the status through the RPCs. The
 * pairs TRANSITIONS lists succeed and land in the listed status with one
 * history entry; every other pair fails with FAILED_PRECONDITION and
 * changes nothing (B3-4).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { ExperimentStatus } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { ACTIONS, STATUSES, TRANSITIONS, findTransition } from "../../src/experiments/lifecycle.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { HISTORY_ACTION, errorOf, snapshot } from "./support.js";
import {
  JUSTIFICATION,
  REVIEW_ACTIONS,
  STATUS_ENUM,
  act,
  experimentIn,
  makeUser,
  type Team,
} from "../support/builders.js";

const PAIRS = STATUSES.flatMap((status) => ACTIONS.map((action) => ({ status, action })));

describe("status × action over the RPCs", () => {
  let t: TestApp;
  let team: Team;
  const outcomes = new Map<string, "ok" | "refused">();

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

  it("covers 80 pairs, 11 of them allowed", () => {
    expect(PAIRS).toHaveLength(80);
    expect(PAIRS.filter((p) => findTransition(p.status, p.action) !== undefined)).toHaveLength(
      TRANSITIONS.length,
    );
    expect(TRANSITIONS).toHaveLength(11);
  });

  it.each(PAIRS)("$status × $action", async ({ status, action }) => {
    const fixture = await experimentIn(t, team, status);
    const id = fixture.id;
    const caller = REVIEW_ACTIONS.has(action) ? team.approver : team.owner;
    const before = await snapshot(team.owner, id);
    expect(before.experiment.status).toBe(STATUS_ENUM[status]);
    const transition = findTransition(status, action);

    if (transition !== undefined) {
      const returned = await act(caller, action, id, `${action} from ${status}`);
      const after = await snapshot(team.owner, id);
      expect(ExperimentStatus[returned.status]).toBe(ExperimentStatus[STATUS_ENUM[transition.to]]);
      expect(after.experiment).toEqual(returned);
      // State changes never create configuration versions.
      expect(after.experiment.version).toBe(before.experiment.version);
      expect(after.versions).toEqual(before.versions);
      // Exactly one new history entry, describing this transition.
      expect(after.entries.slice(0, -1)).toEqual(before.entries);
      const entry = after.entries.at(-1)!;
      expect({
        action: entry.action,
        from: entry.fromStatus,
        to: entry.toStatus,
        actor: entry.actorId,
        version: entry.version,
        comment: entry.comment,
      }).toEqual({
        action: HISTORY_ACTION[action],
        from: STATUS_ENUM[status],
        to: STATUS_ENUM[transition.to],
        actor: caller.id,
        version: before.experiment.version,
        comment:
          action === "complete"
            ? JUSTIFICATION
            : action === "start" || action === "resume" || action === "archive"
              ? ""
              : `${action} from ${status}`,
      });
      if (action === "approve") {
        expect(after.experiment.approvals.map((a) => a.approverId)).toEqual([caller.id]);
      }
      if (action === "request_changes" || action === "reject" || action === "rework") {
        expect(after.experiment.approvals).toEqual([]);
      }
      if (action === "start") expect(after.experiment.startedAt).toBeDefined();
      if (action === "complete") expect(after.experiment.completedAt).toBeDefined();
      outcomes.set(`${status}:${action}`, "ok");
    } else {
      const error = await errorOf(act(caller, action, id));
      expect(Code[error.code]).toBe(Code[Code.FailedPrecondition]);
      expect(error.rawMessage).toBe(
        `cannot ${action.replace("_", " ")} an experiment that is ${status}`,
      );
      const after = await snapshot(team.owner, id);
      expect({
        status: after.experiment.status,
        version: after.experiment.version,
        approvals: after.experiment.approvals,
        updatedAt: after.experiment.updatedAt,
      }).toEqual({
        status: before.experiment.status,
        version: before.experiment.version,
        approvals: before.experiment.approvals,
        updatedAt: before.experiment.updatedAt,
      });
      expect(after).toEqual(before);
      outcomes.set(`${status}:${action}`, "refused");
    }
  });

  it("succeeded exactly on the listed pairs", () => {
    expect(outcomes.size).toBe(80);
    const succeeded = [...outcomes].filter(([, o]) => o === "ok").map(([pair]) => pair);
    expect(succeeded.sort()).toEqual(TRANSITIONS.map((t) => `${t.from}:${t.action}`).sort());
  });
});
