/** Request validation for FlagService: every problem names its field. */
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { FieldViolations } from "../platform/errors.js";
import { CONTROL_CHARACTERS } from "../platform/validation.js";
import type { FlagValueType } from "./entities.js";
import { flagTypeName } from "./values.js";

/**
 * A flag key: a lower-case letter, then up to 99 lower-case letters, digits,
 * `_`, `.` or `-` (1–100 characters in all), e.g. `checkout.button_color`.
 */
export const FLAG_KEY = /^[a-z][a-z0-9_.-]{0,99}$/;
export const MAX_FLAG_KEY_LENGTH = 100;

/** A tag: a lower-case letter or digit, then up to 49 of `a-z 0-9 _ . : -`. */
export const TAG = /^[a-z0-9][a-z0-9_.:-]{0,49}$/;
export const MAX_TAG_LENGTH = 50;
export const MAX_TAGS = 20;

export const MAX_DESCRIPTION_LENGTH = 2_000;

/** Adds a violation unless `key` is a well-formed flag key; returns it unchanged. */
export function checkFlagKey(v: FieldViolations, field: string, key: string): string {
  if (key === "") v.add(field, "is required");
  else if (key.length > MAX_FLAG_KEY_LENGTH) {
    v.add(field, `must be at most ${MAX_FLAG_KEY_LENGTH} characters`);
  } else if (!FLAG_KEY.test(key)) {
    v.add(
      field,
      "must start with a lower-case letter and contain only lower-case letters, digits, '_', '.' and '-' (e.g. checkout.button_color)",
    );
  }
  return key;
}

/** Adds a violation for FLAG_TYPE_UNSPECIFIED or an unknown number; returns the stored name. */
export function checkFlagType(
  v: FieldViolations,
  field: string,
  type: FlagType,
): FlagValueType | undefined {
  const name = flagTypeName(type);
  if (name === undefined) {
    v.add(
      field,
      type === FlagType.UNSPECIFIED
        ? "is required: use FLAG_TYPE_STRING, FLAG_TYPE_NUMBER, FLAG_TYPE_BOOL or FLAG_TYPE_JSON"
        : `unknown flag type ${type}; use FLAG_TYPE_STRING, FLAG_TYPE_NUMBER, FLAG_TYPE_BOOL or FLAG_TYPE_JSON`,
    );
  }
  return name;
}

/** Adds a violation unless `tag` is a well-formed tag. */
export function checkTag(v: FieldViolations, field: string, tag: string): boolean {
  if (tag === "") v.add(field, "must not be empty");
  else if (tag.length > MAX_TAG_LENGTH)
    v.add(field, `must be at most ${MAX_TAG_LENGTH} characters`);
  else if (!TAG.test(tag)) {
    v.add(
      field,
      "must start with a lower-case letter or digit and contain only lower-case letters, digits, '_', '.', ':' and '-'",
    );
  } else return true;
  return false;
}

/** Validates a tag list: at most MAX_TAGS distinct tags; duplicates are dropped, order kept. */
export function checkTags(v: FieldViolations, field: string, tags: string[]): string[] {
  tags.forEach((tag, i) => checkTag(v, `${field}[${i}]`, tag));
  const distinct = [...new Set(tags)];
  if (distinct.length > MAX_TAGS) {
    v.add(field, `at most ${MAX_TAGS} distinct tags are allowed (got ${distinct.length})`);
  }
  return distinct;
}

/** Optional free text: trimmed, at most `max` characters, no control characters; may be empty. */
export function checkOptionalText(
  v: FieldViolations,
  field: string,
  value: string,
  max: number,
): string {
  const trimmed = value.trim();
  if ([...trimmed].length > max) v.add(field, `must be at most ${max} characters`);
  else if (CONTROL_CHARACTERS.test(trimmed)) v.add(field, "must not contain control characters");
  else if (!trimmed.isWellFormed())
    v.add(field, "must be valid Unicode (it contains a lone surrogate)");
  return trimmed;
}

export function checkDescription(v: FieldViolations, field: string, value: string): string {
  return checkOptionalText(v, field, value, MAX_DESCRIPTION_LENGTH);
}

export { FieldViolations };
export { checkValueMatchesType } from "./values.js";
