/**
 * Decide (product.md §5, architecture.md invariants 1–3) on one real app:
 * through the generated client over Connect and gRPC, and in-process for
 * the statistical checks.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import { Code } from "@connectrpc/connect";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { connect } from "@nats-io/transport-node";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { FlagService, FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import type { Experiment } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { DecisionService, type Decision } from "../../gen/lotty/decision/v1/decision_pb.js";
import { assignVariant, bucketOf, variantRanges } from "../../src/decision/bucketing.js";
import { claimExperiment } from "../../src/decision/eligibility.js";
import { createDecisionSigner } from "../../src/decision/decision-id.js";
import type { SnapshotExperiment } from "../../src/decision/types.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { TEST_NATS_URL } from "../support/env.js";
import { client, type TransportKind } from "../support/clients.js";
import { errorOf } from "../experiments/support.js";
import {
  CHI2_CRITICAL_P001,
  DecisionReason,
  chiSquare,
  completeAll,
  decideLocal,
  forEachChunked,
  metricValue,
  plain,
  untilDecided,
  type LocalDecision,
} from "./support.js";
import {
  experimentIn,
  makeFlag,
  makeUser,
  type Actor,
  type Team,
  greyBlue,
  layout,
  makeTeam,
  makeTypedFlag,
  runExperiment,
  uniqueKey,
  untilInSnapshot,
} from "../support/builders.js";

const TARGETING = 'country IN ["RU","KZ"] AND app_version >= "1.6.0"';
const MATCHING = { country: "KZ", app_version: "1.10.2" };

/** The variant (or undefined: outside the audience) the pure assignment gives. */
function expectedVariant(
  experimentId: string,
  subjectId: string,
  variants: { key: string; weight: number }[],
  audience: number,
): string | undefined {
  return assignVariant(bucketOf(experimentId, subjectId), variantRanges(variants, audience));
}

describe("Decide", () => {
  let t: TestApp;
  let team: Team;
  let admin: Actor;
  let viewer: Actor;

  beforeAll(async () => {
    t = await startTestApp();
    team = await makeTeam(t);
    admin = await makeUser(t, Role.ADMIN);
    viewer = await makeUser(t, Role.VIEWER);
  });
  afterAll(async () => {
    await t?.stop();
  });
  afterEach(async () => {
    await completeAll(t);
  });

  /**
   * Pauses `pausedId` and checks that its subjects see the default while
   * the other experiment's answers stay exactly as in `firsts` (a paused
   * experiment keeps its place in the ranking); after a resume, every
   * answer is as in `firsts` again.
   */
  async function expectPauseKeepsPlaces(
    pausedId: string,
    otherId: string,
    flagKeys: string[],
    firsts: LocalDecision[][],
    prefix: string,
  ): Promise<void> {
    // Every answer of these experiments names its experiment (no targeting rules).
    const pausedFlag = firsts[0]!.find((d) => d.experimentId === pausedId);
    expect(pausedFlag).toBeDefined();
    const answers = () =>
      firsts.map(
        (_, i) =>
          t.app.decision.decide({ subjectId: `${prefix}-${i}`, flagKeys })
            .decisions as LocalDecision[],
      );
    await team.owner.experiments.pauseExperiment({ id: pausedId, comment: "hold" });
    await untilDecided(
      t,
      `${prefix}-0`,
      pausedFlag!.flagKey!,
      (d) => d.reason === DecisionReason.DEFAULT,
    );
    answers().forEach((now, i) => {
      now.forEach((d, j) => {
        const was = firsts[i]![j]!;
        if (d.flagKey === pausedFlag!.flagKey) {
          expect(d.reason).toBe(DecisionReason.DEFAULT);
          expect(d.experimentId ?? "").toBe("");
        } else {
          expect(was.experimentId).toBe(otherId);
          expect(d).toEqual(was);
        }
      });
    });
    await team.owner.experiments.resumeExperiment({ id: pausedId });
    await untilDecided(
      t,
      `${prefix}-0`,
      pausedFlag!.flagKey!,
      (d) => d.reason !== DecisionReason.DEFAULT,
    );
    expect(answers()).toEqual(firsts);
  }

  describe("participation policy RPCs", () => {
    // First: nothing has set a policy yet in this database.
    it("returns the default policy when none was set", async () => {
      const decide = client(DecisionService, t.baseUrl, viewer.key);
      const { policy } = await decide.getParticipationPolicy({});
      expect(policy?.isDefault).toBe(true);
      expect(policy?.maxConcurrentExperiments).toBe(0);
      expect(policy?.cooldownSeconds).toBe(0);
      expect(policy?.updatedBy).toBe("");
      expect(policy?.updatedAt).toBeUndefined();
    });

    it("stores a policy set by an admin and refuses others and out-of-range values", async () => {
      const asAdmin = client(DecisionService, t.baseUrl, admin.key);
      const before = Date.now();
      const { policy: set } = await asAdmin.setParticipationPolicy({
        maxConcurrentExperiments: 1_000,
        cooldownSeconds: 7_776_000,
      });
      expect(set?.isDefault).toBe(false);
      expect(set?.maxConcurrentExperiments).toBe(1_000);
      expect(set?.cooldownSeconds).toBe(7_776_000);
      expect(set?.updatedBy).toBe(admin.id);
      const at = Number(set?.updatedAt?.seconds ?? 0n) * 1000;
      expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(at).toBeLessThanOrEqual(Date.now());

      const { policy: read } = await client(
        DecisionService,
        t.baseUrl,
        viewer.key,
      ).getParticipationPolicy({});
      expect(read).toEqual(set);

      for (const who of [viewer, team.owner, team.approver]) {
        const error = await errorOf(
          client(DecisionService, t.baseUrl, who.key).setParticipationPolicy({
            maxConcurrentExperiments: 2,
            cooldownSeconds: 0,
          }),
        );
        expect(error.code).toBe(Code.PermissionDenied);
      }

      const invalid: [number, number, string][] = [
        [-1, 0, "max_concurrent_experiments"],
        [1_001, 0, "max_concurrent_experiments"],
        [0, -1, "cooldown_seconds"],
        [0, 7_776_001, "cooldown_seconds"],
      ];
      for (const [maxConcurrentExperiments, cooldownSeconds, field] of invalid) {
        const error = await errorOf(
          asAdmin.setParticipationPolicy({ maxConcurrentExperiments, cooldownSeconds }),
        );
        expect(error.code).toBe(Code.InvalidArgument);
        expect(error.rawMessage).toContain(field);
      }
      // Nothing refused changed the stored policy.
      expect((await asAdmin.getParticipationPolicy({})).policy).toEqual(set);

      const { policy: reset } = await asAdmin.setParticipationPolicy({
        maxConcurrentExperiments: 0,
        cooldownSeconds: 0,
      });
      expect(reset?.isDefault).toBe(false);
      expect(reset?.maxConcurrentExperiments).toBe(0);
    });

    it("puts every subject in at most one experiment with max_concurrent_experiments 1", async () => {
      const asAdmin = client(DecisionService, t.baseUrl, admin.key);
      const spec = greyBlue();
      const flagA = await makeFlag(t);
      const flagB = await makeFlag(t);
      const a = await runExperiment(t, team, flagA, spec);
      const b = await runExperiment(t, team, flagB, spec);
      await untilInSnapshot(t, flagA, a.id);
      await untilInSnapshot(t, flagB, b.id);
      try {
        await asAdmin.setParticipationPolicy({ maxConcurrentExperiments: 1, cooldownSeconds: 0 });
        const propagation = await untilDecided(
          t,
          "probe",
          flagB,
          () => t.app.snapshots.current?.policy.maxConcurrentExperiments === 1,
        );
        expect(propagation).toBeLessThan(1_000);

        const wins = new Map<string, number>([
          [a.id, 0],
          [b.id, 0],
        ]);
        const decide = client(DecisionService, t.baseUrl, viewer.key, "grpc");
        const firsts: LocalDecision[][] = [];
        for (let i = 0; i < 300; i++) {
          const subjectId = `policy-${i}`;
          const both = () =>
            t.app.decision.decide({ subjectId, flagKeys: [flagA, flagB] })
              .decisions as LocalDecision[];
          const first = both();
          firsts.push(first);
          const inExperiment = first.filter((d) => d.reason === DecisionReason.EXPERIMENT);
          const limited = first.filter((d) => d.reason === DecisionReason.PARTICIPATION_LIMIT);
          // Both target everyone at 100 %: exactly one takes the subject.
          expect(inExperiment).toHaveLength(1);
          expect(limited).toHaveLength(1);
          const loser = limited[0]!;
          expect(plain(loser.value)).toBe("grey");
          expect(loser.variantKey ?? "").toBe("");
          expect(loser.experimentId).toBe(loser.flagKey === flagA ? a.id : b.id);
          expect(loser.decisionId).toMatch(/^d1\./);
          const winner = inExperiment[0]!;
          wins.set(winner.experimentId!, wins.get(winner.experimentId!)! + 1);
          // Deterministic across calls, and a flag's answer does not depend on
          // which other flags are asked for.
          expect(both()).toEqual(first);
          expect(t.app.decision.decide({ subjectId, flagKeys: [flagB] }).decisions).toEqual([
            first[1],
          ]);
          if (i < 20) {
            const { decisions } = await decide.decide({ subjectId, flagKeys: [flagA, flagB] });
            expect(decisions.map((d) => [d.reason, d.experimentId, d.decisionId])).toEqual(
              first.map((d) => [d.reason, d.experimentId, d.decisionId]),
            );
          }
        }
        expect(wins.get(a.id)! + wins.get(b.id)!).toBe(300);
        await expectPauseKeepsPlaces(a.id, b.id, [flagA, flagB], firsts, "policy");
      } finally {
        await asAdmin.setParticipationPolicy({ maxConcurrentExperiments: 0, cooldownSeconds: 0 });
        await untilDecided(
          t,
          "probe",
          flagB,
          () => t.app.snapshots.current?.policy.maxConcurrentExperiments === 0,
        );
      }
    });
  });

  describe.each<TransportKind>(["connect-json-h1", "grpc"])("over %s", (kind) => {
    const decider = () => client(DecisionService, t.baseUrl, viewer.key, kind);

    it("answers DEFAULT with the flag's default for a flag without an experiment", async () => {
      const flagKey = await makeFlag(t);
      await untilInSnapshot(t, flagKey);
      const { decisions } = await decider().decide({ subjectId: "u-1", flagKeys: [flagKey] });
      expect(decisions).toHaveLength(1);
      const [d] = decisions as [Decision];
      expect(d.flagKey).toBe(flagKey);
      expect(d.reason).toBe(DecisionReason.DEFAULT);
      expect(plain(d.value)).toBe("grey");
      expect(d.decisionId).toMatch(/^d1\.[\w-]+\.[\w-]{22}$/);
      expect(d.decisionId.length).toBeLessThanOrEqual(512);
      expect(d.experimentId).toBe("");
      expect(d.variantKey).toBe("");
    });

    it("answers FLAG_NOT_FOUND for unknown and archived flags without failing the call", async () => {
      const known = await makeFlag(t);
      const archived = await makeFlag(t);
      await client(FlagService, t.baseUrl, t.adminKey).archiveFlag({ key: archived });
      await untilInSnapshot(t, known);
      await untilDecided(t, "u-2", archived, (d) => d.reason === DecisionReason.FLAG_NOT_FOUND);
      const { decisions } = await decider().decide({
        subjectId: "u-2",
        flagKeys: ["no_such_flag", archived, known],
      });
      expect(decisions.map((d) => [d.flagKey, d.reason])).toEqual([
        ["no_such_flag", DecisionReason.FLAG_NOT_FOUND],
        [archived, DecisionReason.FLAG_NOT_FOUND],
        [known, DecisionReason.DEFAULT],
      ]);
      for (const d of decisions.slice(0, 2)) {
        expect(d.value).toBeUndefined();
        expect(d.decisionId).toBe("");
        expect(d.experimentId).toBe("");
        expect(d.variantKey).toBe("");
      }
    });

    it("decides every non-archived flag, ordered by key, for an empty flag_keys", async () => {
      await makeFlag(t, uniqueKey("zz"));
      await makeFlag(t, uniqueKey("aa"));
      const gone = await makeFlag(t, uniqueKey("mm"));
      const flags = client(FlagService, t.baseUrl, t.adminKey);
      await flags.archiveFlag({ key: gone });
      const listed: string[] = [];
      let pageToken = "";
      do {
        const page = await flags.listFlags({ pageSize: 500, pageToken });
        listed.push(...page.flags.filter((f) => !f.archived).map((f) => f.key));
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      const expected = [...listed].sort();
      await untilDecided(
        t,
        "u-3",
        gone,
        () =>
          JSON.stringify([...(t.app.snapshots.current?.flags.keys() ?? [])].sort()) ===
          JSON.stringify(expected),
      );
      const { decisions } = await decider().decide({ subjectId: "u-3", flagKeys: [] });
      expect(decisions.map((d) => d.flagKey)).toEqual(expected);
      expect(expected).not.toContain(gone);
      expect(expected.length).toBeGreaterThanOrEqual(3);
      for (const d of decisions) expect(d.reason).toBe(DecisionReason.DEFAULT);
    });

    it("answers duplicates once, in request order", async () => {
      const a = await makeFlag(t, uniqueKey("b"));
      const b = await makeFlag(t, uniqueKey("a"));
      await untilInSnapshot(t, a);
      await untilInSnapshot(t, b);
      const { decisions } = await decider().decide({
        subjectId: "u-4",
        flagKeys: [a, "missing", b, a, "missing", b],
      });
      expect(decisions.map((d) => d.flagKey)).toEqual([a, "missing", b]);
    });

    it("applies targeting, audience, pause and resume (sticky)", async () => {
      const flagKey = await makeFlag(t);
      const variants = [
        { key: "control", weight: 10 },
        { key: "blue", weight: 10 },
      ];
      const experiment = await runExperiment(
        t,
        team,
        flagKey,
        layout(
          [
            { key: "control", value: "grey", weight: 10, control: true },
            { key: "blue", value: "blue", weight: 10 },
          ],
          20,
          { targetingRule: TARGETING },
        ),
      );
      await untilInSnapshot(t, flagKey, experiment.id);
      const decide = decider();

      const mismatches: JsonObject[] = [
        { country: "US", app_version: "2.0.0" },
        { country: "RU", app_version: "1.5.9" },
        { country: "RU" },
        {},
      ];
      for (const attributes of mismatches) {
        const { decisions } = await decide.decide({
          subjectId: "u-5",
          attributes,
          flagKeys: [flagKey],
        });
        const d = decisions[0]!;
        expect(d.reason).toBe(DecisionReason.TARGETING_MISMATCH);
        expect(d.experimentId).toBe(experiment.id);
        expect(d.variantKey).toBe("");
        expect(plain(d.value)).toBe("grey");
        expect(d.decisionId).not.toBe("");
      }

      const VALUES: Record<string, string> = { control: "grey", blue: "blue" };
      const subjects = Array.from({ length: 240 }, (_, i) => `sub-${i}`);
      /** One decision per subject, 40 requests in flight at a time. */
      const decideAll = async () => {
        const out: Decision[] = [];
        for (let i = 0; i < subjects.length; i += 40) {
          const answers = await Promise.all(
            subjects
              .slice(i, i + 40)
              .map((subjectId) =>
                decide.decide({ subjectId, attributes: MATCHING, flagKeys: [flagKey] }),
              ),
          );
          out.push(...answers.map((a) => a.decisions[0]!));
        }
        return out;
      };

      const before = await decideAll();
      const seen = { control: 0, blue: 0, outside: 0 };
      subjects.forEach((subjectId, i) => {
        const d = before[i]!;
        const want = expectedVariant(experiment.id, subjectId, variants, 20);
        expect(d.experimentId).toBe(experiment.id);
        if (want === undefined) {
          seen.outside++;
          expect(d.reason).toBe(DecisionReason.OUTSIDE_AUDIENCE);
          expect(d.variantKey).toBe("");
          expect(plain(d.value)).toBe("grey");
        } else {
          seen[want as "control" | "blue"]++;
          expect(d.reason).toBe(DecisionReason.EXPERIMENT);
          expect(d.variantKey).toBe(want);
          expect(plain(d.value)).toBe(VALUES[want]);
        }
      });
      // 240 subjects at 10 % / 10 % / 80 %: every category shows up.
      expect(seen.control).toBeGreaterThan(5);
      expect(seen.blue).toBeGreaterThan(5);
      expect(seen.outside).toBeGreaterThan(150);

      await team.owner.experiments.pauseExperiment({ id: experiment.id, comment: "check" });
      await untilDecided(t, "sub-0", flagKey, (d) => d.reason === DecisionReason.DEFAULT, {
        attributes: MATCHING,
      });
      for (const d of await decideAll()) {
        expect(d.reason).toBe(DecisionReason.DEFAULT);
        expect(plain(d.value)).toBe("grey");
        expect(d.experimentId).toBe("");
        expect(d.variantKey).toBe("");
      }

      await team.owner.experiments.resumeExperiment({ id: experiment.id });
      await untilDecided(t, "sub-0", flagKey, (d) => d.reason !== DecisionReason.DEFAULT, {
        attributes: MATCHING,
      });
      // Sticky: the same answers as before the pause, decision ids included.
      expect(await decideAll()).toEqual(before);
    });

    it("returns values of the flag's type for string, number, bool and json flags", async () => {
      const cases: { type: FlagType; kind: string; def: JsonValue; a: JsonValue; b: JsonValue }[] =
        [
          { type: FlagType.STRING, kind: "stringValue", def: "grey", a: "red", b: "blue" },
          { type: FlagType.NUMBER, kind: "numberValue", def: 1.5, a: 2, b: 3.25 },
          { type: FlagType.BOOL, kind: "boolValue", def: false, a: false, b: true },
          {
            type: FlagType.JSON,
            kind: "structValue",
            def: { size: "m", items: [1, 2] },
            a: { size: "s", items: [] },
            b: { size: "l", items: [3], nested: { on: true } },
          },
        ];
      const keys: string[] = [];
      for (const c of cases) keys.push(await makeTypedFlag(t, c.type, c.def));
      for (const key of keys) await untilInSnapshot(t, key);
      const decide = decider();
      const defaults = await decide.decide({ subjectId: "typed", flagKeys: keys });
      cases.forEach((c, i) => {
        const d = defaults.decisions[i]!;
        expect(d.reason).toBe(DecisionReason.DEFAULT);
        expect(d.value?.kind.case).toBe(c.kind);
        expect(plain(d.value)).toEqual(c.def);
      });

      const experiments: Experiment[] = [];
      for (const [i, c] of cases.entries()) {
        const e = await runExperiment(
          t,
          team,
          keys[i]!,
          layout(
            [
              { key: "a", value: c.a, weight: 50, control: true },
              { key: "b", value: c.b, weight: 50 },
            ],
            100,
          ),
        );
        experiments.push(e);
        await untilInSnapshot(t, keys[i]!, e.id);
      }
      const seen = new Set<string>();
      for (let s = 0; s < 20; s++) {
        const { decisions } = await decide.decide({ subjectId: `typed-${s}`, flagKeys: keys });
        cases.forEach((c, i) => {
          const d = decisions[i]!;
          expect(d.reason).toBe(DecisionReason.EXPERIMENT);
          expect(d.experimentId).toBe(experiments[i]!.id);
          expect(d.value?.kind.case).toBe(c.kind);
          expect(plain(d.value)).toEqual(d.variantKey === "a" ? c.a : c.b);
          seen.add(`${i}:${d.variantKey}`);
        });
      }
      expect(seen.size).toBe(8);
    });

    it("gives the same subject the same variant and decision id on every call", async () => {
      const flagKey = await makeFlag(t);
      const experiment = await runExperiment(
        t,
        team,
        flagKey,
        layout(
          [
            { key: "control", value: "grey", weight: 30, control: true },
            { key: "blue", value: "blue", weight: 30 },
            { key: "green", value: "green", weight: 30 },
          ],
          90,
        ),
      );
      await untilInSnapshot(t, flagKey, experiment.id);
      const decide = decider();
      for (const subjectId of ["alice", "bob", "carol", "dave", "Ünïcødé-subject"]) {
        const answers: Decision[] = [];
        for (let call = 0; call < 3; call++) {
          answers.push((await decide.decide({ subjectId, flagKeys: [flagKey] })).decisions[0]!);
        }
        expect(answers[0]!.decisionId).not.toBe("");
        expect(answers[1]).toEqual(answers[0]);
        expect(answers[2]).toEqual(answers[0]);
        const local = await decideLocal(t, subjectId, flagKey);
        expect(local.variantKey ?? "").toBe(answers[0]!.variantKey);
        expect(local.decisionId).toBe(answers[0]!.decisionId);
      }
    });
  });

  it("rejects malformed requests with INVALID_ARGUMENT naming the field", async () => {
    const flagKey = await makeFlag(t);
    await untilInSnapshot(t, flagKey);
    const decide = client(DecisionService, t.baseUrl, viewer.key);
    const manyAttributes: JsonObject = {};
    for (let i = 0; i < 101; i++) manyAttributes[`a${i}`] = i;
    const bad: [Parameters<typeof decide.decide>[0], string][] = [
      [{ subjectId: "", flagKeys: [flagKey] }, "subject_id"],
      [{ subjectId: "x".repeat(257), flagKeys: [flagKey] }, "subject_id"],
      [{ subjectId: "u", flagKeys: Array.from({ length: 201 }, (_, i) => `k${i}`) }, "flag_keys"],
      [{ subjectId: "u", attributes: manyAttributes, flagKeys: [flagKey] }, "attributes"],
      // 9,000 characters but 18,000 bytes of UTF-8: over 16 KiB as JSON.
      [
        { subjectId: "u", attributes: { name: "ж".repeat(9_000) }, flagKeys: [flagKey] },
        "attributes",
      ],
    ];
    for (const [request, field] of bad) {
      const error = await errorOf(decide.decide(request));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain(field);
    }
    // The limits themselves are fine.
    const { decisions } = await decide.decide({
      subjectId: "y".repeat(256),
      attributes: { name: "z".repeat(16_000) },
      flagKeys: [flagKey, ...Array.from({ length: 199 }, (_, i) => `k${i}`)],
    });
    expect(decisions).toHaveLength(200);
    expect(decisions[0]!.reason).toBe(DecisionReason.DEFAULT);
  });

  it("reflects Start and Pause in the in-process decide within a second", async () => {
    const flagKey = await makeFlag(t);
    const approved = await experimentIn(t, team, "approved", {
      flagKey,
      overrides: greyBlue(),
    });
    await untilInSnapshot(t, flagKey);
    expect((await decideLocal(t, "prop", flagKey)).reason).toBe(DecisionReason.DEFAULT);

    await team.owner.experiments.startExperiment({ id: approved.id });
    const started = await untilDecided(
      t,
      "prop",
      flagKey,
      (d) => d.reason === DecisionReason.EXPERIMENT && d.experimentId === approved.id,
    );
    expect(started).toBeLessThan(1_000);

    await team.owner.experiments.pauseExperiment({ id: approved.id, comment: "hold" });
    const paused = await untilDecided(
      t,
      "prop",
      flagKey,
      (d) => d.reason === DecisionReason.DEFAULT,
    );
    expect(paused).toBeLessThan(1_000);
  });

  it("signs decision ids that round-trip and rejects tampered or foreign ones", async () => {
    const flagKey = await makeFlag(t);
    const plainFlag = await makeFlag(t);
    const experiment = await runExperiment(t, team, flagKey, greyBlue());
    await untilInSnapshot(t, flagKey, experiment.id);
    await untilInSnapshot(t, plainFlag);
    const { decisions } = await client(DecisionService, t.baseUrl, viewer.key).decide({
      subjectId: "signed-subject",
      flagKeys: [flagKey, plainFlag],
    });
    const [inExperiment, byDefault] = decisions as [Decision, Decision];
    const signer = createDecisionSigner(t.app.serverSecret!);
    expect(signer.verify(inExperiment.decisionId)).toEqual({
      flagKey,
      subjectId: "signed-subject",
      experimentId: experiment.id,
      variantKey: inExperiment.variantKey,
      configVersion: experiment.version,
    });
    expect(["control", "blue"]).toContain(inExperiment.variantKey);
    expect(signer.verify(byDefault.decisionId)).toEqual({
      flagKey: plainFlag,
      subjectId: "signed-subject",
      configVersion: 0,
    });

    const id = inExperiment.decisionId;
    const [prefix, payload, tag] = id.split(".") as [string, string, string];
    const flip = (s: string, at: number) =>
      s.slice(0, at) + (s[at] === "A" ? "B" : "A") + s.slice(at + 1);
    // A different variant in the payload, keeping the tag.
    const otherVariant = inExperiment.variantKey === "blue" ? "control" : "blue";
    const forgedPayload = Buffer.from(
      JSON.stringify([flagKey, "signed-subject", experiment.id, otherVariant, experiment.version]),
    ).toString("base64url");
    for (const tampered of [
      `${prefix}.${forgedPayload}.${tag}`,
      `${prefix}.${flip(payload, 5)}.${tag}`,
      `${prefix}.${payload}.${flip(tag, 3)}`,
      id.slice(0, -1),
      `${id}A`,
    ]) {
      expect(signer.verify(tampered)).toBeUndefined();
    }
    const foreign = createDecisionSigner("another-secret-entirely");
    expect(foreign.verify(id)).toBeUndefined();
    const forged = foreign.sign({
      flagKey,
      subjectId: "signed-subject",
      experimentId: experiment.id,
      variantKey: otherVariant,
      configVersion: experiment.version,
    });
    expect(signer.verify(forged)).toBeUndefined();
  });

  it("never places a subject in two experiments that share a conflict domain", async () => {
    const flagA = await makeFlag(t);
    const flagB = await makeFlag(t);
    // A starts first but B has the higher priority; B takes half the traffic.
    const a = await runExperiment(
      t,
      team,
      flagA,
      greyBlue({ conflictDomains: ["checkout"], priority: 0 }),
    );
    const b = await runExperiment(
      t,
      team,
      flagB,
      layout(
        [
          { key: "control", value: "grey", weight: 25, control: true },
          { key: "blue", value: "blue", weight: 25 },
        ],
        50,
        { conflictDomains: ["checkout", "payments"], priority: 5 },
      ),
    );
    await untilInSnapshot(t, flagA, a.id);
    await untilInSnapshot(t, flagB, b.id);
    const counts = { aWins: 0, bWins: 0 };
    const firsts: LocalDecision[][] = [];
    const grpc = client(DecisionService, t.baseUrl, viewer.key, "grpc");
    for (let i = 0; i < 400; i++) {
      const subjectId = `domain-${i}`;
      const local = t.app.decision.decide({ subjectId, flagKeys: [flagA, flagB] })
        .decisions as LocalDecision[];
      const [da, db] = local as [LocalDecision, LocalDecision];
      firsts.push(local);
      const inB = expectedVariant(
        b.id,
        subjectId,
        [
          { key: "control", weight: 25 },
          { key: "blue", weight: 25 },
        ],
        50,
      );
      expect([da.reason, db.reason]).not.toEqual([
        DecisionReason.EXPERIMENT,
        DecisionReason.EXPERIMENT,
      ]);
      if (inB !== undefined) {
        counts.bWins++;
        expect(db.reason).toBe(DecisionReason.EXPERIMENT);
        expect(db.variantKey).toBe(inB);
        expect(da.reason).toBe(DecisionReason.DOMAIN_CONFLICT);
        expect(da.experimentId).toBe(a.id);
        expect(da.variantKey ?? "").toBe("");
        expect(plain(da.value)).toBe("grey");
        expect(da.decisionId).toMatch(/^d1\./);
      } else {
        counts.aWins++;
        expect(db.reason).toBe(DecisionReason.OUTSIDE_AUDIENCE);
        expect(da.reason).toBe(DecisionReason.EXPERIMENT);
        expect(da.experimentId).toBe(a.id);
      }
      if (i < 20) {
        const { decisions } = await grpc.decide({ subjectId, flagKeys: [flagB, flagA] });
        expect(decisions.map((d) => [d.flagKey, d.reason, d.decisionId])).toEqual(
          [db, da].map((d) => [d.flagKey, d.reason, d.decisionId]),
        );
      }
    }
    expect(counts.aWins).toBeGreaterThan(120);
    expect(counts.bWins).toBeGreaterThan(120);
    // Pausing the winner B hands none of its subjects to A.
    await expectPauseKeepsPlaces(b.id, a.id, [flagA, flagB], firsts, "domain");
  });

  it("counts decisions by reason on /metrics", async () => {
    const flagKey = await makeFlag(t);
    const experiment = await runExperiment(t, team, flagKey, greyBlue());
    await untilInSnapshot(t, flagKey, experiment.id);
    const sample = 'lotty_decisions_total{reason="experiment"}';
    const before = await metricValue(t, sample);
    const decide = client(DecisionService, t.baseUrl, viewer.key);
    for (let i = 0; i < 7; i++) {
      const { decisions } = await decide.decide({ subjectId: `m-${i}`, flagKeys: [flagKey] });
      expect(decisions[0]!.reason).toBe(DecisionReason.EXPERIMENT);
    }
    expect(await metricValue(t, sample)).toBe(before + 7);
    await decide.decide({ subjectId: "m-x", flagKeys: ["nope"] });
    expect(await metricValue(t, 'lotty_decisions_total{reason="flag_not_found"}')).toBeGreaterThan(
      0,
    );
  });

  it("logs decisions to the bus as JSON-lines batches", async () => {
    const flagKey = await makeFlag(t);
    const plainFlag = await makeFlag(t);
    const experiment = await runExperiment(t, team, flagKey, greyBlue());
    await untilInSnapshot(t, flagKey, experiment.id);
    await untilInSnapshot(t, plainFlag);
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const records = new Map<string, Record<string, unknown>>();
      let batches = 0;
      const sub = nc.subscribe(`${t.app.names.subjectPrefix}.decisions.>`, {
        callback: (_err, msg) => {
          batches++;
          for (const line of msg.string().split("\n")) {
            const record = JSON.parse(line) as Record<string, unknown>;
            records.set(record.decisionId as string, record);
          }
        },
      });
      await nc.flush();
      const decide = client(DecisionService, t.baseUrl, viewer.key);
      const issued: { subjectId: string; d: Decision }[] = [];
      for (let i = 0; i < 5; i++) {
        const subjectId = `log-${i}`;
        const { decisions } = await decide.decide({
          subjectId,
          flagKeys: [flagKey, plainFlag, "missing"],
        });
        for (const d of decisions) issued.push({ subjectId, d });
      }
      const logged = issued.filter((x) => x.d.decisionId !== "");
      expect(logged).toHaveLength(10);
      const deadline = Date.now() + 5_000;
      while (logged.some((x) => !records.has(x.d.decisionId)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      sub.unsubscribe();
      expect(batches).toBeGreaterThan(0);
      for (const { subjectId, d } of logged) {
        const record = records.get(d.decisionId);
        expect(record).toMatchObject({
          decisionId: d.decisionId,
          flagKey: d.flagKey,
          subjectId,
          reason: d.flagKey === flagKey ? "experiment" : "default",
        });
        expect(record?.experimentId).toBe(d.experimentId || undefined);
        expect(record?.variantKey).toBe(d.variantKey || undefined);
        expect(typeof record?.at).toBe("number");
      }
    } finally {
      await nc.close();
    }
  });

  it("splits 100k subjects as the layouts say (chi-square, p = 0.001)", async () => {
    const layouts = [
      { name: "50/50 @100", audience: 100, weights: [50, 50] },
      { name: "10/10 @20", audience: 20, weights: [10, 10] },
      { name: "33.33/33.33/33.34 @100", audience: 100, weights: [33.33, 33.33, 33.34] },
    ];
    const flags: string[] = [];
    const ids: string[] = [];
    for (const l of layouts) {
      const flagKey = await makeFlag(t);
      const e = await runExperiment(
        t,
        team,
        flagKey,
        layout(
          l.weights.map((weight, i) => ({
            key: `v${i}`,
            value: `value-${i}`,
            weight,
            control: i === 0,
          })),
          l.audience,
        ),
      );
      await untilInSnapshot(t, flagKey, e.id);
      flags.push(flagKey);
      ids.push(e.id);
    }
    const N = 100_000;
    const counts = layouts.map(
      (l) =>
        new Map<string, number>([
          ...l.weights.map((_, i) => [`v${i}`, 0] as [string, number]),
          ["outside", 0],
        ]),
    );
    await forEachChunked(N, (i) => {
      const { decisions } = t.app.decision.decide({
        subjectId: `dist-${i}`,
        flagKeys: flags,
      });
      decisions.forEach((d, j) => {
        const key =
          d.reason === DecisionReason.EXPERIMENT
            ? (d.variantKey as string)
            : d.reason === DecisionReason.OUTSIDE_AUDIENCE
              ? "outside"
              : `unexpected:${d.reason}`;
        const c = counts[j]!;
        c.set(key, (c.get(key) ?? 0) + 1);
      });
    });
    layouts.forEach((l, j) => {
      const c = counts[j]!;
      const observed = l.weights.map((_, i) => c.get(`v${i}`)!);
      const expected = l.weights.map((w) => (N * w) / 100);
      if (l.audience < 100) {
        observed.push(c.get("outside")!);
        expected.push((N * (100 - l.audience)) / 100);
      } else {
        expect(c.get("outside")).toBe(0);
      }
      expect([...c.keys()].filter((k) => k.startsWith("unexpected"))).toEqual([]);
      expect(observed.reduce((s, x) => s + x, 0)).toBe(N);
      const df = observed.length - 1;
      const statistic = chiSquare(observed, expected);
      const critical = CHI2_CRITICAL_P001[df]!;
      // Keep the numbers in the failure message.
      expect({ layout: l.name, observed, statistic, below: statistic < critical }).toEqual({
        layout: l.name,
        observed,
        statistic,
        below: true,
      });
    });
  });
});

describe("ramp safety (snapshot level)", () => {
  function experimentAt(salt: string, audience: number): SnapshotExperiment {
    const half = audience / 2;
    return {
      id: salt,
      flagKey: "ramped",
      salt,
      version: 1,
      status: "running",
      rolledBack: false,
      audiencePercent: audience,
      ranges: variantRanges(
        [
          { key: "control", weight: half },
          { key: "treatment", weight: half },
        ],
        audience,
      ),
      controlKey: "control",
      values: new Map([
        ["control", "grey"],
        ["treatment", "blue"],
      ]),
      rule: undefined,
      conflictDomains: [],
      priority: 0,
      startedAt: 0,
    };
  }

  it("keeps every included subject's variant when the audience goes from 10 % to 50 %", () => {
    const salt = "7b0c1f4e-2a61-4f0e-9d0a-3c5e8f1b2a90";
    const at10 = experimentAt(salt, 10);
    const at50 = experimentAt(salt, 50);
    let included10 = 0;
    let included50 = 0;
    const newcomers = { control: 0, treatment: 0 };
    for (let i = 0; i < 20_000; i++) {
      const subjectId = `ramp-${i}`;
      const before = claimExperiment(at10, subjectId, {}, bucketOf, assignVariant);
      const after = claimExperiment(at50, subjectId, {}, bucketOf, assignVariant);
      if (after.kind === "variant") included50++;
      if (before.kind === "variant") {
        included10++;
        expect(after).toEqual(before);
      } else if (after.kind === "variant") {
        newcomers[after.variantKey as "control" | "treatment"]++;
      }
    }
    // 10 % and 50 % of 20k, within a wide margin (the exact check is above).
    expect(included10).toBeGreaterThan(1_700);
    expect(included10).toBeLessThan(2_300);
    expect(included50).toBeGreaterThan(9_500);
    expect(included50).toBeLessThan(10_500);
    // The newcomers split evenly too.
    expect(Math.abs(newcomers.control - newcomers.treatment)).toBeLessThan(600);
  });
});
