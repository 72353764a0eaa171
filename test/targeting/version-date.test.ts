/**
 * The version and date readers the compiled rules use on every evaluation:
 * semver precedence, malformed input, calendar validity.
 */
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { NOT_A_DATE, readDate } from "../../src/targeting/date.js";
import {
  compareVersion,
  parseVersionLiteral,
  type VersionLiteral,
} from "../../src/targeting/version.js";

/**
 * Any Unicode scalar value as a string. (fast-check's built-in "binary" unit
 * does the same but takes seconds to initialise.)
 */
const anyCodePoint = fc
  .integer({ min: 0, max: 0x10ffff })
  .filter((code) => code < 0xd800 || code > 0xdfff)
  .map((code) => String.fromCodePoint(code));

function literal(text: string): VersionLiteral {
  const parsed = parseVersionLiteral(text);
  if (parsed === null) throw new Error(`${text} is not a version`);
  return parsed;
}

describe("compareVersion", () => {
  // Ascending precedence; the pre-release part is the example list of semver 2.0.0 §11.
  const ascending = [
    "0.0.1",
    "0.9.9",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2.0",
    "1.9.2",
    "1.10.0",
    "1.10.1-0",
    "1.10.1",
    "2.0.0",
    "10.0.0",
  ];

  it("orders every pair of a semver precedence list", () => {
    for (let i = 0; i < ascending.length; i++) {
      for (let j = 0; j < ascending.length; j++) {
        const expected = Math.sign(i - j);
        expect([
          ascending[i],
          ascending[j],
          compareVersion(ascending[i]!, literal(ascending[j]!)),
        ]).toEqual([ascending[i], ascending[j], expected]);
      }
    }
  });

  it.each([
    ["1.6", "1.6.0", 0],
    ["1.6.0.0", "1.6", 0],
    ["1.6.0.1", "1.6", 1],
    ["1", "1.0.1", -1],
    ["01.002.0003", "1.2.3", 0],
    ["1.2.3+build.5", "1.2.3", 0],
    ["1.2.3+build.5", "1.2.3+other", 0],
    ["1.2.3-rc.1+build", "1.2.3-rc.1", 0],
    ["1.2.3-rc.01", "1.2.3-rc.1", 0],
    ["1.2.3-RC.1", "1.2.3-rc.1", -1],
    ["1.2.3-rc-1", "1.2.3-rc", 1],
    ["1.2.3-1", "1.2.3-a", -1],
    ["1.2.3-a.1", "1.2.3-a", 1],
    ["123456789012345678901234567890.0", "123456789012345678901234567889.9", 1],
  ])("%s compared with %s is %d", (attribute, literalText, expected) => {
    expect(compareVersion(attribute, literal(literalText))).toBe(expected);
  });

  it.each([
    "",
    "1.",
    ".1",
    "1..2",
    "v1.2",
    "1.2.x",
    "1.2.3-",
    "1.2.3-a..b",
    "1.2.3+",
    "1.2.3+a..b",
    "1.2.3 ",
    " 1.2.3",
    "1,2",
    "1.2.3-é",
    "１.２",
  ])("%j is not a version (NaN)", (attribute) => {
    expect(compareVersion(attribute, literal("1.2.3"))).toBeNaN();
  });

  it.each([
    "",
    "1.",
    ".1",
    "1..2",
    "v1.2",
    "1.2.x",
    "1.2.3-",
    "1.2.3-a_b",
    "1.2.3+",
    "latest",
    "1.2.3 ",
  ])("%j is not a version literal (compares as a plain string)", (text) => {
    expect(parseVersionLiteral(text)).toBeNull();
  });

  const version = fc
    .tuple(
      fc.array(fc.nat(30), { minLength: 1, maxLength: 4 }),
      fc.option(
        fc.array(fc.oneof(fc.nat(12).map(String), fc.constantFrom("alpha", "beta", "rc", "x-y")), {
          minLength: 1,
          maxLength: 3,
        }),
      ),
      fc.option(fc.constantFrom("build", "sha.5114f85", "001")),
    )
    .map(
      ([core, pre, build]) =>
        core.join(".") +
        (pre === null ? "" : `-${pre.join(".")}`) +
        (build === null ? "" : `+${build}`),
    );

  it("is antisymmetric and reflexive on generated versions", () => {
    fc.assert(
      fc.property(version, version, (a, b) => {
        const ab = compareVersion(a, literal(b));
        const ba = compareVersion(b, literal(a));
        return (
          (ab === -1 || ab === 0 || ab === 1) &&
          ab === (-ba || 0) &&
          compareVersion(a, literal(a)) === 0
        );
      }),
      { numRuns: 500 },
    );
  });

  it("is transitive on generated versions", () => {
    fc.assert(
      fc.property(fc.array(version, { minLength: 3, maxLength: 12 }), (versions) => {
        const sorted = [...versions].sort((x, y) => compareVersion(x, literal(y)));
        for (let i = 1; i < sorted.length; i++) {
          for (let j = 0; j < i; j++)
            if (!(compareVersion(sorted[i]!, literal(sorted[j]!)) >= 0)) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on arbitrary text and answers -1, 0, 1 or NaN", () => {
    fc.assert(
      fc.property(fc.string({ unit: anyCodePoint, maxLength: 40 }), version, (text, other) => {
        const result = compareVersion(text, literal(other));
        return Number.isNaN(result) || result === -1 || result === 0 || result === 1;
      }),
      { numRuns: 500 },
    );
  });
});

describe("readDate", () => {
  it.each([
    ["2024-01-15", 20240115],
    ["0001-01-01", 10101],
    ["9999-12-31", 99991231],
    ["2024-02-29", 20240229],
    ["2000-02-29", 20000229],
    ["2024-04-30", 20240430],
    ["2024-01-15T10:00:00Z", 20240115],
    ["2024-01-15t10:00:00+03:00", 20240115],
    ["2024-01-15 10:00", 20240115],
    ["2024-01-15T", 20240115],
  ])("%s → %d", (text, expected) => {
    expect(readDate(text)).toBe(expected);
  });

  it.each([
    "",
    "2024-1-15",
    "2024-01-5",
    "24-01-15",
    "2024/01/15",
    "2024-00-10",
    "2024-13-01",
    "2024-01-00",
    "2024-01-32",
    "2023-02-29",
    "1900-02-29",
    "2024-04-31",
    "2024-06-31",
    "2024-09-31",
    "2024-11-31",
    "2024-01-15Z",
    "2024-01-15x",
    " 2024-01-15",
    "２０２４-01-15",
  ])("%j is not a date", (text) => {
    expect(readDate(text)).toBe(NOT_A_DATE);
  });

  it("agrees with Date on every day of a leap and a common year, and orders chronologically", () => {
    const read: number[] = [];
    const expected: number[] = [];
    for (const year of [2023, 2024]) {
      for (
        let day = new Date(Date.UTC(year, 0, 1));
        day.getUTCFullYear() === year;
        day.setUTCDate(day.getUTCDate() + 1)
      ) {
        read.push(readDate(day.toISOString().slice(0, 10)));
        expected.push(
          day.getUTCFullYear() * 10000 + (day.getUTCMonth() + 1) * 100 + day.getUTCDate(),
        );
      }
    }
    expect(read).toHaveLength(365 + 366);
    expect(read).toEqual(expected);
    expect(read).toEqual([...read].sort((x, y) => x - y));
    expect(new Set(read).size).toBe(read.length);
  });
});
