/** Pure units: flag values against their type, keys, tags and descriptions. */
import { describe, expect, it } from "@jest/globals";
import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { FieldViolations } from "../../src/platform/errors.js";
import {
  MAX_JSON_VALUE_BYTES,
  MAX_JSON_VALUE_DEPTH,
  checkValueMatchesType,
  flagTypeFromName,
  flagTypeName,
  jsonToFlagValue,
} from "../../src/flags/values.js";
import {
  checkDescription,
  checkFlagKey,
  checkFlagType,
  checkTags,
} from "../../src/flags/validation.js";

function val(json: JsonValue): Value {
  return fromJson(ValueSchema, json);
}

function number(value: number): Value {
  return create(ValueSchema, { kind: { case: "numberValue", value } });
}

/** Runs a check and returns [its result, the INVALID_ARGUMENT message or undefined]. */
function run<T>(check: (v: FieldViolations) => T): [T, string | undefined] {
  const v = new FieldViolations();
  const result = check(v);
  try {
    v.throwIfAny();
    return [result, undefined];
  } catch (error) {
    return [result, (error as Error).message.replace(/^\[invalid_argument\] /, "")];
  }
}

function matches(type: FlagType | "string" | "number" | "bool" | "json", value: Value | undefined) {
  return run((v) => checkValueMatchesType(type, value, "variants[0].value", v));
}

describe("checkValueMatchesType", () => {
  it.each([
    [FlagType.STRING, "red"],
    [FlagType.STRING, ""],
    [FlagType.NUMBER, 0],
    [FlagType.NUMBER, -1.25e10],
    [FlagType.BOOL, true],
    [FlagType.BOOL, false],
    [FlagType.JSON, null],
    [FlagType.JSON, "text"],
    [FlagType.JSON, 3],
    [FlagType.JSON, false],
    [FlagType.JSON, []],
    [FlagType.JSON, { a: [1, { b: null }], c: "" }],
  ] as [FlagType, JsonValue][])(
    "accepts for type %s the value %j, returning it as JSON",
    (type, json) => {
      expect(matches(type, val(json))).toEqual([json, undefined]);
    },
  );

  it.each([
    [FlagType.STRING, 1, "must be a string for a FLAG_TYPE_STRING flag, got a number"],
    [FlagType.STRING, true, "must be a string for a FLAG_TYPE_STRING flag, got a bool"],
    [FlagType.STRING, null, "must be a string for a FLAG_TYPE_STRING flag, got null"],
    [FlagType.NUMBER, "1", "must be a number for a FLAG_TYPE_NUMBER flag, got a string"],
    [FlagType.NUMBER, [1], "must be a number for a FLAG_TYPE_NUMBER flag, got a list"],
    [FlagType.BOOL, "false", "must be a bool for a FLAG_TYPE_BOOL flag, got a string"],
    [FlagType.BOOL, 0, "must be a bool for a FLAG_TYPE_BOOL flag, got a number"],
    [FlagType.BOOL, { on: true }, "must be a bool for a FLAG_TYPE_BOOL flag, got an object"],
  ] as [FlagType, JsonValue, string][])(
    "rejects for type %s the value %j, naming the field and the expected type",
    (type, json, message) => {
      expect(matches(type, val(json))).toEqual([undefined, `variants[0].value: ${message}`]);
    },
  );

  it("takes the stored type names as well as the enum", () => {
    expect(matches("bool", val(true))).toEqual([true, undefined]);
    expect(matches("number", val("x"))[1]).toBe(
      "variants[0].value: must be a number for a FLAG_TYPE_NUMBER flag, got a string",
    );
  });

  it("requires a value, and a Value with a kind", () => {
    expect(matches(FlagType.BOOL, undefined)[1]).toBe(
      "variants[0].value: is required (a bool value for a FLAG_TYPE_BOOL flag)",
    );
    expect(matches(FlagType.JSON, create(ValueSchema))[1]).toMatch(
      /^variants\[0\]\.value: must hold a value/,
    );
  });

  it("rejects an unspecified type", () => {
    expect(matches(FlagType.UNSPECIFIED, val(1))[1]).toMatch(/unknown flag type 0/);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    "rejects the number %d, also nested in JSON",
    (n) => {
      expect(matches(FlagType.NUMBER, number(n))[1]).toMatch(
        /^variants\[0\]\.value: must be a finite number/,
      );
      const nested = create(ValueSchema, {
        kind: {
          case: "structValue",
          value: {
            fields: { list: { kind: { case: "listValue", value: { values: [number(n)] } } } },
          },
        },
      });
      expect(matches(FlagType.JSON, nested)[1]).toMatch(
        /^variants\[0\]\.value\.list\[0\]: must be a finite number/,
      );
    },
  );

  it("limits strings to 10,000 characters, counting code points", () => {
    expect(matches(FlagType.STRING, val("é".repeat(10_000)))[1]).toBeUndefined();
    expect(matches(FlagType.STRING, val("😀".repeat(10_000)))[1]).toBeUndefined();
    expect(matches(FlagType.STRING, val("a".repeat(10_001)))[1]).toBe(
      "variants[0].value: must be at most 10000 characters",
    );
  });

  it("rejects what jsonb cannot store: NUL characters and lone surrogates", () => {
    expect(matches(FlagType.STRING, val("a\u0000"))[1]).toMatch(/must not contain the NUL/);
    expect(matches(FlagType.JSON, val({ "k\u0000": 1 }))[1]).toMatch(
      /an object key must not contain the NUL/,
    );
    expect(matches(FlagType.JSON, val(["\ud800"]))[1]).toMatch(
      /^variants\[0\]\.value\[0\]: a string must be valid Unicode/,
    );
  });

  it(`limits JSON values to ${MAX_JSON_VALUE_BYTES} bytes`, () => {
    // {"s":"…"} is 8 bytes of overhead.
    const fits = { s: "x".repeat(MAX_JSON_VALUE_BYTES - 8) };
    expect(matches(FlagType.JSON, val(fits))).toEqual([fits, undefined]);
    const tooBig = { s: "x".repeat(MAX_JSON_VALUE_BYTES - 7) };
    expect(matches(FlagType.JSON, val(tooBig))[1]).toBe(
      `variants[0].value: must be at most ${MAX_JSON_VALUE_BYTES} bytes as JSON (this one is ${MAX_JSON_VALUE_BYTES + 1})`,
    );
    // Multi-byte characters count as their UTF-8 length.
    expect(matches(FlagType.JSON, val("ж".repeat(MAX_JSON_VALUE_BYTES / 2)))[1]).toMatch(
      /must be at most/,
    );
  });

  it(`limits JSON nesting to ${MAX_JSON_VALUE_DEPTH} levels`, () => {
    const nest = (levels: number): JsonValue => (levels === 0 ? 1 : [nest(levels - 1)]);
    expect(matches(FlagType.JSON, val(nest(MAX_JSON_VALUE_DEPTH)))[1]).toBeUndefined();
    expect(matches(FlagType.JSON, val(nest(MAX_JSON_VALUE_DEPTH + 1)))[1]).toMatch(
      /must not nest objects and lists deeper than 32 levels/,
    );
  });

  it("adds to the caller's violations so one response names every problem", () => {
    const v = new FieldViolations();
    checkValueMatchesType(FlagType.BOOL, val(1), "variants[0].value", v);
    checkValueMatchesType(FlagType.BOOL, val(true), "variants[1].value", v);
    checkValueMatchesType(FlagType.BOOL, val("no"), "variants[2].value", v);
    expect(v.size).toBe(2);
  });
});

describe("conversions", () => {
  it("maps every flag type to its stored name and back", () => {
    for (const type of [FlagType.STRING, FlagType.NUMBER, FlagType.BOOL, FlagType.JSON]) {
      const name = flagTypeName(type);
      expect(name).toBeDefined();
      expect(flagTypeFromName(name ?? "json")).toBe(type);
    }
    expect(flagTypeName(FlagType.UNSPECIFIED)).toBeUndefined();
    expect(flagTypeName(99 as FlagType)).toBeUndefined();
  });

  it("turns stored JSON back into a Value", () => {
    const json = { a: [1, "b", null, true], c: {} };
    expect(toJson(ValueSchema, jsonToFlagValue(json))).toEqual(json);
    expect(jsonToFlagValue(null).kind.case).toBe("nullValue");
    expect(jsonToFlagValue("x").kind).toEqual({ case: "stringValue", value: "x" });
  });
});

describe("keys, types, tags and descriptions", () => {
  it.each(["a", "button_color", "checkout.button-color", "a1", `a${"b".repeat(99)}`])(
    "accepts the key %s",
    (key) => {
      expect(run((v) => checkFlagKey(v, "key", key))[1]).toBeUndefined();
    },
  );

  it.each(["", "A", "Button", "1a", "_a", ".a", "-a", "a b", "a/b", "ä", `a${"b".repeat(100)}`])(
    "rejects the key %j",
    (key) => {
      expect(run((v) => checkFlagKey(v, "key", key))[1]).toMatch(/^key: /);
    },
  );

  it("requires a known flag type", () => {
    expect(run((v) => checkFlagType(v, "type", FlagType.JSON))).toEqual(["json", undefined]);
    expect(run((v) => checkFlagType(v, "type", FlagType.UNSPECIFIED))[1]).toMatch(
      /^type: is required/,
    );
    expect(run((v) => checkFlagType(v, "type", 7 as FlagType))[1]).toMatch(
      /^type: unknown flag type 7/,
    );
  });

  it("de-duplicates tags, keeping order, and names each bad tag", () => {
    expect(run((v) => checkTags(v, "tags", ["b", "a", "b", "0:x", "a_b.c-d"]))).toEqual([
      ["b", "a", "0:x", "a_b.c-d"],
      undefined,
    ]);
    expect(run((v) => checkTags(v, "tags", ["ok", "Bad", ":x", "t".repeat(51)]))[1]).toBe(
      "tags[1]: must start with a lower-case letter or digit and contain only lower-case letters, digits, '_', '.', ':' and '-'; " +
        "tags[2]: must start with a lower-case letter or digit and contain only lower-case letters, digits, '_', '.', ':' and '-'; " +
        "tags[3]: must be at most 50 characters",
    );
    const twentyOne = Array.from({ length: 21 }, (_, i) => `t${i}`);
    expect(run((v) => checkTags(v, "tags", twentyOne))[1]).toBe(
      "tags: at most 20 distinct tags are allowed (got 21)",
    );
  });

  it("trims descriptions and allows them empty", () => {
    expect(run((v) => checkDescription(v, "description", "  hi \n"))).toEqual(["hi", undefined]);
    expect(run((v) => checkDescription(v, "description", ""))).toEqual(["", undefined]);
    expect(run((v) => checkDescription(v, "description", "a\u0000"))[1]).toBe(
      "description: must not contain control characters",
    );
    expect(run((v) => checkDescription(v, "description", "x\ud800"))[1]).toMatch(
      /^description: must be valid Unicode/,
    );
  });
});
