/**
 * A property-based generator of decide vectors: random configurations
 * (SnapshotSource, format 1 or 2) and requests that reach every part of the
 * decide core — flags of every type, archived and unknown flags, paused and
 * rolled-back experiments, layouts (valid and not), ramp shares (format 2;
 * valid and not) on live and completed experiments, targeting rules (valid
 * and not) over typed attributes, conflict domains, priorities and start
 * times that tie, a participation limit and cooldowns after completed
 * experiments — with the answers the server's decide core gives. The
 * vectors it writes have the shape of decide.json, so every implementation
 * (and decide-runner.mjs) checks them the same way.
 */
import fc from "fast-check";
import {
  SNAPSHOT_SOURCE_FORMAT,
  type SnapshotSource,
  type SourceCompletedExperiment,
  type SourceExperiment,
  type SourceFlag,
  type SourceVariant,
} from "../../src/decision/core/index.js";
import type { VectorRequest } from "./decide-cases.js";
import { expectedDecisions } from "./implementations.js";

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
// "～" (U+FF5E) and "f😀" sort differently by code points and by UTF-16 code units.
const FLAG_KEYS = ["a", "b", "c", "d", "e", "Z", "ключ", "f\u{1F600}", "f\uFF5E"];
const DOMAINS = ["checkout", "search", "home"];

type Attributes = Record<string, unknown>;

// ------------------------------------------------------------------ rules

const COUNTRIES = ["RU", "KZ", "DE", "US", ""];
const VERSIONS = ["1.5.9", "1.6", "1.6.0", "1.10.0", "2.0.0-beta.2", "2.0.0", "x.y"];
const DATES = ["2025-12-31", "2026-01-01", "2026-02-28T10:00:00Z", "2026-13-01", "soon", ""];
const TAGS = ["vip", "new", "beta"];

const quoted = (s: string) => JSON.stringify(s);
const pick = <T>(values: readonly T[]) => fc.constantFrom(...values);

/** One comparison over a typed attribute. */
const comparison: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(pick(["==", "!=", ">", ">=", "<", "<="]), pick(COUNTRIES))
    .map(([op, v]) => `country ${op} ${quoted(v)}`),
  fc
    .tuple(pick([false, true]), fc.subarray(COUNTRIES, { minLength: 1 }))
    .map(([not, vs]) => `country ${not ? "NOT IN" : "IN"} [${vs.map(quoted).join(", ")}]`),
  fc
    .tuple(pick([">=", "<", ">", "=="]), pick(VERSIONS))
    .map(([op, v]) => `app_version ${op} ${quoted(v)}`),
  fc.tuple(pick(["==", "!=", ">", ">=", "<"]), fc.integer({ min: 0, max: 90 })).map(([op, n]) => {
    return `age ${op} ${n}`;
  }),
  fc
    .tuple(pick([false, true]), fc.subarray([18, 21, 30, 40.5], { minLength: 1 }))
    .map(([n, vs]) => {
      return `age ${n ? "NOT IN" : "IN"} [${vs.join(", ")}]`;
    }),
  pick(["beta == true", "beta != false", "beta == false"]),
  pick(TAGS).map((t) => `tags CONTAINS ${quoted(t)}`),
  pick(['country STARTS_WITH "R"', 'email CONTAINS "@example"', "tags CONTAINS 3"]),
  fc
    .tuple(pick(["==", "!=", ">", ">=", "<", "<="]), pick(["2026-01-01", "2025-06-30"]))
    .map(([op, d]) => {
      return `signup ${op} ${d}`;
    }),
  pick([`signup IN [2026-01-01, "2025-12-31"]`, `mixed IN ["1", 1, true]`]),
);

/** A rule of up to three levels of AND, OR, NOT and parentheses. */
const rule: fc.Arbitrary<string> = fc.letrec<{ rule: string }>((tie) => ({
  rule: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    comparison,
    fc
      .tuple(tie("rule"), pick(["AND", "OR", "and"]), tie("rule"))
      .map(([a, op, b]) => `${a} ${op} ${b}`),
    tie("rule").map((r) => `NOT (${r})`),
    tie("rule").map((r) => `(${r})`),
  ),
})).rule;

/** A stored rule: mostly valid, often empty or blank, sometimes one the server cannot parse. */
const storedRule = fc.oneof(
  { weight: 4, arbitrary: rule },
  { weight: 6, arbitrary: pick(["", "   "]) },
  {
    weight: 1,
    arbitrary: pick([
      "country ==",
      'country = "RU"',
      "age > true",
      "(beta == true",
      'x > "2026-01-01"',
    ]),
  },
);

const attributes: fc.Arbitrary<Attributes> = fc.record(
  {
    // Mostly strings; sometimes a number, a boolean or null, which only the
    // tests that check the type tell apart.
    country: fc.oneof(pick(COUNTRIES), pick(["ru", "RUS"]), pick([7, true, null])),
    app_version: fc.oneof(pick(VERSIONS), pick(["1.6.0+build.5", "01.6.0", "1.6.0-rc.1", 1.6])),
    age: fc.oneof(fc.integer({ min: 0, max: 90 }), pick([40.5, -1]), pick(["30"])),
    beta: fc.oneof(fc.boolean(), pick(["true", 1])),
    tags: fc.oneof(fc.subarray(TAGS), pick(["vip", [3, "x"]])),
    signup: pick(DATES),
    email: pick(["a@example.com", "b@test.org"]),
    mixed: pick(["1", 1, true, false, "x", null]),
  },
  { requiredKeys: [] },
);

// ------------------------------------------------------------------ configurations

/** Variants with weights that add up to the audience (in 0.01 % units), or, rarely, not. */
function layout(id: number) {
  return fc
    .record({
      audienceUnits: fc.oneof(
        { weight: 3, arbitrary: pick([10_000, 10_000, 10_000, 5_000, 0]) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 10_000 }) },
      ),
      cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 0, maxLength: 3 }),
      broken: fc.integer({ min: 0, max: 19 }),
      controlAt: fc.nat(),
    })
    .map(({ audienceUnits, cuts, broken, controlAt }) => {
      const points = [0, ...cuts.map((c) => Math.floor(c * audienceUnits)).sort((x, y) => x - y)];
      points.push(audienceUnits);
      const variants: SourceVariant[] = points.slice(1).map((end, i) => ({
        key: i === 0 ? "control" : `v${i}`,
        value: `value-${id}-${i}`,
        weight: (end - points[i]!) / 100,
        control: false,
      }));
      variants[controlAt % variants.length]!.control = true;
      // One in twenty layouts does not add up: the experiment is left out.
      if (broken === 0) variants[0]!.weight += 1;
      return { audiencePercent: audienceUnits / 100, variants };
    });
}

/**
 * A ramp share (format 2) on about 30 % of experiments: mostly typical
 * steps, sometimes any 0.01 step, 0 or 100, rarely one the core refuses
 * (the experiment is then left out). undefined: no `rampPercent` at all.
 */
const rampPercent: fc.Arbitrary<number | undefined> = fc.oneof(
  { weight: 7, arbitrary: fc.constant(undefined) },
  {
    weight: 3,
    arbitrary: fc.oneof(
      { weight: 6, arbitrary: pick([1, 5, 12.5, 50, 99.99]) },
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 10_000 }).map((u) => u / 100) },
      { weight: 1, arbitrary: pick([0, 100]) },
      { weight: 1, arbitrary: pick([100.01, -1, 12.345]) },
    ),
  },
);

/** `rampPercent` as the optional field: left out when undefined. */
const withRamp = (ramp: number | undefined) => (ramp === undefined ? {} : { rampPercent: ramp });

function experimentOf(index: number, flagKeys: string[]): fc.Arbitrary<SourceExperiment> {
  return fc
    .record({
      // Mostly a flag of the configuration; sometimes a flag it does not have.
      flagKey: fc.oneof(
        { weight: 9, arbitrary: pick(flagKeys) },
        { weight: 1, arbitrary: pick(FLAG_KEYS) },
      ),
      status: fc.oneof(pick(["running", "running", "running", "paused"] as const)),
      version: fc.integer({ min: 1, max: 9 }),
      rolledBack: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
      layout: layout(index),
      ramp: rampPercent,
      targetingRule: storedRule,
      conflictDomains: fc.subarray(DOMAINS, { maxLength: 2 }),
      priority: fc.integer({ min: 0, max: 2 }),
      startedAt: fc.integer({ min: 0, max: 3 }).map((h) => T0 + h * HOUR),
    })
    .map(({ layout: l, ramp, ...e }) => ({
      id: `exp-${index}`,
      ...e,
      audiencePercent: l.audiencePercent,
      variants: l.variants,
      ...withRamp(ramp),
    }));
}

function completedOf(index: number): fc.Arbitrary<SourceCompletedExperiment> {
  return fc
    .record({
      layout: layout(100 + index),
      ramp: rampPercent,
      targetingRule: storedRule,
      completedAt: fc.integer({ min: -3, max: 3 }).map((h) => T0 + h * HOUR),
    })
    .map(({ layout: l, ramp, ...c }) => ({
      id: `done-${index}`,
      ...c,
      audiencePercent: l.audiencePercent,
      variants: l.variants,
      ...withRamp(ramp),
    }));
}

const flag: fc.Arbitrary<SourceFlag> = fc
  .tuple(
    pick(FLAG_KEYS),
    fc.oneof(
      fc.string({ maxLength: 6 }).map((v) => ["string", v] as const),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => ["number", v] as const),
      fc.boolean().map((v) => ["bool", v] as const),
      fc.jsonValue({ maxDepth: 2 }).map((v) => ["json", v] as const),
    ),
    fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
  )
  .map(([key, [type, defaultValue], archived]) => ({
    key,
    type,
    defaultValue: Object.is(defaultValue, -0) ? 0 : defaultValue,
    archived,
  }));

const configuration: fc.Arbitrary<SnapshotSource> = fc
  .uniqueArray(flag, { minLength: 1, maxLength: 6, selector: (f) => f.key })
  .chain((flags) =>
    fc.record({
      flags: fc.constant(flags),
      experiments: fc.integer({ min: 0, max: 6 }).chain((n) =>
        fc.tuple(
          ...Array.from({ length: n }, (_, i) =>
            experimentOf(
              i,
              flags.map((f) => f.key),
            ),
          ),
        ),
      ),
      completed: fc
        .integer({ min: 0, max: 3 })
        .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => completedOf(i)))),
      maxConcurrentExperiments: pick([0, 0, 1, 2]),
      cooldownSeconds: pick([0, 0, 3_600, 7_200]),
      formatOne: fc.boolean(),
    }),
  )
  .map((c) => ({
    // Format 2 when a ramp share is present (format 1 never has one);
    // otherwise either, since readers take both.
    format: c.formatOne && ![...c.experiments, ...c.completed].some(hasRamp) ? 1 : 2,
    version: "",
    flags: c.flags,
    experiments: c.experiments,
    recentlyCompleted: c.completed,
    policy: {
      maxConcurrentExperiments: c.maxConcurrentExperiments,
      cooldownSeconds: c.cooldownSeconds,
    },
    knownExperimentIds: [...c.experiments, ...c.completed].map((e) => e.id),
    eventTypes: [],
  }));

function hasRamp(e: SourceExperiment | SourceCompletedExperiment): boolean {
  return e.rampPercent !== undefined;
}

const subjectId = fc.oneof(
  fc.integer({ min: 0, max: 99_999 }).map((n) => `user-${n}`),
  fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" }),
  fc.uuid(),
);

/** A request for the flags of `flagKeys` mostly (all of them when flagKeys is empty). */
function requestFor(flagKeys: string[]): fc.Arbitrary<VectorRequest> {
  const key = fc.oneof(
    { weight: 8, arbitrary: pick(flagKeys) },
    { weight: 1, arbitrary: pick([...FLAG_KEYS, "missing"]) },
  );
  return fc.record(
    {
      subjectId,
      attributes,
      flagKeys: fc.oneof(
        { weight: 1, arbitrary: fc.constant([]) },
        { weight: 4, arbitrary: fc.array(key, { minLength: 1, maxLength: 5 }) },
      ),
    },
    { requiredKeys: ["subjectId", "flagKeys"] },
  ) as fc.Arbitrary<VectorRequest>;
}

/** A configuration with requests. */
export const generatedCase = configuration.chain((c) =>
  fc.record({
    configuration: fc.constant(c),
    requests: fc.array(requestFor(c.flags.map((f) => f.key)), { minLength: 1, maxLength: 12 }),
  }),
);

/** A vectors document: the shape of decide.json. */
export interface GeneratedVectors {
  description: string;
  /** The newest SnapshotSource format among the cases' configurations (or the writer's). */
  format: number;
  /** The seeds of the batches the cases came from, in order. */
  seeds: number[];
  cases: {
    name: string;
    configuration: SnapshotSource;
    requests: (VectorRequest & { expected: ReturnType<typeof expectedDecisions> })[];
  }[];
}

/**
 * `count` random cases from `seed`, with the decide core's answers, as a
 * vectors document. Equal seeds give equal documents (for this generator).
 */
export function generateVectors(seed: number, count: number): GeneratedVectors {
  const cases = fc.sample(fc.noBias(generatedCase), { seed, numRuns: count }).map((c, i) => {
    const name = `generated-${seed}-${i}`;
    const configuration = { ...c.configuration, version: name };
    return {
      name,
      configuration,
      requests: c.requests.map((r) => ({ ...r, expected: expectedDecisions(configuration, r) })),
    };
  });
  return {
    description:
      "Lotty decide vectors generated from random configurations by test/vectors/generator.ts, with the answers of the server's decide core when they were written. Same shape as decide.json (README.md). Batches are only ever added; these answers must never change.",
    format: SNAPSHOT_SOURCE_FORMAT,
    seeds: [seed],
    cases,
  };
}

/** `doc` with a batch of `count` cases from `seed` added (unchanged if that seed is in already). */
export function withBatch(
  doc: GeneratedVectors | undefined,
  seed: number,
  count: number,
): GeneratedVectors {
  const batch = generateVectors(seed, count);
  if (doc === undefined) return batch;
  if (doc.seeds.includes(seed)) return doc;
  return {
    ...doc,
    format: Math.max(doc.format, batch.format),
    seeds: [...doc.seeds, seed],
    cases: [...doc.cases, ...batch.cases],
  };
}
