/**
 * The transaction that stores a batch of event messages (EventStore.apply):
 * message and event ids (duplicates), exposures, the events themselves,
 * attribution of events that wait for their exposure (pending_attributions)
 * and the data-health counts (ingest_stats); the rollups are updated in the
 * same transaction (rollups.ts).
 */
import type pg from "pg";
import { mergeStats, type EventMessage, type IngestStat } from "./message.js";
import { EVENT_LIMITS, type AcceptedEvent } from "./validation.js";
import { addCounted, type CountedEvent } from "../analytics/index.js";
import { pgArray, pgTimes } from "../platform/pg-array.js";
import { compare, insertReturning, startOfDay } from "../platform/rows.js";

export interface ApplyResult {
  /** Events stored for the first time. */
  stored: number;
  /** Events that were already stored (dropped as duplicates). */
  duplicates: number;
  /** Events counted by this transaction (new ones and newly attributed ones). */
  counted: number;
  /** Events left waiting for their exposure. */
  pending: number;
  /** Decision ids exposed for the first time. */
  exposures: number;
}

const selectKeys = insertReturning;

/** Stores the messages' events, within the caller's transaction. */
export async function applyBatch(
  client: pg.PoolClient,
  messages: readonly { id: string; message: EventMessage }[],
): Promise<ApplyResult> {
  const newMessages = await insertReturning(
    client,
    `insert into ingest_messages (message_id) select unnest($1::text[])
     on conflict do nothing returning message_id as key`,
    [pgArray(messages.map((m) => m.id).sort())],
  );
  // First occurrence of each event id, sorted so concurrent consumers
  // take row locks in the same order.
  const byId = new Map<string, AcceptedEvent>();
  /** When each event's first message was received. */
  const receivedAt = new Map<string, number>();
  let total = 0;
  for (const { message } of messages) {
    for (const event of message.events) {
      total++;
      if (!byId.has(event.eventId)) {
        byId.set(event.eventId, event);
        receivedAt.set(event.eventId, message.receivedAt);
      }
    }
  }
  const candidates = [...byId.values()].sort((a, b) => compare(a.eventId, b.eventId));
  const fresh = await insertReturning(
    client,
    `insert into event_ids (event_id, occurred_at)
     select id, to_timestamp(at / 1000.0) from unnest($1::text[], $2::float8[]) as u(id, at)
     on conflict do nothing returning event_id as key`,
    [pgArray(candidates.map((e) => e.eventId)), pgArray(candidates.map((e) => e.occurredAt))],
  );
  const events = candidates.filter((e) => fresh.has(e.eventId));

  const exposures = firstPerDecision(events.filter((e) => e.exposure));
  const newExposures =
    exposures.length === 0
      ? new Set<string>()
      : await insertReturning(
          client,
          `insert into exposures (decision_id, event_id, flag_key, experiment_id, variant_key, subject_id, exposed_at)
           select * from unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[])
           on conflict do nothing returning decision_id as key`,
          [
            pgArray(exposures.map((e) => e.decisionId)),
            pgArray(exposures.map((e) => e.eventId)),
            pgArray(exposures.map((e) => e.flagKey)),
            pgArray(exposures.map((e) => e.experimentId || null)),
            pgArray(exposures.map((e) => e.variantKey || null)),
            pgArray(exposures.map((e) => e.subjectId)),
            pgTimes(exposures.map((e) => e.occurredAt)),
          ],
        );
  const waiting = events.filter((e) => e.requiresExposure);
  const exposed =
    waiting.length === 0
      ? new Set<string>()
      : await selectKeys(
          client,
          `select decision_id as key from exposures where decision_id = any($1::text[])`,
          [pgArray([...new Set(waiting.map((e) => e.decisionId))])],
        );
  const counted = events.map((e) => !e.requiresExposure || exposed.has(e.decisionId));
  if (events.length > 0) {
    // Times travel as epoch milliseconds (cheaper to encode than Dates).
    await client.query(
      `insert into events (event_id, event_type, decision_id, flag_key, experiment_id, variant_key,
                           subject_id, occurred_at, received_at, properties, counted)
       select id, type, decision, flag, experiment, variant, subject,
              to_timestamp(occurred / 1000.0), to_timestamp(received / 1000.0), props, counted
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[],
                   $7::text[], $8::float8[], $9::float8[], $10::jsonb[], $11::bool[])
         as u(id, type, decision, flag, experiment, variant, subject, occurred, received, props, counted)`,
      [
        pgArray(events.map((e) => e.eventId)),
        pgArray(events.map((e) => e.eventType)),
        pgArray(events.map((e) => e.decisionId)),
        pgArray(events.map((e) => e.flagKey)),
        pgArray(events.map((e) => e.experimentId || null)),
        pgArray(events.map((e) => e.variantKey || null)),
        pgArray(events.map((e) => e.subjectId)),
        pgArray(events.map((e) => e.occurredAt)),
        pgArray(events.map((e) => receivedAt.get(e.eventId))),
        pgArray(events.map((e) => JSON.stringify(e.properties))),
        pgArray(counted),
      ],
    );
  }
  const pending = events.filter((_, i) => !counted[i]);
  if (pending.length > 0) {
    await client.query(
      `insert into pending_attributions (event_id, decision_id, experiment_id, occurred_at, expires_at)
       select * from unnest($1::text[], $2::text[], $3::uuid[], $4::timestamptz[], $5::timestamptz[])
       on conflict do nothing`,
      [
        pgArray(pending.map((e) => e.eventId)),
        pgArray(pending.map((e) => e.decisionId)),
        pgArray(pending.map((e) => e.experimentId || null)),
        pgTimes(pending.map((e) => e.occurredAt)),
        pgTimes(pending.map((e) => e.occurredAt + EVENT_LIMITS.horizonMs)),
      ],
    );
  }
  const nowCounted: CountedEvent[] = events.filter((_, i) => counted[i]);
  // Events that were waiting for one of the new exposures count now.
  if (newExposures.size > 0) nowCounted.push(...(await releasePending(client, [...newExposures])));
  await addCounted(client, nowCounted);
  const stats = messages.filter((m) => newMessages.has(m.id)).flatMap((m) => m.message.stats);
  // Stored events per experiment: the denominator of the data-health shares.
  const storedPerExperiment = new Map<string, number>();
  for (const e of events) {
    storedPerExperiment.set(e.experimentId, (storedPerExperiment.get(e.experimentId) ?? 0) + 1);
  }
  for (const [experimentId, stored] of storedPerExperiment) {
    stats.push({ experimentId, result: "stored", reason: "", events: stored });
  }
  await addStats(client, stats, Date.now());
  return {
    stored: events.length,
    duplicates: total - events.length,
    counted: nowCounted.length,
    pending: pending.length,
    exposures: newExposures.size,
  };
}

/**
 * Counts the pending events of these decision ids whose exposure is stored
 * (all of them when `exposedOnly` is false: the caller has just stored the
 * exposures), removing them from the pending list. Deleting the pending
 * row is what claims an event, so two transactions can never both count it.
 */
export async function releasePending(
  client: pg.PoolClient,
  decisionIds: string[],
  exposedOnly = false,
): Promise<CountedEvent[]> {
  const { rows } = await client.query<{
    experiment_id: string | null;
    variant_key: string | null;
    event_type: string;
    subject_id: string;
    occurred_at: Date;
    properties: Record<string, unknown>;
  }>(
    `with released as (
       delete from pending_attributions p
       where p.decision_id = any($1::text[]) and p.expires_at > now()
         ${exposedOnly ? "and exists (select 1 from exposures x where x.decision_id = p.decision_id)" : ""}
       returning p.event_id, p.occurred_at
     )
     update events e set counted = true
     from released r
     where e.event_id = r.event_id and e.occurred_at = r.occurred_at and not e.counted
     returning e.experiment_id, e.variant_key, e.event_type, e.subject_id, e.occurred_at, e.properties`,
    [pgArray(decisionIds.sort())],
  );
  return rows.map((row) => ({
    experimentId: row.experiment_id ?? "",
    variantKey: row.variant_key ?? "",
    eventType: row.event_type,
    subjectId: row.subject_id,
    occurredAt: row.occurred_at.getTime(),
    properties: row.properties,
  }));
}

function firstPerDecision(events: readonly AcceptedEvent[]): AcceptedEvent[] {
  const first = new Map<string, AcceptedEvent>();
  for (const e of events) {
    const seen = first.get(e.decisionId);
    if (seen === undefined || e.occurredAt < seen.occurredAt) first.set(e.decisionId, e);
  }
  return [...first.values()].sort((a, b) => compare(a.decisionId, b.decisionId));
}

/** Adds data-health counts (ingest_stats) for the UTC day of `now`. */
export async function addStats(
  client: pg.PoolClient,
  stats: readonly IngestStat[],
  now: number,
): Promise<void> {
  const rows = mergeStats(stats);
  if (rows.length === 0) return;
  const day = new Date(startOfDay(now)).toISOString().slice(0, 10);
  await client.query(
    `insert into ingest_stats (day, experiment_id, result, reason, events)
     select $1::date, * from unnest($2::text[], $3::text[], $4::text[], $5::bigint[])
     on conflict (day, experiment_id, result, reason)
     do update set events = ingest_stats.events + excluded.events`,
    [
      day,
      pgArray(rows.map((r) => r.experimentId)),
      pgArray(rows.map((r) => r.result)),
      pgArray(rows.map((r) => r.reason)),
      pgArray(rows.map((r) => r.events)),
    ],
  );
}
