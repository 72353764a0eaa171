/**
 * Waiting: `sleep` (cut short by an AbortSignal) and `retry`, which runs an
 * attempt until it succeeds (dependencies that are not up yet).
 */

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface RetryOptions {
  /** Pause between attempts. */
  delayMs: number;
  /** Stops retrying: `retry` then resolves to undefined. */
  signal?: AbortSignal;
  /** Told of the first failure and of every 20th after it. */
  warn?: (error: unknown, attempt: number) => void;
}

/**
 * Runs `attempt` until it resolves and returns its value; undefined when
 * `signal` aborted first.
 */
export async function retry<T>(
  attempt: () => Promise<T>,
  options: RetryOptions,
): Promise<T | undefined> {
  for (let n = 1; ; n++) {
    if (options.signal?.aborted) return undefined;
    try {
      return await attempt();
    } catch (error) {
      if (n === 1 || n % 20 === 0) options.warn?.(error, n);
      await sleep(options.delayMs, options.signal);
    }
  }
}
