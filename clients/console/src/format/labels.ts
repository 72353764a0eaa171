/** Enum values as words: "EXPERIMENT_STATUS_IN_REVIEW" → "in review". */

/** Turns a protobuf-es enum value into lower-case words without the enum's prefix. */
export function enumLabel(
  enumObject: Record<string | number, string | number>,
  value: number,
): string {
  const name = enumObject[value];
  if (typeof name !== "string") return String(value);
  const words = name.split("_");
  // protobuf-es strips the shared prefix already (e.g. "IN_REVIEW"); keep it readable.
  return words.join(" ").toLowerCase();
}
