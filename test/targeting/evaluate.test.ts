/**
 * Targeting rule semantics: a table of rules × attribute sets × expected
 * results, covering every operator, literal type, missing attributes, type
 * mismatches, versions, dates, precedence and keyword case.
 */
import { describe, expect, it } from "@jest/globals";
import {
  parseRule,
  type CompiledRule,
  type TargetingAttributes,
} from "../../src/targeting/index.js";

function compile(source: string): CompiledRule {
  const result = parseRule(source);
  if (!result.ok)
    throw new Error(`rule ${JSON.stringify(source)} did not parse: ${result.error.message}`);
  return result.rule;
}

type Case = readonly [rule: string, attributes: TargetingAttributes, expected: boolean];

function table(name: string, cases: readonly Case[]): void {
  describe(name, () => {
    it.each(cases.map(([rule, attributes, expected]) => ({ rule, attributes, expected })))(
      "$rule with $attributes → $expected",
      ({ rule, attributes, expected }) => {
        expect(compile(rule).evaluate(attributes)).toBe(expected);
      },
    );
  });
}

const iosRu = { country: "RU", app_version: "1.6.0", platform: "ios" };
const example = `country IN ["RU","KZ"] AND app_version >= "1.6.0" AND platform == "ios"`;

table("the example rule", [
  [example, iosRu, true],
  [example, { ...iosRu, country: "KZ" }, true],
  [example, { ...iosRu, country: "US" }, false],
  [example, { ...iosRu, app_version: "1.5.9" }, false],
  [example, { ...iosRu, app_version: "1.10.0" }, true],
  [example, { ...iosRu, app_version: "1.6.0-rc.1" }, false],
  [example, { ...iosRu, platform: "android" }, false],
  [example, { country: "RU", platform: "ios" }, false],
  [example, {}, false],
]);

table("empty rule matches everyone", [
  ["", {}, true],
  ["   \n\t ", { country: "RU" }, true],
]);

table("string equality and inequality", [
  [`platform == "ios"`, { platform: "ios" }, true],
  [`platform == "ios"`, { platform: "iOS" }, false],
  [`platform == "ios"`, { platform: "ios " }, false],
  [`platform != "ios"`, { platform: "android" }, true],
  [`platform != "ios"`, { platform: "ios" }, false],
  [`name == ""`, { name: "" }, true],
  [`quote == "say \\"hi\\" \\\\ bye"`, { quote: 'say "hi" \\ bye' }, true],
  [`city == "Алматы"`, { city: "Алматы" }, true],
  [`odd == "\uD800\u0000\n"`, { odd: "\uD800\u0000\n" }, true],
]);

table("missing attributes make the comparison false", [
  [`platform == "ios"`, {}, false],
  [`platform != "ios"`, {}, false],
  [`platform == "ios"`, { platform: null }, false],
  [`platform != "ios"`, { platform: null }, false],
  [`platform == "ios"`, { platform: undefined }, false],
  [`age > 18`, {}, false],
  [`age <= 18`, {}, false],
  [`country IN ["RU"]`, {}, false],
  [`country NOT IN ["RU"]`, {}, false],
  [`tags CONTAINS "vip"`, {}, false],
  [`email STARTS_WITH "a"`, {}, false],
  [`signup >= 2024-01-01`, {}, false],
  [`beta == true`, {}, false],
  [`beta != true`, {}, false],
  // NOT negates the comparison's result, so NOT over a missing attribute is true.
  [`NOT (platform == "ios")`, {}, true],
  [`NOT platform == "ios"`, {}, true],
  [`NOT country IN ["RU"]`, {}, true],
  [`NOT (country NOT IN ["RU"])`, {}, true],
  [`platform == "ios" OR NOT (platform == "ios")`, {}, true],
]);

table("type mismatches are false, not errors", [
  [`age == 18`, { age: "18" }, false],
  [`age != 18`, { age: "18" }, false],
  [`age > 17`, { age: "18" }, false],
  [`age == "18"`, { age: 18 }, false],
  [`age != "18"`, { age: 18 }, false],
  [`beta == true`, { beta: "true" }, false],
  [`beta == true`, { beta: 1 }, false],
  [`beta != true`, { beta: "false" }, false],
  [`platform == "ios"`, { platform: ["ios"] }, false],
  [`platform == "ios"`, { platform: { name: "ios" } }, false],
  [`app_version > "1.0.0"`, { app_version: 2 }, false],
  [`app_version > "1.0.0"`, { app_version: "latest" }, false],
  [`app_version < "1.0.0"`, { app_version: "latest" }, false],
  [`app_version > "1.0.0"`, { app_version: "1.2.3.x" }, false],
  [`app_version > "1.0.0"`, { app_version: "v1.2.3" }, false],
  [`signup > 2024-01-01`, { signup: 20240505 }, false],
  [`signup > 2024-01-01`, { signup: "yesterday" }, false],
  [`signup != 2024-01-01`, { signup: "yesterday" }, false],
  [`country IN ["RU", "KZ"]`, { country: 7 }, false],
  [`country NOT IN ["RU", "KZ"]`, { country: 7 }, false],
  [`country NOT IN ["RU", "KZ"]`, { country: ["US"] }, false],
  [`age IN [18, 21]`, { age: "18" }, false],
  [`age NOT IN [18, 21]`, { age: "30" }, false],
  [`tags CONTAINS "vip"`, { tags: 5 }, false],
  [`email STARTS_WITH "a"`, { email: ["a"] }, false],
  [`score > 1`, { score: Number.NaN }, false],
  [`score != 1`, { score: Number.NaN }, false],
  [`score NOT IN [1, 2]`, { score: Number.NaN }, false],
]);

table("numbers", [
  [`age == 18`, { age: 18 }, true],
  [`age == 18`, { age: 18.0 }, true],
  [`age == 18.5`, { age: 18.5 }, true],
  [`age != 18`, { age: 19 }, true],
  [`age > 18`, { age: 19 }, true],
  [`age > 18`, { age: 18 }, false],
  [`age >= 18`, { age: 18 }, true],
  [`age < 18`, { age: 17.99 }, true],
  [`age <= 18`, { age: 18 }, true],
  [`age <= 18`, { age: 18.01 }, false],
  [`balance > -10`, { balance: -5 }, true],
  [`balance < -1.5e3`, { balance: -2000 }, true],
  [`ratio >= 1E-3`, { ratio: 0.001 }, true],
  [`zero == 0`, { zero: -0 }, true],
]);

table("booleans", [
  [`beta == true`, { beta: true }, true],
  [`beta == true`, { beta: false }, false],
  [`beta == false`, { beta: false }, true],
  [`beta != true`, { beta: false }, true],
  [`beta != false`, { beta: false }, false],
  [`beta == TRUE`, { beta: true }, true],
  [`beta == False`, { beta: false }, true],
]);

table("versions: dotted numeric parts compare numerically", [
  [`v > "1.9.2"`, { v: "1.10.0" }, true],
  [`v < "1.10.0"`, { v: "1.9.2" }, true],
  [`v >= "1.6.0"`, { v: "1.6.0" }, true],
  [`v > "1.6.0"`, { v: "1.6.0" }, false],
  [`v <= "1.6.0"`, { v: "1.6.0" }, true],
  [`v < "1.6.0"`, { v: "1.5.99" }, true],
  [`v > "1.6"`, { v: "1.6.1" }, true],
  [`v >= "1.6"`, { v: "1.6.0" }, true],
  [`v <= "1.6"`, { v: "1.6.0" }, true],
  [`v > "1.6"`, { v: "1.6.0" }, false],
  [`v >= "1.6.0.0"`, { v: "1.6" }, true],
  [`v > "2"`, { v: "10" }, true],
  [`v > "9.9.9"`, { v: "10.0.0" }, true],
  [`v >= "1.02.0"`, { v: "1.2.0" }, true],
  [`v < "1.2.0"`, { v: "1.02.0" }, false],
  [`v > "99999999999999999999.0"`, { v: "100000000000000000000.0" }, true],
  [`v < "99999999999999999999.0"`, { v: "100000000000000000000.0" }, false],
  // == and != stay exact string comparisons, even for versions.
  [`v == "1.6"`, { v: "1.6.0" }, false],
  [`v != "1.6"`, { v: "1.6.0" }, true],
]);

table("versions: pre-releases order before their release (semver)", [
  [`v < "1.0.0"`, { v: "1.0.0-alpha" }, true],
  [`v >= "1.0.0"`, { v: "1.0.0-rc.1" }, false],
  [`v > "1.0.0-rc.1"`, { v: "1.0.0" }, true],
  [`v > "1.0.0-alpha"`, { v: "1.0.0-alpha.1" }, true],
  [`v > "1.0.0-alpha.1"`, { v: "1.0.0-alpha.beta" }, true],
  [`v > "1.0.0-alpha.beta"`, { v: "1.0.0-beta" }, true],
  [`v > "1.0.0-beta"`, { v: "1.0.0-beta.2" }, true],
  [`v > "1.0.0-beta.2"`, { v: "1.0.0-beta.11" }, true],
  [`v > "1.0.0-beta.11"`, { v: "1.0.0-rc.1" }, true],
  [`v >= "1.0.0-rc.1"`, { v: "1.0.0-rc.1" }, true],
  [`v > "1.0.0-rc.1"`, { v: "0.9.9" }, false],
  [`v > "1.0.0-rc.1"`, { v: "1.0.1-alpha" }, true],
  [`v >= "1.6.0"`, { v: "1.6.0+build.7" }, true],
  [`v <= "1.6.0"`, { v: "1.6.0+build.7" }, true],
  [`v > "1.6.0+a"`, { v: "1.6.0+b" }, false],
  [`v > "1.0.0"`, { v: "1.0.0-" }, false],
  [`v < "1.0.0"`, { v: "1.0.0-" }, false],
  [`v > "1.0.0"`, { v: "1.0.0+" }, false],
  [`v > "1.0.0"`, { v: "1..0" }, false],
  [`v > "1.0.0"`, { v: "" }, false],
]);

table("strings that do not look like versions compare by UTF-16 code units", [
  [`name > "b"`, { name: "c" }, true],
  [`name > "b"`, { name: "B" }, false],
  [`name >= "beta"`, { name: "beta" }, true],
  [`name < "beta"`, { name: "alpha" }, true],
  [`code > "1.x"`, { code: "1.y" }, true],
  [`code > "v1.2"`, { code: "v1.10" }, false],
]);

table("dates: bare YYYY-MM-DD literals compare chronologically", [
  [`signup >= 2024-01-15`, { signup: "2024-01-15" }, true],
  [`signup > 2024-01-15`, { signup: "2024-01-15" }, false],
  [`signup > 2024-01-15`, { signup: "2024-01-16" }, true],
  [`signup > 2024-01-15`, { signup: "2025-01-01" }, true],
  [`signup < 2024-01-15`, { signup: "2023-12-31" }, true],
  [`signup <= 2024-02-29`, { signup: "2024-02-29" }, true],
  [`signup == 2024-01-15`, { signup: "2024-01-15" }, true],
  [`signup != 2024-01-15`, { signup: "2024-01-16" }, true],
  [`signup != 2024-01-15`, { signup: "2024-01-15" }, false],
  // A timestamp counts as the calendar date written in it; the time is ignored.
  [`signup == 2024-01-15`, { signup: "2024-01-15T23:59:59Z" }, true],
  [`signup == 2024-01-15`, { signup: "2024-01-15T23:59:59-05:00" }, true],
  [`signup == 2024-01-15`, { signup: "2024-01-15 08:00" }, true],
  [`signup > 2024-01-15`, { signup: "2024-01-15T23:59:59Z" }, false],
  [`signup < 2024-01-16`, { signup: "2024-01-15t10:00:00Z" }, true],
  // Strings that are not dates (or impossible dates) never compare.
  [`signup < 2024-01-15`, { signup: "2023-02-29" }, false],
  [`signup < 2024-01-15`, { signup: "2023-13-01" }, false],
  [`signup < 2024-01-15`, { signup: "2023-1-5" }, false],
  [`signup < 2024-01-15`, { signup: "2023-01-05x" }, false],
  [`signup < 2024-01-15`, { signup: "15.01.2023" }, false],
  [`signup == 2024-01-15`, { signup: "2024/01/15" }, false],
  // A quoted date is a plain string: == is an exact string comparison.
  [`signup == "2024-01-15"`, { signup: "2024-01-15" }, true],
  [`signup == "2024-01-15"`, { signup: "2024-01-15T00:00:00Z" }, false],
]);

table("IN and NOT IN", [
  [`country IN ["RU", "KZ"]`, { country: "RU" }, true],
  [`country IN ["RU", "KZ"]`, { country: "KZ" }, true],
  [`country IN ["RU", "KZ"]`, { country: "ru" }, false],
  [`country NOT IN ["RU", "KZ"]`, { country: "US" }, true],
  [`country NOT IN ["RU", "KZ"]`, { country: "RU" }, false],
  [`country not in ["RU"]`, { country: "US" }, true],
  [`country IN ["RU"]`, { country: "RU" }, true],
  [`age IN [18, 21, 65]`, { age: 21 }, true],
  [`age IN [18, 21, 65]`, { age: 22 }, false],
  [`age NOT IN [18, 21, 65]`, { age: 22 }, true],
  [`beta IN [true]`, { beta: true }, true],
  [`beta NOT IN [true]`, { beta: false }, true],
  [`signup IN [2024-01-01, 2024-12-31]`, { signup: "2024-12-31T10:00:00Z" }, true],
  [`signup NOT IN [2024-01-01]`, { signup: "2024-01-02" }, true],
  [`signup NOT IN [2024-01-01]`, { signup: "soon" }, false],
  // Mixed lists: the value is compared with the items of its own type.
  [`x IN ["1", 1, true]`, { x: 1 }, true],
  [`x IN ["1", 1, true]`, { x: "1" }, true],
  [`x IN ["1", 1, true]`, { x: true }, true],
  [`x IN ["1", 1, true]`, { x: false }, false],
  [`x NOT IN ["1", 1, true]`, { x: false }, true],
  [`x NOT IN ["1", 1]`, { x: false }, false],
  [`x IN ["a", 2024-01-01]`, { x: "2024-01-01T05:00:00Z" }, true],
  [`x NOT IN ["a", 2024-01-01]`, { x: "b" }, true],
]);

table("CONTAINS on strings and arrays", [
  [`email CONTAINS "@example."`, { email: "ann@example.com" }, true],
  [`email CONTAINS "@example."`, { email: "ann@elsewhere.com" }, false],
  [`email CONTAINS "EXAMPLE"`, { email: "ann@example.com" }, false],
  [`email CONTAINS ""`, { email: "" }, true],
  [`tags CONTAINS "vip"`, { tags: ["new", "vip"] }, true],
  [`tags CONTAINS "vip"`, { tags: ["new", "vips"] }, false],
  [`tags CONTAINS "vip"`, { tags: [] }, false],
  [`tags CONTAINS "vip"`, { tags: [null, 3, { vip: true }] }, false],
  [`cohorts CONTAINS 7`, { cohorts: [3, 7] }, true],
  [`cohorts CONTAINS 7`, { cohorts: ["7"] }, false],
  [`flags CONTAINS true`, { flags: [false, true] }, true],
  [`days CONTAINS 2024-05-01`, { days: ["2024-04-30", "2024-05-01T12:00:00Z"] }, true],
  [`code CONTAINS 7`, { code: "abc7" }, false],
]);

table("STARTS_WITH", [
  [`locale STARTS_WITH "ru"`, { locale: "ru-RU" }, true],
  [`locale STARTS_WITH "ru"`, { locale: "en-RU" }, false],
  [`locale STARTS_WITH "ru"`, { locale: "RU" }, false],
  [`locale STARTS_WITH ""`, { locale: "" }, true],
  [`locale starts_with "en"`, { locale: "en-GB" }, true],
]);

const a = { a: 1 };
const ab = { a: 1, b: 1 };
const bc = { b: 1, c: 1 };
const c = { c: 1 };
table("precedence: NOT binds tighter than AND, AND tighter than OR", [
  // a == 1 OR (b == 1 AND c == 1)
  [`a == 1 OR b == 1 AND c == 1`, a, true],
  [`a == 1 OR b == 1 AND c == 1`, bc, true],
  [`a == 1 OR b == 1 AND c == 1`, c, false],
  // (a == 1 OR b == 1) AND c == 1
  [`(a == 1 OR b == 1) AND c == 1`, a, false],
  [`(a == 1 OR b == 1) AND c == 1`, bc, true],
  // (NOT a == 1) AND b == 1
  [`NOT a == 1 AND b == 1`, bc, true],
  [`NOT a == 1 AND b == 1`, ab, false],
  [`NOT (a == 1 AND b == 1)`, a, true],
  [`NOT (a == 1 AND b == 1)`, ab, false],
  // (NOT a == 1) OR b == 1
  [`NOT a == 1 OR b == 1`, ab, true],
  [`NOT a == 1 OR b == 1`, a, false],
  [`NOT NOT a == 1`, a, true],
  [`NOT NOT NOT a == 1`, a, false],
  [`a == 1 AND b == 1 AND c == 1 AND NOT d == 1`, { ...ab, ...c }, true],
  [`a == 1 AND b == 1 AND c == 1 AND NOT d == 1`, { ...ab, ...c, d: 1 }, false],
  [`a == 2 OR b == 2 OR c == 2 OR d == 1`, { d: 1 }, true],
  [`a == 2 OR b == 2 OR c == 2 OR d == 1`, ab, false],
  [`((((a == 1))))`, a, true],
  [`(a == 1 OR (b == 1 AND (c == 1 OR d == 1)))`, { b: 1, d: 1 }, true],
]);

table("keywords are case-insensitive, whitespace is free", [
  [`a == 1 and b == 1`, ab, true],
  [`a == 2 Or b == 1`, ab, true],
  [`not a == 2`, a, true],
  [`NoT (a == 1)`, a, false],
  [`country In ["RU"]`, { country: "RU" }, true],
  [`country nOt In ["RU"]`, { country: "US" }, true],
  [`email contains "@"`, { email: "x@y" }, true],
  [`flag == TrUe AND locale Starts_With "ru"`, { flag: true, locale: "ru" }, true],
]);

table("whitespace and layout", [
  [`a==1 AND(b==1)`, ab, true],
  [`country IN["RU","KZ"]`, { country: "KZ" }, true],
  [`\n\ta == 1\r\n\tAND b == 1\n`, ab, true],
]);

table("attribute names: flat keys, dots and underscores allowed", [
  [`device.os == "ios"`, { "device.os": "ios" }, true],
  [`device.os == "ios"`, { device: { os: "ios" } }, false],
  [`_internal_2 == 1`, { _internal_2: 1 }, true],
  [`user.plan.tier == "pro"`, { "user.plan.tier": "pro" }, true],
]);

table("names Object.prototype also has are read as own properties only", [
  [`constructor == "x"`, {}, false],
  [`NOT (constructor == "x")`, {}, true],
  [`toString STARTS_WITH "f"`, {}, false],
  [`__proto__ == "x"`, {}, false],
  [`constructor == "x"`, { constructor: "x" }, true],
  [`hasOwnProperty != "x"`, {}, false],
  [`valueOf == "y"`, Object.assign(Object.create(null) as object, { valueOf: "y" }), true],
]);

describe("CompiledRule", () => {
  it("lists the attributes it reads, once each, in order of appearance", () => {
    const rule = compile(`b == 1 OR (a == 2 AND NOT b IN [1]) OR c.d CONTAINS "x" OR a > 0`);
    expect(rule.attributes).toEqual(["b", "a", "c.d"]);
    expect(compile("").attributes).toEqual([]);
  });

  it("keeps the source as written and is immutable", () => {
    const rule = compile(example);
    expect(rule.source).toBe(example);
    expect(Object.isFrozen(rule)).toBe(true);
    expect(Object.isFrozen(rule.attributes)).toBe(true);
  });

  it("gives the same answer on every call (nothing is re-parsed or cached per subject)", () => {
    const rule = compile(example);
    const subjects = [iosRu, { ...iosRu, country: "US" }, { ...iosRu, app_version: "1.10.1" }];
    const first = subjects.map((s) => rule.evaluate(s));
    for (let i = 0; i < 100; i++) expect(subjects.map((s) => rule.evaluate(s))).toEqual(first);
    expect(first).toEqual([true, false, true]);
  });

  it("treats null or undefined attributes as no attributes", () => {
    const nothing = null as unknown as TargetingAttributes;
    expect(compile("").evaluate(nothing)).toBe(true);
    expect(compile(`a == 1`).evaluate(nothing)).toBe(false);
    expect(compile(`NOT a == 1`).evaluate(undefined as unknown as TargetingAttributes)).toBe(true);
  });

  it("reads attributes shaped like a converted protobuf Struct", () => {
    const struct = JSON.parse(
      '{"country":"KZ","app_version":"1.6.3","platform":"ios","age":31,"beta":true,' +
        '"tags":["vip","early"],"signup":"2024-03-01","extra":{"nested":[1,2]},"gone":null}',
    ) as TargetingAttributes;
    const rule = compile(
      `${example} AND age >= 18 AND beta == true AND tags CONTAINS "vip" ` +
        `AND signup < 2024-06-01 AND NOT gone == "x"`,
    );
    expect(rule.evaluate(struct)).toBe(true);
  });
});
