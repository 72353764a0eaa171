/**
 * SearchLearnings and GetMetaAnalysis: the filters of a search as one SQL
 * predicate, full-text ranking (websearch_to_tsquery over the weighted
 * `search` vector), snippets and paging.
 */
import { createHash } from "node:crypto";
import type pg from "pg";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Outcome } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import type { SearchLearningsRequest } from "../../gen/lotty/learnings/v1/learnings_pb.js";
import { OUTCOME_NAMES } from "../experiments/lookup.js";
import { FieldViolations, invalidArgument } from "../platform/errors.js";
import { pageSize } from "../platform/paging.js";
import { checkUuid, CONTROL_CHARACTERS } from "../platform/validation.js";
import { NEEDS_WRITING_UP_SQL, type LearningRow } from "./entry.js";
import { ROW_JSON } from "./store.js";

export const MAX_QUERY_LENGTH = 500;
const MAX_FILTER_VALUES = 50;
/** The text search configuration of the `search` vector's prose. */
const TEXT_CONFIG = "english";

export type SearchFilter = Omit<SearchLearningsRequest, "pageSize" | "pageToken">;

/** A search's predicate over `learnings l`, its parameters and its text query. */
export interface Predicate {
  where: string;
  params: unknown[];
  /** The parameter number of the text query, when there is one. */
  queryParam?: number;
}

function checkList(v: FieldViolations, field: string, values: readonly string[]): string[] {
  if (values.length > MAX_FILTER_VALUES)
    v.add(field, `must have at most ${MAX_FILTER_VALUES} values`);
  values.forEach((value, i) => {
    if (value.trim() === "") v.add(`${field}[${i}]`, "must not be empty");
    else if (value.length > 100) v.add(`${field}[${i}]`, "must be at most 100 characters");
    else if (CONTROL_CHARACTERS.test(value))
      v.add(`${field}[${i}]`, "must not contain control characters");
  });
  return values.map((value) => value.trim());
}

function checkKey(
  v: FieldViolations,
  field: string,
  value: string | undefined,
): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === "") v.add(field, "must not be empty when set");
  else if (trimmed.length > 100) v.add(field, "must be at most 100 characters");
  else if (CONTROL_CHARACTERS.test(trimmed)) v.add(field, "must not contain control characters");
  return trimmed;
}

function date(ts: Timestamp | undefined): Date | undefined {
  return ts === undefined ? undefined : timestampDate(ts);
}

/** Validates a search's query and filters and builds its predicate. */
export function buildPredicate(f: SearchFilter, prefix = ""): Predicate {
  const v = new FieldViolations();
  const field = (name: string) => `${prefix}${name}`;
  const query = f.query.trim();
  if ([...query].length > MAX_QUERY_LENGTH) {
    v.add(field("query"), `must be at most ${MAX_QUERY_LENGTH} characters`);
  } else if (CONTROL_CHARACTERS.test(query)) {
    v.add(field("query"), "must not contain control characters");
  }
  const flagKey = checkKey(v, field("flag_key"), f.flagKey);
  const metricKey = checkKey(v, field("metric_key"), f.metricKey);
  const primaryMetricKey = checkKey(v, field("primary_metric_key"), f.primaryMetricKey);
  const platform = checkKey(v, field("platform"), f.platform);
  const firedKey = checkKey(v, field("fired_guardrail_metric_key"), f.firedGuardrailMetricKey);
  if (f.ownerId !== undefined) checkUuid(v, field("owner_id"), f.ownerId);
  const tags = checkList(v, field("tags"), f.tags);
  const countries = checkList(v, field("countries"), f.countries);
  const platforms = checkList(v, field("platforms"), f.platforms);
  const outcome = f.outcome === Outcome.UNSPECIFIED ? undefined : OUTCOME_NAMES[f.outcome];
  if (f.outcome !== Outcome.UNSPECIFIED && outcome === undefined) {
    v.add(field("outcome"), "must be OUTCOME_ROLLOUT, OUTCOME_ROLLBACK or OUTCOME_NO_EFFECT");
  }
  const after = date(f.completedAfter);
  const before = date(f.completedBefore);
  for (const [name, d] of [
    ["completed_after", after],
    ["completed_before", before],
  ] as const) {
    if (d !== undefined && Number.isNaN(d.getTime())) v.add(field(name), "is not a valid time");
  }
  if (after !== undefined && before !== undefined && after.getTime() >= before.getTime()) {
    v.add(field("completed_after"), "must be before completed_before");
  }
  v.throwIfAny();

  const params: unknown[] = [];
  const clauses: string[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  let queryParam: number | undefined;
  if (query !== "") {
    clauses.push(`l.search @@ websearch_to_tsquery('${TEXT_CONFIG}', ${param(query)})`);
    queryParam = params.length;
  }
  if (flagKey !== undefined) clauses.push(`l.flag_key = ${param(flagKey)}`);
  if (tags.length > 0) clauses.push(`l.tags @> ${param(tags)}::text[]`);
  if (outcome !== undefined) clauses.push(`l.outcome = ${param(outcome)}`);
  if (metricKey !== undefined) {
    const p = param(metricKey);
    clauses.push(`(l.primary_metric_key = ${p} or ${p} = any(l.metric_keys))`);
  }
  if (primaryMetricKey !== undefined)
    clauses.push(`l.primary_metric_key = ${param(primaryMetricKey)}`);
  const wantedPlatforms = [...platforms, ...(platform === undefined ? [] : [platform])];
  if (wantedPlatforms.length > 0) {
    clauses.push(
      `exists (select 1 from unnest(l.platforms) p where lower(p) = any(${param(wantedPlatforms.map((p) => p.toLowerCase()))}::text[]))`,
    );
  }
  if (countries.length > 0) {
    clauses.push(
      `exists (select 1 from unnest(l.countries) c where lower(c) = any(${param(countries.map((c) => c.toLowerCase()))}::text[]))`,
    );
  }
  if (f.ownerId !== undefined) clauses.push(`l.owner_id = ${param(f.ownerId)}::uuid`);
  if (after !== undefined) clauses.push(`l.completed_at >= ${param(after)}`);
  if (before !== undefined) clauses.push(`l.completed_at < ${param(before)}`);
  if (f.guardrailFired !== undefined) {
    clauses.push(`cardinality(l.fired_guardrail_metric_keys) ${f.guardrailFired ? ">" : "="} 0`);
  }
  if (firedKey !== undefined) {
    clauses.push(`${param(firedKey)} = any(l.fired_guardrail_metric_keys)`);
  }
  if (f.needsWritingUp !== undefined) {
    clauses.push(f.needsWritingUp ? NEEDS_WRITING_UP_SQL : `not ${NEEDS_WRITING_UP_SQL}`);
  }
  return { where: clauses.length === 0 ? "true" : clauses.join(" and "), params, queryParam };
}

/** A page token: the offset of the next page and a digest of the search it belongs to. */
function filterDigest(f: SearchFilter): string {
  return createHash("sha256")
    .update(
      JSON.stringify([
        f.query.trim(),
        f.flagKey ?? null,
        f.tags,
        f.outcome,
        f.metricKey ?? null,
        f.platform ?? null,
        f.ownerId ?? null,
        f.completedAfter ? date(f.completedAfter)?.toISOString() : null,
        f.completedBefore ? date(f.completedBefore)?.toISOString() : null,
        f.countries,
        f.platforms,
        f.primaryMetricKey ?? null,
        f.guardrailFired ?? null,
        f.needsWritingUp ?? null,
        f.firedGuardrailMetricKey ?? null,
      ]),
    )
    .digest("base64url")
    .slice(0, 16);
}

function encodeToken(offset: number, digest: string): string {
  return Buffer.from(JSON.stringify({ o: offset, d: digest }), "utf8").toString("base64url");
}

function decodeToken(token: string, digest: string): number {
  if (token === "") return 0;
  let parsed: { o?: unknown; d?: unknown } | undefined;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const offset = parsed?.o;
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset <= 0) {
    throw invalidArgument("page_token", "is not a token returned by this RPC");
  }
  if (parsed?.d !== digest) {
    throw invalidArgument("page_token", "belongs to a search with other query or filters");
  }
  return offset;
}

export interface SearchHit {
  row: LearningRow;
  score: number;
  snippet: string;
}

const SNIPPET_OPTIONS = `StartSel=**, StopSel=**, MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "`;

/** One page of a search, best first, with the total number of matches. */
export async function search(
  pool: pg.Pool,
  req: SearchLearningsRequest,
): Promise<{ hits: SearchHit[]; nextPageToken: string; total: number }> {
  const size = pageSize(req.pageSize);
  const predicate = buildPredicate(req);
  const digest = filterDigest(req);
  const offset = decodeToken(req.pageToken, digest);
  const q = predicate.queryParam;
  // Relevance (ts_rank_cd normalised to 0–1 by rank/(rank+1)) then recency;
  // the id last makes the order total, so pages never overlap.
  const score =
    q === undefined
      ? "0"
      : `ts_rank_cd(l.search, websearch_to_tsquery('${TEXT_CONFIG}', $${q}), 32)`;
  const snippet =
    q === undefined
      ? `''`
      : `left(ts_headline('${TEXT_CONFIG}',
           concat_ws(' · ', nullif(l.hypothesis, ''), nullif(l.result, ''), nullif(l.notes, ''),
                     nullif(l.action, ''), nullif(array_to_string(l.tags, ', '), '')),
           websearch_to_tsquery('${TEXT_CONFIG}', $${q}), '${SNIPPET_OPTIONS}'), 300)`;
  const params = [...predicate.params, size + 1, offset];
  // The page is chosen on narrow columns; rows and snippets are built for
  // its entries only.
  const [page, count] = await Promise.all([
    pool.query<{ row: LearningRow; score: number; snippet: string }>(
      `with page as (
         select l.experiment_id, l.completed_at, ${score}::float8 as score
         from learnings l where ${predicate.where}
         order by 3 desc, l.completed_at desc, l.experiment_id
         limit $${params.length - 1} offset $${params.length})
       select ${ROW_JSON} as row, page.score, ${snippet} as snippet
       from page join learnings l using (experiment_id)
       order by page.score desc, page.completed_at desc, page.experiment_id`,
      params,
    ),
    pool.query<{ n: number }>(
      `select count(*)::int as n from learnings l where ${predicate.where}`,
      predicate.params,
    ),
  ]);
  const rows = page.rows.slice(0, size);
  return {
    hits: rows.map((r) => ({ row: r.row, score: r.score, snippet: r.snippet })),
    nextPageToken: page.rows.length > size ? encodeToken(offset + size, digest) : "",
    total: count.rows[0]?.n ?? 0,
  };
}
