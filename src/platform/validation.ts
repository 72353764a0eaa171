/** Small checks shared by the domain validation modules. */
import type { FieldViolations } from "./errors.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** Adds a violation unless `value` is a UUID; returns whether it is. */
export function checkUuid(v: FieldViolations, field: string, value: string): boolean {
  if (value === "") {
    v.add(field, "is required");
    return false;
  }
  if (!isUuid(value)) {
    v.add(field, "must be a UUID");
    return false;
  }
  return true;
}

/** C0 control characters other than tab, newline and carriage return (NUL included). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHARACTERS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/** Adds a violation unless the trimmed text has 1..max characters and no control characters. */
export function checkText(v: FieldViolations, field: string, value: string, max: number): string {
  const trimmed = value.trim();
  if (trimmed === "") v.add(field, "is required");
  else if ([...trimmed].length > max) v.add(field, `must be at most ${max} characters`);
  else if (CONTROL_CHARACTERS.test(trimmed)) v.add(field, "must not contain control characters");
  return trimmed;
}
