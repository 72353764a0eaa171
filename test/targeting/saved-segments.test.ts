/**
 * `segment("key")` in targeting rules (docs/saved-segments.md): where
 * references are found, how they are inlined, and the errors, with their
 * positions in the rule as written. Pure: no database.
 */
import { describe, expect, it } from "@jest/globals";
import {
  compileTargetingRule,
  findSegmentReferences,
  parseRule,
} from "../../src/targeting/index.js";
import { recordedValue } from "../../src/reports/segments.js";

const SEGMENTS = new Map([
  ["power", { rule: 'sessions >= 20 OR tier == "gold"', version: 3 }],
  ["ios", { rule: 'platform == "ios"', version: 1 }],
]);
const resolve = (key: string) => SEGMENTS.get(key);

describe("segment references", () => {
  it('finds segment("key") only as a call, never in strings or as an attribute', () => {
    const found = findSegmentReferences(
      'segment == "segment(\\"x\\")" OR segment("power") AND NOT segment ( "ios" )',
    );
    expect(found.ok && found.references.map((r) => r.key)).toEqual(["power", "ios"]);
  });

  it("inlines each reference in parentheses, keeping the rest as written", () => {
    const result = compileTargetingRule(
      'segment("power") AND NOT segment("ios") OR segment("power")',
      resolve,
    );
    expect(result).toEqual({
      ok: true,
      compiled:
        '(sessions >= 20 OR tier == "gold") AND NOT (platform == "ios") OR (sessions >= 20 OR tier == "gold")',
      used: [
        { key: "power", version: 3 },
        { key: "ios", version: 1 },
      ],
    });
    // Precedence is the segment's own: the OR inside stays grouped.
    const grouped = compileTargetingRule('segment("power") AND segment("ios")', resolve);
    const rule = grouped.ok ? parseRule(grouped.compiled) : undefined;
    expect(rule?.ok && rule.rule.evaluate({ sessions: 25, platform: "android" })).toBe(false);
    expect(rule?.ok && rule.rule.evaluate({ sessions: 25, platform: "ios" })).toBe(true);
  });

  it("leaves a rule without references alone", () => {
    expect(compileTargetingRule('country == "DE"', resolve)).toEqual({
      ok: true,
      compiled: 'country == "DE"',
      used: [],
    });
  });

  it.each([
    ['segment("nope")', /^at 0: unknown saved segment "nope"$/],
    ["a == 1 OR segment(power)", /^at 18: expected a saved segment key in double quotes/],
    ['segment("power"', /^at 15: expected '\)' after segment\("power"/],
    ['segment("power") AND x >', /^at 24: expected a value/],
    ['segment("ios") AND = 1', /^at 19: expected an attribute name/],
  ])("reports %s with its position", (source, message) => {
    const result = compileTargetingRule(source, resolve);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toMatch(message);
  });

  it("refuses a rule that grows past the length limit once inlined", () => {
    const long = new Map([["big", { rule: `a IN [${'"x",'.repeat(900)}"y"]`, version: 1 }]]);
    const result = compileTargetingRule('segment("big") OR segment("big")', (k) => long.get(k));
    expect(!result.ok && result.message).toMatch(
      /with its saved segments inlined the rule is \d+ characters long/,
    );
  });
});

describe("recorded dimension values as a rule reads them", () => {
  it.each([
    [null, undefined],
    ["DE", "DE"],
    ["42", 42],
    ["-1.5e3", -1500],
    ["true", true],
    ["false", false],
    ["1.6.0", "1.6.0"],
    ["007", "007"],
    ["", ""],
  ])("%p → %p", (text, value) => {
    expect(recordedValue(text)).toEqual(value);
  });
});
