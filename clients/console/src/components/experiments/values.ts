/** Flag values (google.protobuf.Value) as text and back, by the flag's type. */
import { fromJson, toJson, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { FlagType } from "../../../../../gen/lotty/flags/v1/flags_pb.js";

/** A value as people read it: strings bare, everything else as JSON. */
export function valueText(value: Value | undefined): string {
  if (value === undefined) return "—";
  if (value.kind.case === "stringValue") return value.kind.value;
  return JSON.stringify(toJson(ValueSchema, value));
}

/** A value as the form edits it: strings bare, everything else as JSON; empty when unset. */
export function valueInput(value: Value | undefined): string {
  if (value === undefined || value.kind.case === undefined) return "";
  return valueText(value);
}

/** Parses the text of a value for a flag type; a string problem when it does not fit. */
export function parseValue(
  text: string,
  type: FlagType,
): { value: MessageInitShape<typeof ValueSchema> } | { problem: string } {
  switch (type) {
    case FlagType.NUMBER: {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n)) return { problem: "must be a number" };
      return { value: { kind: { case: "numberValue", value: n } } };
    }
    case FlagType.BOOL:
      if (text !== "true" && text !== "false") return { problem: "must be true or false" };
      return { value: { kind: { case: "boolValue", value: text === "true" } } };
    case FlagType.JSON:
      try {
        return { value: fromJson(ValueSchema, JSON.parse(text)) };
      } catch {
        return { problem: "must be valid JSON" };
      }
    default:
      return { value: { kind: { case: "stringValue", value: text } } };
  }
}
