/**
 * Property-based fuzzing of the targeting parser and of compiled rules
 * (fast-check): random text, random token sequences from the grammar's
 * alphabet, edits of valid rules, inputs up to the length limit, and rules
 * generated from the grammar.
 *
 * Every input must give `{ ok: true }` or `{ ok: false }` with a sane
 * position, never an exception. The time bound per input is a hang guard,
 * not a speed claim (speed is measured in bench/): a parse takes well under a
 * millisecond, so 50 ms only trips on super-linear behaviour, and an input
 * over it is timed a second time so that one GC pause on a shared machine
 * does not fail the run.
 */
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import {
  MAX_RULE_LENGTH,
  parseRule,
  type ParseResult,
  type TargetingAttributes,
} from "../../src/targeting/index.js";

/**
 * Any Unicode scalar value as a string. (fast-check's built-in "binary" unit
 * does the same but takes seconds to initialise.)
 */
const anyCodePoint = fc
  .integer({ min: 0, max: 0x10ffff })
  .filter((code) => code < 0xd800 || code > 0xdfff)
  .map((code) => String.fromCodePoint(code));

const HANG_GUARD_MS = 50;

function timedParse(source: string): { result: ParseResult; ms: number } {
  const start = performance.now();
  const result = parseRule(source);
  return { result, ms: performance.now() - start };
}

/** Throws (failing the property with its counterexample) unless `condition` holds. */
function check(condition: boolean, what: string, source: string): void {
  if (!condition) throw new Error(`${what} for rule ${JSON.stringify(source)}`);
}

/**
 * Parses, checks the result's shape and the time bound, and returns it.
 * Plain checks rather than expect() here: this runs tens of thousands of times.
 */
function parseChecked(source: string): ParseResult {
  const first = timedParse(source);
  const result = first.result;
  let ms = first.ms;
  if (ms >= HANG_GUARD_MS) ms = Math.min(ms, timedParse(source).ms);
  check(ms < HANG_GUARD_MS, `parse took ${ms.toFixed(1)} ms`, source);
  if (result.ok) {
    check(result.rule.source === source, "source not kept", source);
    check(Array.isArray(result.rule.attributes), "attributes missing", source);
  } else {
    const { position, line, column, expected, message } = result.error;
    check(
      Number.isInteger(position) && position >= 0 && position <= source.length,
      `position ${position} outside the rule`,
      source,
    );
    const before = source.slice(0, position);
    check(line === before.split("\n").length, `wrong line ${line}`, source);
    check(
      column === position - (before.lastIndexOf("\n") + 1) + 1,
      `wrong column ${column}`,
      source,
    );
    check(expected.length > 0 && message.length > 0, "empty expected or message", source);
    check(!message.includes("internal error"), message, source);
  }
  return result;
}

const ATTRIBUTE_NAMES = [
  "country",
  "app_version",
  "platform",
  "age",
  "beta",
  "tags",
  "signup",
  "a",
  "b",
  "device.os",
  "constructor",
  "toString",
  "__proto__",
];

const attributeValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.constantFrom(
    "RU",
    "KZ",
    "ios",
    "1.6.0",
    "1.10.0-beta.1",
    "2024-01-15",
    "2024-02-30T10:00:00Z",
    "",
  ),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: anyCodePoint, maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.boolean(), fc.constant(null)), {
    maxLength: 5,
  }),
  fc.anything({ maxDepth: 2 }),
);

const attributes: fc.Arbitrary<TargetingAttributes> = fc.oneof(
  fc.dictionary(fc.constantFrom(...ATTRIBUTE_NAMES), attributeValue, { maxKeys: 8 }),
  fc.dictionary(fc.constantFrom(...ATTRIBUTE_NAMES), attributeValue, {
    maxKeys: 8,
    noNullPrototype: true,
  }),
  fc.object({ maxDepth: 2 }),
);

/** Evaluates on several attribute sets; evaluate must return a boolean and never throw. */
function evaluateChecked(result: ParseResult, subjects: readonly TargetingAttributes[]): boolean[] {
  if (!result.ok) return [];
  return subjects.map((subject) => {
    const value = result.rule.evaluate(subject);
    check(typeof value === "boolean", `evaluate returned ${String(value)}`, result.rule.source);
    return value;
  });
}

const VALID_RULES = [
  `country IN ["RU","KZ"] AND app_version >= "1.6.0" AND platform == "ios"`,
  `NOT (age < 18) OR beta == true`,
  `tags CONTAINS "vip" AND signup >= 2024-01-15`,
  `device.os STARTS_WITH "i" and country not in ["US", "DE", 3, true, 2024-05-01]`,
  `((a == 1 OR b != "x\\"y\\\\") AND NOT (platform == "android"))`,
  `app_version < "2.0.0-rc.1" OR app_version > "10"`,
  `age >= -1.5e3 AND age <= 120`,
  ``,
];

/** Pieces the grammar is made of, valid or nearly so. */
const TOKENS = [
  "country",
  "app_version",
  "a",
  "b.c",
  "_x",
  "AND",
  "and",
  "OR",
  "NOT",
  "not",
  "IN",
  "CONTAINS",
  "STARTS_WITH",
  "true",
  "FALSE",
  "(",
  ")",
  "[",
  "]",
  ",",
  "==",
  "!=",
  ">",
  ">=",
  "<",
  "<=",
  "=",
  "!",
  '"RU"',
  '"1.6.0"',
  '"2024-01-15"',
  '"a\\"b"',
  '"\\\\"',
  '"',
  "\\",
  "0",
  "-12.5",
  "1e3",
  "1.2.3",
  "2024-01-15",
  "2024-02-30",
  "@",
  "'",
  "\n",
];

/** The grammar's characters, a few troublemakers, and lone UTF-16 surrogates. */
const alphabet = fc.constantFrom(
  ..."()[],\"\\=!<>-+.eE0123456789 \t\naAnNdDoOrRtTiIsS_@'&|".split(""),
  "\uD83D",
  "\uDE00",
  "\u0000",
);
const anyCharacter = fc.oneof(alphabet, anyCodePoint);

const tokenSequence = (maxLength: number) =>
  fc
    .tuple(fc.array(fc.constantFrom(...TOKENS), { maxLength }), fc.constantFrom(" ", "", "  "))
    .map(([tokens, separator]) => tokens.join(separator));

type Edit = { kind: "insert" | "delete" | "replace"; at: number; character: string };

const edit: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom("insert" as const, "delete" as const, "replace" as const),
  at: fc.nat(),
  character: anyCharacter,
});

function applyEdits(source: string, edits: readonly Edit[]): string {
  let text = source;
  for (const { kind, at, character } of edits) {
    const i = text.length === 0 ? 0 : at % (text.length + (kind === "insert" ? 1 : 0));
    if (kind === "insert") text = text.slice(0, i) + character + text.slice(i);
    else if (kind === "delete") text = text.slice(0, i) + text.slice(i + 1);
    else text = text.slice(0, i) + character + text.slice(i + 1);
  }
  return text;
}

const mutatedRule = fc
  .tuple(fc.constantFrom(...VALID_RULES), fc.array(edit, { minLength: 1, maxLength: 8 }))
  .map(([rule, edits]) => applyEdits(rule, edits));

describe("the parser never throws and never hangs", () => {
  it("on random text", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: anyCodePoint, maxLength: 200 }),
          fc.string({ unit: alphabet, maxLength: 200 }),
        ),
        fc.array(attributes, { maxLength: 2 }),
        (source, subjects) => {
          evaluateChecked(parseChecked(source), subjects);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("on random token sequences from the grammar's alphabet", () => {
    let parsed = 0;
    fc.assert(
      fc.property(tokenSequence(40), fc.array(attributes, { maxLength: 2 }), (source, subjects) => {
        const result = parseChecked(source);
        if (result.ok) parsed++;
        evaluateChecked(result, subjects);
      }),
      { numRuns: 3000 },
    );
    // Some sequences happen to be valid rules (the empty one at least), so evaluation is exercised.
    expect(parsed).toBeGreaterThan(0);
  });

  it("on valid rules with characters inserted, deleted or replaced", () => {
    let parsed = 0;
    fc.assert(
      fc.property(
        mutatedRule,
        fc.array(attributes, { minLength: 1, maxLength: 4 }),
        (source, subjects) => {
          const result = parseChecked(source);
          if (result.ok) parsed++;
          evaluateChecked(result, subjects);
        },
      ),
      { numRuns: 3000 },
    );
    expect(parsed).toBeGreaterThan(30);
  });

  it(`on inputs up to and just over ${MAX_RULE_LENGTH} characters`, () => {
    const big = fc.oneof(
      tokenSequence(1500).map((s) => s.slice(0, MAX_RULE_LENGTH)),
      fc.string({ unit: alphabet, minLength: 3000, maxLength: MAX_RULE_LENGTH + 2 }),
      fc.string({ unit: anyCodePoint, minLength: 1000, maxLength: 2100 }),
      fc
        .tuple(
          fc.constantFrom("(", "NOT ", "NOT (", "((", '"', "[", "a IN ["),
          fc.nat(MAX_RULE_LENGTH),
        )
        .map(([piece, n]) => piece.repeat(Math.ceil(n / piece.length)).slice(0, n)),
      fc
        .array(fc.constantFrom(...VALID_RULES.filter((r) => r !== "")), {
          minLength: 30,
          maxLength: 70,
        })
        .map((rules) => rules.map((r) => `(${r})`).join(" OR ")),
    );
    fc.assert(
      fc.property(big, attributes, (source, subject) => {
        evaluateChecked(parseChecked(source), [subject]);
      }),
      { numRuns: 300 },
    );
  });

  it("positions point into the rule on every truncation of a valid rule", () => {
    for (const rule of VALID_RULES) {
      for (let end = 0; end <= rule.length; end++) parseChecked(rule.slice(0, end));
    }
  });
});

describe("rules generated from the grammar", () => {
  const quote = (text: string) => `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  const keyword = (word: string) =>
    fc
      .array(fc.boolean(), { minLength: word.length, maxLength: word.length })
      .map((upper) =>
        [...word].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch.toLowerCase())).join(""),
      );
  const name = fc.constantFrom(...ATTRIBUTE_NAMES);
  const stringLiteral = fc.oneof(
    fc.constantFrom("RU", "KZ", "ios", "", "vip").map(quote),
    fc.string({ maxLength: 8 }).map(quote),
  );
  const versionLiteral = fc
    .tuple(
      fc.array(fc.nat(20), { minLength: 1, maxLength: 4 }),
      fc.option(fc.constantFrom("alpha", "rc.1", "0")),
    )
    .map(([core, pre]) => quote(core.join(".") + (pre === null ? "" : `-${pre}`)));
  const numberLiteral = fc.oneof(
    fc.integer({ min: -1000, max: 1000 }).map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  );
  const dateLiteral = fc
    .date({
      min: new Date("0001-01-01T00:00:00Z"),
      max: new Date("9999-12-31T00:00:00Z"),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString().slice(0, 10));
  const booleanLiteral = keyword("true").chain((t) => fc.constantFrom(t, "false", "FALSE"));
  const orderable = fc.oneof(stringLiteral, versionLiteral, numberLiteral, dateLiteral);
  const anyLiteral = fc.oneof(orderable, booleanLiteral);

  const comparison = fc.oneof(
    fc
      .tuple(name, fc.constantFrom("==", "!=", ">", ">=", "<", "<="), orderable)
      .map(([n, op, v]) => `${n} ${op} ${v}`),
    fc
      .tuple(name, fc.constantFrom("==", "!="), booleanLiteral)
      .map(([n, op, v]) => `${n} ${op} ${v}`),
    fc
      .tuple(
        name,
        fc.constantFrom("IN", "in", "NOT IN", "not In"),
        fc.array(anyLiteral, { minLength: 1, maxLength: 5 }),
      )
      .map(([n, op, vs]) => `${n} ${op} [${vs.join(", ")}]`),
    fc.tuple(name, keyword("contains"), anyLiteral).map(([n, op, v]) => `${n} ${op} ${v}`),
    fc.tuple(name, keyword("starts_with"), stringLiteral).map(([n, op, v]) => `${n} ${op} ${v}`),
  );

  const { expression } = fc.letrec<{ expression: string }>((tie) => ({
    expression: fc.oneof(
      { maxDepth: 5, depthIdentifier: "rule" },
      comparison,
      fc.tuple(keyword("not"), tie("expression")).map(([not, e]) => `${not} ${e}`),
      tie("expression").map((e) => `(${e})`),
      fc
        .tuple(tie("expression"), keyword("and"), tie("expression"))
        .map(([l, op, r]) => `${l} ${op} ${r}`),
      fc
        .tuple(tie("expression"), keyword("or"), tie("expression"))
        .map(([l, op, r]) => `${l} ${op} ${r}`),
    ),
  }));

  /** A rule the grammar allows (quoted dates after an ordering operator are rejected by design). */
  const rule = expression.filter(
    (source) => source.length <= 1000 && !/[<>]=? "\d{4}-\d\d-\d\d"/.test(source),
  );

  function evaluateAll(source: string, subjects: readonly TargetingAttributes[]): boolean[] {
    const result = parseChecked(source);
    if (!result.ok)
      throw new Error(`generated rule did not parse: ${source}: ${result.error.message}`);
    return evaluateChecked(result, subjects);
  }

  it("always parse, and evaluate never throws", () => {
    fc.assert(
      fc.property(
        rule,
        fc.array(attributes, { minLength: 1, maxLength: 5 }),
        (source, subjects) => {
          evaluateAll(source, subjects);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("compose: NOT, AND and OR agree with boolean logic on the parts", () => {
    fc.assert(
      fc.property(
        rule,
        rule,
        fc.array(attributes, { minLength: 1, maxLength: 5 }),
        (left, right, subjects) => {
          const l = evaluateAll(left, subjects);
          const r = evaluateAll(right, subjects);
          expect(evaluateAll(`NOT (${left})`, subjects)).toEqual(l.map((x) => !x));
          expect(evaluateAll(`(${left}) AND (${right})`, subjects)).toEqual(
            l.map((x, i) => x && r[i]!),
          );
          expect(evaluateAll(`(${left}) OR (${right})`, subjects)).toEqual(
            l.map((x, i) => x || r[i]!),
          );
          expect(evaluateAll(`(${left}) or (${right}) And NOT (${left})`, subjects)).toEqual(
            l.map((x, i) => x || (r[i]! && !x)),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
