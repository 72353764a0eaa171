/**
 * The decide core (src/decision/core): a SnapshotSource is plain JSON and
 * compiles to the same snapshot after a round trip; the Decider answers
 * from it with no I/O, and agrees with resolveParticipation where the
 * policy or a conflict domain makes experiments compete.
 */
import { describe, expect, it } from "@jest/globals";
import { DecisionReason } from "../../gen/lotty/decision/v1/decision_pb.js";
import {
  SNAPSHOT_SOURCE_FORMAT,
  compileSnapshot,
  createDecider,
  decide,
  type CompileProblem,
  type SnapshotSource,
  type SourceExperiment,
} from "../../src/decision/core/index.js";
import { assignVariant, bucketOf } from "../../src/decision/bucketing.js";
import { createDecisionSigner } from "../../src/decision/decision-id.js";
import { resolveParticipation } from "../../src/decision/eligibility.js";

const signer = createDecisionSigner("core-test-secret");
const T0 = Date.UTC(2026, 0, 1);

function experiment(overrides: Partial<SourceExperiment> & { id: string; flagKey: string }) {
  return {
    status: "running",
    version: 3,
    rolledBack: false,
    audiencePercent: 80,
    variants: [
      { key: "control", value: "grey", weight: 40, control: true },
      { key: "blue", value: "blue", weight: 40, control: false },
    ],
    targetingRule: "",
    conflictDomains: [],
    priority: 0,
    startedAt: T0,
    ...overrides,
  } satisfies SourceExperiment;
}

function source(overrides: Partial<SnapshotSource> = {}): SnapshotSource {
  return {
    format: SNAPSHOT_SOURCE_FORMAT,
    version: "v1",
    flags: [
      { key: "button", type: "string", defaultValue: "grey", archived: false },
      { key: "ranking", type: "string", defaultValue: "old", archived: false },
      { key: "banner", type: "bool", defaultValue: false, archived: false },
      { key: "gone", type: "number", defaultValue: 1, archived: true },
    ],
    experiments: [
      experiment({ id: "exp-button", flagKey: "button", targetingRule: 'country == "RU"' }),
      experiment({
        id: "exp-ranking",
        flagKey: "ranking",
        variants: [
          { key: "control", value: "old", weight: 50, control: true },
          { key: "new", value: "new", weight: 50, control: false },
        ],
        audiencePercent: 100,
        conflictDomains: ["search"],
        priority: 1,
      }),
      experiment({
        id: "exp-banner",
        flagKey: "banner",
        variants: [
          { key: "control", value: false, weight: 50, control: true },
          { key: "on", value: true, weight: 50, control: false },
        ],
        audiencePercent: 100,
        conflictDomains: ["search"],
      }),
    ],
    recentlyCompleted: [],
    policy: { maxConcurrentExperiments: 0, cooldownSeconds: 0 },
    knownExperimentIds: ["exp-button", "exp-ranking", "exp-banner", "exp-old"],
    eventTypes: [
      {
        key: "purchase",
        archived: false,
        requiresExposure: true,
        properties: [{ name: "amount", type: "number", required: true }],
      },
    ],
    ...overrides,
  };
}

const SUBJECTS = Array.from({ length: 2_000 }, (_, i) => `subject-${i}`);
const attributesOf = (i: number) => ({ country: i % 2 === 0 ? "RU" : "DE" });

describe("decide core", () => {
  it("compiles a source that went through JSON to a snapshot giving the same decisions", () => {
    const original = source();
    const wire = JSON.parse(JSON.stringify(original)) as SnapshotSource;
    expect(wire).toEqual(original);
    const a = compileSnapshot(original, { builtAt: 1 });
    const b = compileSnapshot(wire, { builtAt: 1 });
    expect(b.version).toBe("v1");
    expect([...b.knownFlagKeys].sort()).toEqual(["banner", "button", "gone", "ranking"]);
    expect(b.sortedFlagKeys).toEqual(["banner", "button", "ranking"]);
    expect(b.knownExperimentIds.has("exp-old")).toBe(true);
    expect(b.eventTypes.get("purchase")?.requiresExposure).toBe(true);
    const decider = createDecider(signer);
    for (let i = 0; i < SUBJECTS.length; i++) {
      const request = { subjectId: SUBJECTS[i]!, attributes: attributesOf(i), flagKeys: [] };
      expect(decider.decide(b, request)).toEqual(decider.decide(a, request));
    }
  });

  it("answers value, reason, variant, experiment and a decision id carrying them", () => {
    const snapshot = compileSnapshot(source());
    const reasons = new Set<DecisionReason>();
    for (let i = 0; i < SUBJECTS.length; i++) {
      const decisions = decide(snapshot, signer, {
        subjectId: SUBJECTS[i]!,
        attributes: attributesOf(i),
        flagKeys: ["button", "gone", "nope"],
      });
      const [button, gone, nope] = decisions;
      expect(gone!.reason).toBe(DecisionReason.FLAG_NOT_FOUND);
      expect(nope!.hasValue).toBe(false);
      reasons.add(button!.reason);
      const claims = signer.verify(button!.decisionId);
      expect(claims).toEqual({
        flagKey: "button",
        subjectId: SUBJECTS[i],
        configVersion: 3,
        experimentId: "exp-button",
        ...(button!.variantKey === "" ? {} : { variantKey: button!.variantKey }),
      });
      if (i % 2 === 1) expect(button!.reason).toBe(DecisionReason.TARGETING_MISMATCH);
      if (button!.reason === DecisionReason.EXPERIMENT) {
        expect(button!.value).toBe(button!.variantKey === "blue" ? "blue" : "grey");
      } else {
        expect(button!.value).toBe("grey");
      }
    }
    expect([...reasons].sort()).toEqual(
      [
        DecisionReason.EXPERIMENT,
        DecisionReason.TARGETING_MISMATCH,
        DecisionReason.OUTSIDE_AUDIENCE,
      ].sort(),
    );
  });

  it("agrees with resolveParticipation when experiments compete", () => {
    for (const policy of [
      { maxConcurrentExperiments: 0, cooldownSeconds: 0 },
      { maxConcurrentExperiments: 1, cooldownSeconds: 0 },
    ]) {
      const snapshot = compileSnapshot(source({ policy }));
      for (let i = 0; i < SUBJECTS.length; i++) {
        const subjectId = SUBJECTS[i]!;
        const attributes = attributesOf(i);
        const outcomes = resolveParticipation(
          snapshot,
          subjectId,
          attributes,
          bucketOf,
          assignVariant,
          0,
        );
        const decisions = decide(snapshot, signer, { subjectId, attributes, flagKeys: [] });
        for (const d of decisions) {
          const outcome = outcomes.get(d.experimentId)!;
          expect(d.variantKey).toBe(outcome.kind === "variant" ? outcome.variantKey : "");
        }
      }
    }
  });

  it("serves the control when rolled back and the default when paused", () => {
    const snapshot = compileSnapshot(
      source({
        experiments: [
          experiment({ id: "exp-button", flagKey: "button", rolledBack: true }),
          experiment({ id: "exp-ranking", flagKey: "ranking", status: "paused" }),
        ],
      }),
    );
    const [button, ranking] = decide(snapshot, signer, {
      subjectId: "s",
      flagKeys: ["button", "ranking"],
    });
    expect(button).toMatchObject({
      reason: DecisionReason.ROLLED_BACK,
      value: "grey",
      variantKey: "control",
    });
    expect(ranking).toMatchObject({
      reason: DecisionReason.DEFAULT,
      value: "old",
      experimentId: "",
    });
  });

  it("leaves out an experiment whose layout no longer fits, and a broken rule matches nobody", () => {
    const problems: CompileProblem[] = [];
    const snapshot = compileSnapshot(
      source({
        experiments: [
          experiment({ id: "exp-button", flagKey: "button", audiencePercent: 55 }),
          experiment({ id: "exp-ranking", flagKey: "ranking", targetingRule: "country ==" }),
        ],
      }),
      { onProblem: (problem) => problems.push(problem) },
    );
    expect(problems.map((p) => [p.kind, p.experimentId])).toEqual([
      ["invalid_layout", "exp-button"],
      ["invalid_rule", "exp-ranking"],
    ]);
    expect(snapshot.experimentByFlag.has("button")).toBe(false);
    const [ranking] = decide(snapshot, signer, { subjectId: "s", flagKeys: ["ranking"] });
    expect(ranking!.reason).toBe(DecisionReason.TARGETING_MISMATCH);
  });

  it("keeps only completions that can still start a cooldown", () => {
    const completed = (id: string, completedAt: number) => ({
      id,
      audiencePercent: 100,
      variants: [{ key: "control", value: "grey", weight: 100, control: true }],
      targetingRule: "",
      completedAt,
    });
    const snapshot = compileSnapshot(
      source({
        policy: { maxConcurrentExperiments: 0, cooldownSeconds: 3_600 },
        recentlyCompleted: [completed("recent", T0 - 1_000), completed("old", T0 - 7_200_000)],
      }),
    );
    expect(snapshot.recentlyCompleted.map((c) => c.id)).toEqual(["recent"]);
    // Everyone was in "recent" (100 %), so everyone rests.
    for (const subjectId of SUBJECTS.slice(0, 50)) {
      const [ranking] = decide(snapshot, signer, { subjectId, flagKeys: ["ranking"] });
      expect(ranking!.reason).toBe(DecisionReason.PARTICIPATION_LIMIT);
    }
  });
});
