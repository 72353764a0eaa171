/**
 * Reading a DecideRequest from Connect JSON on the fast path.
 *
 * protobuf's own reader (fromJsonString) is the reference: it accepts both
 * field spellings, rejects unknown fields and duplicate keys, and names the
 * problem in its error. It is also most of the fast path's cost: after its
 * JSON.parse it walks the message by reflection and builds the Struct.
 *
 * This reader takes the common shape — one object with a string subject,
 * an array of string flag keys and flat attributes — straight from
 * JSON.parse, and hands everything else to fromJsonString: anything it
 * does not recognise, and any body with a duplicate key. So an accepted
 * body gives exactly what fromJsonString gives, and a rejected one the
 * same error (a property test compares the two on random bodies).
 *
 * protobuf also refuses strings that are not well-formed UTF-16 (a lone
 * surrogate); such a body goes the reference way too.
 *
 * Duplicate keys without a second scan of the objects: JSON.parse keeps
 * the last of duplicates, so a body has one iff it has more member names
 * than the parsed objects have keys. In valid JSON every member name is
 * followed by exactly one colon outside strings and no other colon is, so
 * counting those colons counts the member names.
 */
import { fromJsonString, type JsonObject } from "@bufbuild/protobuf";
import { DecideRequestSchema } from "../../gen/lotty/decision/v1/decision_pb.js";

export interface DecideRequestFields {
  subjectId: string;
  attributes?: JsonObject;
  flagKeys: readonly string[];
}

const NO_FLAG_KEYS: readonly string[] = Object.freeze([]);

/**
 * The request in `text`; throws what fromJsonString throws for a body it
 * rejects.
 */
export function parseDecideRequestJson(text: string): DecideRequestFields {
  return readCommonShape(text) ?? fromJsonString(DecideRequestSchema, text);
}

/** The request when `text` has the common shape, else undefined (exported for tests). */
export function readCommonShape(text: string): DecideRequestFields | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  let subjectId = "";
  let flagKeys = NO_FLAG_KEYS;
  let attributes: JsonObject | undefined;
  let members = 0;
  let seenSubject = false;
  let seenFlags = false;
  for (const key in parsed) {
    const value = (parsed as Record<string, unknown>)[key];
    members++;
    switch (key) {
      case "subjectId":
      case "subject_id":
        if (seenSubject || typeof value !== "string" || !value.isWellFormed()) return undefined;
        seenSubject = true;
        subjectId = value;
        break;
      case "flagKeys":
      case "flag_keys":
        if (seenFlags || !Array.isArray(value)) return undefined;
        for (let i = 0; i < value.length; i++) {
          const flagKey: unknown = value[i];
          if (typeof flagKey !== "string" || !flagKey.isWellFormed()) return undefined;
        }
        seenFlags = true;
        flagKeys = value as string[];
        break;
      case "attributes": {
        if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
        for (const name in value) {
          const v = (value as Record<string, unknown>)[name];
          // Flat string, boolean and finite number values only; nested
          // values, null and "__proto__" go the reference way, and so does
          // a string protobuf would refuse (not well-formed UTF-16).
          if (
            !(
              (typeof v === "string" && v.isWellFormed()) ||
              typeof v === "boolean" ||
              (typeof v === "number" && Number.isFinite(v))
            ) ||
            name === "__proto__" ||
            !name.isWellFormed()
          ) {
            return undefined;
          }
          members++;
        }
        attributes = value as JsonObject;
        break;
      }
      default:
        return undefined;
    }
  }
  if (memberNames(text) !== members) return undefined;
  return attributes === undefined ? { subjectId, flagKeys } : { subjectId, attributes, flagKeys };
}

/** The number of colons outside strings in `json`, which JSON.parse accepted. */
function memberNames(json: string): number {
  let count = 0;
  let i = 0;
  const n = json.length;
  while (i < n) {
    const c = json.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: find its closing quote, one not escaped by an odd
      // run of backslashes. JSON.parse accepted the text, so it exists.
      let close = json.indexOf('"', i + 1);
      for (;;) {
        let b = close - 1;
        while (json.charCodeAt(b) === 0x5c) b--;
        if ((close - 1 - b) % 2 === 0) break;
        close = json.indexOf('"', close + 1);
      }
      i = close + 1;
    } else {
      if (c === 0x3a) count++;
      i++;
    }
  }
  return count;
}
