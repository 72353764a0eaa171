/**
 * EventSender: queues events and sends them to IngestEvents in batches.
 *
 * - A batch leaves when `maxBatchSize` events are waiting or
 *   `flushIntervalMs` after the last send, whichever comes first; one batch
 *   is in flight at a time, so events leave in the order they were queued.
 * - Every event gets its event id when it is queued (a UUID unless the
 *   caller gave one) and keeps it through every retry: the server counts a
 *   repeat as a duplicate, so a retry after a lost answer never counts an
 *   event twice.
 * - UNAVAILABLE, RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED are retried with
 *   exponential backoff and jitter, up to `maxAttempts`; other errors of the
 *   whole call, and events still failing after the last attempt, go to
 *   `onDropped`. Events the server rejects one by one (bad property, unknown
 *   type, forged decision id) go to `onRejected` and are not retried.
 * - Memory is bounded: at most `maxBufferedEvents` events are held, in
 *   flight included. `send` on a full sender does not queue the event: it
 *   returns undefined and reports it to `onDropped`.
 * - `flush()` waits until everything queued so far has been answered;
 *   `close()` flushes and refuses new events.
 */
import { randomUUID } from "node:crypto";
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createContextValues, type Client } from "@connectrpc/connect";
import type {
  EventError,
  EventSchema,
  EventService,
} from "../../../gen/lotty/events/v1/events_pb.js";
import { backoffDelayMs, skipRetries, sleep } from "./retry.js";

/** An event as the application describes it. */
export interface OutgoingEvent {
  /** Idempotency key; a random UUID when omitted. */
  eventId?: string;
  /** Event type key from the catalog, e.g. `exposure` or `purchase`. */
  eventType: string;
  /** The decision id returned by Decide for this subject and flag. */
  decisionId: string;
  /** When it happened; the time of `send` when omitted. */
  occurredAt?: Date;
  /** Properties declared by the event type, e.g. `{ amount: 42.5 }`. */
  properties?: JsonObject;
}

/** An event the server refused, with its reason. */
export interface RejectedEvent {
  event: QueuedEvent;
  error: EventError;
}

/** An event as queued: its id and time are fixed. */
export interface QueuedEvent {
  eventId: string;
  eventType: string;
  decisionId: string;
  occurredAt: Date;
  properties?: JsonObject;
}

export interface EventSenderOptions {
  /** Events per IngestEvents call, 1–1,000. Default 500. */
  maxBatchSize?: number;
  /** Longest wait before a partial batch is sent. Default 1,000 ms. */
  flushIntervalMs?: number;
  /** Most events held at once, in flight included. Default 10,000. */
  maxBufferedEvents?: number;
  /** Attempts per batch, first one included. Default 8. */
  maxAttempts?: number;
  /** First retry delay, doubled each time. Default 200 ms. */
  initialRetryDelayMs?: number;
  /** Upper bound of a retry delay. Default 10,000 ms. */
  maxRetryDelayMs?: number;
  /** Deadline of one IngestEvents call. Default 10,000 ms. */
  callTimeoutMs?: number;
  /** Events the server refused one by one. */
  onRejected?: (rejected: RejectedEvent[]) => void;
  /** Events given up on (buffer full, closed, or retries exhausted), with why. */
  onDropped?: (events: QueuedEvent[], reason: ConnectError) => void;
}

/** Running totals, for logs and metrics. */
export interface EventSenderStats {
  accepted: number;
  duplicates: number;
  rejected: number;
  dropped: number;
  retries: number;
  /** Events queued or in flight now. */
  buffered: number;
}

const RETRYABLE = new Set([Code.Unavailable, Code.ResourceExhausted, Code.DeadlineExceeded]);
export const MAX_BATCH_SIZE = 1_000;

export class EventSender {
  private readonly queue: QueuedEvent[] = [];
  private inFlight = 0;
  private draining: Promise<void> | undefined;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly settings: Required<Omit<EventSenderOptions, "onRejected" | "onDropped">>;
  private readonly totals = { accepted: 0, duplicates: 0, rejected: 0, dropped: 0, retries: 0 };
  private readonly abort = new AbortController();

  constructor(
    private readonly events: Client<typeof EventService>,
    private readonly options: EventSenderOptions = {},
  ) {
    this.settings = {
      maxBatchSize: options.maxBatchSize ?? 500,
      flushIntervalMs: options.flushIntervalMs ?? 1_000,
      maxBufferedEvents: options.maxBufferedEvents ?? 10_000,
      maxAttempts: options.maxAttempts ?? 8,
      initialRetryDelayMs: options.initialRetryDelayMs ?? 200,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 10_000,
      callTimeoutMs: options.callTimeoutMs ?? 10_000,
    };
    const { maxBatchSize, maxBufferedEvents, maxAttempts } = this.settings;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1 || maxBatchSize > MAX_BATCH_SIZE) {
      throw new RangeError(`maxBatchSize must be an integer from 1 to ${MAX_BATCH_SIZE}`);
    }
    if (!Number.isInteger(maxBufferedEvents) || maxBufferedEvents < maxBatchSize) {
      throw new RangeError("maxBufferedEvents must be an integer of at least maxBatchSize");
    }
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new RangeError("maxAttempts must be a positive integer");
    }
    this.timer = setInterval(() => {
      if (this.queue.length > 0) this.kick();
    }, this.settings.flushIntervalMs);
    this.timer.unref();
  }

  /**
   * Queues one event and returns its event id, or undefined when the sender
   * is full or closed (the event then goes to `onDropped`).
   */
  send(event: OutgoingEvent): string | undefined {
    const queued: QueuedEvent = {
      eventId: event.eventId ?? randomUUID(),
      eventType: event.eventType,
      decisionId: event.decisionId,
      occurredAt: event.occurredAt ?? new Date(),
      ...(event.properties !== undefined ? { properties: event.properties } : {}),
    };
    if (this.closed) {
      this.drop([queued], new ConnectError("the event sender is closed", Code.FailedPrecondition));
      return undefined;
    }
    if (this.queue.length + this.inFlight >= this.settings.maxBufferedEvents) {
      this.drop(
        [queued],
        new ConnectError(
          `the event sender holds ${this.settings.maxBufferedEvents} events already`,
          Code.ResourceExhausted,
        ),
      );
      return undefined;
    }
    this.queue.push(queued);
    if (this.queue.length >= this.settings.maxBatchSize) this.kick();
    return queued.eventId;
  }

  /** Sends everything queued so far; resolves when all of it is answered. */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.draining !== undefined) {
      this.kick();
      await this.draining;
    }
  }

  /**
   * Refuses new events, sends what is queued and stops the timer. With
   * `timeoutMs`, gives up waiting after that long: what is still unsent
   * goes to `onDropped`.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    if (options.timeoutMs === undefined) {
      await this.flush();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.abort.abort(new ConnectError("closing: gave up waiting", Code.DeadlineExceeded));
        resolve();
      }, options.timeoutMs);
    });
    await Promise.race([this.flush(), expired]);
    clearTimeout(timer);
    await this.draining;
  }

  get stats(): EventSenderStats {
    return { ...this.totals, buffered: this.queue.length + this.inFlight };
  }

  private kick(): void {
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.settings.maxBatchSize);
      this.inFlight = batch.length;
      try {
        await this.deliver(batch);
      } finally {
        this.inFlight = 0;
      }
    }
  }

  /** Sends one batch until it is answered or given up on; never throws. */
  private async deliver(batch: QueuedEvent[]): Promise<void> {
    const request = {
      events: batch.map((e): MessageInitShape<typeof EventSchema> => ({
        eventId: e.eventId,
        eventType: e.eventType,
        decisionId: e.decisionId,
        occurredAt: timestampFromDate(e.occurredAt),
        ...(e.properties !== undefined ? { properties: e.properties } : {}),
      })),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.events.ingestEvents(request, {
          timeoutMs: this.settings.callTimeoutMs,
          signal: this.abort.signal,
          contextValues: createContextValues().set(skipRetries, true),
        });
        this.totals.accepted += response.accepted;
        this.totals.duplicates += response.duplicates;
        this.totals.rejected += response.rejected;
        if (response.errors.length > 0) {
          this.options.onRejected?.(
            response.errors.flatMap((error) => {
              const event = batch[error.index];
              return event === undefined ? [] : [{ event, error }];
            }),
          );
        }
        return;
      } catch (error) {
        const failure = ConnectError.from(error);
        if (
          !RETRYABLE.has(failure.code) ||
          attempt >= this.settings.maxAttempts ||
          this.abort.signal.aborted
        ) {
          this.drop(batch, failure);
          return;
        }
        this.totals.retries++;
        try {
          await sleep(
            backoffDelayMs(
              attempt - 1,
              this.settings.initialRetryDelayMs,
              this.settings.maxRetryDelayMs,
            ),
            this.abort.signal,
          );
        } catch (aborted) {
          this.drop(batch, ConnectError.from(aborted));
          return;
        }
      }
    }
  }

  private drop(events: QueuedEvent[], reason: ConnectError): void {
    this.totals.dropped += events.length;
    this.options.onDropped?.(events, reason);
  }
}
