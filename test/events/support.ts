/** Helpers for event tests: real decision ids, event builders, reading the store. */
import { randomBytes } from "node:crypto";
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { EventService, EventSchema, type Event } from "../../gen/lotty/events/v1/events_pb.js";
import { client } from "../support/clients.js";
import type { TestApp } from "../support/app.js";
import { waitFor } from "../support/app.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { makeUser, makeTypedFlag, untilInSnapshot } from "../support/builders.js";

/** A client of EventService with a ROLE_SERVICE key. */
export async function eventClient(t: TestApp) {
  const service = await makeUser(t, Role.SERVICE);
  return client(EventService, t.baseUrl, service.key);
}

/** The decision Lotty gives `subjectId` for `flagKey` (in-process decide). */
export function decisionFor(t: TestApp, flagKey: string, subjectId: string) {
  const { decisions } = t.app.decision.decide({ subjectId, flagKeys: [flagKey] });
  const d = decisions[0]!;
  return {
    decisionId: d.decisionId as string,
    variantKey: (d.variantKey as string | undefined) ?? "",
    experimentId: (d.experimentId as string | undefined) ?? "",
  };
}

export function eventId(prefix = "ev"): string {
  return `${prefix}-${randomBytes(8).toString("hex")}`;
}

export function event(
  eventType: string,
  decisionId: string,
  fields: { eventId?: string; occurredAt?: number; properties?: JsonObject } = {},
): Event {
  return create(EventSchema, {
    eventId: fields.eventId ?? eventId(eventType),
    eventType,
    decisionId,
    occurredAt: timestampFromMs(fields.occurredAt ?? Date.now()),
    properties: fields.properties ?? {},
  });
}

/** Runs one query against the test database. */
export async function query<T extends Record<string, unknown>>(
  t: TestApp,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const store = t.app.eventStore;
  if (store === undefined) throw new Error("the event store is not up");
  const { rows } = await store.pool.query<T>(sql, params);
  return rows;
}

/** How many events with these ids are stored. */
export async function storedCount(t: TestApp, ids: readonly string[]): Promise<number> {
  const rows = await query<{ n: string }>(
    t,
    `select count(*)::text as n from events where event_id = any($1::text[])`,
    [ids],
  );
  return Number(rows[0]!.n);
}

/** Waits until all of `ids` are stored. */
export async function untilStored(t: TestApp, ids: readonly string[], timeoutMs = 15_000) {
  await waitFor(
    async () => (await storedCount(t, ids)) === ids.length,
    timeoutMs,
    `${ids.length} events stored`,
  );
}

/** Counted events per variant and type for an experiment (from event_counts). */
export async function countsOf(t: TestApp, experimentId: string): Promise<Record<string, number>> {
  const rows = await query<{ variant_key: string; event_type: string; n: string }>(
    t,
    `select variant_key, event_type, sum(events)::text as n from event_counts
     where experiment_id = $1 group by variant_key, event_type`,
    [experimentId],
  );
  return Object.fromEntries(rows.map((r) => [`${r.variant_key}/${r.event_type}`, Number(r.n)]));
}

/** A decision of a flag without an experiment: its events are stored but enter no experiment counts. */
export async function plainDecision(t: TestApp, subjectId = "marker") {
  const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
  await untilInSnapshot(t, flagKey);
  return { flagKey, ...decisionFor(t, flagKey, subjectId) };
}

/**
 * Ingests one exposure of `decisionId` (use a decision without an
 * experiment, so no count changes) and waits until it is stored. The
 * consumer applies the stream in order, so everything published before it
 * has been applied too.
 */
export async function flush(
  t: TestApp,
  events: Awaited<ReturnType<typeof eventClient>>,
  decisionId: string,
): Promise<void> {
  const marker = event("exposure", decisionId, { eventId: eventId("marker") });
  const answer = await events.ingestEvents({ events: [marker] });
  if (answer.accepted !== 1) throw new Error(`the marker was not accepted: ${answer.rejected}`);
  await untilStored(t, [marker.eventId]);
}

/**
 * Counted events per variant, type and subject for an experiment (from
 * subject_event_counts). Exposures are not there: exposed subjects are in
 * `exposures` (see exposureRow).
 */
export async function subjectCountsOf(
  t: TestApp,
  experimentId: string,
): Promise<Record<string, number>> {
  const rows = await query<{
    variant_key: string;
    event_type: string;
    subject_id: string;
    n: string;
  }>(
    t,
    `select variant_key, event_type, subject_id, events::text as n from subject_event_counts
     where experiment_id = $1`,
    [experimentId],
  );
  return Object.fromEntries(
    rows.map((r) => [`${r.variant_key}/${r.event_type}/${r.subject_id}`, Number(r.n)]),
  );
}

/** ingest_stats summed over days, keyed `experimentId/result/reason` ('' experiment when unknown). */
export async function ingestStats(t: TestApp): Promise<Record<string, number>> {
  const rows = await query<{ experiment_id: string; result: string; reason: string; n: string }>(
    t,
    `select experiment_id, result, reason, sum(events)::text as n from ingest_stats
     where result <> 'stored' group by experiment_id, result, reason`,
  );
  return Object.fromEntries(
    rows.map((r) => [`${r.experiment_id}/${r.result}/${r.reason}`, Number(r.n)]),
  );
}

/** The stored row of an event, or undefined. */
export async function storedEvent(t: TestApp, id: string) {
  const rows = await query<{
    event_id: string;
    event_type: string;
    decision_id: string;
    flag_key: string;
    experiment_id: string | null;
    variant_key: string | null;
    subject_id: string;
    occurred_at: Date;
    properties: JsonObject;
    counted: boolean;
  }>(t, `select * from events where event_id = $1`, [id]);
  return rows[0];
}

/** The pending_attributions row of an event, or undefined. */
export async function pendingRow(t: TestApp, id: string) {
  const rows = await query<{
    event_id: string;
    decision_id: string;
    experiment_id: string;
    occurred_at: Date;
    expires_at: Date;
  }>(t, `select * from pending_attributions where event_id = $1`, [id]);
  return rows[0];
}

/** The exposures row of a decision id, or undefined. */
export async function exposureRow(t: TestApp, decisionId: string) {
  const rows = await query<{
    decision_id: string;
    event_id: string;
    flag_key: string;
    experiment_id: string | null;
    variant_key: string | null;
    subject_id: string;
    exposed_at: Date;
  }>(t, `select * from exposures where decision_id = $1`, [decisionId]);
  return rows[0];
}

/** Waits until the decide/ingest snapshot has event type `key` with this archived state. */
export async function untilEventTypeInSnapshot(
  t: TestApp,
  key: string,
  archived: boolean,
): Promise<void> {
  await waitFor(
    () => t.app.snapshots.current?.eventTypes.get(key)?.archived === archived,
    10_000,
    `event type ${key} (archived: ${archived}) in the snapshot`,
  );
}
