/**
 * Per-API-key token buckets for ingestion, kept in each process: with N
 * API nodes behind a balancer a key may reach N times the rate (documented
 * in docs/events.md). A bucket holds up to `burstSeconds` worth of events
 * and refills continuously.
 */
export interface RateLimitDecision {
  allowed: boolean;
  /** When refused: how long until the batch would fit, ms. */
  retryAfterMs: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updated: number }>();

  /** `perSecond` of 0 turns limiting off. */
  constructor(
    private readonly perSecond: number,
    private readonly burstSeconds = 2,
  ) {}

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** Takes `cost` tokens from `key`'s bucket if it has them. */
  take(key: string, cost: number, now = Date.now()): RateLimitDecision {
    if (!this.enabled || cost <= 0) return { allowed: true, retryAfterMs: 0 };
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
      return { allowed: true, retryAfterMs: 0 };
    }
    if (bucket.tokens < cost) {
      return { allowed: false, retryAfterMs: waitFor(cost - bucket.tokens, this.perSecond) };
    }
    bucket.tokens -= cost;
    return { allowed: true, retryAfterMs: 0 };
  }
}

function waitFor(missing: number, perSecond: number): number {
  return Math.max(1, Math.ceil((missing / perSecond) * 1000));
}
