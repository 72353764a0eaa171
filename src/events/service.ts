/**
 * lotty.events.v1.EventService/IngestEvents: validates each event against
 * the catalog snapshot and its decision id, drops duplicates it can see,
 * publishes the rest to JetStream and answers only after JetStream has
 * acknowledged them (docs/events.md).
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { EventErrorCode, EventService } from "../../gen/lotty/events/v1/events_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { IngestEventsResponseSchema } from "../../gen/lotty/events/v1/events_pb.js";
import type { DecisionSigner } from "../decision/decision-id.js";
import type { SnapshotStore } from "../decision/snapshot.js";
import { requirePrincipal } from "../platform/auth.js";
import type { Bus, BusNames } from "../platform/bus.js";
import type { Logger } from "../platform/logging.js";
import { encodeMessages, eventsSubject, mergeStats, type IngestStat } from "./message.js";
import type { EventMetrics } from "./metrics.js";
import type { RateLimiter } from "./rate-limit.js";
import type { EventStore } from "./store.js";
import { EVENT_LIMITS, validateEvent, type AcceptedEvent } from "./validation.js";

/** Ids this node accepted recently, remembered for the duplicates count. */
const RECENT_IDS = 200_000;
const PUBLISH_TIMEOUT_MS = 5_000;

interface IncomingProto {
  eventId: string;
  eventType: string;
  decisionId: string;
  occurredAt?: Timestamp;
  properties?: JsonObject;
}

export interface EventServiceDeps {
  snapshots: SnapshotStore;
  signer: () => DecisionSigner | undefined;
  bus: () => Bus | undefined;
  names: BusNames;
  /** The event store, for the duplicates lookup; undefined until the database is up. */
  store: () => EventStore | undefined;
  limiter: RateLimiter;
  metrics: EventMetrics;
  logger: Logger;
}

export class EventServiceImpl implements ServiceImpl<typeof EventService> {
  private readonly recent = new Set<string>();

  constructor(private readonly deps: EventServiceDeps) {}

  async ingestEvents(
    req: { events: IncomingProto[] },
    ctx: HandlerContext,
  ): Promise<MessageInitShape<typeof IngestEventsResponseSchema>> {
    const principal = requirePrincipal(ctx);
    if (req.events.length > EVENT_LIMITS.batchSize) {
      throw new ConnectError(
        `events: at most ${EVENT_LIMITS.batchSize} events per call, got ${req.events.length}; split the batch`,
        Code.InvalidArgument,
      );
    }
    const limit = this.deps.limiter.take(principal.apiKeyId, req.events.length);
    if (!limit.allowed) {
      const seconds = Math.ceil(limit.retryAfterMs / 1000);
      throw new ConnectError(
        `ingestion rate limit for this API key exceeded; retry after ${limit.retryAfterMs} ms`,
        Code.ResourceExhausted,
        { "retry-after": String(seconds) },
      );
    }
    const snapshot = this.deps.snapshots.current;
    const signer = this.deps.signer();
    const bus = this.deps.bus();
    if (snapshot === undefined || signer === undefined) {
      throw new ConnectError(
        "the event catalog is not loaded yet; nothing was accepted; retry shortly",
        Code.Unavailable,
      );
    }
    if (bus === undefined || !bus.connected) {
      throw new ConnectError(
        "the event bus is unavailable; nothing was accepted; retry later",
        Code.Unavailable,
      );
    }

    const now = Date.now();
    const errors: { index: number; eventId: string; code: EventErrorCode; message: string }[] = [];
    const stats: IngestStat[] = [];
    const candidates: AcceptedEvent[] = [];
    const duplicateOf = new Map<string, AcceptedEvent[]>();
    const inBatch = new Set<string>();
    req.events.forEach((event, index) => {
      const result = validateEvent(
        {
          eventId: event.eventId,
          eventType: event.eventType,
          decisionId: event.decisionId,
          occurredAt: event.occurredAt === undefined ? undefined : timestampMs(event.occurredAt),
          properties: event.properties,
        },
        snapshot,
        signer,
        now,
      );
      if (!("eventId" in result)) {
        errors.push({ index, eventId: event.eventId, ...result });
        stats.push({
          experimentId: "",
          result: "rejected",
          reason: reasonOf(result.code),
          events: 1,
        });
        return;
      }
      if (inBatch.has(result.eventId)) {
        duplicateOf.set(result.eventId, [...(duplicateOf.get(result.eventId) ?? []), result]);
        return;
      }
      inBatch.add(result.eventId);
      candidates.push(result);
    });

    // Ids accepted before: remembered by this node, or already stored.
    const seen = new Set<string>(
      candidates.filter((e) => this.recent.has(e.eventId)).map((e) => e.eventId),
    );
    const store = this.deps.store();
    if (store !== undefined) {
      try {
        const unseen = candidates.filter((e) => !seen.has(e.eventId)).map((e) => e.eventId);
        for (const id of await store.storedIds(unseen)) seen.add(id);
      } catch (error) {
        // The count of duplicates is then less precise; storage stays exact.
        this.deps.logger.debug({ err: error }, "duplicate lookup failed");
      }
    }
    let duplicates = [...duplicateOf.values()].reduce((n, list) => n + list.length, 0);
    const fresh: AcceptedEvent[] = [];
    for (const event of candidates) {
      if (seen.has(event.eventId)) {
        duplicates++;
        stats.push({
          experimentId: event.experimentId,
          result: "duplicate",
          reason: "event_id",
          events: 1,
        });
      } else {
        fresh.push(event);
      }
    }
    for (const list of duplicateOf.values()) {
      for (const event of list) {
        stats.push({
          experimentId: event.experimentId,
          result: "duplicate",
          reason: "event_id",
          events: 1,
        });
      }
    }

    let accepted = 0;
    for (const message of encodeMessages(fresh, mergeStats(stats), now)) {
      let ack;
      try {
        ack = await bus.js.publish(eventsSubject(this.deps.names.subjectPrefix), message.payload, {
          msgID: message.id,
          timeout: PUBLISH_TIMEOUT_MS,
        });
      } catch (error) {
        throw new ConnectError(
          "the event bus did not confirm the events; nothing from this call may be counted as accepted; retry the whole batch",
          Code.Unavailable,
          undefined,
          undefined,
          error,
        );
      }
      if (ack.duplicate) {
        // The same events were published moments ago (a retry in flight).
        duplicates += message.eventIds.length;
      } else {
        accepted += message.eventIds.length;
        this.remember(message.eventIds);
      }
    }
    const rejected = errors.length;
    const m = this.deps.metrics.events;
    if (accepted > 0) m.inc({ result: "accepted", reason: "" }, accepted);
    if (duplicates > 0) m.inc({ result: "duplicate", reason: "" }, duplicates);
    for (const e of errors) m.inc({ result: "rejected", reason: reasonOf(e.code) });
    return { accepted, duplicates, rejected, errors };
  }

  private remember(ids: readonly string[]): void {
    for (const id of ids) {
      if (this.recent.size >= RECENT_IDS) {
        // Forget the oldest (a Set iterates in insertion order).
        const oldest = this.recent.values().next().value;
        if (oldest !== undefined) this.recent.delete(oldest);
      }
      this.recent.add(id);
    }
  }
}

function reasonOf(code: EventErrorCode): string {
  return (EventErrorCode[code] ?? "UNSPECIFIED").toLowerCase();
}
