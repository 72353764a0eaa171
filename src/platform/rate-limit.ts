/**
 * Per-API-key token buckets, kept in each process: with N API nodes behind
 * a balancer a key may reach N times the rate (documented in docs/events.md
 * and docs/limitations.md). A bucket holds up to `burstSeconds` worth of
 * tokens and refills continuously. Used by ingestion (events per second)
 * and by Decide and OFREP (requests per second). Taking a token is one Map
 * lookup and some arithmetic; an allowed call allocates nothing.
 */
import { Code, ConnectError } from "@connectrpc/connect";

export interface RateLimitDecision {
  allowed: boolean;
  /** When refused: how long until the batch would fit, ms. */
  retryAfterMs: number;
}

const ALLOWED: RateLimitDecision = Object.freeze({ allowed: true, retryAfterMs: 0 });

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updated: number }>();

  /** `perSecond` of 0 turns limiting off. */
  constructor(
    readonly perSecond: number,
    private readonly burstSeconds = 2,
  ) {}

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** Takes `cost` tokens from `key`'s bucket if it has them. */
  take(key: string, cost: number, now = Date.now()): RateLimitDecision {
    if (!this.enabled || cost <= 0) return ALLOWED;
    const capacity = this.perSecond * this.burstSeconds;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= 100_000) this.buckets.clear();
      bucket = { tokens: capacity, updated: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(
      capacity,
      bucket.tokens + ((now - bucket.updated) / 1000) * this.perSecond,
    );
    bucket.updated = now;
    if (cost > capacity) {
      // A batch larger than the burst can never fit: let it through when
      // the bucket is full, so the limit stays the long-run rate.
      if (bucket.tokens < capacity) {
        return { allowed: false, retryAfterMs: waitFor(capacity - bucket.tokens, this.perSecond) };
      }
      bucket.tokens -= cost;
      return ALLOWED;
    }
    if (bucket.tokens < cost) {
      return { allowed: false, retryAfterMs: waitFor(cost - bucket.tokens, this.perSecond) };
    }
    bucket.tokens -= cost;
    return ALLOWED;
  }
}

function waitFor(missing: number, perSecond: number): number {
  return Math.max(1, Math.ceil((missing / perSecond) * 1000));
}

/**
 * RESOURCE_EXHAUSTED for a refused call, naming the limit, with the wait in
 * the message and as a `retry-after` header in whole seconds (as ingestion
 * answers). `retryAfterMs` is rounded up to seconds in the message too, so
 * the answer is the same bytes on every transport for the same wait.
 */
export function rateLimitExceeded(
  what: string,
  setting: string,
  perSecond: number,
  retryAfterMs: number,
): ConnectError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ConnectError(
    `${what} rate limit for this API key exceeded (${setting}=${perSecond} per second); retry after ${seconds} s`,
    Code.ResourceExhausted,
    { "retry-after": String(seconds) },
  );
}

/**
 * A check for one call by `apiKeyId` that throws rateLimitExceeded when the
 * key's bucket is empty; a no-op when the limit is off.
 */
export function perKeyLimit(
  what: string,
  setting: string,
  perSecond: number,
): (apiKeyId: string) => void {
  if (perSecond <= 0) return () => {};
  const limiter = new RateLimiter(perSecond);
  return (apiKeyId) => {
    const decision = limiter.take(apiKeyId, 1);
    if (!decision.allowed) {
      throw rateLimitExceeded(what, setting, perSecond, decision.retryAfterMs);
    }
  };
}
