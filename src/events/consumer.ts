/**
 * The event store consumer (workers role): a durable pull consumer on the
 * events stream that applies messages to PostgreSQL in batches and acks
 * them only after the transaction commits.
 *
 * Failures:
 * - PostgreSQL unreachable: the batch is nak'ed with a delay and the
 *   consumer waits; nothing is dropped (the consumer never gives up on a
 *   message for that reason).
 * - A batch that fails for another reason is retried message by message
 *   to find the culprit; a message that fails on its own MAX_ATTEMPTS
 *   times, or cannot be decoded at all, is published to the dead-letter
 *   stream (<p>.deadletter.events, with the reason in a header), counted
 *   in lotty_events_dead_letters_total, logged, and terminated, so it no
 *   longer blocks the stream.
 */
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { JsMsg } from "@nats-io/jetstream";
import {
  busSubjects,
  durableConsumer,
  DURABLE_CONSUMERS,
  type Bus,
  type BusNames,
} from "../platform/bus.js";
import { DurableConsumer } from "../platform/durable-consumer.js";
import { isUnavailableError } from "../platform/errors.js";
import type { Logger } from "../platform/logging.js";
import { throttledWarning } from "../platform/throttled-warning.js";
import { sleep } from "../platform/timing.js";
import {
  endSpan,
  messageContext,
  SpanKind,
  startSpan,
  tracingEnabled,
  withContext,
} from "../platform/tracing.js";
import { decodeMessage, type EventMessage } from "./message.js";
import type { EventMetrics } from "./metrics.js";
import type { EventStore } from "./store.js";

export const EVENT_STORE_CONSUMER = DURABLE_CONSUMERS.eventStore.durable;
/** Messages applied per transaction. */
export const BATCH_MESSAGES = 20;
/** Transactions a consumer keeps in flight. */
export const CONCURRENT_BATCHES = 2;
/** Deliveries of a failing message before it goes to the dead-letter stream. */
export const MAX_ATTEMPTS = 5;
/** How often pending attributions are swept and gauges refreshed. */
export const HOUSEKEEPING_MS = 30_000;
const RETENTION_EVERY_MS = 3_600_000;

interface Decoded {
  id: string;
  message: EventMessage;
  msg: JsMsg;
}

export class EventConsumer {
  private readonly consumer: DurableConsumer;
  private housekeeping: NodeJS.Timeout | undefined;
  private lastRetention = 0;
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(
    private readonly bus: Bus,
    private readonly names: BusNames,
    private readonly store: EventStore,
    private readonly metrics: EventMetrics,
    private readonly logger: Logger,
    /** Told the experiments whose events a committed transaction stored or counted. */
    private readonly onApplied?: (experimentIds: Set<string>) => void,
  ) {
    this.warn = throttledWarning(logger);
    // Up to CONCURRENT_BATCHES transactions in flight: while one waits
    // for PostgreSQL (statements, the commit's fsync) another runs.
    const events = durableConsumer(names, "eventStore");
    this.consumer = new DurableConsumer(bus, events, (batch) => this.process(batch), {
      maxMessages: 100,
      batchSize: BATCH_MESSAGES,
      concurrency: CONCURRENT_BATCHES,
      onFailure: (error) => this.warn(error, "event store consumer failed; restarting"),
    });
  }

  start(): void {
    this.consumer.start();
    this.housekeeping = setInterval(() => void this.houseKeep(), HOUSEKEEPING_MS);
    this.housekeeping.unref();
  }

  /** Stops pulling, finishes the batch in hand and leaves the rest to redelivery. */
  async stop(): Promise<void> {
    clearInterval(this.housekeeping);
    await this.consumer.stop();
  }

  private async process(batch: JsMsg[]): Promise<void> {
    const decoded: Decoded[] = [];
    for (const msg of batch) {
      try {
        decoded.push({
          id: msg.headers?.get("Nats-Msg-Id") || `seq:${msg.seq}`,
          message: decodeMessage(msg.data),
          msg,
        });
      } catch (error) {
        await this.deadLetter(msg, `undecodable message: ${(error as Error).message}`);
      }
    }
    if (decoded.length === 0) return;
    const spans = this.traced(decoded);
    if (spans.length === 0) {
      await this.applyAll(decoded);
      return;
    }
    // The batch's work (its logs, the counted signal) continues the first
    // traced message's trace; each traced message gets its own span.
    try {
      await withContext(spans[0]!.context, () => this.applyAll(decoded));
      for (const { span } of spans) endSpan(span);
    } catch (error) {
      for (const { span } of spans) endSpan(span, error);
      throw error;
    }
  }

  /** A CONSUMER span for each message that carries a trace context (none when not tracing). */
  private traced(decoded: Decoded[]) {
    if (!tracingEnabled()) return [];
    const subject = busSubjects(this.names).events;
    return decoded.flatMap((d) => {
      const parent = messageContext(d.msg.headers);
      const started =
        parent === undefined
          ? undefined
          : startSpan({
              name: `process ${subject}`,
              kind: SpanKind.CONSUMER,
              parent,
              attributes: {
                "messaging.system": "nats",
                "messaging.destination.name": subject,
                "messaging.message.id": d.id,
                "messaging.batch.message_count": d.message.events.length,
                "lotty.batch.messages": decoded.length,
              },
            });
      return started === undefined ? [] : [started];
    });
  }

  private async applyAll(decoded: Decoded[]): Promise<void> {
    try {
      const result = await this.store.apply(decoded);
      for (const d of decoded) d.msg.ack();
      this.metrics.stored.inc(result.stored);
      if (this.onApplied !== undefined && result.counted > 0) {
        const ids = new Set<string>();
        for (const d of decoded) for (const e of d.message.events) ids.add(e.experimentId);
        this.onApplied(ids);
      }
    } catch (error) {
      if (isUnavailableError(error) || isConflict(error)) {
        this.warn(error, "database unavailable or busy; event messages will be retried");
        for (const d of decoded) d.msg.nak(2_000);
        await sleep(1_000);
        return;
      }
      if (decoded.length > 1) {
        // Find the message that fails: apply each on its own.
        for (const d of decoded) await this.applyAll([d]);
        return;
      }
      const [d] = decoded as [Decoded];
      const attempts = d.msg.info.deliveryCount;
      if (attempts >= MAX_ATTEMPTS) {
        await this.deadLetter(d.msg, (error as Error).message);
      } else {
        this.logger.warn(
          { err: error, seq: d.msg.seq, attempts },
          "event message failed; it will be retried",
        );
        d.msg.nak(Math.min(30_000, 500 * 2 ** attempts));
      }
    }
  }

  private async deadLetter(msg: JsMsg, reason: string): Promise<void> {
    const h = natsHeaders();
    h.set("Lotty-Dead-Letter-Reason", reason.slice(0, 500));
    h.set("Lotty-Original-Sequence", String(msg.seq));
    try {
      await this.bus.js.publish(busSubjects(this.names).deadLetterEvents, msg.data, {
        headers: h,
      });
      // A bare TERM: nats-server before 2.10 ignores a TERM with a reason
      // (the reason is in the dead letter's header anyway).
      msg.term();
      this.metrics.deadLetters.inc();
      this.logger.error({ seq: msg.seq, reason }, "event message moved to the dead-letter stream");
    } catch (error) {
      this.warn(error, "could not publish a dead letter; the message will be retried");
      msg.nak(5_000);
    }
  }

  /** Drops expired pending attributions, refreshes gauges, applies retention hourly. */
  async houseKeep(now = Date.now()): Promise<void> {
    try {
      const dropped = await this.store.dropExpiredPending();
      this.metrics.attributionDropped.inc(dropped);
      this.metrics.pendingAttribution.set(await this.store.pendingCount());
      this.metrics.consumerLag.set(await this.consumer.pending());
      if (now - this.lastRetention >= RETENTION_EVERY_MS) {
        this.lastRetention = now;
        const partitions = await this.store.applyRetention(now);
        if (partitions.length > 0) {
          this.logger.info({ partitions }, "dropped event partitions past retention");
        }
      }
    } catch (error) {
      this.warn(error, "event store housekeeping failed");
    }
  }
}

/** A deadlock or serialisation failure: the same batch succeeds when retried. */
function isConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === "40P01" || code === "40001";
}
