/**
 * The configurations and requests of test/vectors/decide.json. The
 * expected answers in that file were computed by the decide core when the
 * file was written (LOTTY_WRITE_VECTORS=1, see README.md) and are frozen:
 * decide-vectors.test.ts checks the core and the Node client's local
 * decider against them on every run.
 */
import type {
  SnapshotSource,
  SourceExperiment,
  SourceVariant,
} from "../../src/decision/core/index.js";

export interface VectorRequest {
  subjectId: string;
  attributes?: Record<string, string | number | boolean>;
  flagKeys: string[];
}

export interface VectorCase {
  name: string;
  /** What the case exercises. */
  covers: string;
  configuration: SnapshotSource;
  requests: VectorRequest[];
}

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

/** A configuration; format 1 (the first cases), or 2 for cases that use rampPercent. */
function source(
  version: string,
  parts: Partial<Omit<SnapshotSource, "format" | "version">>,
  format: 1 | 2 = 1,
): SnapshotSource {
  const experiments = parts.experiments ?? [];
  const completed = parts.recentlyCompleted ?? [];
  return {
    format,
    version,
    flags: parts.flags ?? [],
    experiments,
    recentlyCompleted: completed,
    policy: parts.policy ?? { maxConcurrentExperiments: 0, cooldownSeconds: 0 },
    knownExperimentIds: [...experiments, ...completed].map((e) => e.id),
    eventTypes: [],
  };
}

const str = (key: string, defaultValue: string, archived = false) => ({
  key,
  type: "string" as const,
  defaultValue,
  archived,
});

function variants(values: [string, unknown, number][]): SourceVariant[] {
  return values.map(([key, value, weight], i) => ({ key, value, weight, control: i === 0 }));
}

function experiment(
  id: string,
  flagKey: string,
  extra: Partial<SourceExperiment> = {},
): SourceExperiment {
  return {
    id,
    flagKey,
    status: "running",
    version: 3,
    rolledBack: false,
    audiencePercent: 100,
    variants: variants([
      ["control", "grey", 50],
      ["blue", "blue", 50],
    ]),
    targetingRule: "",
    conflictDomains: [],
    priority: 0,
    startedAt: T0,
    ...extra,
  };
}

/** `n` subjects named `prefix-0` … with attributes from `attributes(i)`. */
function subjects(
  prefix: string,
  n: number,
  flagKeys: string[],
  attributes: (i: number) => Record<string, string | number | boolean> | undefined = () =>
    undefined,
): VectorRequest[] {
  return Array.from({ length: n }, (_, i) => {
    const a = attributes(i);
    return { subjectId: `${prefix}-${i}`, ...(a !== undefined ? { attributes: a } : {}), flagKeys };
  });
}

const COUNTRIES = ["RU", "KZ", "DE", "US"];
const VERSIONS = ["1.5.9", "1.6.0", "1.10.0", "2.0.0"];

export const CASES: VectorCase[] = [
  {
    name: "flags",
    covers:
      "flag defaults of every type, an archived and an unknown flag (FLAG_NOT_FOUND), every active flag in key order when flagKeys is empty, a paused experiment serving the default",
    configuration: source("v-flags", {
      flags: [
        str("title", "Hello"),
        { key: "limit", type: "number", defaultValue: 3.5, archived: false },
        { key: "enabled", type: "bool", defaultValue: true, archived: false },
        { key: "layout", type: "json", defaultValue: { rows: 2, cards: ["a"] }, archived: false },
        str("old", "gone", true),
        str("paused-flag", "base"),
      ],
      experiments: [experiment("exp-paused", "paused-flag", { status: "paused" })],
    }),
    requests: [
      { subjectId: "u-1", flagKeys: ["title", "limit", "enabled", "layout", "old", "nope"] },
      { subjectId: "u-2", flagKeys: [] },
      { subjectId: "u-3", flagKeys: ["paused-flag"] },
    ],
  },
  {
    name: "targeting",
    covers:
      "targeting rules (IN, version comparison, numbers, booleans, NOT, OR, missing attributes): TARGETING_MISMATCH or a variant",
    configuration: source("v-targeting", {
      flags: [str("button", "grey"), str("banner", "none"), str("promo", "off")],
      experiments: [
        experiment("exp-button", "button", {
          targetingRule: 'country IN ["RU","KZ"] AND app_version >= "1.6.0"',
        }),
        experiment("exp-banner", "banner", {
          targetingRule: "age >= 30 OR beta == true",
          variants: variants([
            ["control", "none", 50],
            ["top", "top", 50],
          ]),
        }),
        experiment("exp-promo", "promo", {
          targetingRule: 'NOT (plan == "free")',
          variants: variants([
            ["control", "off", 50],
            ["on", "on", 50],
          ]),
        }),
      ],
    }),
    requests: subjects("t", 24, ["button", "banner", "promo"], (i) =>
      i % 6 === 5
        ? undefined
        : {
            country: COUNTRIES[i % 4]!,
            app_version: VERSIONS[(i >> 2) % 4]!,
            age: 20 + ((i * 7) % 30),
            beta: i % 3 === 0,
            plan: i % 2 === 0 ? "free" : "pro",
          },
    ),
  },
  {
    name: "audience",
    covers:
      "audiences below 100 % with uneven weights (OUTSIDE_AUDIENCE or a variant), three variants, a tiny audience, a rolled-back experiment (ROLLED_BACK, the control's value)",
    configuration: source("v-audience", {
      flags: [str("three", "base"), str("tiny", "base"), str("rolled", "base")],
      experiments: [
        experiment("exp-three", "three", {
          audiencePercent: 30,
          variants: variants([
            ["control", "c", 10],
            ["a", "a", 15],
            ["b", "b", 5],
          ]),
        }),
        experiment("exp-tiny", "tiny", {
          audiencePercent: 0.5,
          variants: variants([
            ["control", "c", 0.25],
            ["x", "x", 0.25],
          ]),
        }),
        experiment("exp-rolled", "rolled", { rolledBack: true }),
      ],
    }),
    requests: subjects("a", 30, ["three", "tiny", "rolled"]),
  },
  {
    name: "participation",
    covers:
      "the participation limit (at most one experiment per subject): ranking by priority, then start time; a paused experiment keeps its place; PARTICIPATION_LIMIT",
    configuration: source("v-participation", {
      flags: [str("p-high", "h"), str("p-early", "e"), str("p-late", "l"), str("p-paused", "p")],
      experiments: [
        experiment("exp-high", "p-high", {
          priority: 2,
          audiencePercent: 40,
          variants: variants([
            ["control", "h0", 20],
            ["t", "h1", 20],
          ]),
        }),
        experiment("exp-early", "p-early", {
          startedAt: T0 - DAY,
          audiencePercent: 60,
          variants: variants([
            ["control", "e0", 30],
            ["t", "e1", 30],
          ]),
        }),
        experiment("exp-late", "p-late", { startedAt: T0 + DAY }),
        experiment("exp-paused-rank", "p-paused", {
          status: "paused",
          priority: 1,
          audiencePercent: 30,
          variants: variants([
            ["control", "p0", 15],
            ["t", "p1", 15],
          ]),
        }),
      ],
      policy: { maxConcurrentExperiments: 1, cooldownSeconds: 0 },
    }),
    requests: subjects("p", 30, ["p-high", "p-early", "p-late", "p-paused"]),
  },
  {
    name: "conflict-domains",
    covers:
      "conflict domains: experiments sharing a domain never both take a subject (DOMAIN_CONFLICT), by priority; an experiment in another domain is unaffected",
    configuration: source("v-domains", {
      flags: [str("checkout-a", "a"), str("checkout-b", "b"), str("search", "s")],
      experiments: [
        experiment("exp-checkout-a", "checkout-a", {
          conflictDomains: ["checkout"],
          priority: 1,
          audiencePercent: 50,
          variants: variants([
            ["control", "a0", 25],
            ["t", "a1", 25],
          ]),
        }),
        experiment("exp-checkout-b", "checkout-b", { conflictDomains: ["checkout", "pricing"] }),
        experiment("exp-search", "search", { conflictDomains: ["search"] }),
      ],
    }),
    requests: subjects("d", 30, ["checkout-a", "checkout-b", "search"]),
  },
  {
    name: "cooldown",
    covers:
      "a cooldown after a completed experiment: its subjects are kept out of experiments started within the rest period (PARTICIPATION_LIMIT); others are not",
    configuration: source("v-cooldown", {
      flags: [str("after", "x"), str("long-after", "y")],
      experiments: [
        experiment("exp-after", "after", { startedAt: T0 + DAY }),
        experiment("exp-long-after", "long-after", { startedAt: T0 + 30 * DAY }),
      ],
      recentlyCompleted: [
        {
          id: "exp-done",
          audiencePercent: 60,
          variants: variants([
            ["control", "c", 30],
            ["t", "t", 30],
          ]),
          targetingRule: "",
          completedAt: T0,
        },
      ],
      policy: { maxConcurrentExperiments: 0, cooldownSeconds: 7 * 86_400 },
    }),
    requests: subjects("c", 30, ["after", "long-after"]),
  },
  {
    name: "ramp",
    covers:
      "ramp shares (format 2): 20 % of a 50/50 layout (subjects in the ramped share get their variant, the rest of each slice OUTSIDE_AUDIENCE), 12.5 % of three uneven variants at a 30 % audience, 0 % (nobody), 99.99 % of a 50 % audience, and 100 % (the layout itself)",
    configuration: source(
      "v-ramp",
      {
        flags: [
          str("ramp-half", "base"),
          str("ramp-three", "base"),
          str("ramp-zero", "base"),
          str("ramp-most", "base"),
          str("ramp-full", "base"),
        ],
        experiments: [
          experiment("exp-ramp-half", "ramp-half", { rampPercent: 20 }),
          experiment("exp-ramp-three", "ramp-three", {
            audiencePercent: 30,
            variants: variants([
              ["control", "c", 10],
              ["a", "a", 15],
              ["b", "b", 5],
            ]),
            rampPercent: 12.5,
          }),
          experiment("exp-ramp-zero", "ramp-zero", { rampPercent: 0 }),
          experiment("exp-ramp-most", "ramp-most", {
            audiencePercent: 50,
            variants: variants([
              ["control", "grey", 25],
              ["blue", "blue", 25],
            ]),
            rampPercent: 99.99,
          }),
          experiment("exp-ramp-full", "ramp-full", { rampPercent: 100 }),
        ],
      },
      2,
    ),
    requests: subjects("r", 30, ["ramp-half", "ramp-three", "ramp-zero", "ramp-most", "ramp-full"]),
  },
  {
    name: "ramp-participation",
    covers:
      "ramp shares (format 2) with participation: a ramped completed experiment starts a cooldown (PARTICIPATION_LIMIT) only for the subjects in its ramped share; in a conflict domain, a ramped higher-priority experiment takes only the subjects in its share (DOMAIN_CONFLICT for the other) and leaves the rest to the next one",
    configuration: source(
      "v-ramp-participation",
      {
        flags: [str("after-ramp", "x"), str("ramp-high", "h"), str("ramp-low", "l")],
        experiments: [
          experiment("exp-after-ramp", "after-ramp", { startedAt: T0 + DAY }),
          // Started after the cooldown: only the conflict domain matters.
          experiment("exp-ramp-high", "ramp-high", {
            priority: 2,
            startedAt: T0 + 30 * DAY,
            conflictDomains: ["ramp"],
            rampPercent: 25,
          }),
          experiment("exp-ramp-low", "ramp-low", {
            priority: 1,
            startedAt: T0 + 30 * DAY,
            conflictDomains: ["ramp"],
          }),
        ],
        recentlyCompleted: [
          {
            id: "exp-ramp-done",
            audiencePercent: 100,
            variants: variants([
              ["control", "c", 50],
              ["t", "t", 50],
            ]),
            rampPercent: 30,
            targetingRule: "",
            completedAt: T0,
          },
        ],
        policy: { maxConcurrentExperiments: 0, cooldownSeconds: 7 * 86_400 },
      },
      2,
    ),
    requests: subjects("rp", 30, ["after-ramp", "ramp-high", "ramp-low"]),
  },
];
