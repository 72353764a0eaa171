/**
 * Flag values: google.protobuf.Value on the wire, plain JSON in the database
 * (jsonb). In connect-es v2 a Value field is the `Value` message (a `kind`
 * oneof), not plain JSON, so values are converted here, checked against the
 * flag's type on the way in and rebuilt on the way out.
 *
 * Shared with the experiments module: a variant's value must have its flag's
 * type, checked with the same function as the flag's default.
 */
import { fromJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import type { FieldViolations } from "../platform/errors.js";
import type { FlagValueType } from "./entities.js";

/** FLAG_TYPE_STRING values: at most this many characters (Unicode code points). */
export const MAX_STRING_VALUE_LENGTH = 10_000;
/** FLAG_TYPE_JSON values: at most this many bytes as UTF-8 JSON. */
export const MAX_JSON_VALUE_BYTES = 64 * 1024;
/** FLAG_TYPE_JSON values: objects and lists nest at most this deep. */
export const MAX_JSON_VALUE_DEPTH = 32;

const TYPE_NAMES: Record<FlagValueType, FlagType> = {
  string: FlagType.STRING,
  number: FlagType.NUMBER,
  bool: FlagType.BOOL,
  json: FlagType.JSON,
};

/** The stored (lower-case) name of a flag type; undefined for UNSPECIFIED or unknown numbers. */
export function flagTypeName(type: FlagType): FlagValueType | undefined {
  return (Object.keys(TYPE_NAMES) as FlagValueType[]).find((name) => TYPE_NAMES[name] === type);
}

/** The enum value of a stored flag type name. */
export function flagTypeFromName(name: FlagValueType): FlagType {
  return TYPE_NAMES[name];
}

/** The full enum value name, e.g. FLAG_TYPE_BOOL, as clients see it. */
export function flagTypeLabel(type: FlagType | FlagValueType): string {
  const value = typeof type === "string" ? TYPE_NAMES[type] : type;
  return `FLAG_TYPE_${FlagType[value] ?? String(value)}`;
}

/** A plain JSON value as a google.protobuf.Value message (for responses). */
export function jsonToFlagValue(json: unknown): Value {
  return fromJson(ValueSchema, json as JsonValue);
}

/** What a Value holds, in words, for error messages. */
function describeKind(value: Value): string {
  switch (value.kind.case) {
    case "nullValue":
      return "null";
    case "numberValue":
      return "a number";
    case "stringValue":
      return "a string";
    case "boolValue":
      return "a bool";
    case "structValue":
      return "an object";
    case "listValue":
      return "a list";
    default:
      return "nothing";
  }
}

/**
 * Adds a violation unless `text` can be stored in jsonb: PostgreSQL rejects
 * the NUL character and lone UTF-16 surrogates (which JSON input can carry).
 */
function checkJsonString(v: FieldViolations, field: string, text: string, what: string): boolean {
  if (text.includes("\u0000")) {
    v.add(field, `${what} must not contain the NUL character (\\u0000)`);
    return false;
  }
  if (!text.isWellFormed()) {
    v.add(field, `${what} must be valid Unicode (it contains a lone surrogate)`);
    return false;
  }
  return true;
}

/**
 * Converts a Value to plain JSON, adding a violation (and returning
 * undefined) for what JSON or jsonb cannot hold: non-finite numbers, NUL
 * characters, lone surrogates, empty Values and nesting deeper than
 * MAX_JSON_VALUE_DEPTH.
 */
function toPlainJson(
  value: Value,
  field: string,
  v: FieldViolations,
  depth: number,
): JsonValue | undefined {
  const kind = value.kind;
  switch (kind.case) {
    case "nullValue":
      return null;
    case "boolValue":
      return kind.value;
    case "numberValue":
      if (!Number.isFinite(kind.value)) {
        v.add(field, "must be a finite number (NaN and ±Infinity are not JSON)");
        return undefined;
      }
      return kind.value;
    case "stringValue":
      return checkJsonString(v, field, kind.value, "a string") ? kind.value : undefined;
    case "listValue":
    case "structValue": {
      if (depth >= MAX_JSON_VALUE_DEPTH) {
        v.add(field, `must not nest objects and lists deeper than ${MAX_JSON_VALUE_DEPTH} levels`);
        return undefined;
      }
      if (kind.case === "listValue") {
        const list: JsonValue[] = [];
        for (const [i, item] of kind.value.values.entries()) {
          const json = toPlainJson(item, `${field}[${i}]`, v, depth + 1);
          if (json === undefined) return undefined;
          list.push(json);
        }
        return list;
      }
      const object: JsonObject = {};
      for (const [name, item] of Object.entries(kind.value.fields)) {
        if (!checkJsonString(v, field, name, "an object key")) return undefined;
        const json = toPlainJson(item, `${field}.${name}`, v, depth + 1);
        if (json === undefined) return undefined;
        object[name] = json;
      }
      return object;
    }
    default:
      v.add(field, "must hold a value (the google.protobuf.Value has no kind set)");
      return undefined;
  }
}

/**
 * Checks that `value` is a value of a flag of `type` and returns it as plain
 * JSON to store; adds a violation naming `field` (and returns undefined)
 * when it is missing, malformed or of another type.
 *
 * - FLAG_TYPE_STRING: a string of at most MAX_STRING_VALUE_LENGTH characters;
 * - FLAG_TYPE_NUMBER: a finite number;
 * - FLAG_TYPE_BOOL: a bool;
 * - FLAG_TYPE_JSON: any JSON value, null included, at most
 *   MAX_JSON_VALUE_BYTES serialised and MAX_JSON_VALUE_DEPTH deep.
 *
 * Use it for a flag's default value and for experiment variant values.
 */
export function checkValueMatchesType(
  type: FlagType | FlagValueType,
  value: Value | undefined,
  field: string,
  violations: FieldViolations,
): JsonValue | undefined {
  const typeName = typeof type === "string" ? type : flagTypeName(type);
  if (typeName === undefined) {
    violations.add(field, `cannot be checked against the unknown flag type ${String(type)}`);
    return undefined;
  }
  if (value === undefined) {
    violations.add(field, `is required (a ${typeName} value for a ${flagTypeLabel(type)} flag)`);
    return undefined;
  }
  const expected = {
    string: { kind: "stringValue", words: "a string" },
    number: { kind: "numberValue", words: "a number" },
    bool: { kind: "boolValue", words: "a bool" },
    json: undefined,
  }[typeName];
  if (expected !== undefined && value.kind.case !== expected.kind) {
    violations.add(
      field,
      `must be ${expected.words} for a ${flagTypeLabel(type)} flag, got ${describeKind(value)}`,
    );
    return undefined;
  }
  const json = toPlainJson(value, field, violations, 0);
  if (json === undefined) return undefined;
  if (typeName === "string" && [...(json as string)].length > MAX_STRING_VALUE_LENGTH) {
    violations.add(field, `must be at most ${MAX_STRING_VALUE_LENGTH} characters`);
    return undefined;
  }
  if (typeName === "json") {
    const bytes = Buffer.byteLength(JSON.stringify(json), "utf8");
    if (bytes > MAX_JSON_VALUE_BYTES) {
      violations.add(
        field,
        `must be at most ${MAX_JSON_VALUE_BYTES} bytes as JSON (this one is ${bytes})`,
      );
      return undefined;
    }
  }
  return json;
}
