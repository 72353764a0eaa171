/**
 * The learnings library's filters and their URL form, shared by the search
 * page and the meta-analysis view so that both are permalinks and a link
 * from one to the other keeps the selection:
 *
 *   q               words ("quoted phrase", -excluded)
 *   flag            flag key
 *   owner           owner's user id
 *   outcome         rollout | rollback | no_effect
 *   from, to        completion dates, YYYY-MM-DD in UTC, both inclusive
 *   country         repeated
 *   platform        repeated
 *   primary_metric  primary metric key
 *   tag             repeated (every one must be present)
 *   guardrail       fired | not_fired
 *   writeup         needed | done
 *
 * Unknown parameters are kept (the meta view adds `impact_metric`).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Outcome } from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import type { SearchLearningsRequestSchema } from "../../../../../gen/lotty/learnings/v1/learnings_pb.js";

export type TriState = "any" | "yes" | "no";

export interface LearningFilter {
  query: string;
  flagKey: string;
  ownerId: string;
  outcome: Outcome;
  /** YYYY-MM-DD or "". */
  from: string;
  /** YYYY-MM-DD or "" (inclusive). */
  to: string;
  countries: string[];
  platforms: string[];
  primaryMetricKey: string;
  tags: string[];
  guardrailFired: TriState;
  needsWritingUp: TriState;
}

export function emptyFilter(): LearningFilter {
  return {
    query: "",
    flagKey: "",
    ownerId: "",
    outcome: Outcome.UNSPECIFIED,
    from: "",
    to: "",
    countries: [],
    platforms: [],
    primaryMetricKey: "",
    tags: [],
    guardrailFired: "any",
    needsWritingUp: "any",
  };
}

/** The outcomes a filter can choose, in the order they are offered. */
export const OUTCOMES: readonly Outcome[] = [Outcome.ROLLOUT, Outcome.ROLLBACK, Outcome.NO_EFFECT];

/** The parameters this module owns (paging parameters are reset with them). */
const OWN = [
  "q",
  "flag",
  "owner",
  "outcome",
  "from",
  "to",
  "country",
  "platform",
  "primary_metric",
  "tag",
  "guardrail",
  "writeup",
] as const;

function outcomeParam(outcome: Outcome): string {
  return outcome === Outcome.UNSPECIFIED ? "" : (Outcome[outcome] ?? "").toLowerCase();
}

function outcomeFromParam(text: string | null): Outcome {
  if (text === null || text === "") return Outcome.UNSPECIFIED;
  const value = (Outcome as unknown as Record<string, number>)[text.toUpperCase()];
  return typeof value === "number" && value !== Outcome.UNSPECIFIED ? value : Outcome.UNSPECIFIED;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A YYYY-MM-DD date as midnight UTC; undefined when it is not one. */
export function parseDay(text: string): Date | undefined {
  if (!DATE.test(text)) return undefined;
  const d = new Date(`${text}T00:00:00Z`);
  return Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== text ? undefined : d;
}

/** "de, FR ,,ios" → ["de", "FR", "ios"]: trimmed, empty entries and repeats dropped. */
export function splitList(text: string): string[] {
  const out: string[] = [];
  for (const part of text.split(",")) {
    const item = part.trim();
    if (item !== "" && !out.includes(item)) out.push(item);
  }
  return out;
}

function list(params: URLSearchParams, name: string): string[] {
  return splitList(params.getAll(name).join(","));
}

function tri(value: string | null, yes: string, no: string): TriState {
  return value === yes ? "yes" : value === no ? "no" : "any";
}

/** Reads the filter from the URL; anything unreadable is left out. */
export function parseFilter(params: URLSearchParams): LearningFilter {
  const text = (name: string) => (params.get(name) ?? "").trim();
  const from = text("from");
  const to = text("to");
  return {
    query: params.get("q") ?? "",
    flagKey: text("flag"),
    ownerId: text("owner"),
    outcome: outcomeFromParam(params.get("outcome")),
    from: parseDay(from) === undefined ? "" : from,
    to: parseDay(to) === undefined ? "" : to,
    countries: list(params, "country"),
    platforms: list(params, "platform"),
    primaryMetricKey: text("primary_metric"),
    tags: list(params, "tag"),
    guardrailFired: tri(params.get("guardrail"), "fired", "not_fired"),
    needsWritingUp: tri(params.get("writeup"), "needed", "done"),
  };
}

/** Writes the filter into a copy of `base`; empty filters are left out, other parameters kept. */
export function writeFilter(filter: LearningFilter, base = new URLSearchParams()): URLSearchParams {
  const params = new URLSearchParams(base);
  for (const name of OWN) params.delete(name);
  const set = (name: string, value: string) => {
    if (value.trim() !== "") params.set(name, value.trim());
  };
  set("q", filter.query);
  set("flag", filter.flagKey);
  set("owner", filter.ownerId);
  set("outcome", outcomeParam(filter.outcome));
  set("from", filter.from);
  set("to", filter.to);
  for (const c of filter.countries) params.append("country", c);
  for (const p of filter.platforms) params.append("platform", p);
  set("primary_metric", filter.primaryMetricKey);
  for (const t of filter.tags) params.append("tag", t);
  if (filter.guardrailFired !== "any")
    params.set("guardrail", filter.guardrailFired === "yes" ? "fired" : "not_fired");
  if (filter.needsWritingUp !== "any")
    params.set("writeup", filter.needsWritingUp === "yes" ? "needed" : "done");
  return params;
}

/** The filter's parameters only, as a query string with "?" (or "" when there are none). */
export function filterSearch(filter: LearningFilter): string {
  const text = writeFilter(filter).toString();
  return text === "" ? "" : `?${text}`;
}

/** Whether any filter or words are set. */
export function isFiltered(filter: LearningFilter): boolean {
  return writeFilter(filter).toString() !== "";
}

/** Problems the browser can see before asking, in the server's {field, message} shape. */
export function filterProblems(filter: LearningFilter): { field: string; message: string }[] {
  const from = parseDay(filter.from);
  const to = parseDay(filter.to);
  if (from !== undefined && to !== undefined && to.getTime() < from.getTime()) {
    return [{ field: "completed_before", message: "the end date is before the start date" }];
  }
  return [];
}

const DAY = 86_400_000;

/**
 * The SearchLearnings request for the filter: `to` is inclusive, so the
 * request's completed_before is the next day's midnight (UTC).
 */
export function filterRequest(
  filter: LearningFilter,
): MessageInitShape<typeof SearchLearningsRequestSchema> {
  const from = parseDay(filter.from);
  const to = parseDay(filter.to);
  const tri = (t: TriState) => (t === "any" ? undefined : t === "yes");
  const optional = (text: string) => (text.trim() === "" ? undefined : text.trim());
  return {
    query: filter.query.trim(),
    flagKey: optional(filter.flagKey),
    ownerId: optional(filter.ownerId),
    outcome: filter.outcome,
    completedAfter: from === undefined ? undefined : timestampFromDate(from),
    completedBefore: to === undefined ? undefined : timestampFromDate(new Date(to.getTime() + DAY)),
    countries: filter.countries,
    platforms: filter.platforms,
    primaryMetricKey: optional(filter.primaryMetricKey),
    tags: filter.tags,
    guardrailFired: tri(filter.guardrailFired),
    needsWritingUp: tri(filter.needsWritingUp),
  };
}
