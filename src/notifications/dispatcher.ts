/**
 * The dispatcher (workers role): sends queued deliveries and records each
 * attempt. docs/notifications.md#delivery-guarantees.
 *
 * A delivery is claimed with a lease (attempts + 1, lease_until = now +
 * LEASE) under `for update skip locked`, so two dispatchers never send the
 * same attempt. Any 2xx answer is success. A 4xx other than 408 and 429
 * fails at once; other answers and network errors are retried after
 * 1 s, 2 s, 4 s, … (capped at 5 min, ±20 % jitter) up to MAX_ATTEMPTS.
 * A process that stops between sending and recording the answer leaves
 * the lease to expire; the attempt is then made again, with the same
 * dedupKey in the payload.
 */
import type pg from "pg";
import type { Logger } from "../platform/logging.js";
import { throttledWarning } from "../platform/throttled-warning.js";
import { WorkLoop } from "../platform/work-loop.js";
import { annotateSpan, continueStored, SpanKind } from "../platform/tracing.js";
import { CHANNEL_ADAPTERS, type ChannelKindName, type Notice } from "./channels.js";
import type { NotificationMetrics } from "./metrics.js";
import type { SecretBox } from "./secrets.js";

export const MAX_ATTEMPTS = 8;
export const LEASE_SECONDS = 60;
const REQUEST_TIMEOUT_MS = 10_000;
const POLL_MS = 1_000;
const CLAIM_BATCH = 20;

/** Delay before attempt `attempts + 1`, in ms, jittered ±20 %. */
export function retryDelayMs(attempts: number, random = Math.random): number {
  const base = Math.min(300_000, 1_000 * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Whether an HTTP status is worth another attempt. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status < 400 || status >= 500;
}

interface ClaimedDelivery {
  id: string;
  attempts: number;
  payload: Notice;
  kind: ChannelKindName;
  url: string;
  chat_id: string;
  secret: string | null;
  /** The W3C headers of the event's trace (null when it was not traced). */
  trace_context: Record<string, string> | null;
}

export interface DispatcherDeps {
  pool: pg.Pool;
  secrets: SecretBox;
  metrics: NotificationMetrics;
  logger: Logger;
}

export class DeliveryDispatcher {
  private readonly loop: WorkLoop;

  constructor(private readonly deps: DispatcherDeps) {
    const warn = throttledWarning(deps.logger);
    this.loop = new WorkLoop({
      pollMs: POLL_MS,
      next: async () => {
        const batch = await this.claim();
        if (batch.length === 0 || this.loop.stopping) return false;
        await Promise.all(batch.map((d) => this.attempt(d)));
        return true;
      },
      onError: (error) => warn(error, "notification dispatch failed; retrying"),
    });
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** Sends what is due now (called when deliveries were queued). */
  poke(): void {
    this.loop.poke();
  }

  private async claim(): Promise<ClaimedDelivery[]> {
    const { rows } = await this.deps.pool.query<ClaimedDelivery>(
      `with due as (
         select id from notification_deliveries
         where status in ('pending', 'retrying') and next_attempt_at <= clock_timestamp()
           and (lease_until is null or lease_until < clock_timestamp())
         order by next_attempt_at limit ${CLAIM_BATCH}
         for update skip locked
       )
       update notification_deliveries d
       set attempts = d.attempts + 1,
           lease_until = clock_timestamp() + interval '${LEASE_SECONDS} seconds'
       from due, notification_channels c
       where d.id = due.id and c.id = d.channel_id
       returning d.id, d.attempts, d.payload, c.kind, c.url, c.chat_id, c.secret, d.trace_context`,
    );
    return rows;
  }

  private async attempt(d: ClaimedDelivery): Promise<void> {
    let error: string;
    let retryable: boolean;
    try {
      const request = CHANNEL_ADAPTERS[d.kind].request(
        {
          kind: d.kind,
          url: this.deps.secrets.open(d.url),
          chatId: d.chat_id,
          secret: d.secret === null ? null : this.deps.secrets.open(d.secret),
        },
        d.payload,
      );
      // A webhook gets the trace's `traceparent`, so its receiver can go on
      // with it; chat services get nothing of it.
      const response = await continueStored(
        d.trace_context,
        {
          name: `notify ${d.kind}`,
          kind: SpanKind.CLIENT,
          attributes: { "lotty.delivery_id": d.id, "lotty.attempt": d.attempts },
        },
        async (trace) => {
          const answer = await fetch(request.url, {
            method: "POST",
            headers: d.kind === "webhook" ? { ...trace, ...request.headers } : request.headers,
            body: request.body,
            redirect: "manual",
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          annotateSpan({ "http.response.status_code": answer.status });
          return answer;
        },
      );
      await response.arrayBuffer().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) {
        await this.record(d.id, "sent", "", null);
        return;
      }
      error = `HTTP ${response.status}`;
      retryable = isRetryableStatus(response.status);
    } catch (cause) {
      // Never the url: it may carry a token.
      error = networkError(cause);
      retryable = true;
    }
    if (retryable && d.attempts < MAX_ATTEMPTS) {
      await this.record(d.id, "retrying", error, retryDelayMs(d.attempts));
    } else {
      await this.record(d.id, "failed", error, null);
      this.deps.logger.warn(
        { deliveryId: d.id, attempts: d.attempts, error },
        "notification delivery failed",
      );
    }
  }

  private async record(
    id: string,
    status: "sent" | "retrying" | "failed",
    error: string,
    retryInMs: number | null,
  ): Promise<void> {
    await this.deps.pool.query(
      `update notification_deliveries
       set status = $2, last_error = $3, lease_until = null,
           sent_at = case when $5::boolean then clock_timestamp() end,
           next_attempt_at = case when $4::integer is null then null
                                  else clock_timestamp() + make_interval(secs => $4::integer / 1000.0) end
       where id = $1`,
      [id, status, error, retryInMs, status === "sent"],
    );
    this.deps.metrics.deliveries.inc({ status });
  }
}

/** A network failure named by its code (ECONNREFUSED, timeout, …), without addresses. */
function networkError(cause: unknown): string {
  if (cause instanceof Error && cause.name === "TimeoutError") return "timeout";
  const inner = (cause as { cause?: { code?: unknown } } | undefined)?.cause;
  if (typeof inner?.code === "string") return inner.code;
  return "network error";
}
