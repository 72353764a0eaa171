/**
 * The results page's view state and its URL form, so that every view is a
 * permalink: `window` (all | 24h | 7d | custom), `from` and `to` (ISO
 * minutes in UTC, e.g. 2026-12-06T19:07Z, custom only), `metric` (metric
 * key), `segment` (repeated, each `dimension=value`: the segment filter)
 * , `breakdown` (a dimension key) and `saved` (a saved segment's key: the
 * saved segment filter, docs/saved-segments.md). Unknown parameters are kept.
 */

export type WindowChoice = "all" | "24h" | "7d" | "custom";

export const WINDOW_CHOICES: readonly { value: WindowChoice; label: string }[] = [
  { value: "all", label: "Experiment so far" },
  { value: "24h", label: "Last 24 hours" },
  { value: "7d", label: "Last 7 days" },
  { value: "custom", label: "Custom (UTC)" },
];

export interface ViewState {
  window: WindowChoice;
  /** Custom window start, whole minute. */
  from?: Date;
  /** Custom window end, whole minute. */
  to?: Date;
  /** Metric key; undefined means the report's primary metric. */
  metric?: string;
  /**
   * The segment filter as the URL holds it: `dimension=value` entries, in
   * order; entries without `=` are kept but ignored.
   */
  segment?: string[];
  /** Breakdown dimension key. */
  breakdown?: string;
  /** Saved segment filter: a saved segment's key. */
  savedSegment?: string;
}

/** A segment filter condition, as ReportService takes it. */
export interface SegmentChoice {
  dimension: string;
  values: string[];
}

/** The filter of a view: values grouped by dimension, dimensions in first-seen order. */
export function segmentConditions(entries: readonly string[] | undefined): SegmentChoice[] {
  const byDimension = new Map<string, string[]>();
  for (const entry of entries ?? []) {
    const at = entry.indexOf("=");
    if (at <= 0) continue;
    const dimension = entry.slice(0, at);
    const values = byDimension.get(dimension) ?? [];
    const value = entry.slice(at + 1);
    if (!values.includes(value)) values.push(value);
    byDimension.set(dimension, values);
  }
  return [...byDimension.entries()].map(([dimension, values]) => ({ dimension, values }));
}

/** The view with `dimension`'s values replaced (none: the dimension leaves the filter). */
export function withSegmentValues(
  view: ViewState,
  dimension: string,
  values: readonly string[],
): ViewState {
  const kept = (view.segment ?? []).filter((e) => !e.startsWith(`${dimension}=`));
  const segment = [...kept, ...values.map((v) => `${dimension}=${v}`)];
  const next: ViewState = { ...view };
  if (segment.length > 0) next.segment = segment;
  else delete next.segment;
  return next;
}

const MINUTE = 60_000;

function isChoice(value: string | null): value is WindowChoice {
  return value === "all" || value === "24h" || value === "7d" || value === "custom";
}

/** "2026-12-06T19:07Z": the minute of `d` in UTC. */
export function toIsoMinute(d: Date): string {
  return `${d.toISOString().slice(0, 16)}Z`;
}

/**
 * Parses an ISO timestamp (with or without seconds or zone; a missing zone
 * means UTC) and drops seconds; undefined if it is not a date.
 */
export function parseIsoMinute(text: string | null | undefined): Date | undefined {
  if (text === null || text === undefined || text.trim() === "") return undefined;
  const trimmed = text.trim();
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(
    trimmed,
  );
  if (m === null) return undefined;
  const zone = m[5] === undefined ? "Z" : m[5].toUpperCase();
  const d = new Date(`${m[1]}T${m[2]}${m[3] ?? ""}${zone}`);
  if (Number.isNaN(d.getTime())) return undefined;
  return new Date(Math.floor(d.getTime() / MINUTE) * MINUTE);
}

/** The value for `<input type="datetime-local">` showing `d` in UTC: "2026-12-06T19:07". */
export function toLocalInput(d: Date | undefined): string {
  return d === undefined ? "" : d.toISOString().slice(0, 16);
}

/** Reads an `<input type="datetime-local">` value as UTC. */
export function fromLocalInput(value: string): Date | undefined {
  return parseIsoMinute(value);
}

/** Reads the view from the URL; anything invalid falls back to the default. */
export function parseView(params: URLSearchParams): ViewState {
  const raw = params.get("window");
  const window: WindowChoice = isChoice(raw) ? raw : "all";
  const view: ViewState = { window };
  if (window === "custom") {
    const from = parseIsoMinute(params.get("from"));
    const to = parseIsoMinute(params.get("to"));
    if (from !== undefined) view.from = from;
    if (to !== undefined) view.to = to;
  }
  const metric = params.get("metric");
  if (metric !== null && metric !== "") view.metric = metric;
  const segment = params.getAll("segment");
  if (segment.length > 0) view.segment = segment;
  const breakdown = params.get("breakdown");
  if (breakdown !== null && breakdown !== "") view.breakdown = breakdown;
  const saved = params.get("saved");
  if (saved !== null && saved !== "") view.savedSegment = saved;
  return view;
}

/**
 * Writes the view into a copy of `base` (other parameters are kept). The
 * default window "all" is written too, so a copied link is explicit.
 */
export function writeView(view: ViewState, base = new URLSearchParams()): URLSearchParams {
  const params = new URLSearchParams(base);
  params.set("window", view.window);
  if (view.window === "custom" && view.from !== undefined)
    params.set("from", toIsoMinute(view.from));
  else params.delete("from");
  if (view.window === "custom" && view.to !== undefined) params.set("to", toIsoMinute(view.to));
  else params.delete("to");
  if (view.metric !== undefined && view.metric !== "") params.set("metric", view.metric);
  else params.delete("metric");
  params.delete("segment");
  for (const entry of view.segment ?? []) params.append("segment", entry);
  if (view.breakdown !== undefined && view.breakdown !== "")
    params.set("breakdown", view.breakdown);
  else params.delete("breakdown");
  if (view.savedSegment !== undefined && view.savedSegment !== "")
    params.set("saved", view.savedSegment);
  else params.delete("saved");
  return params;
}

export interface ResolvedWindow {
  /** Unset: the experiment's start. */
  from?: Date;
  /** Unset: now (an open window, which can be watched live). */
  to?: Date;
}

/** The request window for a view at time `now` (relative windows start at a whole minute). */
export function resolveWindow(view: ViewState, now: Date): ResolvedWindow {
  const floorMinute = (ms: number) => new Date(Math.floor(ms / MINUTE) * MINUTE);
  switch (view.window) {
    case "all":
      return {};
    case "24h":
      return { from: floorMinute(now.getTime() - 24 * 60 * MINUTE) };
    case "7d":
      return { from: floorMinute(now.getTime() - 7 * 24 * 60 * MINUTE) };
    case "custom": {
      const out: ResolvedWindow = {};
      if (view.from !== undefined) out.from = view.from;
      if (view.to !== undefined) out.to = view.to;
      return out;
    }
  }
}

/** A problem with a custom window, or undefined when it can be asked for. */
export function windowProblem(view: ViewState): string | undefined {
  if (view.window !== "custom") return undefined;
  if (
    view.from !== undefined &&
    view.to !== undefined &&
    view.to.getTime() <= view.from.getTime()
  ) {
    return "The end of the window must be after its start.";
  }
  return undefined;
}
