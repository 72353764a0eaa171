/**
 * Retries for calls that are safe to repeat, with exponential backoff and
 * jitter. Safe means repeating the call cannot change anything twice:
 * reads (Get…, List…), Decide (the same subject and configuration give the
 * same decision and decision id) and IngestEvents (event ids make a repeat
 * a counted duplicate, never a second event). Anything that creates or
 * changes state fails on the first error, so a caller never creates two
 * flags because an answer was lost.
 */
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";

export interface RetryOptions {
  /** Further attempts after the first one. Default 2. */
  maxRetries: number;
  /** Delay before the first retry, doubled for each further one. Default 100 ms. */
  initialDelayMs: number;
  /** Upper bound of one delay. Default 2,000 ms. */
  maxDelayMs: number;
  /** Codes worth another attempt. Default UNAVAILABLE and RESOURCE_EXHAUSTED. */
  codes: Code[];
}

export const DEFAULT_RETRY: RetryOptions = {
  maxRetries: 2,
  initialDelayMs: 100,
  maxDelayMs: 2_000,
  codes: [Code.Unavailable, Code.ResourceExhausted],
};

/** Set to true in a call's `contextValues` to skip the retry interceptor for it. */
export const skipRetries = createContextKey(false, { description: "lotty.skipRetries" });

const SAFE_NAMES = new Set(["Decide", "IngestEvents", "Check"]);

/** Whether repeating a call to this RPC (by its protobuf method name) is safe. */
export function isRetrySafe(methodName: string): boolean {
  return SAFE_NAMES.has(methodName) || /^(Get|List)[A-Z]/.test(methodName);
}

/**
 * The delay before retry number `attempt` (0-based): exponential, capped,
 * with "equal jitter" (half fixed, half random), so many clients failing
 * together do not come back in lockstep.
 */
export function backoffDelayMs(
  attempt: number,
  initialDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(ConnectError.from(signal.reason));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal?.reason));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Retries unary calls to safe RPCs that fail with a retryable code. The
 * call's deadline covers every attempt: when it expires, the last error (or
 * DEADLINE_EXCEEDED) is returned, never a late retry.
 */
export function retryInterceptor(options: Partial<RetryOptions> = {}): Interceptor {
  const settings = { ...DEFAULT_RETRY, ...options };
  const retryable = new Set(settings.codes);
  return (next) => async (req) => {
    if (req.stream || !isRetrySafe(req.method.name) || req.contextValues.get(skipRetries)) {
      return next(req);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        return await next(req);
      } catch (error) {
        const failure = ConnectError.from(error);
        if (attempt >= settings.maxRetries || !retryable.has(failure.code) || req.signal.aborted) {
          throw failure;
        }
        await sleep(
          backoffDelayMs(attempt, settings.initialDelayMs, settings.maxDelayMs),
          req.signal,
        );
      }
    }
  };
}
