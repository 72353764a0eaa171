/**
 * The per-API-key rate limit shared by every transport that serves Decide:
 * the Decide RPC, its HTTP/1.1 fast path and OFREP. One limiter per process,
 * so a key's calls count together whichever way they arrive.
 */
import { perKeyLimit } from "../platform/rate-limit.js";

export type DecideLimit = (apiKeyId: string) => void;

export function decideLimit(perSecond: number): DecideLimit {
  return perKeyLimit("decide", "LOTTY_DECIDE_RATE_LIMIT", perSecond);
}
