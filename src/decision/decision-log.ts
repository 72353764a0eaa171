/**
 * The decision log: every decision is published to JetStream, in batches,
 * off the request path. A slow or absent bus never slows or fails decide:
 * the buffer is bounded, and what does not fit is dropped and counted.
 */
import { randomUUID } from "node:crypto";
import type { Counter } from "prom-client";
import { busSubjects, type Bus, type BusNames } from "../platform/bus.js";
import type { Logger } from "../platform/logging.js";
import { throttledWarning } from "../platform/throttled-warning.js";
import { quoted } from "./json-text.js";

/** One record of the log, as each JSON line reads (decisionLine writes it). */
export interface DecisionRecord {
  decisionId: string;
  flagKey: string;
  subjectId: string;
  reason: string;
  experimentId?: string;
  variantKey?: string;
  at: number;
}

export const MAX_BUFFERED = 20_000;
export const BATCH_SIZE = 2_500;
export const FLUSH_INTERVAL_MS = 250;

/**
 * A record as its JSON line: what JSON.stringify(record) writes, with the
 * same key order and omissions, from parts the caller may reuse across a
 * request's decisions (`subjectJson` is JSON.stringify(subjectId)) and
 * strings quoted once per distinct value. Decision ids are base64url and
 * dots, never escaped.
 */
export function decisionLine(
  decisionId: string,
  flagKey: string,
  subjectJson: string,
  reason: string,
  experimentId: string,
  variantKey: string,
  at: number,
): string {
  let line = `{"decisionId":"${decisionId}","flagKey":${quoted(flagKey)},"subjectId":${subjectJson},"reason":"${reason}"`;
  if (experimentId !== "") line += `,"experimentId":${quoted(experimentId)}`;
  if (variantKey !== "") line += `,"variantKey":${quoted(variantKey)}`;
  return line + `,"at":${at}}`;
}

/**
 * Largest batch in bytes (NATS's default max_payload is 1 MiB). A batch
 * closes at BATCH_SIZE records or when the next line might not fit; fewer,
 * larger batches keep the publishing (a JetStream request and its ack per
 * batch) a small share of decide's CPU.
 */
export const BATCH_BYTES = 768 * 1024;
/** A batch starts this large and doubles as it fills. */
const FIRST_BATCH_BYTES = 64 * 1024;

/** A batch being filled or waiting to be published: JSON lines, UTF-8, "\n" between them. */
interface Batch {
  bytes: Buffer;
  length: number;
  records: number;
  /** Full, being published or waiting for a retry: takes no more records. */
  closed: boolean;
  /**
   * JetStream message id: a publish whose ack was lost (a timeout under
   * load) is retried with the same id, and the stream's duplicate window
   * (2 minutes, JetStream's default) stores it once.
   */
  id: string;
}

export class DecisionLog {
  /**
   * Records as UTF-8 JSON lines, written into batches as they come: a
   * line's string dies at once instead of living (and being copied by the
   * garbage collector) until its batch is published, and a batch goes to
   * NATS as the bytes it already is.
   */
  private batches: Batch[] = [];
  private records = 0;
  /** The flush under way, if any. */
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(
    private readonly bus: () => Bus | undefined,
    private readonly names: BusNames,
    private readonly dropped: Counter,
    logger: Logger,
  ) {
    this.warn = throttledWarning(logger);
    this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Queues a record written by decisionLine(); never blocks and never throws. */
  recordLine(line: string): void {
    if (this.records >= MAX_BUFFERED) {
      this.dropped.inc();
      this.warn(undefined, "decision log buffer full; dropping records", {
        buffered: this.records,
      });
      return;
    }
    // A UTF-16 code unit takes at most 3 UTF-8 bytes; one more for "\n".
    const room = line.length * 3 + 1;
    let batch = this.batches.at(-1);
    if (batch !== undefined && !batch.closed && batch.length + room > batch.bytes.length) {
      if (batch.bytes.length < BATCH_BYTES) {
        const grown = Buffer.allocUnsafe(Math.min(BATCH_BYTES, batch.bytes.length * 2));
        batch.bytes.copy(grown, 0, 0, batch.length);
        batch.bytes = grown;
      }
      if (batch.length + room > batch.bytes.length) batch.closed = true;
    }
    if (batch === undefined || batch.closed || batch.records >= BATCH_SIZE) {
      batch = {
        bytes: Buffer.allocUnsafe(Math.max(FIRST_BATCH_BYTES, room)),
        length: 0,
        records: 0,
        closed: false,
        id: randomUUID(),
      };
      this.batches.push(batch);
    }
    if (batch.records > 0) batch.bytes[batch.length++] = 0x0a;
    batch.length += batch.bytes.write(line, batch.length, "utf8");
    batch.records++;
    this.records++;
    if (batch.records >= BATCH_SIZE || this.batches.length > 1) void this.flush(false);
  }

  get buffered(): number {
    return this.records;
  }

  /**
   * Publishes buffered records in batches (JSON lines). `everything` (the
   * timer, stop) publishes the last batch too even if not full, after a
   * publish already under way; otherwise (a batch just filled) only full
   * batches go, and nothing if a publish is under way. So under load the
   * batch filling while one is published is not sent half-empty as soon as
   * the ack arrives: that made a publish, an ack and a nats.js request
   * error object per ~1 ms of decisions instead of per 2,500 records.
   */
  async flush(everything = true): Promise<void> {
    while (this.flushing !== undefined) {
      if (!everything) return;
      await this.flushing;
    }
    const bus = this.bus();
    if (this.records === 0 || bus === undefined || !bus.connected) return;
    this.flushing = this.publish(bus, everything);
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  /** One flush's publishing; never rejects. */
  private async publish(bus: Bus, everything: boolean): Promise<void> {
    // The last batch when the flush began: a full flush ends after it.
    const last = this.batches.at(-1);
    try {
      while (this.batches.length > 0) {
        const batch = this.batches[0] as Batch;
        if (!everything && !batch.closed && batch.records < BATCH_SIZE) break;
        // Records arriving while it is published start a new batch.
        batch.closed = true;
        await bus.js.publish(
          busSubjects(this.names).decisions,
          batch.bytes.subarray(0, batch.length),
          { msgID: batch.id, timeout: 2_000 },
        );
        this.batches.shift();
        this.records -= batch.records;
        if (batch === last) everything = false;
      }
    } catch (error) {
      this.warn(error, "could not publish the decision log", { buffered: this.records });
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
