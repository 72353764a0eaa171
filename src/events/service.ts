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
import {
  MAX_DECISION_ID_LENGTH,
  localSigningKeys,
  type DecisionSigner,
  type SnapshotStore,
} from "../decision/lookup.js";
import type { ServiceKeys } from "../access/lookup.js";
import { requirePrincipal } from "../platform/auth.js";
import type { Bus, BusNames } from "../platform/bus.js";
import type { Logger } from "../platform/logging.js";
import { encodeMessages, eventsSubject, mergeStats, type IngestStat } from "./message.js";
import type { EventMetrics } from "./metrics.js";
import type { RateLimiter } from "../platform/rate-limit.js";
import { inSpan, SpanKind, traceMessageHeaders } from "../platform/tracing.js";
import type { EventStore } from "./store.js";
import { EVENT_LIMITS, validateEvent, type AcceptedEvent } from "./validation.js";
import { DecisionIdVerifier } from "./decision-ids.js";

/** Ids this node accepted recently, remembered for the duplicates count. */
const RECENT_IDS = 200_000;
/** Decision ids whose signature was checked recently. */
const VERIFIED_IDS = 100_000;
const PUBLISH_TIMEOUT_MS = 5_000;
/** How long the duplicates lookup may take before it is skipped. */
const LOOKUP_TIMEOUT_MS = 1_000;

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
  /** The server secret local decision keys are derived from; undefined until the database is up. */
  serverSecret: () => string | undefined;
  /** The access module's registry of service API keys (local decision ids, d2). */
  serviceKeys: ServiceKeys;
  bus: () => Bus | undefined;
  names: BusNames;
  /** The event store, for the duplicates lookup; undefined until the database is up. */
  store: () => EventStore | undefined;
  limiter: RateLimiter;
  metrics: EventMetrics;
  logger: Logger;
}

export class EventServiceImpl implements ServiceImpl<typeof EventService> {
  private readonly recent = new RecentIds(RECENT_IDS);
  private readonly verified: DecisionIdVerifier;
  private localKeys: { secret: string; keyFor: (keyId: string) => Uint8Array } | undefined;

  constructor(private readonly deps: EventServiceDeps) {
    this.verified = new DecisionIdVerifier(VERIFIED_IDS, deps.serviceKeys);
  }

  /** The derived local signing keys, cached per key id (decision/decision-id.ts). */
  private localKeyFor(secret: string): (keyId: string) => Uint8Array {
    if (this.localKeys?.secret !== secret) {
      this.localKeys = { secret, keyFor: localSigningKeys(secret) };
    }
    return this.localKeys.keyFor;
  }

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
    const secret = this.deps.serverSecret();
    const bus = this.deps.bus();
    if (snapshot === undefined || signer === undefined || secret === undefined) {
      throw new ConnectError(
        "the event catalog is not loaded yet; nothing was accepted; retry shortly",
        Code.Unavailable,
      );
    }
    const verifier = this.verified.for(signer, this.localKeyFor(secret));
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
    /** Later occurrences of an id already in this call. */
    const repeats: AcceptedEvent[] = [];
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
        verifier,
        now,
      );
      if (!("eventId" in result)) {
        errors.push({ index, eventId: event.eventId, ...result });
        // A rejected event still counts against its experiment's data
        // health when its decision id is genuine.
        const claims =
          event.decisionId !== "" && event.decisionId.length <= MAX_DECISION_ID_LENGTH
            ? verifier.verify(event.decisionId)
            : undefined;
        const experimentId = claims?.experimentId ?? "";
        stats.push({
          experimentId: snapshot.knownExperimentIds.has(experimentId) ? experimentId : "",
          result: "rejected",
          reason: reasonOf(result.code),
          events: 1,
        });
        return;
      }
      if (inBatch.has(result.eventId)) {
        repeats.push(result);
        return;
      }
      inBatch.add(result.eventId);
      candidates.push(result);
    });

    const seen = await this.acceptedBefore(candidates);
    const fresh = candidates.filter((e) => !seen.has(e.eventId));
    const dropped = [...repeats, ...candidates.filter((e) => seen.has(e.eventId))];
    let duplicates = dropped.length;
    for (const event of dropped) {
      stats.push({
        experimentId: event.experimentId,
        result: "duplicate",
        reason: "event_id",
        events: 1,
      });
    }

    let accepted = 0;
    for (const message of encodeMessages(fresh, mergeStats(stats), now)) {
      let ack;
      const subject = eventsSubject(this.deps.names.subjectPrefix);
      try {
        ack = await inSpan(
          {
            name: `publish ${subject}`,
            kind: SpanKind.PRODUCER,
            attributes: {
              "messaging.system": "nats",
              "messaging.destination.name": subject,
              "messaging.message.id": message.id,
              "messaging.batch.message_count": message.eventIds.length,
            },
          },
          () =>
            bus.js.publish(subject, message.payload, {
              msgID: message.id,
              timeout: PUBLISH_TIMEOUT_MS,
              headers: traceMessageHeaders(),
            }),
        );
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

  /**
   * The ids among `events` accepted before: remembered by this process, or
   * already stored. The store lookup is skipped when PostgreSQL does not
   * answer within LOOKUP_TIMEOUT_MS (ingestion does not depend on it; the
   * count of duplicates is then less precise, storage stays exact).
   */
  private async acceptedBefore(events: readonly AcceptedEvent[]): Promise<Set<string>> {
    const seen = new Set(events.filter((e) => this.recent.has(e.eventId)).map((e) => e.eventId));
    const store = this.deps.store();
    const unseen = events.filter((e) => !seen.has(e.eventId)).map((e) => e.eventId);
    if (store === undefined || unseen.length === 0) return seen;
    let timer: NodeJS.Timeout | undefined;
    try {
      const lookup = store.storedIds(unseen);
      // A lookup that loses the race may still fail later: not unhandled.
      lookup.catch(() => {});
      const stored = await Promise.race([
        lookup,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("lookup timed out")), LOOKUP_TIMEOUT_MS);
        }),
      ]);
      for (const id of stored) seen.add(id);
    } catch (error) {
      this.deps.logger.debug({ err: error }, "duplicate lookup skipped");
    } finally {
      clearTimeout(timer);
    }
    return seen;
  }

  private remember(ids: readonly string[]): void {
    for (const id of ids) this.recent.add(id);
  }
}

/**
 * The last `capacity` ids added, for membership tests: a Set plus a ring
 * of insertion order, so forgetting the oldest is O(1). (Deleting from the
 * front of a Set through its iterator gets slower with every deletion.)
 */
class RecentIds {
  private readonly ids = new Set<string>();
  private readonly ring: (string | undefined)[];
  private head = 0;

  constructor(capacity: number) {
    this.ring = new Array<string | undefined>(capacity);
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    // One lookup: a known id leaves the size unchanged.
    const size = this.ids.size;
    this.ids.add(id);
    if (this.ids.size === size) return;
    const oldest = this.ring[this.head];
    if (oldest !== undefined) this.ids.delete(oldest);
    this.ring[this.head] = id;
    this.head = (this.head + 1) % this.ring.length;
  }
}

function reasonOf(code: EventErrorCode): string {
  return (EventErrorCode[code] ?? "UNSPECIFIED").toLowerCase();
}
