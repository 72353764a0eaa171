import { describe, expect, it } from "@jest/globals";
import { readFileSync } from "node:fs";
import {
  ACTIONS,
  STATUSES,
  TRANSITIONS,
  findTransition,
  isEditable,
  renderTransitionTable,
} from "../../src/experiments/lifecycle.js";
import { denialReason, mayReview } from "../../src/experiments/permissions.js";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";

function tableRows(markdown: string): string[][] {
  return markdown
    .split("\n")
    .filter((line) => line.startsWith("|") && !/^\|\s*-/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split("|")
        .map((cell) => cell.trim()),
    );
}

describe("status machine", () => {
  it("is exactly the transition list of the product", () => {
    expect(TRANSITIONS.map((t) => `${t.from} -${t.action}-> ${t.to}`)).toEqual([
      "draft -submit-> in_review",
      "in_review -approve-> approved",
      "in_review -request_changes-> draft",
      "in_review -reject-> rejected",
      "rejected -rework-> draft",
      "approved -start-> running",
      "running -pause-> paused",
      "paused -resume-> running",
      "running -complete-> completed",
      "paused -complete-> completed",
      "completed -archive-> archived",
    ]);
  });

  it("allows 11 of the 80 status × action pairs and refuses every other", () => {
    let allowed = 0;
    for (const status of STATUSES) {
      for (const action of ACTIONS) {
        const t = findTransition(status, action);
        const listed = TRANSITIONS.some((x) => x.from === status && x.action === action);
        expect(t !== undefined).toBe(listed);
        if (t) allowed++;
      }
    }
    expect(allowed).toBe(11);
    expect(STATUSES.length * ACTIONS.length).toBe(80);
  });

  it("lets only drafts be edited", () => {
    expect(STATUSES.filter(isEditable)).toEqual(["draft"]);
  });

  it("is documented in docs/experiments.md exactly as the table renders it", () => {
    const doc = readFileSync("docs/experiments.md", "utf8");
    const section = doc
      .split("<!-- transitions:start -->")[1]
      ?.split("<!-- transitions:end -->")[0];
    expect(section).toBeDefined();
    expect(tableRows(section as string)).toEqual(tableRows(renderTransitionTable()));
  });
});

describe("permissions", () => {
  const owner = "00000000-0000-4000-8000-000000000001";
  const other = "00000000-0000-4000-8000-000000000002";
  const actor = (userId: string, ...roles: Role[]) => ({ userId, roles: new Set(roles) });

  it("lets owners act on their own experiments and admins on any", () => {
    expect(
      denialReason(actor(owner, Role.EXPERIMENTER), "start", owner, { approverIds: [] }),
    ).toBeUndefined();
    expect(denialReason(actor(other, Role.EXPERIMENTER), "start", owner, { approverIds: [] })).toBe(
      "only the owner or an admin may start this experiment",
    );
    expect(
      denialReason(actor(other, Role.ADMIN), "complete", owner, { approverIds: [] }),
    ).toBeUndefined();
    expect(denialReason(actor(owner, Role.VIEWER), "submit", owner, { approverIds: [] })).toBe(
      "your roles do not allow submit",
    );
  });

  it("takes review rights from the policy only, never for the owner", () => {
    expect(mayReview(actor(other, Role.APPROVER), owner, { approverIds: [] })).toBe(true);
    expect(mayReview(actor(other, Role.ADMIN), owner, { approverIds: [] })).toBe(true);
    expect(mayReview(actor(other, Role.EXPERIMENTER), owner, { approverIds: [] })).toBe(false);
    expect(mayReview(actor(owner, Role.ADMIN, Role.APPROVER), owner, { approverIds: [] })).toBe(
      false,
    );
    expect(mayReview(actor(other, Role.APPROVER), owner, { approverIds: [owner] })).toBe(false);
    expect(mayReview(actor(other, Role.ADMIN), owner, { approverIds: ["someone-else"] })).toBe(
      false,
    );
    expect(mayReview(actor(other, Role.VIEWER), owner, { approverIds: [other] })).toBe(true);
    expect(denialReason(actor(owner, Role.ADMIN), "approve", owner, { approverIds: [] })).toBe(
      "nobody reviews their own experiment",
    );
  });
});
