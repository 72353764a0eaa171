/**
 * PostgreSQL array literals for query parameters, built faster than pg's
 * own serialiser (which escapes every element with two regular expressions
 * and concatenates a rope that must be flattened before it is written):
 * the hot statements of the event store send arrays of thousands of
 * elements. The text is what pg would send for the same values, except
 * that arrays of only numbers or only booleans are written without quotes
 * (`{1,2.5}`), and times in UTC (`toISOString`) rather than in the local
 * zone with its offset: the same values.
 */

/** A value of an array element; Dates and epoch-ms times are written as UTC timestamps. */
export type ArrayElement = string | number | boolean | Date | null | undefined;

const SPECIAL = /["\\]/;
const ESCAPED = /["\\]/g;

/** The last Date written and its text: the cohorts of sorted rows repeat. */
let lastTime = NaN;
let lastTimeText = "";

function element(value: ArrayElement): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "string") {
    return SPECIAL.test(value) ? `"${value.replace(ESCAPED, "\\$&")}"` : `"${value}"`;
  }
  if (value instanceof Date) {
    const time = value.getTime();
    if (time !== lastTime) {
      lastTime = time;
      lastTimeText = `"${value.toISOString()}"`;
    }
    return lastTimeText;
  }
  return `"${String(value)}"`;
}

/**
 * Strings with quotes or backslashes (JSON text): joined with NUL, which no
 * PostgreSQL text can hold, escaped in one pass, and split back at the NULs
 * into quoted elements; undefined when an element holds a NUL itself.
 */
function escapedStrings(values: readonly string[]): string | undefined {
  const raw = values.join("\u0000");
  let separators = 0;
  for (let i = raw.indexOf("\u0000"); i !== -1; i = raw.indexOf("\u0000", i + 1)) separators++;
  if (separators !== values.length - 1) return undefined;
  return `{"${raw.replace(ESCAPED, "\\$&").replaceAll("\u0000", '","')}"}`;
}

/** The array literal of `values` (a `text[]`, `uuid[]`, `bigint[]`, `timestamptz[]`… parameter). */
export function pgArray(values: readonly ArrayElement[]): string {
  if (values.length === 0) return "{}";
  const kind = typeof values[0];
  let same = kind === "string" || kind === "number" || kind === "boolean";
  for (let i = 1; same && i < values.length; i++) same = typeof values[i] === kind;
  if (same && kind === "string") {
    // Strings only: one join, and one scan for characters to escape.
    const joined = (values as readonly string[]).join('","');
    if (!SPECIAL.test(joined)) return `{"${joined}"}`;
    const escaped = escapedStrings(values as readonly string[]);
    if (escaped !== undefined) return escaped;
  } else if (same) {
    // Numbers or booleans only: their text needs no quotes.
    return `{${values.join(",")}}`;
  }
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = element(values[i]);
  return `{${parts.join(",")}}`;
}

/** A `timestamptz[]` literal of epoch-millisecond times (null stays NULL). */
export function pgTimes(values: readonly (number | null)[]): string {
  const parts = new Array<string>(values.length);
  // Sorted rows often repeat a time (minutes, hours): reuse its text.
  let last: number | undefined;
  let text = "";
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = "NULL";
    else {
      if (v !== last) {
        last = v;
        text = `"${new Date(v).toISOString()}"`;
      }
      parts[i] = text;
    }
  }
  return `{${parts.join(",")}}`;
}
