/**
 * Participation and conflict resolution (src/decision/eligibility.ts), the
 * rules of docs/participation.md and docs/conflicts.md, checked over many
 * subjects.
 *
 * bucketing.ts is written separately; these tests bring their own small,
 * deterministic stand-ins with the same signatures: FNV-1a with murmur3's
 * finaliser over `salt:subject`, 10,000 buckets, and a range lookup.
 */
import { describe, expect, it } from "@jest/globals";
import {
  claimExperiment,
  cooldownHistoryStartMs,
  needsGlobalResolution,
  resolveParticipation,
  type AssignVariant,
  type BucketOf,
  type CompletedExperiment,
  type ParticipationOutcome,
} from "../../src/decision/eligibility.js";
import type {
  ParticipationPolicy,
  SnapshotExperiment,
  VariantRange,
} from "../../src/decision/types.js";
import { parseRule } from "../../src/targeting/index.js";

const BUCKETS = 10_000;
const T0 = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const bucketOf: BucketOf = (salt, subjectId) => hash32(`${salt}:${subjectId}`) % BUCKETS;

const assignVariant: AssignVariant = (bucket: number, ranges: VariantRange[]) =>
  ranges.find((range) => bucket >= range.start && bucket < range.includedEnd)?.key;

/** Deterministic PRNG (mulberry32) for shuffles and random configurations. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], next: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

interface Spec {
  id: string;
  priority?: number;
  startedAt?: number;
  domains?: string[];
  /** Percent of subjects in the audience, 100 by default. */
  audience?: number;
  rule?: string;
  variants?: string[];
}

function compile(source: string) {
  const result = parseRule(source);
  if (!result.ok) throw new Error(`rule ${source} did not parse: ${result.error.message}`);
  return result.rule;
}

function experiment(spec: Spec): SnapshotExperiment {
  const variants = spec.variants ?? ["control", "treatment"];
  const audience = spec.audience ?? 100;
  const slice = Math.floor(BUCKETS / variants.length);
  const ranges = variants.map((key, i) => ({
    key,
    start: i * slice,
    sliceEnd: (i + 1) * slice,
    includedEnd: i * slice + Math.round((slice * audience) / 100),
  }));
  return {
    id: spec.id,
    flagKey: `flag-${spec.id}`,
    salt: spec.id,
    version: 1,
    status: "running",
    rolledBack: false,
    audiencePercent: audience,
    ranges,
    controlKey: variants[0]!,
    values: new Map(variants.map((key) => [key, key])),
    rule: spec.rule === undefined ? undefined : compile(spec.rule),
    conflictDomains: spec.domains ?? [],
    priority: spec.priority ?? 0,
    startedAt: spec.startedAt ?? T0,
  };
}

function completedExperiment(spec: Spec & { completedAt: number }): CompletedExperiment {
  return { ...experiment(spec), completedAt: spec.completedAt };
}

const UNLIMITED: ParticipationPolicy = { maxConcurrentExperiments: 0, cooldownSeconds: 0 };

function policy(maxConcurrentExperiments: number, cooldownSeconds = 0): ParticipationPolicy {
  return { maxConcurrentExperiments, cooldownSeconds };
}

interface Options {
  policy?: ParticipationPolicy;
  attributes?: Record<string, unknown>;
  completed?: CompletedExperiment[];
  nowMs?: number;
}

function resolve(
  running: readonly SnapshotExperiment[],
  subjectId: string,
  options: Options = {},
): Map<string, ParticipationOutcome> {
  return resolveParticipation(
    {
      live: running,
      policy: options.policy ?? UNLIMITED,
      ...(options.completed ? { recentlyCompleted: options.completed } : {}),
    },
    subjectId,
    options.attributes ?? {},
    bucketOf,
    assignVariant,
    options.nowMs ?? T0 + 30 * DAY,
  );
}

function subjects(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `u-${i}`);
}

function outcomeOf(outcomes: Map<string, ParticipationOutcome>, id: string): ParticipationOutcome {
  const outcome = outcomes.get(id);
  if (outcome === undefined) throw new Error(`no outcome for ${id}`);
  return outcome;
}

function included(outcomes: Map<string, ParticipationOutcome>): string[] {
  return [...outcomes].filter(([, o]) => o.kind === "variant").map(([id]) => id);
}

function claimsOf(e: SnapshotExperiment | CompletedExperiment, subjectId: string): boolean {
  return claimExperiment(e, subjectId, {}, bucketOf, assignVariant).kind === "variant";
}

/** A mixed configuration: priorities, ties, chained domains, partial audiences. */
const MIXED: readonly SnapshotExperiment[] = [
  experiment({ id: "checkout-a", priority: 10, domains: ["checkout"], audience: 60 }),
  experiment({ id: "checkout-b", priority: 10, domains: ["checkout", "pricing"] }),
  experiment({ id: "pricing-a", priority: 5, domains: ["pricing"], audience: 80 }),
  experiment({ id: "search-a", priority: 0, domains: ["search"], startedAt: T0 + DAY }),
  experiment({ id: "search-b", priority: 0, domains: ["search", "checkout"], audience: 70 }),
  experiment({ id: "banner", priority: 0, variants: ["control", "red", "blue"] }),
  experiment({ id: "onboarding", priority: -3, audience: 50, startedAt: T0 + 2 * DAY }),
  experiment({ id: "ranking", priority: 3, domains: ["search"], audience: 40 }),
];

function sharesDomain(a: SnapshotExperiment, b: SnapshotExperiment): boolean {
  return a.conflictDomains.some((d) => b.conflictDomains.includes(d));
}

describe("claims: targeting, then audience, then the variant", () => {
  it("answers targeting_mismatch when the rule does not match, whatever the bucket", () => {
    const ru = experiment({ id: "ru-only", rule: 'country == "RU"', audience: 1 });
    for (const subject of subjects(500)) {
      const outcomes = resolve([ru], subject, { attributes: { country: "KZ" } });
      expect(outcomeOf(outcomes, "ru-only")).toEqual({ kind: "targeting_mismatch" });
    }
    const missing = resolve([ru], "u-1", { attributes: {} });
    expect(outcomeOf(missing, "ru-only")).toEqual({ kind: "targeting_mismatch" });
  });

  it("answers outside_audience for buckets outside the audience, a variant otherwise", () => {
    const partial = experiment({ id: "partial", rule: 'country == "RU"', audience: 30 });
    let inside = 0;
    for (const subject of subjects(5_000)) {
      const outcome = outcomeOf(
        resolve([partial], subject, { attributes: { country: "RU" } }),
        "partial",
      );
      const expected = assignVariant(bucketOf("partial", subject), partial.ranges);
      if (expected === undefined) expect(outcome).toEqual({ kind: "outside_audience" });
      else {
        expect(outcome).toEqual({ kind: "variant", variantKey: expected });
        inside++;
      }
    }
    expect(inside / 5_000).toBeGreaterThan(0.28);
    expect(inside / 5_000).toBeLessThan(0.32);
  });

  it("treats an experiment without a rule as targeting everyone", () => {
    const everyone = experiment({ id: "everyone" });
    for (const subject of subjects(200)) {
      expect(outcomeOf(resolve([everyone], subject), "everyone").kind).toBe("variant");
    }
  });

  it("answers for every running experiment and nothing else", () => {
    const outcomes = resolve(MIXED, "u-7", { policy: policy(2) });
    expect([...outcomes.keys()].sort()).toEqual(MIXED.map((e) => e.id).sort());
  });
});

describe("determinism", () => {
  it("gives the same outcomes whatever the order of running and completed experiments", () => {
    const next = random(42);
    const completed = [
      completedExperiment({ id: "old-1", audience: 50, completedAt: T0 - 3 * DAY }),
      completedExperiment({ id: "old-2", audience: 50, completedAt: T0 - HOUR }),
    ];
    const options = { policy: policy(2, 7 * 24 * 3600), completed };
    for (const subject of subjects(200)) {
      const expected = [...resolve(MIXED, subject, options)].sort();
      for (let round = 0; round < 10; round++) {
        const outcomes = resolve(shuffled(MIXED, next), subject, {
          ...options,
          completed: shuffled(completed, next),
        });
        expect([...outcomes].sort()).toEqual(expected);
      }
    }
  });

  it("does not depend on the time of the call", () => {
    const completed = [completedExperiment({ id: "old", audience: 50, completedAt: T0 - DAY })];
    for (const subject of subjects(300)) {
      const options = { policy: policy(3, 3 * 24 * 3600), completed };
      const early = resolve(MIXED, subject, { ...options, nowMs: T0 + HOUR });
      const late = resolve(MIXED, subject, { ...options, nowMs: T0 + 400 * DAY });
      expect([...late]).toEqual([...early]);
    }
  });
});

describe("conflict domains", () => {
  it("never places a subject in two experiments sharing a domain (10,000 subjects)", () => {
    const byId = new Map(MIXED.map((e) => [e.id, e]));
    const violations: string[] = [];
    let conflicts = 0;
    for (const subject of subjects(10_000)) {
      const outcomes = resolve(MIXED, subject);
      const placed = included(outcomes).map((id) => byId.get(id)!);
      for (const a of placed) {
        for (const b of placed) {
          if (a !== b && sharesDomain(a, b)) violations.push(`${subject}: in ${a.id} and ${b.id}`);
        }
      }
      for (const [id, outcome] of outcomes) {
        if (outcome.kind !== "domain_conflict") continue;
        conflicts++;
        // The winner is a placed experiment that shares a domain and outranks the loser.
        const winner = byId.get(outcome.winnerId)!;
        const loser = byId.get(id)!;
        if (!placed.includes(winner) || !sharesDomain(winner, loser)) {
          violations.push(`${subject}: ${id} lost to ${winner.id}, not placed or no shared domain`);
        }
        if (winner.priority < loser.priority) {
          violations.push(`${subject}: ${id} lost to the lower-priority ${winner.id}`);
        }
      }
      // Unlimited policy: a claiming experiment is either placed or lost a conflict.
      for (const e of MIXED) {
        const kind = outcomeOf(outcomes, e.id).kind;
        if (claimsOf(e, subject) && kind !== "variant" && kind !== "domain_conflict") {
          violations.push(`${subject}: ${e.id} claims the subject but answers ${kind}`);
        }
      }
    }
    expect(violations).toEqual([]);
    expect(conflicts).toBeGreaterThan(10_000);
  });

  it("resolves chained domains greedily in rank order", () => {
    const a = experiment({ id: "a", priority: 2, domains: ["d1"] });
    const b = experiment({ id: "b", priority: 1, domains: ["d1", "d2"] });
    const c = experiment({ id: "c", priority: 0, domains: ["d2"] });
    for (const subject of subjects(1_000)) {
      const outcomes = resolve([c, b, a], subject);
      expect(outcomeOf(outcomes, "a").kind).toBe("variant");
      expect(outcomeOf(outcomes, "b")).toEqual({ kind: "domain_conflict", winnerId: "a" });
      // b was kept out, so d2 is free: c gets the subject.
      expect(outcomeOf(outcomes, "c").kind).toBe("variant");
    }
    // The documented limit: when a ends, b takes its subjects and c loses them.
    for (const subject of subjects(1_000)) {
      const outcomes = resolve([c, b], subject);
      expect(outcomeOf(outcomes, "b").kind).toBe("variant");
      expect(outcomeOf(outcomes, "c")).toEqual({ kind: "domain_conflict", winnerId: "b" });
    }
  });

  it("names the highest-ranked placed experiment when several domains are held", () => {
    const x = experiment({ id: "x", priority: 2, domains: ["a"] });
    const y = experiment({ id: "y", priority: 1, domains: ["b"] });
    const z = experiment({ id: "z", priority: 0, domains: ["b", "a"] });
    const outcomes = resolve([z, y, x], "u-1");
    expect(outcomeOf(outcomes, "z")).toEqual({ kind: "domain_conflict", winnerId: "x" });
  });

  it("lets the higher priority win every shared subject, whenever it started", () => {
    const older = experiment({ id: "older", priority: 0, domains: ["d"], startedAt: T0 });
    const urgent = experiment({ id: "urgent", priority: 5, domains: ["d"], startedAt: T0 + DAY });
    for (const subject of subjects(2_000)) {
      const outcomes = resolve([older, urgent], subject);
      expect(outcomeOf(outcomes, "urgent").kind).toBe("variant");
      expect(outcomeOf(outcomes, "older")).toEqual({ kind: "domain_conflict", winnerId: "urgent" });
    }
  });

  it("keeps subjects with the earlier-started experiment at equal priority", () => {
    const first = experiment({ id: "zz-first", domains: ["d"], startedAt: T0 });
    const second = experiment({ id: "aa-second", domains: ["d"], startedAt: T0 + 1 });
    for (const subject of subjects(2_000)) {
      const outcomes = resolve([second, first], subject);
      expect(outcomeOf(outcomes, "zz-first").kind).toBe("variant");
      expect(outcomeOf(outcomes, "aa-second").kind).toBe("domain_conflict");
    }
  });

  it("splits subjects evenly between experiments tied on priority and start, without skewing variants", () => {
    const left = experiment({ id: "left", domains: ["d"] });
    const right = experiment({ id: "right", domains: ["d"] });
    const count = 10_000;
    const kept = { left: 0, right: 0 };
    const treatment = { left: 0, right: 0 };
    for (const subject of subjects(count)) {
      const outcomes = resolve([left, right], subject);
      const placed = included(outcomes);
      expect(placed).toHaveLength(1);
      const winner = placed[0] as "left" | "right";
      kept[winner]++;
      const outcome = outcomeOf(outcomes, winner);
      if (outcome.kind === "variant" && outcome.variantKey === "treatment") treatment[winner]++;
    }
    expect(kept.left + kept.right).toBe(count);
    expect(kept.left / count).toBeGreaterThan(0.47);
    expect(kept.left / count).toBeLessThan(0.53);
    // The tie-break hash is independent of the assignment bucket: each
    // experiment's kept subjects still split 50/50 between its variants.
    expect(treatment.left / kept.left).toBeGreaterThan(0.46);
    expect(treatment.left / kept.left).toBeLessThan(0.54);
    expect(treatment.right / kept.right).toBeGreaterThan(0.46);
    expect(treatment.right / kept.right).toBeLessThan(0.54);
  });

  it("leaves a domain free for subjects outside the higher experiment's audience", () => {
    const high = experiment({ id: "high", priority: 1, domains: ["d"], audience: 50 });
    const low = experiment({ id: "low", priority: 0, domains: ["d"] });
    let low_placed = 0;
    for (const subject of subjects(4_000)) {
      const outcomes = resolve([high, low], subject);
      const highOutcome = outcomeOf(outcomes, "high");
      const lowOutcome = outcomeOf(outcomes, "low");
      if (highOutcome.kind === "variant") {
        expect(lowOutcome).toEqual({ kind: "domain_conflict", winnerId: "high" });
      } else {
        expect(highOutcome.kind).toBe("outside_audience");
        expect(lowOutcome.kind).toBe("variant");
        low_placed++;
      }
    }
    expect(low_placed / 4_000).toBeGreaterThan(0.45);
    expect(low_placed / 4_000).toBeLessThan(0.55);
  });
});

describe("participation limit", () => {
  it("keeps every subject in at most N experiments, the top-ranked ones (10,000 subjects)", () => {
    const ranked = [5, 4, 3, 2, 1, 0].map((priority) =>
      experiment({ id: `p${priority}`, priority, audience: 60 }),
    );
    const violations: string[] = [];
    let limited = 0;
    for (const subject of subjects(10_000)) {
      const outcomes = resolve(shuffled(ranked, random(hash32(subject))), subject, {
        policy: policy(2),
      });
      const claiming = ranked.filter((e) => claimsOf(e, subject)); // priority order
      const expectedIn = claiming.slice(0, 2).map((e) => e.id);
      const placed = included(outcomes);
      if (placed.sort().join() !== expectedIn.sort().join()) {
        violations.push(`${subject}: in ${placed.join()}, expected ${expectedIn.join()}`);
      }
      for (const e of claiming.slice(2)) {
        const outcome = outcomeOf(outcomes, e.id);
        if (outcome.kind !== "participation_limit" || outcome.cause !== "max_concurrent") {
          violations.push(`${subject}: ${e.id} answers ${JSON.stringify(outcome)}`);
        }
        limited++;
      }
    }
    expect(violations).toEqual([]);
    expect(limited).toBeGreaterThan(10_000);
  });

  it("keeps the earlier-started experiment at equal priority", () => {
    const experiments = [3, 1, 2].map((day) =>
      experiment({ id: `day-${day}`, startedAt: T0 + day * DAY }),
    );
    for (const subject of subjects(1_000)) {
      const outcomes = resolve(experiments, subject, { policy: policy(2) });
      expect(included(outcomes).sort()).toEqual(["day-1", "day-2"]);
      expect(outcomeOf(outcomes, "day-3").kind).toBe("participation_limit");
    }
  });

  it("applies the limit after conflict domains: a conflict loser takes no slot", () => {
    const a = experiment({ id: "a", priority: 2, domains: ["d"] });
    const b = experiment({ id: "b", priority: 1, domains: ["d"] });
    const c = experiment({ id: "c", priority: 0 });
    const one = resolve([a, b, c], "u-1", { policy: policy(1) });
    expect(outcomeOf(one, "a").kind).toBe("variant");
    expect(outcomeOf(one, "b")).toEqual({ kind: "domain_conflict", winnerId: "a" });
    expect(outcomeOf(one, "c")).toEqual({ kind: "participation_limit", cause: "max_concurrent" });
    const two = resolve([a, b, c], "u-1", { policy: policy(2) });
    expect(included(two).sort()).toEqual(["a", "c"]);
  });

  it("reports the domain conflict rather than the limit when both apply", () => {
    const a = experiment({ id: "a", priority: 2, domains: ["d"] });
    const b = experiment({ id: "b", priority: 1 });
    const c = experiment({ id: "c", priority: 0, domains: ["d"] });
    const outcomes = resolve([a, b, c], "u-1", { policy: policy(2) });
    expect(outcomeOf(outcomes, "c")).toEqual({ kind: "domain_conflict", winnerId: "a" });
  });

  it("places every claiming experiment when N is 0 (unlimited)", () => {
    for (const subject of subjects(500)) {
      const outcomes = resolve(MIXED, subject, { policy: policy(0) });
      for (const outcome of outcomes.values()) expect(outcome.kind).not.toBe("participation_limit");
    }
  });
});

describe("stability", () => {
  const existing = MIXED;
  const lowest = Math.min(...existing.map((e) => e.priority));
  const latest = Math.max(...existing.map((e) => e.startedAt));

  it.each([
    ["a lower priority", lowest - 1, T0],
    ["the lowest priority, started later than all", lowest, latest + HOUR],
  ])(
    "starting an experiment with %s changes nothing for the existing ones",
    (_label, priority, startedAt) => {
      const newcomer = experiment({
        id: "newcomer",
        priority,
        startedAt,
        domains: ["checkout", "pricing", "search"],
      });
      const changed: string[] = [];
      let newcomerLost = 0;
      for (const options of [{}, { policy: policy(2) }, { policy: policy(1) }]) {
        for (const subject of subjects(1_500)) {
          const before = resolve(existing, subject, options);
          const after = resolve([...existing, newcomer], subject, options);
          for (const e of existing) {
            const was = JSON.stringify(outcomeOf(before, e.id));
            const now = JSON.stringify(outcomeOf(after, e.id));
            if (was !== now) changed.push(`${subject} ${e.id}: ${was} → ${now}`);
          }
          if (outcomeOf(after, "newcomer").kind === "domain_conflict") newcomerLost++;
        }
      }
      expect(changed).toEqual([]);
      // It did compete: it claims everyone and loses them to the existing experiments.
      expect(newcomerLost).toBeGreaterThan(3_000);
    },
  );

  it("lets a new higher-priority experiment take shared subjects (the point of priority)", () => {
    const urgent = experiment({ id: "urgent", priority: 100, domains: ["checkout"] });
    let taken = 0;
    for (const subject of subjects(2_000)) {
      const before = resolve(existing, subject);
      const after = resolve([...existing, urgent], subject);
      for (const e of existing) {
        const was = outcomeOf(before, e.id);
        const now = outcomeOf(after, e.id);
        if (was.kind === "variant" && now.kind !== "variant") {
          taken++;
          expect(e.conflictDomains).toContain("checkout");
          expect(now).toEqual({ kind: "domain_conflict", winnerId: "urgent" });
        }
      }
    }
    expect(taken).toBeGreaterThan(0);
  });

  it("never changes a placed subject's variant when other experiments start or stop", () => {
    const next = random(7);
    const pool = [
      ...MIXED,
      experiment({ id: "late-1", priority: 20, domains: ["search"], startedAt: T0 + 5 * DAY }),
      experiment({ id: "late-2", priority: 0, domains: ["pricing"], startedAt: T0 + 6 * DAY }),
    ];
    const configurations = Array.from({ length: 12 }, () => pool.filter(() => next() < 0.6));
    const moved: string[] = [];
    let placements = 0;
    for (const subject of subjects(1_000)) {
      const own = new Map(
        pool.map((e) => [e.id, claimExperiment(e, subject, {}, bucketOf, assignVariant)]),
      );
      for (const running of configurations) {
        const outcomes = resolve(running, subject, { policy: policy(2) });
        for (const [id, outcome] of outcomes) {
          if (outcome.kind !== "variant") continue;
          placements++;
          const alone = own.get(id)!;
          if (alone.kind !== "variant" || alone.variantKey !== outcome.variantKey) {
            moved.push(`${subject} ${id}: ${outcome.variantKey}, alone ${JSON.stringify(alone)}`);
          }
        }
      }
    }
    expect(moved).toEqual([]);
    expect(placements).toBeGreaterThan(10_000);
  });
});

describe("cooldown", () => {
  const SEVEN_DAYS = 7 * 24 * 3600;
  const T = T0 + 10 * DAY;
  const finished = completedExperiment({ id: "finished", audience: 50, completedAt: T });
  const beforeEnd = experiment({ id: "before-end", startedAt: T - HOUR });
  const atEnd = experiment({ id: "at-end", startedAt: T });
  const within = experiment({ id: "within", startedAt: T + 3 * DAY });
  const atEdge = experiment({ id: "at-edge", startedAt: T + 7 * DAY });
  const running = [beforeEnd, atEnd, within, atEdge];

  it("keeps subjects of a completed experiment out of experiments started within the cooldown", () => {
    const restingOutcome = JSON.stringify({
      kind: "participation_limit",
      cause: "cooldown",
      afterExperimentId: "finished",
    });
    const wrong: string[] = [];
    let resting = 0;
    for (const subject of subjects(5_000)) {
      const outcomes = resolve(running, subject, {
        policy: policy(0, SEVEN_DAYS),
        completed: [finished],
      });
      const rests = claimsOf(finished, subject);
      if (rests) resting++;
      const expected: Record<string, boolean> = {
        // Started before the completion: the subject may already be in it; never pulled out.
        "before-end": false,
        // The window is [completedAt, completedAt + cooldown).
        "at-end": rests,
        within: rests,
        "at-edge": false,
      };
      for (const [id, shouldRest] of Object.entries(expected)) {
        const outcome = JSON.stringify(outcomeOf(outcomes, id));
        const ok = shouldRest ? outcome === restingOutcome : outcome.includes('"variant"');
        if (!ok) wrong.push(`${subject} ${id}: ${outcome}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(resting / 5_000).toBeGreaterThan(0.47);
    expect(resting / 5_000).toBeLessThan(0.53);
  });

  it("keeps a resting subject out for the whole life of the experiment", () => {
    for (const subject of subjects(1_000)) {
      const answers = [T + 3 * DAY, T + 8 * DAY, T + 90 * DAY].map((nowMs) =>
        outcomeOf(
          resolve(running, subject, {
            policy: policy(0, SEVEN_DAYS),
            completed: [finished],
            nowMs,
          }),
          "within",
        ),
      );
      expect(answers[1]).toEqual(answers[0]);
      expect(answers[2]).toEqual(answers[0]);
    }
  });

  it("rests only subjects the completed experiment's targeting matched", () => {
    const ruOnly = completedExperiment({ id: "ru-only", rule: 'country == "RU"', completedAt: T });
    const options = { policy: policy(0, SEVEN_DAYS), completed: [ruOnly] };
    const ru = resolve([within], "u-1", { ...options, attributes: { country: "RU" } });
    const kz = resolve([within], "u-1", { ...options, attributes: { country: "KZ" } });
    expect(outcomeOf(ru, "within").kind).toBe("participation_limit");
    expect(outcomeOf(kz, "within").kind).toBe("variant");
  });

  it("does nothing without completed experiments or with a cooldown of 0", () => {
    const everyone = completedExperiment({ id: "everyone", completedAt: T });
    for (const subject of subjects(500)) {
      const none = resolve(running, subject, { policy: policy(0, SEVEN_DAYS) });
      const zero = resolve(running, subject, { policy: policy(0, 0), completed: [everyone] });
      expect(included(none)).toHaveLength(4);
      expect(included(zero)).toHaveLength(4);
    }
  });

  it("frees the resting experiment's domains and slot for the next ones", () => {
    const everyone = completedExperiment({ id: "everyone", completedAt: T });
    const resting = experiment({ id: "resting", priority: 5, domains: ["d"], startedAt: T + DAY });
    const sameDomain = experiment({ id: "same-domain", domains: ["d"], startedAt: T0 });
    const other = experiment({ id: "other", startedAt: T0 });
    const outcomes = resolve([resting, sameDomain, other], "u-1", {
      policy: policy(2, SEVEN_DAYS),
      completed: [everyone],
    });
    expect(outcomeOf(outcomes, "resting")).toEqual({
      kind: "participation_limit",
      cause: "cooldown",
      afterExperimentId: "everyone",
    });
    expect(included(outcomes).sort()).toEqual(["other", "same-domain"]);
  });

  it("reports a domain conflict before the cooldown", () => {
    const everyone = completedExperiment({ id: "everyone", completedAt: T });
    const holder = experiment({ id: "holder", priority: 9, domains: ["d"], startedAt: T0 });
    const resting = experiment({ id: "resting", priority: 5, domains: ["d"], startedAt: T + DAY });
    const outcomes = resolve([holder, resting], "u-1", {
      policy: policy(0, SEVEN_DAYS),
      completed: [everyone],
    });
    expect(outcomeOf(outcomes, "resting")).toEqual({ kind: "domain_conflict", winnerId: "holder" });
  });

  it("names the most recently completed experiment when several apply", () => {
    const first = completedExperiment({ id: "first", completedAt: T });
    const second = completedExperiment({ id: "second", completedAt: T + DAY });
    const late = experiment({ id: "late", startedAt: T + 2 * DAY });
    for (const completed of [
      [first, second],
      [second, first],
    ]) {
      const outcomes = resolve([late], "u-1", { policy: policy(0, SEVEN_DAYS), completed });
      expect(outcomeOf(outcomes, "late")).toEqual({
        kind: "participation_limit",
        cause: "cooldown",
        afterExperimentId: "second",
      });
    }
  });

  it("tells the snapshot how far back completed experiments matter", () => {
    expect(cooldownHistoryStartMs(running, policy(0, 0))).toBeUndefined();
    expect(cooldownHistoryStartMs([], policy(0, SEVEN_DAYS))).toBeUndefined();
    expect(cooldownHistoryStartMs(running, policy(0, SEVEN_DAYS))).toBe(
      T - HOUR - SEVEN_DAYS * 1000,
    );
  });
});

describe("needsGlobalResolution", () => {
  const plain = experiment({ id: "plain" });
  const domained = experiment({ id: "domained", domains: ["d"] });

  it("is false only for an unlimited policy without cooldown and an experiment without domains", () => {
    expect(needsGlobalResolution(UNLIMITED, plain)).toBe(false);
    expect(needsGlobalResolution(UNLIMITED, domained)).toBe(true);
    expect(needsGlobalResolution(policy(3), plain)).toBe(true);
    expect(needsGlobalResolution(policy(0, 60), plain)).toBe(true);
  });

  it("when false, claimExperiment alone gives the resolved outcome", () => {
    const all = [...MIXED, plain];
    for (const subject of subjects(1_000)) {
      const outcomes = resolve(all, subject);
      for (const e of all) {
        if (needsGlobalResolution(UNLIMITED, e)) continue;
        expect(claimExperiment(e, subject, {}, bucketOf, assignVariant)).toEqual(
          outcomeOf(outcomes, e.id),
        );
      }
    }
  });
});
