/**
 * validateEvent (src/events/validation.ts) on its own: every EventErrorCode
 * with the message naming the field, the limits just inside and just
 * outside, the normalised AcceptedEvent, and two properties (genuine events
 * are accepted; arbitrary input never throws).
 */
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { EventErrorCode } from "../../gen/lotty/events/v1/events_pb.js";
import { createDecisionSigner, type DecisionClaims } from "../../src/decision/decision-id.js";
import type { Snapshot, SnapshotEventType } from "../../src/decision/types.js";
import {
  EVENT_LIMITS,
  validateEvent,
  type AcceptedEvent,
  type EventProblem,
  type IncomingEvent,
} from "../../src/events/validation.js";

const SECRET = "validation-test-secret";
const signer = createDecisionSigner(SECRET);
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const MINUTE = 60_000;
const DAY = 86_400_000;

const FLAG = "checkout_button";
const OTHER_FLAG = "archived_flag";
const EXPERIMENT = "0b7f3c1e-2a4d-4c8e-9f10-1a2b3c4d5e6f";
const OLD_EXPERIMENT = "5d6e7f80-9a1b-4c2d-8e3f-405162738495";

type Property = SnapshotEventType["properties"][number];

function eventType(
  key: string,
  properties: Property[] = [],
  extra: Partial<SnapshotEventType> = {},
): [string, SnapshotEventType] {
  return [key, { key, archived: false, requiresExposure: false, properties, ...extra }];
}

/** A catalog like a fresh install's, plus a type with one property of each type and an archived one. */
function snapshotWith(types: [string, SnapshotEventType][] = []): Snapshot {
  return {
    version: "test",
    builtAt: NOW,
    flags: new Map(),
    sortedFlagKeys: [],
    experimentByFlag: new Map(),
    live: [],
    policy: { maxConcurrentExperiments: 0, cooldownSeconds: 0 },
    recentlyCompleted: [],
    eventTypes: new Map([
      eventType("exposure"),
      eventType("conversion", [{ name: "value", type: "number", required: false }], {
        requiresExposure: true,
      }),
      eventType("latency", [{ name: "ms", type: "number", required: true }], {
        requiresExposure: true,
      }),
      eventType("purchase", [
        { name: "sku", type: "string", required: true },
        { name: "amount", type: "number", required: true },
        { name: "gift", type: "bool", required: false },
        { name: "paid_at", type: "timestamp", required: false },
      ]),
      eventType("legacy", [], { archived: true }),
      ...types,
    ]),
    knownFlagKeys: new Set([FLAG, OTHER_FLAG]),
    knownExperimentIds: new Set([EXPERIMENT, OLD_EXPERIMENT]),
  };
}

const snapshot = snapshotWith();

const claims: DecisionClaims = {
  flagKey: FLAG,
  subjectId: "subject-42",
  experimentId: EXPERIMENT,
  variantKey: "blue",
  configVersion: 3,
};
const decisionId = signer.sign(claims);

function incoming(overrides: Partial<IncomingEvent> = {}): IncomingEvent {
  return {
    eventId: "ev-1",
    eventType: "conversion",
    decisionId,
    occurredAt: NOW - MINUTE,
    properties: { value: 12.5 },
    ...overrides,
  };
}

function validate(overrides: Partial<IncomingEvent> = {}, s: Snapshot = snapshot) {
  return validateEvent(incoming(overrides), s, signer, NOW);
}

function isProblem(result: AcceptedEvent | EventProblem): result is EventProblem {
  return !("eventId" in result);
}

/** The problem validateEvent reports; fails when the event is accepted. */
function problemOf(overrides: Partial<IncomingEvent>, s: Snapshot = snapshot): EventProblem {
  const result = validate(overrides, s);
  if (!isProblem(result)) {
    throw new Error(`expected a problem, got an accepted event: ${JSON.stringify(result)}`);
  }
  return result;
}

function accepted(overrides: Partial<IncomingEvent>, s: Snapshot = snapshot): AcceptedEvent {
  const result = validate(overrides, s);
  if (isProblem(result)) {
    throw new Error(`expected acceptance, got ${EventErrorCode[result.code]}: ${result.message}`);
  }
  return result;
}

/** A valid purchase with `properties` merged over the required ones. */
function purchase(properties: Record<string, JsonValue>): Partial<IncomingEvent> {
  return { eventType: "purchase", properties: { sku: "A-1", amount: 3, ...properties } };
}

describe("validateEvent: event_id", () => {
  it("is required", () => {
    expect(problemOf({ eventId: "" })).toEqual({
      code: EventErrorCode.MISSING_FIELD,
      message: "event_id: is required",
    });
  });

  it("may have 200 characters but not 201", () => {
    expect(accepted({ eventId: "x".repeat(EVENT_LIMITS.eventIdLength) }).eventId).toHaveLength(200);
    expect(problemOf({ eventId: "x".repeat(EVENT_LIMITS.eventIdLength + 1) })).toEqual({
      code: EventErrorCode.INVALID_FIELD,
      message: "event_id: must be at most 200 characters",
    });
  });

  it.each([
    ["NUL", "ev\u00001"],
    ["unit separator", "ev\u001f1"],
    ["DEL", "ev\u007f1"],
    ["escape", "\u001b[31mred"],
    ["a lone high surrogate", "ev-\ud800"],
    ["a lone low surrogate", "ev-\udc00-1"],
    ["a reversed pair", "ev-\ude00\ud83d"],
  ])("must not contain control characters or unpaired surrogates (%s)", (_name, eventId) => {
    expect(problemOf({ eventId })).toEqual({
      code: EventErrorCode.INVALID_FIELD,
      message: "event_id: must not contain control characters or unpaired surrogates",
    });
  });

  it("accepts any other text, e.g. a UUID or non-ASCII letters", () => {
    expect(accepted({ eventId: "5f0c6a1e-8d7b-4b8a-9a43-0e1f2a3b4c5d" }).eventId).toBe(
      "5f0c6a1e-8d7b-4b8a-9a43-0e1f2a3b4c5d",
    );
    expect(accepted({ eventId: "событие-№1-🎉" }).eventId).toBe("событие-№1-🎉");
  });
});

describe("validateEvent: event_type", () => {
  it("is required", () => {
    expect(problemOf({ eventType: "" })).toEqual({
      code: EventErrorCode.MISSING_FIELD,
      message: "event_type: is required",
    });
  });

  it("must be in the catalog", () => {
    expect(problemOf({ eventType: "signup" })).toEqual({
      code: EventErrorCode.UNKNOWN_EVENT_TYPE,
      message: 'event_type: "signup" is not in the event catalog',
    });
  });

  it("quotes at most 100 characters of an unknown type", () => {
    const p = problemOf({ eventType: "y".repeat(5_000) });
    expect(p.code).toBe(EventErrorCode.UNKNOWN_EVENT_TYPE);
    expect(p.message).toBe(`event_type: "${"y".repeat(100)}" is not in the event catalog`);
  });

  it("must not be archived", () => {
    expect(problemOf({ eventType: "legacy", properties: {} })).toEqual({
      code: EventErrorCode.ARCHIVED_EVENT_TYPE,
      message: 'event_type: "legacy" is archived',
    });
  });

  it("is matched exactly (no case folding)", () => {
    expect(problemOf({ eventType: "Conversion" }).code).toBe(EventErrorCode.UNKNOWN_EVENT_TYPE);
  });
});

describe("validateEvent: decision_id", () => {
  const FORGED = {
    code: EventErrorCode.INVALID_DECISION_ID,
    message:
      "decision_id: is not a decision id issued by this Lotty (malformed, altered or signed with another secret)",
  };
  const UNKNOWN = {
    code: EventErrorCode.INVALID_DECISION_ID,
    message: "decision_id: refers to a flag or experiment this Lotty does not know",
  };

  it("is required", () => {
    expect(problemOf({ decisionId: "" })).toEqual({
      code: EventErrorCode.MISSING_FIELD,
      message: "decision_id: is required",
    });
  });

  it("rejects a payload altered after signing", () => {
    const [prefix, , tag] = decisionId.split(".");
    const altered = Buffer.from(
      JSON.stringify([FLAG, "someone-else", EXPERIMENT, "blue", 3]),
      "utf8",
    ).toString("base64url");
    expect(problemOf({ decisionId: `${prefix}.${altered}.${tag}` })).toEqual(FORGED);
    // The variant moved from blue to control: the most tempting forgery.
    const toControl = Buffer.from(
      JSON.stringify([FLAG, claims.subjectId, EXPERIMENT, "control", 3]),
      "utf8",
    ).toString("base64url");
    expect(problemOf({ decisionId: `${prefix}.${toControl}.${tag}` })).toEqual(FORGED);
  });

  it("rejects an altered tag", () => {
    const last = decisionId.at(-1)!;
    const tampered = decisionId.slice(0, -1) + (last === "A" ? "B" : "A");
    expect(problemOf({ decisionId: tampered })).toEqual(FORGED);
    const [prefix, payload, tag] = decisionId.split(".") as [string, string, string];
    const flipped = tag[0] === "A" ? "B" + tag.slice(1) : "A" + tag.slice(1);
    expect(problemOf({ decisionId: `${prefix}.${payload}.${flipped}` })).toEqual(FORGED);
  });

  it("rejects an id signed with another secret", () => {
    const foreign = createDecisionSigner("someone-elses-secret").sign(claims);
    expect(problemOf({ decisionId: foreign })).toEqual(FORGED);
  });

  it.each([
    ["garbage", "not-a-decision-id"],
    ["a prefix only", "d1."],
    ["a wrong version", decisionId.replace(/^d1\./, "d2.")],
    ["over the length limit", "d1." + "A".repeat(3_000) + ".AAAAAAAAAAAAAAAAAAAAAA"],
  ])("rejects a malformed id (%s)", (_name, id) => {
    expect(problemOf({ decisionId: id })).toEqual(FORGED);
  });

  it("rejects a genuine id naming a flag this Lotty never had", () => {
    const id = signer.sign({ ...claims, flagKey: "no_such_flag" });
    expect(problemOf({ decisionId: id })).toEqual(UNKNOWN);
  });

  it("rejects a genuine id naming an experiment this Lotty never started", () => {
    const id = signer.sign({ ...claims, experimentId: "99999999-9999-4999-8999-999999999999" });
    expect(problemOf({ decisionId: id })).toEqual(UNKNOWN);
  });

  it("accepts ids of archived flags and older experiments Lotty still knows", () => {
    const id = signer.sign({ ...claims, flagKey: OTHER_FLAG, experimentId: OLD_EXPERIMENT });
    expect(accepted({ decisionId: id })).toMatchObject({
      flagKey: OTHER_FLAG,
      experimentId: OLD_EXPERIMENT,
    });
  });

  it("accepts an id signed with a previous secret the signer still verifies", () => {
    const rotated = createDecisionSigner("new-secret", { previousSecrets: [SECRET] });
    const result = validateEvent(incoming(), snapshot, rotated, NOW);
    expect(isProblem(result)).toBe(false);
  });
});

describe("validateEvent: occurred_at", () => {
  it("is required", () => {
    expect(problemOf({ occurredAt: undefined })).toEqual({
      code: EventErrorCode.MISSING_FIELD,
      message: "occurred_at: is required",
    });
  });

  it("may be up to 5 minutes in the future, not more", () => {
    expect(accepted({ occurredAt: NOW + 5 * MINUTE }).occurredAt).toBe(NOW + 5 * MINUTE);
    expect(problemOf({ occurredAt: NOW + 5 * MINUTE + 1 })).toEqual({
      code: EventErrorCode.TIMESTAMP_OUT_OF_RANGE,
      message: "occurred_at: is more than 5 minutes in the future",
    });
  });

  it("may be up to 7 days old, not older", () => {
    expect(accepted({ occurredAt: NOW - 7 * DAY }).occurredAt).toBe(NOW - 7 * DAY);
    expect(problemOf({ occurredAt: NOW - 7 * DAY - 1 })).toEqual({
      code: EventErrorCode.TIMESTAMP_OUT_OF_RANGE,
      message: "occurred_at: is older than the 7-day attribution horizon",
    });
  });

  it.each([NaN, Infinity, -Infinity])("rejects a non-finite time (%p)", (occurredAt) => {
    expect(problemOf({ occurredAt }).code).toBe(EventErrorCode.TIMESTAMP_OUT_OF_RANGE);
  });
});

describe("validateEvent: properties", () => {
  it("requires a declared required property", () => {
    expect(problemOf({ eventType: "latency", properties: {} })).toEqual({
      code: EventErrorCode.MISSING_PROPERTY,
      message: "properties.ms: is required (number)",
    });
    expect(problemOf({ eventType: "latency", properties: undefined })).toEqual({
      code: EventErrorCode.MISSING_PROPERTY,
      message: "properties.ms: is required (number)",
    });
  });

  it("counts null as missing", () => {
    expect(problemOf({ eventType: "latency", properties: { ms: null } })).toEqual({
      code: EventErrorCode.MISSING_PROPERTY,
      message: "properties.ms: is required (number)",
    });
    // An optional property may be null.
    expect(accepted(purchase({ gift: null })).properties).toEqual({
      sku: "A-1",
      amount: 3,
      gift: null,
    });
  });

  it("names the first missing required property", () => {
    expect(problemOf({ eventType: "purchase", properties: { amount: 1 } })).toEqual({
      code: EventErrorCode.MISSING_PROPERTY,
      message: "properties.sku: is required (string)",
    });
    expect(problemOf({ eventType: "purchase", properties: { sku: "A" } })).toEqual({
      code: EventErrorCode.MISSING_PROPERTY,
      message: "properties.amount: is required (number)",
    });
  });

  const wrongTypes: [string, Record<string, JsonValue>, string][] = [
    ["string given a number", { sku: 17 }, "properties.sku: must be a string, got a number"],
    ["string given a boolean", { sku: true }, "properties.sku: must be a string, got a boolean"],
    ["string given a list", { sku: ["A"] }, "properties.sku: must be a string, got a list"],
    [
      "number given a string",
      { amount: "3" },
      "properties.amount: must be a finite number, got a string",
    ],
    [
      "number given an object",
      { amount: { value: 3 } },
      "properties.amount: must be a finite number, got an object",
    ],
    ["bool given a string", { gift: "true" }, "properties.gift: must be a boolean, got a string"],
    ["bool given a number", { gift: 1 }, "properties.gift: must be a boolean, got a number"],
    [
      "timestamp given epoch milliseconds",
      { paid_at: 1_738_324_800_000 },
      "properties.paid_at: must be an RFC 3339 timestamp string, got a number",
    ],
    [
      "timestamp given a date without time",
      { paid_at: "2025-01-31" },
      "properties.paid_at: must be an RFC 3339 timestamp string, got a string",
    ],
    [
      "timestamp without a zone",
      { paid_at: "2025-01-31T12:00:00" },
      "properties.paid_at: must be an RFC 3339 timestamp string, got a string",
    ],
    [
      "timestamp in another format",
      { paid_at: "Fri, 31 Jan 2025 12:00:00 GMT" },
      "properties.paid_at: must be an RFC 3339 timestamp string, got a string",
    ],
    [
      "timestamp with month 13",
      { paid_at: "2025-13-01T00:00:00Z" },
      "properties.paid_at: must be an RFC 3339 timestamp string, got a string",
    ],
  ];
  it.each(wrongTypes)("rejects a wrong type: %s", (_name, properties, message) => {
    expect(problemOf(purchase(properties))).toEqual({
      code: EventErrorCode.INVALID_PROPERTY,
      message,
    });
  });

  it("rejects a number that is not finite", () => {
    expect(problemOf(purchase({ amount: NaN }))).toEqual({
      code: EventErrorCode.INVALID_PROPERTY,
      message: "properties.amount: must be a finite number, got a number",
    });
    expect(problemOf({ eventType: "latency", properties: { ms: Infinity } }).code).toBe(
      EventErrorCode.INVALID_PROPERTY,
    );
  });

  it.each([
    "2025-01-31T12:00:00Z",
    "2025-01-31t12:00:00z",
    "2025-01-31T12:00:00.5Z",
    "2025-01-31T12:00:00.123456789+03:00",
    "2025-01-31T12:00:00-08:00",
    "2024-02-29T23:59:59Z",
    "2025-01-31T12:00:00+23:59",
  ])("accepts the RFC 3339 timestamp %s", (paidAt) => {
    expect(accepted(purchase({ paid_at: paidAt })).properties.paid_at).toBe(paidAt);
  });

  // RFC 3339 section 5.7: the day must exist in its month, hours run 00-23,
  // minutes 00-59, and an offset is at most 23:59.
  it.each([
    "2025-02-30T00:00:00Z",
    "2025-04-31T10:00:00Z",
    "2025-00-10T10:00:00Z",
    "2025-01-00T10:00:00Z",
    "2025-01-31T24:00:00Z",
    "2025-01-31T12:60:00Z",
    "2025-01-31T12:00:00+24:00",
    "2025-01-31T12:00:00-05:60",
  ])("rejects the impossible timestamp %s", (paidAt) => {
    expect(problemOf(purchase({ paid_at: paidAt }))).toEqual({
      code: EventErrorCode.INVALID_PROPERTY,
      message: "properties.paid_at: must be an RFC 3339 timestamp string, got a string",
    });
  });

  // docs/catalog.md: PROPERTY_TYPE_STRING is "a JSON string, at most 1,000 characters".
  it("rejects a declared string property over 1,000 characters", () => {
    expect(accepted(purchase({ sku: "s".repeat(1_000) })).properties.sku).toHaveLength(1_000);
    expect(problemOf(purchase({ sku: "s".repeat(1_001) }))).toEqual({
      code: EventErrorCode.INVALID_PROPERTY,
      message: "properties.sku: must be at most 1000 characters",
    });
  });

  it("keeps undeclared properties unchecked", () => {
    const props = { sku: "A", amount: 1, note: ["anything", { at: 1 }], extra: null };
    expect(accepted({ eventType: "purchase", properties: props }).properties).toEqual(props);
  });

  it("allows 50 properties, not 51", () => {
    const many = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i])) as JsonObject;
    expect(Object.keys(accepted({ properties: many(50) }).properties)).toHaveLength(50);
    expect(problemOf({ properties: many(51) })).toEqual({
      code: EventErrorCode.INVALID_FIELD,
      message: "properties: must have at most 50 keys",
    });
  });

  it("allows 8 KiB of properties as JSON, not a byte more (counting UTF-8 bytes)", () => {
    // {"blob":"…"} is 11 bytes of JSON around the text.
    const fill = (bytes: number) => ({ blob: "x".repeat(bytes - 11) });
    expect(Buffer.byteLength(JSON.stringify(fill(8192)))).toBe(8192);
    expect(accepted({ properties: fill(8192) }).properties).toEqual(fill(8192));
    expect(problemOf({ properties: fill(8193) })).toEqual({
      code: EventErrorCode.INVALID_FIELD,
      message: "properties: must be at most 8192 bytes as JSON",
    });
    // 4,097 two-byte characters: under 8,192 characters, over 8,192 bytes.
    const wide = { blob: "é".repeat(4_097) };
    expect(JSON.stringify(wide).length).toBeLessThan(8192);
    expect(problemOf({ properties: wide }).code).toBe(EventErrorCode.INVALID_FIELD);
  });

  // Property names follow [A-Za-z_][A-Za-z0-9_]*, so the catalog accepts
  // names that are also members of Object.prototype. An event that simply
  // does not carry such an optional property must still be valid, and one
  // that lacks such a required property must be MISSING_PROPERTY.
  it.each(["constructor", "toString", "__proto__", "hasOwnProperty"])(
    "treats a declared property named %s like any other",
    (name) => {
      const s = snapshotWith([
        eventType("optional_odd", [{ name, type: "string", required: false }]),
        eventType("required_odd", [{ name, type: "number", required: true }]),
      ]);
      expect(accepted({ eventType: "optional_odd", properties: {} }, s).eventType).toBe(
        "optional_odd",
      );
      expect(problemOf({ eventType: "required_odd", properties: {} }, s)).toEqual({
        code: EventErrorCode.MISSING_PROPERTY,
        message: `properties.${name}: is required (number)`,
      });
    },
  );
});

// PostgreSQL's jsonb holds neither U+0000 nor a lone UTF-16 surrogate: an
// event carrying either anywhere in its properties is refused on its own.
describe("validateEvent: text jsonb cannot store", () => {
  const UNSTORABLE = "contains a NUL character or an unpaired surrogate, which cannot be stored";

  it.each<[string, JsonObject, string]>([
    ["NUL in a value", { note: "a\u0000b" }, "properties.note"],
    ["a lone high surrogate in a value", { note: "half \ud800 a pair" }, "properties.note"],
    ["a lone low surrogate in a value", { note: "\udc00" }, "properties.note"],
    ["NUL in a key", { ["key\u0000"]: 1 }, 'properties key "key\\u0000"'],
    ["a lone surrogate in a key", { ["k\udc00"]: 1 }, 'properties key "k\\udc00"'],
    ["NUL in a nested value", { meta: { tags: ["ok", "x\u0000"] } }, "properties.meta.tags[1]"],
    [
      "a lone surrogate in a nested key",
      { meta: { list: [{ ["a\ud800"]: true }] } },
      'properties.meta.list[0] key "a\\ud800"',
    ],
    ["NUL in an undeclared property", { value: 1, other: "\u0000" }, "properties.other"],
  ])("refuses %s with INVALID_FIELD naming where", (_name, properties, path) => {
    expect(problemOf({ properties })).toEqual({
      code: EventErrorCode.INVALID_FIELD,
      message: `${path}: ${UNSTORABLE}`,
    });
  });

  it("checks for it before the declared properties", () => {
    // amount has the wrong type too, but the text is reported first.
    expect(problemOf(purchase({ sku: "A-\u0000", amount: "3" }))).toEqual({
      code: EventErrorCode.INVALID_FIELD,
      message: `properties.sku: ${UNSTORABLE}`,
    });
  });

  it("quotes at most 64 characters of an offending key", () => {
    expect(problemOf({ properties: { [`${"k".repeat(100)}\u0000`]: 1 } })).toEqual({
      code: EventErrorCode.INVALID_FIELD,
      message: `properties key "${"k".repeat(64)}": ${UNSTORABLE}`,
    });
  });

  it("accepts surrogate pairs and escaped-looking text", () => {
    const properties = { note: "🎉 and \\u0000 and \\ud800", ["ключ-🎉"]: ["😀"] };
    expect(accepted({ properties }).properties).toEqual(properties);
  });
});

describe("validateEvent: the order of checks", () => {
  it("reports the first problem in field order", () => {
    const everythingWrong: Partial<IncomingEvent> = {
      eventId: "",
      eventType: "nope",
      decisionId: "forged",
      occurredAt: undefined,
      properties: { ms: "slow" },
    };
    expect(problemOf(everythingWrong).message).toMatch(/^event_id: /);
    expect(problemOf({ ...everythingWrong, eventId: "e" }).message).toMatch(/^event_type: /);
    expect(problemOf({ ...everythingWrong, eventId: "e", eventType: "latency" }).message).toMatch(
      /^decision_id: /,
    );
    expect(
      problemOf({ ...everythingWrong, eventId: "e", eventType: "latency", decisionId }).message,
    ).toMatch(/^occurred_at: /);
    expect(
      problemOf({
        ...everythingWrong,
        eventId: "e",
        eventType: "latency",
        decisionId,
        occurredAt: NOW,
      }).message,
    ).toMatch(/^properties\.ms: /);
  });
});

describe("validateEvent: an accepted event", () => {
  it("is normalised with what its decision id says", () => {
    expect(
      validate({ eventId: "ev-7", occurredAt: NOW - 3 * DAY, properties: { value: 9 } }),
    ).toEqual({
      eventId: "ev-7",
      eventType: "conversion",
      decisionId,
      flagKey: FLAG,
      experimentId: EXPERIMENT,
      variantKey: "blue",
      subjectId: "subject-42",
      occurredAt: NOW - 3 * DAY,
      properties: { value: 9 },
      exposure: false,
      requiresExposure: true,
    });
  });

  it("is an exposure only for type exposure, which needs no exposure itself", () => {
    expect(accepted({ eventType: "exposure", properties: {} })).toMatchObject({
      exposure: true,
      requiresExposure: false,
    });
    expect(accepted(purchase({}))).toMatchObject({ exposure: false, requiresExposure: false });
    expect(accepted({ eventType: "latency", properties: { ms: 4 } })).toMatchObject({
      exposure: false,
      requiresExposure: true,
    });
  });

  it("has empty properties when none were sent", () => {
    expect(accepted({ eventType: "exposure", properties: undefined }).properties).toEqual({});
  });

  it("has empty experiment and variant for a decision without an experiment", () => {
    const id = signer.sign({ flagKey: FLAG, subjectId: "s-9", configVersion: 0 });
    expect(accepted({ decisionId: id })).toMatchObject({
      flagKey: FLAG,
      experimentId: "",
      variantKey: "",
      subjectId: "s-9",
    });
  });
});

// Control characters the validator refuses in event ids.
// eslint-disable-next-line no-control-regex -- replacing them is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;

/** Valid properties for each non-archived type of the test catalog. */
const validProperties: Record<string, fc.Arbitrary<JsonObject>> = {
  exposure: fc.constant({}),
  conversion: fc.oneof(
    fc.constant({}),
    fc.record({ value: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
  ),
  latency: fc.record({ ms: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
  purchase: fc.record(
    {
      sku: fc.string({ maxLength: 100 }),
      amount: fc.integer(),
      gift: fc.boolean(),
      paid_at: fc
        .date({
          min: new Date("1970-01-01T00:00:00Z"),
          max: new Date("9999-12-31T23:59:59Z"),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString()),
    },
    { requiredKeys: ["sku", "amount"] },
  ),
};

describe("validateEvent: properties of the whole input space", () => {
  it("accepts every event built from a genuine decision id with valid fields", () => {
    fc.assert(
      fc.property(
        fc.record({
          flagKey: fc.constantFrom(FLAG, OTHER_FLAG),
          experimentId: fc.option(fc.constantFrom(EXPERIMENT, OLD_EXPERIMENT), {
            nil: undefined,
          }),
          variantKey: fc.string({ minLength: 1, maxLength: 20 }),
          subjectId: fc.string({ maxLength: 200, unit: "binary" }),
          configVersion: fc.nat(),
        }),
        // At most 100 code points: at most 200 UTF-16 units.
        fc
          .string({ minLength: 1, maxLength: 100, unit: "binary" })
          .map((s) => s.replace(CONTROL, "_")),
        fc
          .constantFrom("exposure", "conversion", "latency", "purchase")
          .chain((type) => fc.tuple(fc.constant(type), validProperties[type]!)),
        fc.integer({ min: NOW - EVENT_LIMITS.horizonMs, max: NOW + EVENT_LIMITS.futureSkewMs }),
        (c, eventId, [type, properties], occurredAt) => {
          const decision: DecisionClaims =
            c.experimentId === undefined
              ? { flagKey: c.flagKey, subjectId: c.subjectId, configVersion: c.configVersion }
              : { ...c, experimentId: c.experimentId };
          const id = signer.sign(decision);
          const result = validateEvent(
            { eventId, eventType: type, decisionId: id, occurredAt, properties },
            snapshot,
            signer,
            NOW,
          );
          expect(result).toEqual({
            eventId,
            eventType: type,
            decisionId: id,
            flagKey: c.flagKey,
            experimentId: c.experimentId ?? "",
            variantKey: c.experimentId === undefined ? "" : c.variantKey,
            subjectId: c.subjectId,
            occurredAt,
            properties,
            exposure: type === "exposure",
            requiresExposure: type === "conversion" || type === "latency",
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it("never throws, whatever strings arrive in every field", () => {
    const anyString = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ maxLength: 300, unit: "binary" }),
      fc.string({ maxLength: 2 }),
    );
    const anyDecisionId = fc.oneof(
      anyString,
      anyString.map((s) => `d1.${s}`),
      anyString.map((s) => `d1.${Buffer.from(s).toString("base64url")}.${"A".repeat(22)}`),
      fc.constant(decisionId),
      fc.string({ minLength: 2_000, maxLength: 2_100 }),
    );
    const anyProperties = fc.option(
      fc.dictionary(
        fc.oneof(anyString, fc.constantFrom("sku", "amount", "gift", "paid_at", "ms", "value")),
        fc.oneof(anyString, fc.jsonValue({ maxDepth: 3 }), fc.constant(null)),
        { maxKeys: 60 },
      ),
      { nil: undefined },
    );
    fc.assert(
      fc.property(
        anyString,
        fc.oneof(anyString, fc.constantFrom("exposure", "conversion", "latency", "purchase")),
        anyDecisionId,
        fc.option(fc.oneof(fc.double(), fc.integer({ min: NOW - 8 * DAY, max: NOW + DAY })), {
          nil: undefined,
        }),
        anyProperties,
        (eventId, eventType, id, occurredAt, properties) => {
          const event: IncomingEvent = {
            eventId,
            eventType,
            decisionId: id,
            occurredAt,
            properties: properties as JsonObject | undefined,
          };
          let result: AcceptedEvent | EventProblem | undefined;
          expect(() => {
            result = validateEvent(event, snapshot, signer, NOW);
          }).not.toThrow();
          if (isProblem(result!)) {
            expect(EventErrorCode[result.code]).toBeDefined();
            expect(result.code).not.toBe(EventErrorCode.UNSPECIFIED);
            // A key jsonb cannot store is named as `properties… key "…"`.
            expect(result.message).toMatch(
              /^(event_id|event_type|decision_id|occurred_at|properties)([.:]| key ")/,
            );
          } else {
            expect(result!.eventId).toBe(eventId);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
