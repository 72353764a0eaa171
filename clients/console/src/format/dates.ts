/** Dates and times as the console shows them: UTC, to the minute, unambiguous. */
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/** "2026-12-06 19:04 UTC"; "—" when absent. */
export function formatTime(ts: Timestamp | Date | undefined): string {
  if (ts === undefined) return "—";
  const d = ts instanceof Date ? ts : timestampDate(ts);
  if (Number.isNaN(d.getTime())) return "—";
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "3 min ago", "5 h ago", "2 d ago" relative to `now`. */
export function formatAgo(ts: Timestamp | Date | undefined, now: Date = new Date()): string {
  if (ts === undefined) return "—";
  const d = ts instanceof Date ? ts : timestampDate(ts);
  const seconds = Math.round((now.getTime() - d.getTime()) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}
