/**
 * IngestEvents through the real server, NATS and PostgreSQL: acceptance,
 * storage, duplicates and attribution (B4-1..B4-5).
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { CatalogService, PropertyType } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import {
  EventErrorCode,
  EventSchema,
  EventService,
  type Event,
} from "../../gen/lotty/events/v1/events_pb.js";
import { createDecisionSigner } from "../../src/decision/decision-id.js";
import { eventsSubject } from "../../src/events/message.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { errorOf } from "../experiments/support.js";
import { metricValue } from "../decision/support.js";
import {
  countsOf,
  decisionFor,
  event,
  eventClient,
  eventId,
  exposureRow,
  flush,
  ingestStats,
  pendingRow,
  plainDecision,
  query,
  storedCount,
  storedEvent,
  subjectCountsOf,
  untilEventTypeInSnapshot,
  untilStored,
} from "./support.js";
import { makeUser, runningExperiment } from "../support/builders.js";

const DAY_MS = 86_400_000;
const HORIZON_MS = 7 * DAY_MS;

/** `after` minus `before` for every key of either. */
/**
 * Expects ingest_stats to have changed by `expected` since `before`. The
 * stats of a call may be applied by the other store transaction in flight
 * after the marker the test flushed with, so this waits (10 s at most)
 * before comparing.
 */
async function expectStatsDelta(
  t: TestApp,
  before: Record<string, number>,
  expected: Record<string, number>,
): Promise<void> {
  const matches = async () =>
    JSON.stringify(Object.entries(delta(before, await ingestStats(t))).sort()) ===
    JSON.stringify(Object.entries(expected).sort());
  await waitFor(matches, 10_000, "ingest stats").catch(() => {});
  expect(delta(before, await ingestStats(t))).toEqual(expected);
}

function delta(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const d = (after[key] ?? 0) - (before[key] ?? 0);
    if (d !== 0) out[key] = d;
  }
  return out;
}

function uniqueSubject(prefix = "subject"): string {
  return `${prefix}-${randomBytes(6).toString("hex")}`;
}

describe("IngestEvents", () => {
  let t: TestApp;
  let events: Awaited<ReturnType<typeof eventClient>>;
  let experiment: { flagKey: string; experimentId: string };
  /** A decision without an experiment, for marker events. */
  let marker: { decisionId: string };

  beforeAll(async () => {
    t = await startTestApp();
    events = await eventClient(t);
    experiment = await runningExperiment(t);
    marker = await plainDecision(t);
  });
  // Counts and statistics are compared before and after each test: let
  // whatever an earlier (possibly failed) test published be applied first.
  beforeEach(async () => {
    await flush(t, events, marker.decisionId);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("stores an exposure and a conversion and counts them for the variant", async () => {
    const d = decisionFor(t, experiment.flagKey, "subject-1");
    const batch = [event("exposure", d.decisionId), event("conversion", d.decisionId)];
    const answer = await events.ingestEvents({ events: batch });
    expect(answer).toMatchObject({ accepted: 2, duplicates: 0, rejected: 0, errors: [] });
    await untilStored(
      t,
      batch.map((e) => e.eventId),
    );
    const counts = await countsOf(t, experiment.experimentId);
    expect(counts[`${d.variantKey}/exposure`]).toBe(1);
    expect(counts[`${d.variantKey}/conversion`]).toBe(1);
  });

  it("counts a conversion that arrived before its exposure once the exposure arrives", async () => {
    const d = decisionFor(t, experiment.flagKey, uniqueSubject("subject-2"));
    const key = `${d.variantKey}/conversion`;
    const initial = (await countsOf(t, experiment.experimentId))[key] ?? 0;
    const conversion = event("conversion", d.decisionId);
    expect(await events.ingestEvents({ events: [conversion] })).toMatchObject({ accepted: 1 });
    await untilStored(t, [conversion.eventId]);
    // Stored, but waiting for its exposure: not counted yet.
    expect((await storedEvent(t, conversion.eventId))?.counted).toBe(false);
    expect(await pendingRow(t, conversion.eventId)).toMatchObject({
      event_id: conversion.eventId,
      decision_id: d.decisionId,
    });
    const before = (await countsOf(t, experiment.experimentId))[key] ?? 0;
    expect(before).toBe(initial);
    const exposure = event("exposure", d.decisionId);
    expect(await events.ingestEvents({ events: [exposure] })).toMatchObject({ accepted: 1 });
    await untilStored(t, [exposure.eventId]);
    expect((await storedEvent(t, conversion.eventId))?.counted).toBe(true);
    expect(await pendingRow(t, conversion.eventId)).toBeUndefined();
    expect((await countsOf(t, experiment.experimentId))[key] ?? 0).toBe(before + 1);
  });

  it("stores a batch sent three times once and reports the repeats as duplicates", async () => {
    const d = decisionFor(t, experiment.flagKey, "subject-3");
    const batch = [event("exposure", d.decisionId), event("conversion", d.decisionId)];
    const answers = await Promise.all([1, 2, 3].map(() => events.ingestEvents({ events: batch })));
    expect(answers.reduce((n, a) => n + a.accepted + a.duplicates, 0)).toBe(6);
    const again = await events.ingestEvents({ events: batch });
    expect(again).toMatchObject({ accepted: 0, duplicates: 2 });
    await untilStored(
      t,
      batch.map((e) => e.eventId),
    );
    expect(
      await storedCount(
        t,
        batch.map((e) => e.eventId),
      ),
    ).toBe(2);
  });

  /** Every error of an answer as a plain object. */
  function errorsOf(answer: {
    errors: { index: number; eventId: string; code: EventErrorCode; message: string }[];
  }) {
    return answer.errors.map(({ index, eventId, code, message }) => ({
      index,
      eventId,
      code,
      message,
    }));
  }

  describe("a batch mixing valid and invalid events (B4-1, B4-2)", () => {
    /** A custom type with a string, a bool and a timestamp property. */
    let checkoutType: string;
    /** A type created and then archived. */
    let legacyType: string;

    beforeAll(async () => {
      const catalog = client(CatalogService, t.baseUrl, t.adminKey);
      checkoutType = `checkout_${randomBytes(3).toString("hex")}`;
      legacyType = `legacy_${randomBytes(3).toString("hex")}`;
      await catalog.createEventType({
        eventType: {
          key: checkoutType,
          name: "Checkout",
          properties: [
            { name: "sku", type: PropertyType.STRING, required: true },
            { name: "gift", type: PropertyType.BOOL, required: false },
            { name: "paid_at", type: PropertyType.TIMESTAMP, required: true },
          ],
          requiresExposure: false,
        },
      });
      await catalog.createEventType({
        eventType: { key: legacyType, name: "Legacy", properties: [], requiresExposure: false },
      });
      await untilEventTypeInSnapshot(t, legacyType, false);
      const { eventType } = await catalog.archiveEventType({ key: legacyType });
      expect(eventType?.archived).toBe(true);
      await untilEventTypeInSnapshot(t, legacyType, true);
      await untilEventTypeInSnapshot(t, checkoutType, false);
    });

    it("stores the valid neighbours and rejects each invalid event with its index, id, code and field", async () => {
      const d = decisionFor(t, experiment.flagKey, uniqueSubject());
      const other = decisionFor(t, experiment.flagKey, uniqueSubject());
      const now = Date.now();

      // Forgeries of d's id: the payload altered to the other variant, and
      // the same claims signed with a secret that is not this Lotty's.
      const [prefix, payload, tag] = d.decisionId.split(".") as [string, string, string];
      const fields = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as [
        string,
        string,
        string,
        string,
        number,
      ];
      expect(fields.slice(0, 4)).toEqual([
        experiment.flagKey,
        expect.any(String),
        experiment.experimentId,
        d.variantKey,
      ]);
      const swapped = [...fields];
      swapped[3] = d.variantKey === "blue" ? "control" : "blue";
      const altered = `${prefix}.${Buffer.from(JSON.stringify(swapped)).toString("base64url")}.${tag}`;
      const foreign = createDecisionSigner("not-this-lottys-secret").sign({
        flagKey: fields[0],
        subjectId: fields[1],
        experimentId: fields[2],
        variantKey: fields[3],
        configVersion: fields[4],
      });

      const { INVALID_PROPERTY, MISSING_PROPERTY, MISSING_FIELD, INVALID_FIELD } = EventErrorCode;
      const FORGED = {
        code: EventErrorCode.INVALID_DECISION_ID,
        message:
          "decision_id: is not a decision id issued by this Lotty (malformed, altered or signed with another secret)",
      };
      const paidAt = "2026-01-31T12:00:00Z";
      const cases: { event: Event; rejected?: { code: EventErrorCode; message: string } }[] = [
        { event: event("exposure", d.decisionId) },
        {
          event: event("latency", d.decisionId, { properties: { ms: "slow" } }),
          rejected: {
            code: INVALID_PROPERTY,
            message: "properties.ms: must be a finite number, got a string",
          },
        },
        { event: event("conversion", d.decisionId, { properties: { value: 3 } }) },
        {
          event: event("latency", d.decisionId),
          rejected: { code: MISSING_PROPERTY, message: "properties.ms: is required (number)" },
        },
        {
          event: event("latency", d.decisionId, { properties: { ms: null } }),
          rejected: { code: MISSING_PROPERTY, message: "properties.ms: is required (number)" },
        },
        {
          event: event("signup", d.decisionId),
          rejected: {
            code: EventErrorCode.UNKNOWN_EVENT_TYPE,
            message: 'event_type: "signup" is not in the event catalog',
          },
        },
        {
          event: event(legacyType, d.decisionId),
          rejected: {
            code: EventErrorCode.ARCHIVED_EVENT_TYPE,
            message: `event_type: "${legacyType}" is archived`,
          },
        },
        { event: event("latency", d.decisionId, { properties: { ms: 120 } }) },
        { event: event("conversion", altered), rejected: FORGED },
        { event: event("conversion", foreign), rejected: FORGED },
        { event: event("conversion", "not-a-decision-id"), rejected: FORGED },
        {
          event: event("conversion", ""),
          rejected: { code: MISSING_FIELD, message: "decision_id: is required" },
        },
        {
          event: event("conversion", d.decisionId, { occurredAt: now + 10 * 60_000 }),
          rejected: {
            code: EventErrorCode.TIMESTAMP_OUT_OF_RANGE,
            message: "occurred_at: is more than 5 minutes in the future",
          },
        },
        {
          event: event("conversion", d.decisionId, { occurredAt: now - HORIZON_MS - 60_000 }),
          rejected: {
            code: EventErrorCode.TIMESTAMP_OUT_OF_RANGE,
            message: "occurred_at: is older than the 7-day attribution horizon",
          },
        },
        {
          event: create(EventSchema, {
            eventId: eventId("no-time"),
            eventType: "conversion",
            decisionId: d.decisionId,
          }),
          rejected: { code: MISSING_FIELD, message: "occurred_at: is required" },
        },
        {
          event: event(checkoutType, d.decisionId, {
            properties: { sku: "A-1", gift: true, paid_at: paidAt, note: "kept as sent" },
          }),
        },
        {
          event: event(checkoutType, d.decisionId, { properties: { sku: 17, paid_at: paidAt } }),
          rejected: {
            code: INVALID_PROPERTY,
            message: "properties.sku: must be a string, got a number",
          },
        },
        {
          event: event(checkoutType, d.decisionId, {
            properties: { sku: "A-1", gift: "yes", paid_at: paidAt },
          }),
          rejected: {
            code: INVALID_PROPERTY,
            message: "properties.gift: must be a boolean, got a string",
          },
        },
        {
          event: event(checkoutType, d.decisionId, {
            properties: { sku: "A-1", paid_at: Date.parse(paidAt) },
          }),
          rejected: {
            code: INVALID_PROPERTY,
            message: "properties.paid_at: must be an RFC 3339 timestamp string, got a number",
          },
        },
        {
          event: event(checkoutType, d.decisionId, { properties: { sku: "A-1" } }),
          rejected: {
            code: MISSING_PROPERTY,
            message: "properties.paid_at: is required (timestamp)",
          },
        },
        {
          event: event("conversion", d.decisionId, { eventId: "" }),
          rejected: { code: MISSING_FIELD, message: "event_id: is required" },
        },
        {
          event: event("conversion", d.decisionId, { eventId: `long-${"e".repeat(196)}` }),
          rejected: { code: INVALID_FIELD, message: "event_id: must be at most 200 characters" },
        },
        {
          event: event("conversion", d.decisionId, { eventId: "tab\u0001bed" }),
          rejected: {
            code: INVALID_FIELD,
            message: "event_id: must not contain control characters or unpaired surrogates",
          },
        },
        {
          event: event("conversion", d.decisionId, { properties: { blob: "x".repeat(9_000) } }),
          rejected: {
            code: INVALID_FIELD,
            message: "properties: must be at most 8192 bytes as JSON",
          },
        },
        { event: event("exposure", other.decisionId) },
      ];
      const batch = cases.map((c) => c.event);
      const valid = cases.filter((c) => c.rejected === undefined).map((c) => c.event);
      const rejected = cases.filter((c) => c.rejected !== undefined).map((c) => c.event);
      const expectedErrors = cases.flatMap((c, index) =>
        c.rejected === undefined ? [] : [{ index, eventId: c.event.eventId, ...c.rejected }],
      );

      const countsBefore = await countsOf(t, experiment.experimentId);
      const statsBefore = await ingestStats(t);
      const answer = await events.ingestEvents({ events: batch });
      expect(answer.accepted).toBe(valid.length);
      expect(answer.duplicates).toBe(0);
      expect(answer.rejected).toBe(rejected.length);
      expect(errorsOf(answer)).toEqual(expectedErrors);

      await untilStored(
        t,
        valid.map((e) => e.eventId),
      );
      await flush(t, events, marker.decisionId);
      expect(
        await storedCount(
          t,
          rejected.map((e) => e.eventId),
        ),
      ).toBe(0);

      // What is stored is what was sent, attributed through the decision id.
      const checkout = valid.find((e) => e.eventType === checkoutType)!;
      expect(await storedEvent(t, checkout.eventId)).toMatchObject({
        event_type: checkoutType,
        decision_id: d.decisionId,
        flag_key: experiment.flagKey,
        experiment_id: experiment.experimentId,
        variant_key: d.variantKey,
        subject_id: fields[1],
        properties: checkout.properties,
        counted: true,
      });

      // Each valid event counts once for its variant (d's exposure is in the batch).
      const variantOf = new Map([
        [d.decisionId, d.variantKey],
        [other.decisionId, other.variantKey],
      ]);
      const expectedCounts: Record<string, number> = {};
      for (const e of valid) {
        const key = `${variantOf.get(e.decisionId)}/${e.eventType}`;
        expectedCounts[key] = (expectedCounts[key] ?? 0) + 1;
      }
      expect(delta(countsBefore, await countsOf(t, experiment.experimentId))).toEqual(
        expectedCounts,
      );

      // Rejections are recorded per reason, against the experiment of a
      // genuine decision id (data health), otherwise without one.
      const experimentOf = new Map([
        [d.decisionId, experiment.experimentId],
        [other.decisionId, experiment.experimentId],
      ]);
      const expectedStats: Record<string, number> = {};
      for (const e of expectedErrors) {
        const sent = batch[e.index]!;
        const key = `${experimentOf.get(sent.decisionId) ?? ""}/rejected/${EventErrorCode[e.code]!.toLowerCase()}`;
        expectedStats[key] = (expectedStats[key] ?? 0) + 1;
      }
      await expectStatsDelta(t, statsBefore, expectedStats);
    });

    // Property names follow [A-Za-z_][A-Za-z0-9_]*, so the catalog takes
    // names that are also members of every JavaScript object.
    it("accepts an event without an optional property named like an Object member", async () => {
      const catalog = client(CatalogService, t.baseUrl, t.adminKey);
      const key = `odd_${randomBytes(3).toString("hex")}`;
      await catalog.createEventType({
        eventType: {
          key,
          name: "Odd property names",
          properties: [
            { name: "constructor", type: PropertyType.STRING, required: false },
            { name: "toString", type: PropertyType.NUMBER, required: false },
          ],
          requiresExposure: false,
        },
      });
      await untilEventTypeInSnapshot(t, key, false);
      const d = decisionFor(t, experiment.flagKey, uniqueSubject());
      const withThem = event(key, d.decisionId, {
        properties: { constructor: "set", toString: 1 },
      });
      const without = event(key, d.decisionId, { properties: { other: true } });
      const answer = await events.ingestEvents({ events: [withThem, without] });
      expect(errorsOf(answer)).toEqual([]);
      expect(answer.accepted).toBe(2);
      await untilStored(t, [withThem.eventId, without.eventId]);
    });

    // PostgreSQL's jsonb holds neither U+0000 nor a lone UTF-16 surrogate
    // (both reach the server in Connect JSON as \u escapes). Such events are
    // refused one by one; what IngestEvents answers as accepted is stored:
    // the valid neighbours included.
    it("stores every accepted event of a batch in which some properties hold text jsonb cannot", async () => {
      const d = decisionFor(t, experiment.flagKey, uniqueSubject());
      const deadLettersBefore = await metricValue(t, "lotty_events_dead_letters_total");
      const batch = [
        event("exposure", d.decisionId),
        event("error", d.decisionId, { properties: { code: "E\u000042" } }),
        event("conversion", d.decisionId, { properties: { ["key\u0000"]: 1 } }),
        event("conversion", d.decisionId, { properties: { note: "half \ud800 a pair" } }),
        event("conversion", d.decisionId, { properties: { value: 1 } }),
        event("conversion", d.decisionId, { properties: { meta: { tags: ["ok", "\udc00"] } } }),
      ];
      const unstorable = (index: number, path: string) => ({
        index,
        eventId: batch[index]!.eventId,
        code: EventErrorCode.INVALID_FIELD,
        message: `${path}: contains a NUL character or an unpaired surrogate, which cannot be stored`,
      });
      const answer = await events.ingestEvents({ events: batch });
      expect(errorsOf(answer)).toEqual([
        unstorable(1, "properties.code"),
        unstorable(2, 'properties key "key\\u0000"'),
        unstorable(3, "properties.note"),
        unstorable(5, "properties.meta.tags[1]"),
      ]);
      expect(answer).toMatchObject({ accepted: 2, duplicates: 0, rejected: 4 });
      const acceptedIds = [batch[0]!.eventId, batch[4]!.eventId];
      await untilStored(t, acceptedIds, 30_000);
      expect((await storedEvent(t, batch[4]!.eventId))?.properties).toEqual({ value: 1 });
      await flush(t, events, marker.decisionId);
      expect(
        await storedCount(
          t,
          batch.map((e) => e.eventId),
        ),
      ).toBe(acceptedIds.length);
      expect(await metricValue(t, "lotty_events_dead_letters_total")).toBe(deadLettersBefore);
    }, 45_000);

    it("records the rejections of a batch in which nothing is valid", async () => {
      const d = decisionFor(t, experiment.flagKey, uniqueSubject());
      const batch = [
        event("signup", d.decisionId),
        event(legacyType, d.decisionId),
        event("latency", d.decisionId, { properties: { ms: true } }),
      ];
      const statsBefore = await ingestStats(t);
      const answer = await events.ingestEvents({ events: batch });
      expect(answer).toMatchObject({ accepted: 0, duplicates: 0, rejected: 3 });
      expect(errorsOf(answer).map((e) => [e.index, e.eventId, e.code])).toEqual([
        [0, batch[0]!.eventId, EventErrorCode.UNKNOWN_EVENT_TYPE],
        [1, batch[1]!.eventId, EventErrorCode.ARCHIVED_EVENT_TYPE],
        [2, batch[2]!.eventId, EventErrorCode.INVALID_PROPERTY],
      ]);
      await flush(t, events, marker.decisionId);
      expect(
        await storedCount(
          t,
          batch.map((e) => e.eventId),
        ),
      ).toBe(0);
      await expectStatsDelta(t, statsBefore, {
        [`${experiment.experimentId}/rejected/unknown_event_type`]: 1,
        [`${experiment.experimentId}/rejected/archived_event_type`]: 1,
        [`${experiment.experimentId}/rejected/invalid_property`]: 1,
      });
    });
  });

  describe("batch size", () => {
    it("refuses more than 1,000 events as a whole with INVALID_ARGUMENT and stores none", async () => {
      const batch = Array.from({ length: 1_001 }, () => event("exposure", marker.decisionId));
      const error = await errorOf(events.ingestEvents({ events: batch }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(/^events: at most 1000 events per call, got 1001/);
      await flush(t, events, marker.decisionId);
      expect(
        await storedCount(
          t,
          batch.map((e) => e.eventId),
        ),
      ).toBe(0);
    });

    it("accepts exactly 1,000 events", async () => {
      const batch = Array.from({ length: 1_000 }, () => event("exposure", marker.decisionId));
      expect(await events.ingestEvents({ events: batch })).toMatchObject({
        accepted: 1_000,
        duplicates: 0,
        rejected: 0,
      });
      await untilStored(
        t,
        batch.map((e) => e.eventId),
      );
    });

    it("answers an empty batch with zeros", async () => {
      const answer = await events.ingestEvents({ events: [] });
      expect(answer).toMatchObject({ accepted: 0, duplicates: 0, rejected: 0, errors: [] });
    });
  });

  describe("duplicates (B4-3)", () => {
    it("stores a batch sent 3 times at once and 3 times after once, with counts unchanged by the repeats", async () => {
      const subject = uniqueSubject();
      const d = decisionFor(t, experiment.flagKey, subject);
      const batch = [
        event("exposure", d.decisionId),
        event("conversion", d.decisionId, { properties: { value: 1 } }),
        event("latency", d.decisionId, { properties: { ms: 5 } }),
      ];
      const ids = batch.map((e) => e.eventId);
      const countsBefore = await countsOf(t, experiment.experimentId);
      const subjectsBefore = await subjectCountsOf(t, experiment.experimentId);

      const concurrent = await Promise.all(
        [1, 2, 3].map(() => events.ingestEvents({ events: batch })),
      );
      for (const a of concurrent) {
        expect(a.rejected).toBe(0);
        expect(a.accepted + a.duplicates).toBe(batch.length);
      }
      // The three calls publish the same message id: JetStream keeps one.
      expect(concurrent.reduce((n, a) => n + a.accepted, 0)).toBe(batch.length);
      await untilStored(t, ids);
      const countsOnce = await countsOf(t, experiment.experimentId);
      const subjectsOnce = await subjectCountsOf(t, experiment.experimentId);
      const v = d.variantKey;
      expect(delta(countsBefore, countsOnce)).toEqual({
        [`${v}/exposure`]: 1,
        [`${v}/conversion`]: 1,
        [`${v}/latency`]: 1,
      });
      // Exposed subjects are in exposures (one row per decision), not here.
      expect(delta(subjectsBefore, subjectsOnce)).toEqual({
        [`${v}/conversion/${subject}`]: 1,
        [`${v}/latency/${subject}`]: 1,
      });
      expect(await exposureRow(t, d.decisionId)).toMatchObject({
        event_id: batch[0]!.eventId,
        experiment_id: experiment.experimentId,
        variant_key: v,
        subject_id: subject,
      });

      // A concurrent call that found the ids already accepted published its
      // duplicate count in a message of its own: let it be applied first.
      await flush(t, events, marker.decisionId);
      const statsBefore = await ingestStats(t);
      const sequential = [];
      for (let i = 0; i < 3; i++) sequential.push(await events.ingestEvents({ events: batch }));
      for (const a of sequential) {
        expect(a).toMatchObject({ accepted: 0, duplicates: batch.length, rejected: 0 });
      }
      await flush(t, events, marker.decisionId);
      expect(await storedCount(t, ids)).toBe(batch.length);
      expect(await countsOf(t, experiment.experimentId)).toEqual(countsOnce);
      expect(await subjectCountsOf(t, experiment.experimentId)).toEqual(subjectsOnce);
      expect(
        await query(t, `select event_id from exposures where decision_id = $1`, [d.decisionId]),
      ).toEqual([{ event_id: batch[0]!.eventId }]);
      await expectStatsDelta(t, statsBefore, {
        [`${experiment.experimentId}/duplicate/event_id`]: sequential.reduce(
          (n, a) => n + a.duplicates,
          0,
        ),
      });
    });

    it("keeps the first of two events with the same id in one batch, even if they differ", async () => {
      const d = decisionFor(t, experiment.flagKey, uniqueSubject());
      const first = event("exposure", d.decisionId);
      const same = event("latency", d.decisionId, {
        eventId: first.eventId,
        properties: { ms: 1 },
      });
      const second = event("conversion", d.decisionId);
      const countsBefore = await countsOf(t, experiment.experimentId);
      const answer = await events.ingestEvents({ events: [first, same, second] });
      expect(answer).toMatchObject({ accepted: 2, duplicates: 1, rejected: 0 });
      await untilStored(t, [first.eventId, second.eventId]);
      expect((await storedEvent(t, first.eventId))?.event_type).toBe("exposure");
      expect(delta(countsBefore, await countsOf(t, experiment.experimentId))).toEqual({
        [`${d.variantKey}/exposure`]: 1,
        [`${d.variantKey}/conversion`]: 1,
      });
    });

    it("stores a batch once when it comes again after the JetStream duplicate window", async () => {
      const bus = t.app.bus!;
      const stream = `${t.app.names.streamPrefix}_EVENTS`;
      const original = (await bus.jsm.streams.info(stream)).config.duplicate_window;
      await bus.jsm.streams.update(stream, { duplicate_window: 1_000_000_000 });
      try {
        expect((await bus.jsm.streams.info(stream)).config.duplicate_window).toBe(1_000_000_000);
        const subject = uniqueSubject();
        const d = decisionFor(t, experiment.flagKey, subject);
        const batch = [
          event("exposure", d.decisionId),
          event("conversion", d.decisionId, { properties: { value: 2 } }),
        ];
        const ids = batch.map((e) => e.eventId);
        const countsBefore = await countsOf(t, experiment.experimentId);
        expect(await events.ingestEvents({ events: batch })).toMatchObject({
          accepted: 2,
          duplicates: 0,
        });
        await untilStored(t, ids);
        const countsOnce = await countsOf(t, experiment.experimentId);
        expect(delta(countsBefore, countsOnce)).toEqual({
          [`${d.variantKey}/exposure`]: 1,
          [`${d.variantKey}/conversion`]: 1,
        });
        // The message IngestEvents published for the batch.
        const published = await bus.jsm.streams.getMessage(stream, {
          last_by_subj: eventsSubject(t.app.names.subjectPrefix),
        });
        const body = JSON.parse(Buffer.from(published!.data).toString("utf8")) as {
          events: { eventId: string }[];
        };
        expect(body.events.map((e) => e.eventId)).toEqual(ids);
        const msgID = published!.header.get("Nats-Msg-Id");
        expect(msgID).not.toBe("");

        // Let the window pass.
        await new Promise((resolve) => setTimeout(resolve, 1_500));

        // A client retry: IngestEvents itself sees the ids again.
        expect(await events.ingestEvents({ events: batch })).toMatchObject({
          accepted: 0,
          duplicates: 2,
        });
        // A retry IngestEvents could not see (e.g. in flight through another
        // API process): the very same message reaches the stream again, and
        // JetStream no longer recognises it.
        const ack = await bus.js.publish(
          eventsSubject(t.app.names.subjectPrefix),
          published!.data,
          { msgID },
        );
        expect(ack.duplicate).toBe(false);
        await flush(t, events, marker.decisionId);

        expect(await storedCount(t, ids)).toBe(2);
        expect(await countsOf(t, experiment.experimentId)).toEqual(countsOnce);
      } finally {
        await bus.jsm.streams.update(stream, { duplicate_window: original });
      }
    });
  });

  describe("attribution (B4-4, B4-5)", () => {
    it("records an exposure with the experiment, variant and subject of its decision", async () => {
      const subject = uniqueSubject();
      const d = decisionFor(t, experiment.flagKey, subject);
      expect(d.experimentId).toBe(experiment.experimentId);
      expect(["control", "blue"]).toContain(d.variantKey);
      const occurredAt = Date.now() - 90_000;
      const exposure = event("exposure", d.decisionId, { occurredAt });
      await events.ingestEvents({ events: [exposure] });
      await untilStored(t, [exposure.eventId]);
      const row = await exposureRow(t, d.decisionId);
      expect(row).toMatchObject({
        decision_id: d.decisionId,
        event_id: exposure.eventId,
        flag_key: experiment.flagKey,
        experiment_id: experiment.experimentId,
        variant_key: d.variantKey,
        subject_id: subject,
      });
      expect(row!.exposed_at.getTime()).toBe(occurredAt);
      expect(timestampDate(exposure.occurredAt!).getTime()).toBe(occurredAt);
      expect(await storedEvent(t, exposure.eventId)).toMatchObject({
        experiment_id: experiment.experimentId,
        variant_key: d.variantKey,
        subject_id: subject,
        counted: true,
      });
    });

    it("keeps a conversion without exposure pending, counts it once when the exposure arrives, and not again for a second exposure", async () => {
      const subject = uniqueSubject();
      const d = decisionFor(t, experiment.flagKey, subject);
      const v = d.variantKey;
      const countsBefore = await countsOf(t, experiment.experimentId);
      const subjectsBefore = await subjectCountsOf(t, experiment.experimentId);

      const occurredAt = Date.now() - 60_000;
      const conversion = event("conversion", d.decisionId, { occurredAt });
      expect(await events.ingestEvents({ events: [conversion] })).toMatchObject({ accepted: 1 });
      await untilStored(t, [conversion.eventId]);
      expect((await storedEvent(t, conversion.eventId))?.counted).toBe(false);
      const pending = await pendingRow(t, conversion.eventId);
      expect(pending).toMatchObject({
        decision_id: d.decisionId,
        experiment_id: experiment.experimentId,
      });
      expect(pending!.occurred_at.getTime()).toBe(occurredAt);
      expect(pending!.expires_at.getTime()).toBe(occurredAt + HORIZON_MS);
      expect(await exposureRow(t, d.decisionId)).toBeUndefined();
      expect(await countsOf(t, experiment.experimentId)).toEqual(countsBefore);
      expect(await subjectCountsOf(t, experiment.experimentId)).toEqual(subjectsBefore);

      const exposure = event("exposure", d.decisionId);
      await events.ingestEvents({ events: [exposure] });
      await untilStored(t, [exposure.eventId]);
      expect((await storedEvent(t, conversion.eventId))?.counted).toBe(true);
      expect(await pendingRow(t, conversion.eventId)).toBeUndefined();
      const countsAfter = await countsOf(t, experiment.experimentId);
      expect(delta(countsBefore, countsAfter)).toEqual({
        [`${v}/exposure`]: 1,
        [`${v}/conversion`]: 1,
      });
      // The exposure counts per minute; the exposed subject is in exposures.
      expect(delta(subjectsBefore, await subjectCountsOf(t, experiment.experimentId))).toEqual({
        [`${v}/conversion/${subject}`]: 1,
      });
      expect(await exposureRow(t, d.decisionId)).toMatchObject({
        event_id: exposure.eventId,
        experiment_id: experiment.experimentId,
        variant_key: v,
        subject_id: subject,
      });

      // A second exposure of the same decision is an exposure event like
      // any other, but it releases nothing more.
      const again = event("exposure", d.decisionId);
      await events.ingestEvents({ events: [again] });
      await untilStored(t, [again.eventId]);
      expect((await exposureRow(t, d.decisionId))?.event_id).toBe(exposure.eventId);
      expect(delta(countsAfter, await countsOf(t, experiment.experimentId))).toEqual({
        [`${v}/exposure`]: 1,
      });
      expect(delta(subjectsBefore, await subjectCountsOf(t, experiment.experimentId))).toEqual({
        [`${v}/conversion/${subject}`]: 1,
      });
    });

    it("counts a conversion sent after its exposure at once", async () => {
      const d = decisionFor(t, experiment.flagKey, uniqueSubject());
      const exposure = event("exposure", d.decisionId);
      await events.ingestEvents({ events: [exposure] });
      await untilStored(t, [exposure.eventId]);
      const countsBefore = await countsOf(t, experiment.experimentId);
      const conversion = event("conversion", d.decisionId);
      await events.ingestEvents({ events: [conversion] });
      await untilStored(t, [conversion.eventId]);
      expect((await storedEvent(t, conversion.eventId))?.counted).toBe(true);
      expect(await pendingRow(t, conversion.eventId)).toBeUndefined();
      expect(delta(countsBefore, await countsOf(t, experiment.experimentId))).toEqual({
        [`${d.variantKey}/conversion`]: 1,
      });
    });

    /** Ingests a conversion 8 s inside the horizon and waits until its pending row has expired. */
    async function expiredConversion(e: { flagKey: string }, subject: string) {
      const d = decisionFor(t, e.flagKey, subject);
      const conversion = event("conversion", d.decisionId, {
        occurredAt: Date.now() - HORIZON_MS + 8_000,
      });
      expect(await events.ingestEvents({ events: [conversion] })).toMatchObject({
        accepted: 1,
        errors: [],
      });
      await untilStored(t, [conversion.eventId]);
      expect((await storedEvent(t, conversion.eventId))?.counted).toBe(false);
      expect(await pendingRow(t, conversion.eventId)).toBeDefined();
      await waitFor(
        async () =>
          (
            await query<{ due: boolean }>(
              t,
              `select expires_at <= now() as due from pending_attributions where event_id = $1`,
              [conversion.eventId],
            )
          )[0]?.due === true,
        15_000,
        "the pending conversion to pass its horizon",
      );
      return { d, conversion };
    }

    it("does not count a conversion past its horizon, even before housekeeping dropped it", async () => {
      const own = await runningExperiment(t);
      const { d, conversion } = await expiredConversion(own, uniqueSubject());
      const countsBefore = await countsOf(t, own.experimentId);
      const exposure = event("exposure", d.decisionId);
      await events.ingestEvents({ events: [exposure] });
      await untilStored(t, [exposure.eventId]);
      expect((await storedEvent(t, conversion.eventId))?.counted).toBe(false);
      expect(delta(countsBefore, await countsOf(t, own.experimentId))).toEqual({
        [`${d.variantKey}/exposure`]: 1,
      });
      // Leave nothing expired behind for the next test's housekeeping.
      await t.app.eventConsumer!.houseKeep();
      expect(await pendingRow(t, conversion.eventId)).toBeUndefined();
    });

    it("drops a pending conversion at the horizon, records it, and never counts it", async () => {
      const own = await runningExperiment(t);
      const statsBefore = await ingestStats(t);
      const droppedBefore = await metricValue(t, "lotty_attribution_dropped_total");
      const { d, conversion } = await expiredConversion(own, uniqueSubject());

      await t.app.eventConsumer!.houseKeep();
      expect(await pendingRow(t, conversion.eventId)).toBeUndefined();
      await expectStatsDelta(t, statsBefore, {
        [`${own.experimentId}/dropped/attribution_horizon`]: 1,
      });
      expect((await metricValue(t, "lotty_attribution_dropped_total")) - droppedBefore).toBe(1);

      const countsBefore = await countsOf(t, own.experimentId);
      const exposure = event("exposure", d.decisionId);
      await events.ingestEvents({ events: [exposure] });
      await untilStored(t, [exposure.eventId]);
      // The event itself stays stored, uncounted.
      expect(await storedEvent(t, conversion.eventId)).toMatchObject({ counted: false });
      expect(delta(countsBefore, await countsOf(t, own.experimentId))).toEqual({
        [`${d.variantKey}/exposure`]: 1,
      });
    });
  });

  describe("roles", () => {
    it("lets ROLE_SERVICE and admins ingest, and refuses viewers, approvers and anonymous callers", async () => {
      const service = await makeUser(t, Role.SERVICE);
      const e1 = event("exposure", marker.decisionId);
      expect(
        await client(EventService, t.baseUrl, service.key).ingestEvents({ events: [e1] }),
      ).toMatchObject({ accepted: 1 });
      const e2 = event("exposure", marker.decisionId);
      expect(
        await client(EventService, t.baseUrl, t.adminKey).ingestEvents({ events: [e2] }),
      ).toMatchObject({ accepted: 1 });

      const refused: Event[] = [];
      for (const role of [Role.VIEWER, Role.APPROVER]) {
        const user = await makeUser(t, role);
        const e = event("exposure", marker.decisionId);
        refused.push(e);
        const error = await errorOf(
          client(EventService, t.baseUrl, user.key).ingestEvents({ events: [e] }),
        );
        expect(error.code).toBe(Code.PermissionDenied);
      }
      const anonymous = event("exposure", marker.decisionId);
      refused.push(anonymous);
      expect(
        (await errorOf(client(EventService, t.baseUrl).ingestEvents({ events: [anonymous] }))).code,
      ).toBe(Code.Unauthenticated);

      await untilStored(t, [e1.eventId, e2.eventId]);
      await flush(t, events, marker.decisionId);
      expect(
        await storedCount(
          t,
          refused.map((e) => e.eventId),
        ),
      ).toBe(0);
    });
  });

  describe("metrics", () => {
    it("counts accepted, duplicate and rejected events in lotty_events_total", async () => {
      const accepted = 'lotty_events_total{result="accepted",reason=""}';
      const duplicate = 'lotty_events_total{result="duplicate",reason=""}';
      const unknown = 'lotty_events_total{result="rejected",reason="unknown_event_type"}';
      const missing = 'lotty_events_total{result="rejected",reason="missing_field"}';
      const before = await Promise.all(
        [accepted, duplicate, unknown, missing].map((s) => metricValue(t, s)),
      );
      const a = event("exposure", marker.decisionId);
      const batch = [
        a,
        event("exposure", marker.decisionId),
        event("exposure", marker.decisionId, { eventId: a.eventId }),
        event("signup", marker.decisionId),
        event("exposure", ""),
        event("exposure", marker.decisionId, { eventId: "" }),
      ];
      expect(await events.ingestEvents({ events: batch })).toMatchObject({
        accepted: 2,
        duplicates: 1,
        rejected: 3,
      });
      const after = await Promise.all(
        [accepted, duplicate, unknown, missing].map((s) => metricValue(t, s)),
      );
      expect(after.map((v, i) => v - before[i]!)).toEqual([2, 1, 1, 2]);

      const storedBefore = await metricValue(t, "lotty_events_stored_total");
      const more = [event("exposure", marker.decisionId), event("exposure", marker.decisionId)];
      await events.ingestEvents({ events: more });
      await untilStored(
        t,
        more.map((e) => e.eventId),
      );
      await waitFor(
        async () => (await metricValue(t, "lotty_events_stored_total")) - storedBefore >= 2,
        10_000,
        "lotty_events_stored_total to count the stored events",
      );
    });
  });
});

describe("IngestEvents rate limit", () => {
  let r: TestApp;
  let decisionId: string;

  beforeAll(async () => {
    r = await startTestApp({ env: { LOTTY_INGEST_RATE_LIMIT: "10" } });
    ({ decisionId } = await plainDecision(r));
  });
  afterAll(async () => {
    await r?.stop();
  });

  it("refuses a call beyond the burst with RESOURCE_EXHAUSTED, says when to retry, and stores none of it", async () => {
    const rate = r.config.ingestRateLimit;
    expect(rate).toBe(10);
    const burst = 2 * rate;
    const events = await eventClient(r);

    const allowed = Array.from({ length: burst }, () => event("exposure", decisionId));
    expect(await events.ingestEvents({ events: allowed })).toMatchObject({ accepted: burst });

    const refused = Array.from({ length: 5 }, () => event("exposure", decisionId));
    const error = await errorOf(events.ingestEvents({ events: refused }));
    expect(error.code).toBe(Code.ResourceExhausted);
    const retry = /retry after (\d+) ms/.exec(error.rawMessage);
    expect(retry).not.toBeNull();
    const retryMs = Number(retry![1]);
    expect(retryMs).toBeGreaterThan(0);
    // At most the time the whole call needs at this rate.
    expect(retryMs).toBeLessThanOrEqual(Math.ceil((refused.length / rate) * 1000));
    expect(error.metadata.get("retry-after")).toBe(String(Math.ceil(retryMs / 1000)));

    // Another key has a bucket of its own.
    const other = await eventClient(r);
    const marker = event("exposure", decisionId);
    expect(await other.ingestEvents({ events: [marker] })).toMatchObject({ accepted: 1 });
    await untilStored(r, [...allowed.map((e) => e.eventId), marker.eventId]);
    expect(
      await storedCount(
        r,
        refused.map((e) => e.eventId),
      ),
    ).toBe(0);

    // Once the advertised time has passed, the same call goes through.
    await new Promise((resolve) => setTimeout(resolve, retryMs + 100));
    expect(await events.ingestEvents({ events: refused })).toMatchObject({
      accepted: refused.length,
    });
    await untilStored(
      r,
      refused.map((e) => e.eventId),
    );
  });
});
