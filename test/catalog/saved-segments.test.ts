/**
 * Saved segments (docs/saved-segments.md): create, read, list, update
 * (each a new version, the old kept) and delete, audited, with the field
 * named on bad input; `segment("key")` in experiment targeting rules,
 * inlined when the experiment is saved and frozen with that version; decide
 * answers for a segment-based rule against a hand-written expectation; and
 * the delete refused while an experiment uses the segment.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code, ConnectError } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { CatalogService } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { LearningService } from "../../gen/lotty/learnings/v1/learnings_pb.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import {
  act,
  experimentIn,
  greyBlue,
  makeTeam,
  makeTypedFlag,
  makeUser,
  untilInSnapshot,
  validExperiment,
  type Team,
} from "../support/builders.js";
import { seededRandom } from "../support/random.js";
import { query } from "../events/support.js";
import { DecisionReason, decideLocal } from "../decision/support.js";

let t: TestApp;
let team: Team;

beforeAll(async () => {
  t = await startTestApp();
  team = await makeTeam(t);
});

afterAll(async () => {
  await t?.stop();
});

const catalog = () => client(CatalogService, t.baseUrl, t.adminKey);

async function failure(call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("no error");
}

const POWER_V1 = 'sessions_30d >= 20 AND platform IN ["ios", "android"]';
const POWER_V2 = "sessions_30d >= 50";

describe("saved segments", () => {
  it("creates, reads, lists, updates into new versions and deletes, auditing each change", async () => {
    const { savedSegment } = await catalog().createSavedSegment({
      savedSegment: {
        key: "crud_users",
        displayName: " Crud users ",
        description: "for the CRUD test",
        rule: POWER_V1,
      },
    });
    expect(savedSegment).toMatchObject({
      key: "crud_users",
      displayName: "Crud users",
      rule: POWER_V1,
      version: 1,
      usedBy: [],
      attributes: ["sessions_30d", "platform"],
    });
    const updated = await catalog().updateSavedSegment({
      savedSegment: { key: "crud_users", displayName: "Crud users", rule: POWER_V2 },
      expectedVersion: 1,
    });
    expect(updated.savedSegment).toMatchObject({ version: 2, rule: POWER_V2 });
    const stale = await failure(() =>
      catalog().updateSavedSegment({
        savedSegment: { key: "crud_users", displayName: "x", rule: POWER_V1 },
        expectedVersion: 1,
      }),
    );
    expect(stale.code).toBe(Code.Aborted);
    expect(stale.rawMessage).toMatch(/expected_version: the saved segment is at version 2/);
    expect((await catalog().getSavedSegment({ key: "crud_users" })).savedSegment).toMatchObject({
      version: 2,
      rule: POWER_V2,
    });
    const { versions } = await catalog().listSavedSegmentVersions({ key: "crud_users" });
    expect(versions.map((v) => [v.version, v.rule])).toEqual([
      [1, POWER_V1],
      [2, POWER_V2],
    ]);
    await catalog().createSavedSegment({
      savedSegment: { key: "crud_other", displayName: "Other", rule: 'country == "DE"' },
    });
    const page = await catalog().listSavedSegments({ pageSize: 1 });
    const next = await catalog().listSavedSegments({ pageSize: 1, pageToken: page.nextPageToken });
    expect([...page.savedSegments, ...next.savedSegments].map((s) => s.key)).toEqual([
      "crud_other",
      "crud_users",
    ]);
    await catalog().deleteSavedSegment({ key: "crud_other" });
    expect((await failure(() => catalog().getSavedSegment({ key: "crud_other" }))).code).toBe(
      Code.NotFound,
    );
    // The key stays taken; the versions stay readable.
    const taken = await failure(() =>
      catalog().createSavedSegment({
        savedSegment: { key: "crud_other", displayName: "Again", rule: "a == 1" },
      }),
    );
    expect(taken.code).toBe(Code.AlreadyExists);
    expect((await catalog().listSavedSegmentVersions({ key: "crud_other" })).versions).toHaveLength(
      1,
    );
    const audit = await query<{ entity_id: string; action: string; data: unknown }>(
      t,
      `select entity_id, action, data from audit_log where entity_type = 'saved_segment'
       and entity_id like 'crud_%' order by at, id`,
    );
    expect(audit.map((r) => `${r.entity_id} ${r.action}`)).toEqual([
      "crud_users saved_segment.created",
      "crud_users saved_segment.updated",
      "crud_other saved_segment.created",
      "crud_other saved_segment.deleted",
    ]);
    expect(audit[1]?.data).toMatchObject({
      version: 2,
      before: { rule: POWER_V1 },
      after: { rule: POWER_V2 },
    });
  });

  it("names the field of a bad saved segment", async () => {
    await catalog().createSavedSegment({
      savedSegment: { key: "base_seg", displayName: "Base", rule: "a == 1" },
    });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ key: "", displayName: "x", rule: "a == 1" }, /saved_segment\.key: is required/],
      [{ key: "1abc", displayName: "x", rule: "a == 1" }, /saved_segment\.key: must be 1–64/],
      [{ key: "or", displayName: "x", rule: "a == 1" }, /saved_segment\.key: "or" is a reserved/],
      [{ key: "ok", displayName: "", rule: "a == 1" }, /saved_segment\.display_name: is required/],
      [{ key: "ok", displayName: "x", rule: "  " }, /saved_segment\.rule: is required/],
      [
        { key: "ok", displayName: "x", rule: 'country = "DE"' },
        /saved_segment\.rule: at 8: expected a comparison operator .*use == to compare/,
      ],
      [
        { key: "ok", displayName: "x", rule: 'a == 1 OR segment("base_seg")' },
        /saved_segment\.rule: at 10: saved segments cannot reference other saved segments/,
      ],
    ];
    for (const [savedSegment, message] of cases) {
      const error = await failure(() => catalog().createSavedSegment({ savedSegment }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(message);
    }
    const update = await failure(() =>
      catalog().updateSavedSegment({
        savedSegment: { key: "base_seg", displayName: "Base", rule: "a ==" },
        expectedVersion: 1,
      }),
    );
    expect(update.code).toBe(Code.InvalidArgument);
    expect(update.rawMessage).toMatch(/saved_segment\.rule: at 4: expected a value/);
    expect((await failure(() => catalog().getSavedSegment({ key: "missing_one" }))).code).toBe(
      Code.NotFound,
    );
  });

  it("lets readers read and only experimenters and admins write", async () => {
    const viewer = await makeUser(t, Role.VIEWER);
    const approver = await makeUser(t, Role.APPROVER);
    const as = (key: string) => client(CatalogService, t.baseUrl, key);
    await as(team.owner.key).createSavedSegment({
      savedSegment: { key: "perm_seg", displayName: "Perm", rule: "a == 1" },
    });
    for (const reader of [viewer, approver]) {
      await as(reader.key).getSavedSegment({ key: "perm_seg" });
      await as(reader.key).listSavedSegments({});
      await as(reader.key).listSavedSegmentVersions({ key: "perm_seg" });
      const denied = await failure(() => as(reader.key).deleteSavedSegment({ key: "perm_seg" }));
      expect(denied.code).toBe(Code.PermissionDenied);
    }
  });
});

describe('segment("key") in targeting rules', () => {
  beforeAll(async () => {
    await catalog().createSavedSegment({
      savedSegment: { key: "power_users", displayName: "Power users", rule: POWER_V1 },
    });
  });

  it("compiles the segment's rule in, refuses unknown segments naming the field and the key", async () => {
    const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
    const rule = 'segment("power_users") AND country == "DE"';
    const { experiment } = await team.owner.experiments.createExperiment({
      experiment: validExperiment(flagKey, { targetingRule: rule }),
    });
    expect(experiment?.targetingRule).toBe(rule);
    expect(experiment?.compiledTargetingRule).toBe(`(${POWER_V1}) AND country == "DE"`);
    expect(experiment?.savedSegments.map((s) => [s.key, s.version])).toEqual([["power_users", 1]]);

    const cases: [string, RegExp][] = [
      [
        'segment("nobody_knows") OR a == 1',
        /experiment\.targeting_rule: at 0: unknown saved segment "nobody_knows"/,
      ],
      [
        "a == 1 AND segment(power_users)",
        /experiment\.targeting_rule: at 19: expected a saved segment key/,
      ],
      [
        'segment("power_users") AND country ==',
        /experiment\.targeting_rule: at 37: expected a value/,
      ],
    ];
    for (const [targetingRule, message] of cases) {
      const error = await failure(() =>
        team.owner.experiments.createExperiment({
          experiment: validExperiment(flagKey, { targetingRule }),
        }),
      );
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(message);
    }
    // Similar experiments for a draft read the rule as a save would.
    const learnings = client(LearningService, t.baseUrl, t.adminKey);
    await learnings.findSimilar({ draft: validExperiment(flagKey, { targetingRule: rule }) });
    const unknown = await failure(() =>
      learnings.findSimilar({
        draft: validExperiment(flagKey, { targetingRule: 'segment("nobody_knows")' }),
      }),
    );
    expect(unknown.code).toBe(Code.InvalidArgument);
    expect(unknown.rawMessage).toMatch(
      /draft\.targeting_rule: at 0: unknown saved segment "nobody_knows"/,
    );
    // An attribute called "segment" is still an attribute.
    const plain = await team.owner.experiments.createExperiment({
      experiment: validExperiment(flagKey, { targetingRule: 'segment == "a"' }),
    });
    expect(plain.experiment?.compiledTargetingRule).toBe('segment == "a"');
    expect(plain.experiment?.savedSegments).toEqual([]);
  });

  it("freezes the segment version with the experiment version; a new version picks up the new rule; decide follows the frozen rule", async () => {
    await catalog().createSavedSegment({
      savedSegment: { key: "frozen_users", displayName: "Frozen", rule: POWER_V1 },
    });
    const rule = 'segment("frozen_users") AND country == "DE"';
    // A running experiment and a draft, both compiled with version 1.
    const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
    const running = await experimentIn(t, team, "running", {
      flagKey,
      overrides: greyBlue({ targetingRule: rule }),
    });
    await untilInSnapshot(t, flagKey, running.id);
    const draft = await experimentIn(t, team, "draft", {
      overrides: { targetingRule: `NOT segment("frozen_users")` },
    });

    await catalog().updateSavedSegment({
      savedSegment: { key: "frozen_users", displayName: "Frozen", rule: POWER_V2 },
      expectedVersion: 1,
    });

    // The running experiment keeps version 1, in its record and in decide.
    const { experiment: still } = await team.owner.experiments.getExperiment({ id: running.id });
    expect(still?.compiledTargetingRule).toBe(`(${POWER_V1}) AND country == "DE"`);
    expect(still?.savedSegments.map((s) => s.version)).toEqual([1]);
    // The configuration decide and the local evaluators load carries the
    // inlined rule: none of them knows segment(...).
    await t.app.snapshots.refresh();
    await waitFor(
      async () =>
        t.app.snapshots.configuration?.source.experiments.find((e) => e.id === running.id)
          ?.targetingRule === `(${POWER_V1}) AND country == "DE"`,
      5_000,
      "the inlined rule in the decide configuration",
    );
    const rand = seededRandom(21);
    const platforms = ["ios", "android", "web", undefined];
    const countries = ["DE", "FR", undefined];
    let targeted = 0;
    for (let i = 0; i < 300; i++) {
      const attributes: Record<string, string | number> = {};
      const sessions = Math.floor(rand() * 80);
      if (rand() < 0.9) attributes.sessions_30d = sessions;
      const platform = platforms[Math.floor(rand() * platforms.length)];
      if (platform !== undefined) attributes.platform = platform;
      const country = countries[Math.floor(rand() * countries.length)];
      if (country !== undefined) attributes.country = country;
      // Version 1 by hand: sessions_30d >= 20 AND platform IN [ios, android] AND country == DE.
      const expected =
        typeof attributes.sessions_30d === "number" &&
        attributes.sessions_30d >= 20 &&
        (attributes.platform === "ios" || attributes.platform === "android") &&
        attributes.country === "DE";
      if (expected) targeted++;
      const d = await decideLocal(t, `frozen-${i}`, flagKey, attributes);
      expect([i, d.reason]).toEqual([
        i,
        expected ? DecisionReason.EXPERIMENT : DecisionReason.TARGETING_MISMATCH,
      ]);
    }
    expect(targeted).toBeGreaterThan(10);

    // Editing the draft makes a new version that picks up version 2.
    const { experiment: edited } = await team.owner.experiments.updateExperiment({
      experiment: { ...draft, name: "edited" },
      expectedVersion: draft.version,
    });
    expect(edited?.compiledTargetingRule).toBe(`NOT (${POWER_V2})`);
    expect(edited?.savedSegments.map((s) => [s.key, s.version])).toEqual([["frozen_users", 2]]);
    const { versions } = await team.owner.experiments.listExperimentVersions({ id: draft.id });
    expect(
      versions.map((v) => [
        v.version,
        v.experiment?.compiledTargetingRule,
        v.experiment?.targetingRule,
      ]),
    ).toEqual([
      [1, `NOT (${POWER_V1})`, 'NOT segment("frozen_users")'],
      [2, `NOT (${POWER_V2})`, 'NOT segment("frozen_users")'],
    ]);

    // Both keep the segment from being deleted; the refusal names them.
    const { savedSegment } = await catalog().getSavedSegment({ key: "frozen_users" });
    expect(savedSegment?.usedBy.map((u) => [u.experimentId, u.segmentVersion, u.status])).toEqual([
      [running.id, 1, "running"],
      [draft.id, 2, "draft"],
    ]);
    const refused = await failure(() => catalog().deleteSavedSegment({ key: "frozen_users" }));
    expect(refused.code).toBe(Code.FailedPrecondition);
    expect(refused.rawMessage).toContain(running.id);
    expect(refused.rawMessage).toContain(draft.id);

    // Completed, and the draft edited to stop using it: deletable.
    await act(team.owner, "complete", running.id);
    const { experiment: latest } = await team.owner.experiments.getExperiment({ id: draft.id });
    await team.owner.experiments.updateExperiment({
      experiment: { ...latest!, targetingRule: 'country == "FR"' },
      expectedVersion: latest!.version,
    });
    expect((await catalog().getSavedSegment({ key: "frozen_users" })).savedSegment?.usedBy).toEqual(
      [],
    );
    await catalog().deleteSavedSegment({ key: "frozen_users" });
    // A deleted segment cannot be referenced any more.
    const gone = await failure(() =>
      team.owner.experiments.createExperiment({
        experiment: validExperiment(flagKey, { targetingRule: 'segment("frozen_users")' }),
      }),
    );
    expect(gone.code).toBe(Code.InvalidArgument);
    expect(gone.rawMessage).toMatch(
      /experiment\.targeting_rule: at 0: unknown saved segment "frozen_users"/,
    );
  });
});
