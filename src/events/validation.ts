/**
 * Checks one ingested event against the catalog and the decision-id
 * signer, without I/O. Each problem has an EventErrorCode and a message
 * that names the field; a valid event comes back normalised with what its
 * decision id says (flag, experiment, variant, subject).
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { EventErrorCode } from "../../gen/lotty/events/v1/events_pb.js";
import {
  MAX_DECISION_ID_LENGTH,
  type DecisionSigner,
  type Snapshot,
  type SnapshotEventType,
} from "../decision/lookup.js";
import { CONTROL_CHARACTERS } from "../platform/validation.js";
import { EXPOSURE_EVENT_TYPE } from "../catalog/lookup.js";

export const EVENT_LIMITS = {
  /** Events per IngestEvents call; more is INVALID_ARGUMENT for the whole call. */
  batchSize: 1_000,
  /** Characters of an event id. */
  eventIdLength: 200,
  /** Properties per event. */
  properties: 50,
  /** Bytes of an event's properties as JSON. */
  propertiesJsonBytes: 8 * 1024,
  /** Characters of a declared string property. */
  stringProperty: 1_000,
  /** How far in the future occurredAt may be (clock skew), ms. */
  futureSkewMs: 5 * 60_000,
  /** How old occurredAt may be: the attribution horizon, ms. */
  horizonMs: 7 * 24 * 3_600_000,
};

/** A validated event as it travels on the bus and into the store. */
export interface AcceptedEvent {
  eventId: string;
  eventType: string;
  decisionId: string;
  flagKey: string;
  /** Empty when the decision had no experiment. */
  experimentId: string;
  variantKey: string;
  subjectId: string;
  /** Epoch milliseconds. */
  occurredAt: number;
  properties: JsonObject;
  /** The type is `exposure`: it links its decision id to the subject's variant. */
  exposure: boolean;
  /** The event counts only once an exposure with its decision id exists. */
  requiresExposure: boolean;
}

export interface EventProblem {
  code: EventErrorCode;
  message: string;
}

export interface IncomingEvent {
  eventId: string;
  eventType: string;
  decisionId: string;
  /** Epoch milliseconds, or undefined when absent. */
  occurredAt: number | undefined;
  properties: JsonObject | undefined;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** An RFC 3339 date-time with a real calendar date and clock time (no leap seconds). */
function isRfc3339(value: string): boolean {
  const m = RFC3339.exec(value);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const offsetOk = m[7] === undefined || (Number(m[7]) <= 23 && Number(m[8]) <= 59);
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetOk
  );
}

/**
 * The path of the first text PostgreSQL's jsonb cannot hold (a NUL
 * character, an unpaired surrogate) in keys or string values, if any.
 */
function findUnstorableText(value: JsonValue, path: string): string | undefined {
  if (typeof value === "string") return isStorable(value) ? undefined : path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorableText(value[i] as JsonValue, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, inner] of Object.entries(value)) {
      if (!isStorable(key)) return `${path} key ${JSON.stringify(key.slice(0, 64))}`;
      const found = findUnstorableText(inner as JsonValue, `${path}.${key}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function isStorable(text: string): boolean {
  return !text.includes("\u0000") && text.isWellFormed();
}

const problem = (code: EventErrorCode, message: string): EventProblem => ({ code, message });

export function validateEvent(
  event: IncomingEvent,
  snapshot: Snapshot,
  signer: DecisionSigner & { rejectionOf?(id: string): string | undefined },
  now: number,
): AcceptedEvent | EventProblem {
  const { eventId, eventType, decisionId, occurredAt } = event;
  if (eventId === "") return problem(EventErrorCode.MISSING_FIELD, "event_id: is required");
  if (eventId.length > EVENT_LIMITS.eventIdLength) {
    return problem(
      EventErrorCode.INVALID_FIELD,
      `event_id: must be at most ${EVENT_LIMITS.eventIdLength} characters`,
    );
  }
  if (CONTROL_CHARACTERS.test(eventId) || !eventId.isWellFormed()) {
    return problem(
      EventErrorCode.INVALID_FIELD,
      "event_id: must not contain control characters or unpaired surrogates",
    );
  }
  if (eventType === "") return problem(EventErrorCode.MISSING_FIELD, "event_type: is required");
  const type = snapshot.eventTypes.get(eventType);
  if (type === undefined) {
    return problem(
      EventErrorCode.UNKNOWN_EVENT_TYPE,
      `event_type: ${JSON.stringify(eventType.slice(0, 100))} is not in the event catalog`,
    );
  }
  if (type.archived) {
    return problem(
      EventErrorCode.ARCHIVED_EVENT_TYPE,
      `event_type: ${JSON.stringify(eventType)} is archived`,
    );
  }
  if (decisionId === "") return problem(EventErrorCode.MISSING_FIELD, "decision_id: is required");
  const claims =
    decisionId.length <= MAX_DECISION_ID_LENGTH ? signer.verify(decisionId) : undefined;
  if (claims === undefined) {
    return problem(
      EventErrorCode.INVALID_DECISION_ID,
      (decisionId.length <= MAX_DECISION_ID_LENGTH
        ? signer.rejectionOf?.(decisionId)
        : undefined) ??
        "decision_id: is not a decision id issued by this Lotty (malformed, altered or signed with another secret)",
    );
  }
  if (
    !snapshot.knownFlagKeys.has(claims.flagKey) ||
    (claims.experimentId !== undefined && !snapshot.knownExperimentIds.has(claims.experimentId))
  ) {
    return problem(
      EventErrorCode.INVALID_DECISION_ID,
      "decision_id: refers to a flag or experiment this Lotty does not know",
    );
  }
  if (occurredAt === undefined) {
    return problem(EventErrorCode.MISSING_FIELD, "occurred_at: is required");
  }
  if (!Number.isFinite(occurredAt) || occurredAt > now + EVENT_LIMITS.futureSkewMs) {
    return problem(
      EventErrorCode.TIMESTAMP_OUT_OF_RANGE,
      "occurred_at: is more than 5 minutes in the future",
    );
  }
  if (occurredAt < now - EVENT_LIMITS.horizonMs) {
    return problem(
      EventErrorCode.TIMESTAMP_OUT_OF_RANGE,
      "occurred_at: is older than the 7-day attribution horizon",
    );
  }
  const properties = event.properties ?? {};
  const propertyProblem = checkProperties(properties, type.properties);
  if (propertyProblem !== undefined) return propertyProblem;
  return {
    eventId,
    eventType,
    decisionId,
    flagKey: claims.flagKey,
    experimentId: claims.experimentId ?? "",
    variantKey: claims.variantKey ?? "",
    subjectId: claims.subjectId,
    occurredAt,
    properties,
    exposure: eventType === EXPOSURE_EVENT_TYPE,
    requiresExposure: type.requiresExposure,
  };
}

function checkProperties(
  properties: JsonObject,
  declared: SnapshotEventType["properties"],
): EventProblem | undefined {
  const keys = Object.keys(properties);
  if (keys.length > EVENT_LIMITS.properties) {
    return problem(
      EventErrorCode.INVALID_FIELD,
      `properties: must have at most ${EVENT_LIMITS.properties} keys`,
    );
  }
  if (
    keys.length > 0 &&
    Buffer.byteLength(JSON.stringify(properties), "utf8") > EVENT_LIMITS.propertiesJsonBytes
  ) {
    return problem(
      EventErrorCode.INVALID_FIELD,
      `properties: must be at most ${EVENT_LIMITS.propertiesJsonBytes} bytes as JSON`,
    );
  }
  const unstorable = findUnstorableText(properties, "properties");
  if (unstorable !== undefined) {
    return problem(
      EventErrorCode.INVALID_FIELD,
      `${unstorable}: contains a NUL character or an unpaired surrogate, which cannot be stored`,
    );
  }
  for (const property of declared) {
    const value: JsonValue | undefined = Object.hasOwn(properties, property.name)
      ? properties[property.name]
      : undefined;
    if (value === undefined || value === null) {
      if (property.required) {
        return problem(
          EventErrorCode.MISSING_PROPERTY,
          `properties.${property.name}: is required (${property.type})`,
        );
      }
      continue;
    }
    if (!hasType(value, property.type)) {
      return problem(
        EventErrorCode.INVALID_PROPERTY,
        `properties.${property.name}: must be ${describe(property.type)}, got ${typeName(value)}`,
      );
    }
    if (property.type === "string" && (value as string).length > EVENT_LIMITS.stringProperty) {
      return problem(
        EventErrorCode.INVALID_PROPERTY,
        `properties.${property.name}: must be at most ${EVENT_LIMITS.stringProperty} characters`,
      );
    }
  }
  return undefined;
}

type PropertyType = SnapshotEventType["properties"][number]["type"];

function hasType(value: JsonValue, type: PropertyType): boolean {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "bool":
      return typeof value === "boolean";
    case "timestamp":
      return typeof value === "string" && isRfc3339(value);
  }
}

function describe(type: PropertyType): string {
  return {
    string: "a string",
    number: "a finite number",
    bool: "a boolean",
    timestamp: "an RFC 3339 timestamp string",
  }[type];
}

function typeName(value: JsonValue): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return "a number";
  return "a boolean";
}
