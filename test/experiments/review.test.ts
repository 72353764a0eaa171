/**
 * Review over the real RPCs (product.md §1, B3-3, B3-5): the owner's review
 * policy names the approvers and the threshold; nobody else reviews, the
 * owner never does, an approval counts once, start re-checks the threshold,
 * and going back to draft clears the approvals. Without a policy any
 * approver or admin but the owner approves, threshold 1.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code, type Client } from "@connectrpc/connect";
import { AccessService, Role } from "../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentAction,
  ExperimentStatus,
  type Experiment,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import type { LifecycleAction } from "../../src/experiments/lifecycle.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { errorOf, snapshot } from "./support.js";
import {
  act,
  experimentIn,
  makeFlag,
  makeUser,
  validExperiment,
  type Actor,
} from "../support/builders.js";

const REVIEWS: LifecycleAction[] = ["approve", "request_changes", "reject"];

describe("review policy", () => {
  let t: TestApp;
  let access: Client<typeof AccessService>;
  let a1: Actor;
  let a2: Actor;
  let a3: Actor;
  let unassigned: Actor;
  let adminUser: Actor;
  let otherExperimenter: Actor;

  beforeAll(async () => {
    t = await startTestApp();
    access = client(AccessService, t.baseUrl, t.adminKey);
    [a1, a2, a3, unassigned, adminUser, otherExperimenter] = await Promise.all([
      makeUser(t, Role.APPROVER),
      makeUser(t, Role.APPROVER),
      makeUser(t, Role.APPROVER),
      makeUser(t, Role.APPROVER),
      makeUser(t, Role.ADMIN),
      makeUser(t, Role.EXPERIMENTER),
    ]);
  });
  afterAll(async () => {
    await t.stop();
  });

  /** A fresh experimenter whose policy names `approvers` with threshold `min`. */
  async function ownerWithPolicy(approvers: Actor[], min: number, ...roles: Role[]) {
    const owner = await makeUser(t, ...(roles.length > 0 ? roles : [Role.EXPERIMENTER]));
    const { policy } = await access.setReviewPolicy({
      experimenterId: owner.id,
      approverIds: approvers.map((a) => a.id),
      minApprovals: min,
    });
    expect(policy?.minApprovals).toBe(min);
    expect(policy?.approverIds).toEqual(approvers.map((a) => a.id));
    return owner;
  }

  /** A submitted experiment of `owner` on a fresh flag. */
  async function inReview(owner: Actor): Promise<Experiment> {
    const flagKey = await makeFlag(t);
    const { experiment } = await owner.experiments.createExperiment({
      experiment: validExperiment(flagKey),
    });
    return act(owner, "submit", experiment!.id, "please review");
  }

  const approverIds = (e: Experiment) => e.approvals.map((a) => a.approverId);

  describe("threshold 2 with two assigned approvers", () => {
    it("stays IN_REVIEW after one approval and is APPROVED after the second", async () => {
      const owner = await ownerWithPolicy([a1, a2], 2);
      const submitted = await inReview(owner);
      expect(submitted.requiredApprovals).toBe(2);
      expect(submitted.approvals).toEqual([]);

      const first = await act(a1, "approve", submitted.id, "looks fine");
      expect(ExperimentStatus[first.status]).toBe("IN_REVIEW");
      expect(first.requiredApprovals).toBe(2);
      expect(first.approvals.map((a) => [a.approverId, a.comment, a.version])).toEqual([
        [a1.id, "looks fine", submitted.version],
      ]);
      expect(first.approvals[0]?.approvedAt).toBeDefined();

      const second = await act(a2, "approve", submitted.id, "agreed");
      expect(ExperimentStatus[second.status]).toBe("APPROVED");
      expect(approverIds(second)).toEqual([a1.id, a2.id]);
      expect(second.requiredApprovals).toBe(2);

      const { entries } = await owner.experiments.getExperimentHistory({ id: submitted.id });
      expect(
        entries
          .filter((e) => e.action === ExperimentAction.APPROVED)
          .map((e) => [
            e.actorId,
            ExperimentStatus[e.fromStatus],
            ExperimentStatus[e.toStatus],
            e.comment,
          ]),
      ).toEqual([
        [a1.id, "IN_REVIEW", "IN_REVIEW", "looks fine"],
        [a2.id, "IN_REVIEW", "APPROVED", "agreed"],
      ]);
    });

    it.each(REVIEWS)(
      "refuses %s by an approver or admin the policy does not name",
      async (action) => {
        const owner = await ownerWithPolicy([a1, a2], 2);
        const submitted = await inReview(owner);
        await act(a1, "approve", submitted.id);
        const before = await snapshot(owner, submitted.id);
        for (const outsider of [unassigned, adminUser]) {
          const error = await errorOf(act(outsider, action, submitted.id));
          expect(Code[error.code]).toBe("PermissionDenied");
          expect(error.rawMessage).toBe(
            "the owner's review policy does not name you as an approver",
          );
        }
        expect(await snapshot(owner, submitted.id)).toEqual(before);
      },
    );

    it("counts the same approver once", async () => {
      const owner = await ownerWithPolicy([a1, a2], 2);
      const submitted = await inReview(owner);
      await act(a1, "approve", submitted.id, "first");
      const before = await snapshot(owner, submitted.id);
      const again = await act(a1, "approve", submitted.id, "second time");
      expect(ExperimentStatus[again.status]).toBe("IN_REVIEW");
      expect(again.approvals.map((a) => [a.approverId, a.comment])).toEqual([[a1.id, "first"]]);
      // Nothing changed: no history entry, no new approval.
      expect(await snapshot(owner, submitted.id)).toEqual(before);
      const approved = await act(a2, "approve", submitted.id);
      expect(ExperimentStatus[approved.status]).toBe("APPROVED");
      expect(approverIds(approved)).toEqual([a1.id, a2.id]);
    });

    it("blocks start below the threshold after the policy was raised", async () => {
      const owner = await ownerWithPolicy([a1, a2, a3], 2);
      const submitted = await inReview(owner);
      await act(a1, "approve", submitted.id);
      const approved = await act(a2, "approve", submitted.id);
      expect(ExperimentStatus[approved.status]).toBe("APPROVED");

      await access.setReviewPolicy({
        experimenterId: owner.id,
        approverIds: [a1.id, a2.id, a3.id],
        minApprovals: 3,
      });
      const before = await snapshot(owner, submitted.id);
      expect(before.experiment.requiredApprovals).toBe(3);
      const error = await errorOf(act(owner, "start", submitted.id));
      expect(Code[error.code]).toBe("FailedPrecondition");
      expect(error.rawMessage).toBe("the experiment has 2 of 3 required approvals");
      expect(await snapshot(owner, submitted.id)).toEqual(before);

      // Back at threshold 2 the same approvals suffice.
      await access.setReviewPolicy({
        experimenterId: owner.id,
        approverIds: [a1.id, a2.id, a3.id],
        minApprovals: 2,
      });
      const started = await act(owner, "start", submitted.id);
      expect(ExperimentStatus[started.status]).toBe("RUNNING");
    });

    it("an approval repeated after the threshold was lowered approves, and is recorded", async () => {
      const owner = await ownerWithPolicy([a1, a2], 2);
      const submitted = await inReview(owner);
      await act(a1, "approve", submitted.id, "first");
      await access.setReviewPolicy({
        experimenterId: owner.id,
        approverIds: [a1.id, a2.id],
        minApprovals: 1,
      });
      const again = await act(a1, "approve", submitted.id, "still fine");
      expect(ExperimentStatus[again.status]).toBe("APPROVED");
      expect(approverIds(again)).toEqual([a1.id]);
      // The status change is in the history like any other.
      const { entries } = await owner.experiments.getExperimentHistory({ id: submitted.id });
      expect(
        entries
          .filter((e) => e.action === ExperimentAction.APPROVED)
          .map((e) => [e.actorId, ExperimentStatus[e.fromStatus], ExperimentStatus[e.toStatus]]),
      ).toEqual([
        [a1.id, "IN_REVIEW", "IN_REVIEW"],
        [a1.id, "IN_REVIEW", "APPROVED"],
      ]);
    });

    it("request changes returns to DRAFT and clears the approvals", async () => {
      const owner = await ownerWithPolicy([a1, a2], 2);
      const submitted = await inReview(owner);
      await act(a1, "approve", submitted.id);
      const draft = await act(a2, "request_changes", submitted.id, "tighten the audience");
      expect(ExperimentStatus[draft.status]).toBe("DRAFT");
      expect(draft.approvals).toEqual([]);
      expect(draft.version).toBe(submitted.version);

      // The old approval does not count after resubmission.
      await act(owner, "submit", submitted.id);
      const once = await act(a2, "approve", submitted.id);
      expect(ExperimentStatus[once.status]).toBe("IN_REVIEW");
      expect(approverIds(once)).toEqual([a2.id]);

      const { entries } = await owner.experiments.getExperimentHistory({ id: submitted.id });
      const requested = entries.find((e) => e.action === ExperimentAction.CHANGES_REQUESTED);
      expect(requested && [requested.actorId, requested.comment]).toEqual([
        a2.id,
        "tighten the audience",
      ]);
    });

    it("reject → REJECTED and rework → DRAFT, both without approvals", async () => {
      const owner = await ownerWithPolicy([a1, a2], 2);
      const submitted = await inReview(owner);
      await act(a1, "approve", submitted.id);
      const rejected = await act(a2, "reject", submitted.id, "wrong metric");
      expect(ExperimentStatus[rejected.status]).toBe("REJECTED");
      expect(rejected.approvals).toEqual([]);
      const reworked = await act(owner, "rework", submitted.id, "fixed");
      expect(ExperimentStatus[reworked.status]).toBe("DRAFT");
      expect(reworked.approvals).toEqual([]);

      await act(owner, "submit", submitted.id);
      const once = await act(a1, "approve", submitted.id);
      expect(ExperimentStatus[once.status]).toBe("IN_REVIEW");
      expect(approverIds(once)).toEqual([a1.id]);
    });
  });

  describe("the owner never reviews", () => {
    it.each([
      ["ROLE_EXPERIMENTER + ROLE_APPROVER", [Role.EXPERIMENTER, Role.APPROVER]],
      ["ROLE_ADMIN", [Role.ADMIN]],
      ["ROLE_EXPERIMENTER + ROLE_ADMIN", [Role.EXPERIMENTER, Role.ADMIN]],
    ])("an owner holding %s, with and without a policy", async (_label, roles) => {
      const withPolicy = await ownerWithPolicy([a1, a2], 2, ...roles);
      const withoutPolicy = await makeUser(t, ...roles);
      for (const owner of [withPolicy, withoutPolicy]) {
        const submitted = await inReview(owner);
        const before = await snapshot(owner, submitted.id);
        for (const action of REVIEWS) {
          const error = await errorOf(act(owner, action, submitted.id));
          expect(Code[error.code]).toBe("PermissionDenied");
          expect(error.rawMessage).toBe("nobody reviews their own experiment");
        }
        expect(await snapshot(owner, submitted.id)).toEqual(before);
      }
    });
  });

  describe("default policy (none set)", () => {
    it("reports the default: any approver or admin, threshold 1", async () => {
      const owner = await makeUser(t, Role.EXPERIMENTER);
      const { policy } = await access.getReviewPolicy({ experimenterId: owner.id });
      expect(policy?.approverIds).toEqual([]);
      expect(policy?.minApprovals).toBe(1);
      const submitted = await inReview(owner);
      expect(submitted.requiredApprovals).toBe(1);
    });

    it.each([
      ["an approver", () => a3],
      ["an admin", () => adminUser],
    ])("%s approves alone", async (_label, reviewer) => {
      const owner = await makeUser(t, Role.EXPERIMENTER);
      const submitted = await inReview(owner);
      const approved = await act(reviewer(), "approve", submitted.id);
      expect(ExperimentStatus[approved.status]).toBe("APPROVED");
      expect(approverIds(approved)).toEqual([reviewer().id]);
      expect(ExperimentStatus[(await act(owner, "start", submitted.id)).status]).toBe("RUNNING");
    });

    it.each([
      ["an approver", () => unassigned],
      ["an admin", () => adminUser],
    ])("%s may request changes and reject", async (_label, reviewer) => {
      const owner = await makeUser(t, Role.EXPERIMENTER);
      const a = await inReview(owner);
      expect(ExperimentStatus[(await act(reviewer(), "request_changes", a.id)).status]).toBe(
        "DRAFT",
      );
      const b = await inReview(owner);
      expect(ExperimentStatus[(await act(reviewer(), "reject", b.id)).status]).toBe("REJECTED");
    });

    it.each(REVIEWS)("refuses %s by an experimenter who is not the owner", async (action) => {
      const team = { owner: await makeUser(t, Role.EXPERIMENTER), approver: a1 };
      const submitted = await experimentIn(t, team, "in_review");
      const before = await snapshot(team.owner, submitted.id);
      const error = await errorOf(act(otherExperimenter, action, submitted.id));
      expect(Code[error.code]).toBe("PermissionDenied");
      expect(await snapshot(team.owner, submitted.id)).toEqual(before);
    });
  });
});
