/**
 * Parse errors: exact positions, what was expected, the message; the limits;
 * and the one-line form validateRule gives the service layer.
 */
import { describe, expect, it } from "@jest/globals";
import {
  MAX_IN_LIST_ITEMS,
  MAX_NESTING_DEPTH,
  MAX_RULE_LENGTH,
  MAX_STRING_LITERAL_LENGTH,
  RESERVED_WORDS,
  parseRule,
  validateRule,
  type RuleError,
} from "../../src/targeting/index.js";

function errorOf(source: string): RuleError {
  const result = parseRule(source);
  if (result.ok) throw new Error(`rule ${JSON.stringify(source)} parsed but should not have`);
  return result.error;
}

const OPERATOR = "a comparison operator (==, !=, >, >=, <, <=, IN, NOT IN, CONTAINS, STARTS_WITH)";
const START = "an attribute name, '(' or NOT";

type ErrorCase = readonly [source: string, position: number, expected: string, message: string];

const cases: readonly ErrorCase[] = [
  // structure
  [`country IN `, 11, "'['", "expected '[' after IN, found end of rule"],
  [`country IN [`, 12, "a value", "expected a value after '[', found end of rule"],
  [`country IN []`, 12, "a value", "expected a value after '[', found ']'"],
  [`country IN ["RU",]`, 17, "a value", "expected a value after ',', found ']'"],
  [
    `country IN ["RU" "KZ"]`,
    17,
    "',' or ']'",
    `expected ',' or ']' after string "RU", found string "KZ"`,
  ],
  [`country IN "RU"`, 11, "'['", `expected '[' after IN, found string "RU"`],
  [`country`, 7, OPERATOR, `expected ${OPERATOR} after attribute 'country', found end of rule`],
  [`country == `, 11, "a value", "expected a value after ==, found end of rule"],
  [`(`, 1, START, `expected ${START} after '(', found end of rule`],
  [`)`, 0, START, `expected ${START}, found ')'`],
  [
    `a == 1 )`,
    7,
    "AND, OR or end of rule",
    "expected AND, OR or end of rule after number 1, found ')'",
  ],
  [`a == 1 OR`, 9, START, `expected ${START} after OR, found end of rule`],
  [`NOT`, 3, START, `expected ${START} after NOT, found end of rule`],
  [`a == 1 AND AND b == 2`, 11, START, `expected ${START} after AND, found AND`],
  [
    `a == 1 AND (b == 2 OR c == 3`,
    28,
    "AND, OR or ')'",
    "expected AND, OR or ')' after number 3, found end of rule",
  ],
  [`== 1`, 0, START, `expected ${START}, found '=='`],
  [`a NOT == 1`, 6, "IN", "expected IN after NOT, found '=='"],
  [`a NOT`, 5, "IN", "expected IN after NOT, found end of rule"],
  [`a CONTAINS`, 10, "a value", "expected a value after CONTAINS, found end of rule"],
  [`a STARTS_WITH 1`, 14, "a string", "expected a string after STARTS_WITH, found number 1"],
  [
    `a == "x" "y"`,
    9,
    "AND, OR or end of rule",
    `expected AND, OR or end of rule after string "x", found string "y"`,
  ],
  [
    `x == 1 ANDb == 2`,
    7,
    "AND, OR or end of rule",
    "expected AND, OR or end of rule after number 1, found 'ANDb'",
  ],
  [`a IN [1, NOT]`, 9, "a value", "expected a value after ',', found NOT"],
  // hints for what the author probably meant
  [`a = 1`, 2, OPERATOR, `expected ${OPERATOR} after attribute 'a', found '=' (use == to compare)`],
  [`a === 1`, 4, "a value", "expected a value after ==, found '=' (use == to compare)"],
  [
    `a == 1 && b == 2`,
    7,
    "AND, OR or end of rule",
    "expected AND, OR or end of rule after number 1, found '&' (use AND)",
  ],
  [
    `a == 1 || b == 2`,
    7,
    "AND, OR or end of rule",
    "expected AND, OR or end of rule after number 1, found '|' (use OR)",
  ],
  [`!a == 1`, 0, START, `expected ${START}, found '!' (use NOT to negate)`],
  [
    `platform == ios`,
    12,
    "a value",
    `expected a value after ==, found 'ios' (strings are written in double quotes: "ios")`,
  ],
  [
    `a == 'x'`,
    5,
    "a value",
    `expected a value after ==, found "'" (strings are written in double quotes: "text")`,
  ],
  [
    `true == 1`,
    0,
    START,
    `expected ${START}, found TRUE (TRUE is a reserved word and cannot name an attribute)`,
  ],
  [
    `x > true`,
    4,
    "a number, string, version or date",
    "expected a number, string, version or date after >, found TRUE (booleans can only be compared with == and !=)",
  ],
  [
    `d >= "2024-01-15"`,
    5,
    "a date without quotes",
    `expected a date without quotes after >=, found string "2024-01-15" (write 2024-01-15 to compare dates)`,
  ],
  // literals
  [`x == "abc`, 5, `'"' to close the string`, "unterminated string literal starting at 5"],
  [`x == "abc\\`, 5, `'"' to close the string`, "unterminated string literal starting at 5"],
  [
    `x == "a\\n"`,
    7,
    `\\" or \\\\`,
    `invalid escape sequence '\\n': only \\" and \\\\ are allowed in strings`,
  ],
  [`x == 1.2.3`, 5, "a number", `invalid number '1.2.3' (versions are strings: write "1.2.3")`],
  [`x == 12abc`, 5, "a number", "invalid number '12abc'"],
  [`x == 1.`, 5, "a number", "invalid number '1.'"],
  [`x == 1e`, 5, "a number", "invalid number '1e'"],
  [`x == 1e400`, 5, "a finite number", "number '1e400' is out of range"],
  [`x == -`, 5, "a value", "expected a value after ==, found '-'"],
  [
    `x == 2024-02-30`,
    5,
    "a date written YYYY-MM-DD",
    "invalid date '2024-02-30': dates are written YYYY-MM-DD and must exist",
  ],
  [
    `x == 2024-1-5`,
    5,
    "a date written YYYY-MM-DD",
    "invalid date '2024-1-5': dates are written YYYY-MM-DD and must exist",
  ],
  [
    `x == 2024-01-15T10:00`,
    5,
    "a date written YYYY-MM-DD",
    "invalid date '2024-01-15T10': dates are written YYYY-MM-DD",
  ],
  [`a @ 1`, 2, OPERATOR, `expected ${OPERATOR} after attribute 'a', found '@'`],
  [`a == 1 AND b == €`, 16, "a value", "expected a value after ==, found '€'"],
  [`a == 1 AND b == 😀`, 16, "a value", "expected a value after ==, found '😀'"],
  [`a == \uD800`, 5, "a value", "expected a value after ==, found '\uD800'"],
];

describe("parse errors name the position and what was expected", () => {
  it.each(
    cases.map(([source, position, expected, message]) => ({ source, position, expected, message })),
  )("$source → at $position: $message", ({ source, position, expected, message }) => {
    const error = errorOf(source);
    expect(error).toEqual({ position, line: 1, column: position + 1, expected, message });
  });

  it("reports line and column on multi-line rules", () => {
    const error = errorOf(`country IN ["RU"]\n  AND app_version >=\n  AND x == 1`);
    expect(error.position).toBe(41);
    expect(error.line).toBe(3);
    expect(error.column).toBe(3);
    expect(error.message).toBe("expected a value after >=, found AND");
  });

  it("reports the first problem in reading order", () => {
    expect(errorOf(`a == 1 b == "unterminated`).position).toBe(7);
    expect(errorOf(`a == "unterminated AND b ==`).position).toBe(5);
  });

  it("rejects every reserved word as an attribute name", () => {
    expect(RESERVED_WORDS).toEqual([
      "AND",
      "OR",
      "NOT",
      "IN",
      "CONTAINS",
      "STARTS_WITH",
      "TRUE",
      "FALSE",
    ]);
    for (const word of RESERVED_WORDS) {
      for (const spelling of [word, word.toLowerCase()]) {
        const error = errorOf(`${spelling} == 1`);
        // NOT is read as the start of "NOT <condition>", so the error is at "==".
        expect(error.position).toBe(word === "NOT" ? 4 : 0);
        expect(error.expected).toBe(START);
      }
    }
  });

  it("answers a non-string input with an error rather than throwing", () => {
    const result = parseRule(42 as unknown as string);
    expect(result).toEqual({
      ok: false,
      error: {
        position: 0,
        line: 1,
        column: 1,
        expected: "a string",
        message: "a targeting rule must be a string",
      },
    });
  });
});

describe("limits are parse errors, never crashes", () => {
  it("exports the documented limits", () => {
    expect([
      MAX_RULE_LENGTH,
      MAX_NESTING_DEPTH,
      MAX_IN_LIST_ITEMS,
      MAX_STRING_LITERAL_LENGTH,
    ]).toEqual([4096, 32, 1000, 1024]);
  });

  it(`accepts a rule of exactly ${MAX_RULE_LENGTH} characters and rejects one more`, () => {
    const prefix = `name == "`;
    const fill = (n: number) => `${prefix}${"x".repeat(n - prefix.length - 1)}"`;
    // Long rules made of many short strings, since one string is capped at 1024.
    const long = (n: number) => {
      const parts: string[] = [];
      let length = 0;
      while (length + 600 < n) {
        const part = `a == "${"y".repeat(580)}" OR `;
        parts.push(part);
        length += part.length;
      }
      return parts.join("") + fill(n - length);
    };
    expect(long(MAX_RULE_LENGTH)).toHaveLength(MAX_RULE_LENGTH);
    expect(parseRule(long(MAX_RULE_LENGTH)).ok).toBe(true);
    const error = errorOf(long(MAX_RULE_LENGTH + 1));
    expect(error.position).toBe(MAX_RULE_LENGTH);
    expect(error.expected).toBe("a rule of at most 4096 characters");
    expect(error.message).toBe("rule is 4097 characters long; the limit is 4096");
    expect(errorOf(" ".repeat(1_000_000)).message).toBe(
      "rule is 1000000 characters long; the limit is 4096",
    );
  });

  it(`accepts ${MAX_NESTING_DEPTH} levels of parentheses and rejects ${MAX_NESTING_DEPTH + 1}`, () => {
    const nested = (depth: number) => `${"(".repeat(depth)}a == 1${")".repeat(depth)}`;
    const ok = parseRule(nested(MAX_NESTING_DEPTH));
    expect(ok.ok && ok.rule.evaluate({ a: 1 })).toBe(true);
    const error = errorOf(nested(MAX_NESTING_DEPTH + 1));
    expect(error.position).toBe(MAX_NESTING_DEPTH);
    expect(error.expected).toBe("at most 32 levels of nesting");
    expect(error.message).toBe(
      "rule nests deeper than 32 levels (every '(' and NOT opens a level)",
    );
  });

  it("counts NOT as a level and stops deep nesting without recursing further", () => {
    const nots = (n: number) => `${"NOT ".repeat(n)}a == 1`;
    const ok = parseRule(nots(MAX_NESTING_DEPTH));
    expect(ok.ok && ok.rule.evaluate({ a: 1 })).toBe(true); // an even number of NOTs
    expect(errorOf(nots(MAX_NESTING_DEPTH + 1)).position).toBe(4 * MAX_NESTING_DEPTH);
    expect(errorOf(`${"(NOT ".repeat(16)}(a == 1`).position).toBe(5 * 16);
    // Far deeper than any stack would allow, still within the length limit.
    expect(errorOf("(".repeat(4000)).position).toBe(MAX_NESTING_DEPTH);
    expect(errorOf("NOT ".repeat(1000)).position).toBe(4 * MAX_NESTING_DEPTH);
  });

  it("allows long AND / OR chains (they do not nest)", () => {
    const chain = Array.from({ length: 200 }, (_, i) => `a${i} == ${i}`).join(" AND ");
    expect(chain.length).toBeLessThanOrEqual(MAX_RULE_LENGTH);
    const result = parseRule(chain);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const all = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`a${i}`, i]));
    expect(result.rule.evaluate(all)).toBe(true);
    expect(result.rule.evaluate({ ...all, a199: 0 })).toBe(false);
    expect(result.rule.attributes).toHaveLength(200);
    const anyOf = parseRule(chain.replaceAll(" AND ", " OR "));
    expect(anyOf.ok && anyOf.rule.evaluate({ a150: 150 })).toBe(true);
    expect(anyOf.ok && anyOf.rule.evaluate({ a150: 0 })).toBe(false);
  });

  it(`accepts ${MAX_IN_LIST_ITEMS} IN items and rejects ${MAX_IN_LIST_ITEMS + 1}`, () => {
    const list = (n: number) => `x IN [${Array.from({ length: n }, (_, i) => i).join(",")}]`;
    const ok = parseRule(list(MAX_IN_LIST_ITEMS));
    expect(ok.ok && ok.rule.evaluate({ x: 999 })).toBe(true);
    const source = list(MAX_IN_LIST_ITEMS + 1);
    const error = errorOf(source);
    expect(error.position).toBe(source.lastIndexOf(",") + 1);
    expect(error.expected).toBe("']'");
    expect(error.message).toBe("IN list has more than 1000 values");
  });

  it(`accepts a ${MAX_STRING_LITERAL_LENGTH}-character string and rejects a longer one`, () => {
    const ok = parseRule(`x == "${"a".repeat(MAX_STRING_LITERAL_LENGTH)}"`);
    expect(ok.ok).toBe(true);
    // The limit applies after unescaping: 1024 escaped quotes are 1024 characters.
    expect(parseRule(`x == "${'\\"'.repeat(MAX_STRING_LITERAL_LENGTH)}"`).ok).toBe(true);
    const error = errorOf(`x == "${"a".repeat(MAX_STRING_LITERAL_LENGTH + 1)}"`);
    expect(error).toEqual({
      position: 5,
      line: 1,
      column: 6,
      expected: "a string of at most 1024 characters",
      message: "string literal is 1025 characters long; the limit is 1024",
    });
  });
});

describe("validateRule", () => {
  it("returns null for rules that parse, including the empty rule", () => {
    expect(
      validateRule(`country IN ["RU","KZ"] AND app_version >= "1.6.0" AND platform == "ios"`),
    ).toBeNull();
    expect(validateRule("")).toBeNull();
  });

  it("returns one line naming the field and the position", () => {
    expect(validateRule(`country IN `)).toBe(
      "targeting_rule: at 11: expected '[' after IN, found end of rule",
    );
    expect(validateRule(`country IN [`)).toBe(
      "targeting_rule: at 12: expected a value after '[', found end of rule",
    );
    expect(validateRule(`a == 1 OR`, "experiments[2].targeting_rule")).toBe(
      `experiments[2].targeting_rule: at 9: expected ${START} after OR, found end of rule`,
    );
  });
});
