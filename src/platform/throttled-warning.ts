/** A warning that repeats while a dependency is away, logged at most once per interval. */
import type { Logger } from "./logging.js";

export const WARNING_INTERVAL_MS = 10_000;

/**
 * Returns a warn function that logs `message` (with `error` as `err` and
 * any `fields`) unless it logged anything in the last `intervalMs`.
 */
export function throttledWarning(
  logger: Logger,
  intervalMs = WARNING_INTERVAL_MS,
): (error: unknown, message: string, fields?: Record<string, unknown>) => void {
  let last = Number.NEGATIVE_INFINITY;
  return (error, message, fields = {}) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    logger.warn(error === undefined ? fields : { err: error, ...fields }, message);
  };
}

export type ThrottledWarning = ReturnType<typeof throttledWarning>;
