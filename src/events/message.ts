/**
 * What IngestEvents publishes to JetStream: one message per accepted batch
 * (split when large), not one per event — per-event publishing with acks
 * tops out near 13,000 messages/s on these machines, under the 20,000
 * events/s budget (docs/events.md has the measurements).
 *
 * The message id (JetStream's Nats-Msg-Id) is a hash of the event ids it
 * carries, so a client retrying the same batch inside the stream's
 * duplicate window publishes nothing new; after the window, the store's
 * unique event ids make the retry a no-op.
 */
import { createHash } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import { busSubjects } from "../platform/bus.js";
import type { AcceptedEvent } from "./validation.js";

/** Largest payload of one message (nats-server's default max_payload is 1 MiB). */
export const MAX_MESSAGE_BYTES = 512 * 1024;

/** Duplicates and rejections of a call, counted for data health (ingest_stats). */
export interface IngestStat {
  /** The experiment the events belonged to, or "" when unknown. */
  experimentId: string;
  /**
   * duplicate and rejected come from IngestEvents; dropped from the
   * attribution horizon; stored from the event store (events stored for
   * the first time).
   */
  result: "duplicate" | "rejected" | "dropped" | "stored";
  /** Why (an error code name for rejections). */
  reason: string;
  events: number;
}

export interface EventMessage {
  v: 1;
  /** When the API node accepted the batch, epoch ms. */
  receivedAt: number;
  events: AcceptedEvent[];
  stats: IngestStat[];
}

export interface EncodedMessage {
  id: string;
  payload: string;
  /** The ids of the events the message carries, in order. */
  eventIds: string[];
}

export function eventsSubject(subjectPrefix: string): string {
  return busSubjects({ streamPrefix: subjectPrefix.toUpperCase(), subjectPrefix }).events;
}

/**
 * Splits accepted events into messages of at most MAX_MESSAGE_BYTES. The
 * split depends only on the events, so a retried batch yields the same
 * messages and ids. Stats ride on the first message; a call that accepted
 * nothing but has stats gets one stats-only message with a random id.
 */
export function encodeMessages(
  events: readonly AcceptedEvent[],
  stats: readonly IngestStat[],
  receivedAt: number,
): EncodedMessage[] {
  // Each event is serialised once; messages are put together from the parts.
  const groups: { ids: string[]; json: string[] }[] = [];
  let group: { ids: string[]; json: string[] } = { ids: [], json: [] };
  let bytes = 0;
  for (const event of events) {
    const json = JSON.stringify(event);
    const size = Buffer.byteLength(json, "utf8") + 1;
    if (group.ids.length > 0 && bytes + size > MAX_MESSAGE_BYTES - 16 * 1024) {
      groups.push(group);
      group = { ids: [], json: [] };
      bytes = 0;
    }
    group.ids.push(event.eventId);
    group.json.push(json);
    bytes += size;
  }
  if (group.ids.length > 0) groups.push(group);
  const head = (withStats: boolean) =>
    `{"v":1,"receivedAt":${receivedAt},"stats":${JSON.stringify(withStats ? stats : [])},"events":[`;
  if (groups.length === 0) {
    if (stats.length === 0) return [];
    return [{ id: `s1:${crypto.randomUUID()}`, payload: `${head(true)}]}`, eventIds: [] }];
  }
  return groups.map(({ ids, json }, i) => {
    const digest = createHash("sha256").update(ids.join("\n"), "utf8").digest("base64url");
    return { id: `e1:${digest}`, payload: `${head(i === 0)}${json.join(",")}]}`, eventIds: ids };
  });
}

/** Parses a message; throws on anything that is not a well-formed EventMessage. */
export function decodeMessage(data: Uint8Array): EventMessage {
  // A view of the message's bytes, not a copy.
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8");
  const parsed = JSON.parse(text) as unknown;
  if (typeof parsed !== "object" || parsed === null) throw new Error("not an object");
  const message = parsed as Partial<EventMessage>;
  if (message.v !== 1) throw new Error(`unknown message version ${String(message.v)}`);
  if (typeof message.receivedAt !== "number" || !Array.isArray(message.events)) {
    throw new Error("receivedAt or events missing");
  }
  for (const e of message.events as Partial<AcceptedEvent>[]) {
    if (
      typeof e.eventId !== "string" ||
      typeof e.eventType !== "string" ||
      typeof e.decisionId !== "string" ||
      typeof e.flagKey !== "string" ||
      typeof e.experimentId !== "string" ||
      typeof e.variantKey !== "string" ||
      typeof e.subjectId !== "string" ||
      typeof e.occurredAt !== "number" ||
      !Number.isFinite(e.occurredAt) ||
      typeof e.properties !== "object" ||
      e.properties === null ||
      typeof e.exposure !== "boolean" ||
      typeof e.requiresExposure !== "boolean"
    ) {
      throw new Error("malformed event in message");
    }
    e.properties = e.properties as JsonObject;
  }
  if (!Array.isArray(message.stats)) message.stats = [];
  return message as EventMessage;
}

/** Sums stats with the same experiment, result and reason. */
export function mergeStats(stats: readonly IngestStat[]): IngestStat[] {
  const merged = new Map<string, IngestStat>();
  for (const s of stats) {
    const key = `${s.experimentId}\n${s.result}\n${s.reason}`;
    const m = merged.get(key);
    if (m === undefined) merged.set(key, { ...s });
    else m.events += s.events;
  }
  return [...merged.values()].sort((a, b) =>
    `${a.experimentId}\n${a.result}\n${a.reason}` < `${b.experimentId}\n${b.result}\n${b.reason}`
      ? -1
      : 1,
  );
}
