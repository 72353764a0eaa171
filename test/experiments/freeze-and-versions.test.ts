/**
 * Only drafts are editable (product.md §3): once submitted, every change —
 * above all the assignment-affecting fields — is refused with
 * FAILED_PRECONDITION and changes nothing. Optimistic concurrency through
 * expected_version, the fixed flag key, the kept versions, and the history
 * and audit rows of a whole lifecycle.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import pg from "pg";
import { Code } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import {
  Direction,
  ExperimentAction,
  ExperimentStatus,
  GuardrailAction,
  Outcome,
  type Experiment,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import type { ExperimentStatusName } from "../../src/experiments/entities.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { errorOf, snapshot } from "./support.js";
import {
  act,
  experimentIn,
  makeFlag,
  makeUser,
  str,
  validExperiment,
  type Actor,
  type ExperimentInit,
  type Team,
} from "../support/builders.js";

/** One change per assignment-affecting field, each valid on its own. */
const ASSIGNMENT_CHANGES: [string, ExperimentInit][] = [
  [
    "variants",
    {
      variants: [
        { key: "control", value: str("grey"), weight: 50, control: true },
        { key: "green", value: str("green"), weight: 50, control: false },
      ],
    },
  ],
  [
    "weights",
    {
      variants: [
        { key: "control", value: str("grey"), weight: 30, control: true },
        { key: "blue", value: str("blue"), weight: 70, control: false },
      ],
    },
  ],
  [
    "audience_percent",
    {
      audiencePercent: 40,
      variants: [
        { key: "control", value: str("grey"), weight: 20, control: true },
        { key: "blue", value: str("blue"), weight: 20, control: false },
      ],
    },
  ],
  ["targeting_rule", { targetingRule: 'country == "DE"' }],
  ["conflict_domains", { conflictDomains: ["checkout"] }],
  ["priority", { priority: 7 }],
];

const FROZEN: ExperimentStatusName[] = [
  "in_review",
  "approved",
  "rejected",
  "running",
  "paused",
  "completed",
  "archived",
];

describe("freeze and versions", () => {
  let t: TestApp;
  let team: Team;
  let admin: Actor;
  let db: pg.Client;

  beforeAll(async () => {
    t = await startTestApp();
    team = {
      owner: await makeUser(t, Role.EXPERIMENTER),
      approver: await makeUser(t, Role.APPROVER),
    };
    admin = await makeUser(t, Role.ADMIN);
    db = new pg.Client({ connectionString: t.database.url });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await t.stop();
  });

  const update = (actor: Actor, base: Experiment, change: ExperimentInit, expected: number) =>
    actor.experiments.updateExperiment({
      experiment: { ...validExperiment(base.flagKey, change), id: base.id },
      expectedVersion: expected,
    });

  describe("UpdateExperiment outside draft", () => {
    const fixtures = new Map<ExperimentStatusName, Promise<Experiment>>();
    const fixture = (status: ExperimentStatusName) => {
      let f = fixtures.get(status);
      if (f === undefined) {
        f = experimentIn(t, team, status);
        fixtures.set(status, f);
      }
      return f;
    };

    const cases = FROZEN.flatMap((status) =>
      [
        ...ASSIGNMENT_CHANGES,
        ["name (not assignment-affecting)", { name: "Renamed" }] as const,
      ].map(([field, change]) => ({ status, field, change })),
    );

    it.each(cases)("$status: a change of $field is refused", async ({ status, field, change }) => {
      const experiment = await fixture(status);
      const before = await snapshot(team.owner, experiment.id);
      for (const actor of [team.owner, admin]) {
        const error = await errorOf(update(actor, experiment, change, before.experiment.version));
        expect([field, Code[error.code]]).toEqual([field, "FailedPrecondition"]);
        expect(error.rawMessage).toBe(`only drafts can be edited; this experiment is ${status}`);
      }
      const after = await snapshot(team.owner, experiment.id);
      expect(after).toEqual(before);
      expect(after.versions).toHaveLength(1);
    });

    it("a change that would be valid in draft is accepted there", async () => {
      const draft = await experimentIn(t, team, "draft");
      let version = draft.version;
      for (const [field, change] of ASSIGNMENT_CHANGES) {
        const { experiment } = await update(team.owner, draft, change, version);
        expect([field, experiment?.version]).toEqual([field, version + 1]);
        version += 1;
      }
    });
  });

  describe("expected_version and flag_key", () => {
    it("a stale or future expected_version is ABORTED and changes nothing", async () => {
      const draft = await experimentIn(t, team, "draft");
      const v2 = (await update(team.owner, draft, { name: "Second" }, 1)).experiment!;
      expect(v2.version).toBe(2);
      const before = await snapshot(team.owner, draft.id);
      for (const expected of [1, 3]) {
        const error = await errorOf(update(team.owner, draft, { priority: 9 }, expected));
        expect(Code[error.code]).toBe("Aborted");
        expect(error.rawMessage).toBe(
          `expected_version: the experiment is at version 2, not ${expected}; read it again`,
        );
      }
      expect(await snapshot(team.owner, draft.id)).toEqual(before);
    });

    it("expected_version 0 (not set) is INVALID_ARGUMENT", async () => {
      const draft = await experimentIn(t, team, "draft");
      const before = await snapshot(team.owner, draft.id);
      const error = await errorOf(update(team.owner, draft, { name: "x" }, 0));
      expect(Code[error.code]).toBe("InvalidArgument");
      expect(error.rawMessage).toMatch(/^expected_version: is required/);
      expect(await snapshot(team.owner, draft.id)).toEqual(before);
    });

    it("a flag_key change is INVALID_ARGUMENT and changes nothing", async () => {
      const draft = await experimentIn(t, team, "draft");
      const otherFlag = await makeFlag(t);
      const before = await snapshot(team.owner, draft.id);
      const error = await errorOf(
        team.owner.experiments.updateExperiment({
          experiment: { ...validExperiment(otherFlag), id: draft.id },
          expectedVersion: 1,
        }),
      );
      expect(Code[error.code]).toBe("InvalidArgument");
      expect(error.rawMessage).toBe(
        `experiment.flag_key: cannot change (${draft.flagKey}); create a new experiment`,
      );
      expect(await snapshot(team.owner, draft.id)).toEqual(before);
    });
  });

  describe("versions", () => {
    it("keeps every version with its configuration and author", async () => {
      const flagKey = await makeFlag(t);
      const configs: ExperimentInit[] = [
        {},
        { name: "Blue button, v2", description: "Second thoughts" },
        {
          audiencePercent: 60,
          variants: [
            { key: "control", value: str("grey"), weight: 30, control: true },
            { key: "blue", value: str("blue"), weight: 30, control: false },
          ],
        },
        {
          targetingRule: 'country == "RU"',
          conflictDomains: ["checkout", "pricing"],
          priority: 3,
          metricKeys: ["conversions", "errors"],
        },
        {
          guardrails: [
            {
              metricKey: "error_rate",
              threshold: 0.05,
              direction: Direction.INCREASE_IS_BAD,
              windowSeconds: 300,
              minSampleSize: 200,
              action: GuardrailAction.ROLLBACK,
            },
          ],
        },
      ];
      // Each version builds on the previous one.
      const inputs = configs.map((_, i) =>
        validExperiment(flagKey, Object.assign({}, ...configs.slice(0, i + 1))),
      );
      const authors = [team.owner, team.owner, admin, team.owner, admin];
      const { experiment: created } = await team.owner.experiments.createExperiment({
        experiment: inputs[0],
      });
      const id = created!.id;
      for (let i = 1; i < inputs.length; i++) {
        const { experiment } = await authors[i]!.experiments.updateExperiment({
          experiment: { ...inputs[i]!, id },
          expectedVersion: i,
        });
        expect(experiment?.version).toBe(i + 1);
      }

      const { versions } = await team.owner.experiments.listExperimentVersions({ id });
      expect(versions.map((v) => [v.version, v.authorId, v.experiment?.version])).toEqual(
        inputs.map((_, i) => [i + 1, authors[i]!.id, i + 1]),
      );
      const configOf = (e: Experiment | undefined) => ({
        flagKey: e?.flagKey,
        name: e?.name,
        description: e?.description,
        audiencePercent: e?.audiencePercent,
        variants: e?.variants.map((v) => [v.key, v.value?.kind, v.weight, v.control]),
        targetingRule: e?.targetingRule,
        primaryMetricKey: e?.primaryMetricKey,
        metricKeys: e?.metricKeys,
        guardrails: e?.guardrails.map((g) => ({ ...g })),
        conflictDomains: e?.conflictDomains,
        priority: e?.priority,
      });
      versions.forEach((v, i) => {
        expect([v.version, configOf(v.experiment)]).toEqual([i + 1, configOf(inputs[i])]);
        expect(v.experiment?.id).toBe(id);
        expect(v.createdAt).toBeDefined();
      });
      // The experiment itself carries the last version's configuration.
      const { experiment: current } = await team.owner.experiments.getExperiment({ id });
      expect(configOf(current)).toEqual(configOf(inputs.at(-1)));

      // State changes add no versions.
      await act(team.owner, "submit", id);
      await act(team.approver, "approve", id);
      const after = await team.owner.experiments.listExperimentVersions({ id });
      expect(after.versions).toEqual(versions);
    });
  });

  describe("history and audit log", () => {
    it("records every step of a whole lifecycle, in order", async () => {
      const flagKey = await makeFlag(t);
      const { owner, approver } = team;
      const { experiment } = await owner.experiments.createExperiment({
        experiment: validExperiment(flagKey),
      });
      const id = experiment!.id;
      await owner.experiments.updateExperiment({
        experiment: { ...validExperiment(flagKey, { name: "v2" }), id },
        expectedVersion: 1,
      });
      await act(owner, "submit", id, "ready");
      await act(approver, "request_changes", id, "more metrics");
      await owner.experiments.updateExperiment({
        experiment: { ...validExperiment(flagKey, { name: "v3", metricKeys: ["errors"] }), id },
        expectedVersion: 2,
      });
      await act(owner, "submit", id, "again");
      await act(approver, "reject", id, "no");
      await act(owner, "rework", id, "reworking");
      await act(owner, "submit", id, "third time");
      await act(approver, "approve", id, "ok");
      await act(admin, "start", id);
      await act(owner, "pause", id, "hold on");
      await act(owner, "resume", id);
      await owner.experiments.completeExperiment({
        id,
        outcome: Outcome.NO_EFFECT,
        winnerVariantKey: "",
        justification: "flat",
      });
      await act(owner, "archive", id);

      const expected: [string, string | null, string, number, string, string][] = [
        ["created", null, "draft", 1, owner.id, ""],
        ["updated", "draft", "draft", 2, owner.id, ""],
        ["submit", "draft", "in_review", 2, owner.id, "ready"],
        ["request_changes", "in_review", "draft", 2, approver.id, "more metrics"],
        ["updated", "draft", "draft", 3, owner.id, ""],
        ["submit", "draft", "in_review", 3, owner.id, "again"],
        ["reject", "in_review", "rejected", 3, approver.id, "no"],
        ["rework", "rejected", "draft", 3, owner.id, "reworking"],
        ["submit", "draft", "in_review", 3, owner.id, "third time"],
        ["approve", "in_review", "approved", 3, approver.id, "ok"],
        ["start", "approved", "running", 3, admin.id, ""],
        ["pause", "running", "paused", 3, owner.id, "hold on"],
        ["resume", "paused", "running", 3, owner.id, ""],
        ["complete", "running", "completed", 3, owner.id, "flat"],
        ["archive", "completed", "archived", 3, owner.id, ""],
      ];

      const { entries } = await owner.experiments.getExperimentHistory({ id });
      const historyAction: Record<string, ExperimentAction> = {
        created: ExperimentAction.CREATED,
        updated: ExperimentAction.UPDATED,
        submit: ExperimentAction.SUBMITTED,
        request_changes: ExperimentAction.CHANGES_REQUESTED,
        reject: ExperimentAction.REJECTED,
        rework: ExperimentAction.REWORKED,
        approve: ExperimentAction.APPROVED,
        start: ExperimentAction.STARTED,
        pause: ExperimentAction.PAUSED,
        resume: ExperimentAction.RESUMED,
        complete: ExperimentAction.COMPLETED,
        archive: ExperimentAction.ARCHIVED,
      };
      const statusOf = (name: string | null) =>
        name === null
          ? ExperimentStatus.UNSPECIFIED
          : ExperimentStatus[name.toUpperCase() as keyof typeof ExperimentStatus];
      expect(
        entries.map((e) => [
          ExperimentAction[e.action],
          ExperimentStatus[e.fromStatus],
          ExperimentStatus[e.toStatus],
          e.version,
          e.actorId,
          e.comment,
        ]),
      ).toEqual(
        expected.map(([action, from, to, version, actor, comment]) => [
          ExperimentAction[historyAction[action]!],
          ExperimentStatus[statusOf(from)],
          ExperimentStatus[statusOf(to)],
          version,
          actor,
          comment,
        ]),
      );
      const times = entries.map((e) => Number(e.at!.seconds) * 1e3 + e.at!.nanos / 1e6);
      expect(times).toEqual([...times].sort((a, b) => a - b));

      const { rows } = await db.query<{
        action: string;
        from_status: string | null;
        to_status: string;
        version: number;
        actor_id: string;
      }>(
        "select action, from_status, to_status, version, actor_id from audit_log where entity_type='experiment' and entity_id=$1 order by at, id",
        [id],
      );
      expect(
        rows.map((r) => [r.action, r.from_status, r.to_status, r.version, r.actor_id]),
      ).toEqual(
        expected.map(([action, from, to, version, actor]) => [action, from, to, version, actor]),
      );
    });
  });
});
