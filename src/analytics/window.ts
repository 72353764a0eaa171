/**
 * The report window and its series buckets (docs/reports.md#window).
 *
 * Windows are whole UTC minutes: `from` is rounded down and `to` up to the
 * minute, so the per-minute rollups answer any window exactly, and the
 * report carries the window it was computed for.
 */
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { FieldViolations, invalidArgument } from "../platform/errors.js";

export const MINUTE_MS = 60_000;
/** Series bucket lengths tried, shortest first, when none is asked for. */
export const AUTOMATIC_BUCKETS_SECONDS = [60, 300, 900, 3600, 21_600, 86_400] as const;
/** The automatic choice keeps the series at or under this many points. */
export const AUTOMATIC_MAX_BUCKETS = 100;
/** An explicit bucket length may not give more points than this. */
export const MAX_BUCKETS = 1_000;
export const MIN_BUCKET_SECONDS = 60;
export const MAX_BUCKET_SECONDS = 2_592_000;

export interface ReportWindow {
  /** Inclusive, epoch ms, a whole minute. */
  from: number;
  /** Exclusive, epoch ms, a whole minute, after from. */
  to: number;
  bucketSeconds: number;
}

export interface WindowRequest {
  from?: Timestamp;
  to?: Timestamp;
  bucketSeconds: number;
}

/**
 * Resolves a requested window: unset `from` is the experiment's start (or
 * creation), unset `to` is now. Throws INVALID_ARGUMENT naming the field.
 */
export function resolveWindow(
  request: WindowRequest,
  defaults: { from: number; now: number },
): ReportWindow {
  const v = new FieldViolations();
  const from = request.from === undefined ? defaults.from : timestampDate(request.from).getTime();
  const to = request.to === undefined ? defaults.now : timestampDate(request.to).getTime();
  if (!Number.isFinite(from)) v.add("from", "is not a valid timestamp");
  if (!Number.isFinite(to)) v.add("to", "is not a valid timestamp");
  if (Number.isFinite(from) && Number.isFinite(to) && to <= from) {
    v.add("to", "must be after from");
  }
  const b = request.bucketSeconds;
  if (b !== 0 && (b < MIN_BUCKET_SECONDS || b > MAX_BUCKET_SECONDS)) {
    v.add("bucket_seconds", `must be 0 (automatic) or ${MIN_BUCKET_SECONDS}–${MAX_BUCKET_SECONDS}`);
  } else if (b % 60 !== 0) {
    v.add("bucket_seconds", "must be a whole number of minutes (a multiple of 60)");
  }
  v.throwIfAny();
  const start = Math.floor(from / MINUTE_MS) * MINUTE_MS;
  const end = Math.ceil(to / MINUTE_MS) * MINUTE_MS;
  const length = end - start;
  let bucketSeconds = b;
  if (bucketSeconds === 0) {
    bucketSeconds =
      AUTOMATIC_BUCKETS_SECONDS.find((s) => length / (s * 1000) <= AUTOMATIC_MAX_BUCKETS) ?? 86_400;
  } else if (length / (bucketSeconds * 1000) > MAX_BUCKETS) {
    throw invalidArgument(
      "bucket_seconds",
      `gives more than ${MAX_BUCKETS} points for this window; use a longer one`,
    );
  }
  return { from: start, to: end, bucketSeconds };
}

/** Bucket end times (exclusive), the last one `to`. */
export function bucketEnds(window: ReportWindow): number[] {
  const ends: number[] = [];
  const step = window.bucketSeconds * 1000;
  for (let end = window.from + step; ; end += step) {
    if (end >= window.to) {
      ends.push(window.to);
      return ends;
    }
    ends.push(end);
  }
}
