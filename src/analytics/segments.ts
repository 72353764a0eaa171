/**
 * Subjects' segments (docs/segments.md): per exposed subject and declared
 * dimension, the value its first exposure to the experiment carried, kept
 * in subject_segments next to report_subjects; and the SQL that restricts
 * the report's reads to the subjects of a segment.
 *
 * The recorded value is the exposure property named after the dimension
 * (strings as they are, numbers and booleans as their JSON text; anything
 * else, or no such property, is null: "(none)"). "First" is by occurred_at;
 * among exposures at that same instant the least value ("C" collation) that
 * is not null wins. That rule depends on the set of exposures only, never on
 * the order they arrive in, so the rows written live equal a rebuild's.
 *
 * The cap is applied when reading: per experiment and dimension, the
 * `max_values` values with the most subjects (ties by value) keep their
 * name; every other value reads as "(other)". Storage does not depend on
 * it, so changing a dimension's cap changes reports, never stored rows.
 */
import type pg from "pg";
import { EXPOSURE_EVENT_TYPE } from "../catalog/lookup.js";
import { pgArray, pgTimes } from "../platform/pg-array.js";
import type { CountedEvent } from "./writer.js";

/** The segment of subjects whose first exposure did not carry the dimension. */
export const NONE_SEGMENT = "(none)";
/** The segment of values past the dimension's cap. */
export const OTHER_SEGMENT = "(other)";

/** The recorded text of a jsonb property value: scalars only, else null. */
const valueOf = (json: string) =>
  `(case when jsonb_typeof(${json}) in ('string', 'number', 'boolean') then ${json} #>> '{}' end) collate "C"`;

/**
 * Records the segments of subjects exposed by counted events, within the
 * caller's transaction and under its subject locks (taken by cohorts.ts
 * addSubjects): for each exposure and each declared, non-archived
 * dimension, its value, kept when the exposure is the subject's earliest.
 */
export async function recordSegments(
  client: pg.PoolClient,
  counted: readonly CountedEvent[],
): Promise<void> {
  const exposures = counted.filter(
    (e) => e.eventType === EXPOSURE_EVENT_TYPE && e.experimentId !== "" && e.variantKey !== "",
  );
  if (exposures.length === 0) return;
  const { rows: dimensions } = await client.query<{ key: string }>(
    `select key from dimensions where archived_at is null`,
  );
  if (dimensions.length === 0) return;
  const columns: [string[], string[], string[], string[], (string | null)[], number[]] = [
    [],
    [],
    [],
    [],
    [],
    [],
  ];
  for (const e of exposures) {
    for (const { key } of dimensions) {
      columns[0].push(e.experimentId);
      columns[1].push(e.variantKey);
      columns[2].push(e.subjectId);
      columns[3].push(key);
      columns[4].push(
        Object.hasOwn(e.properties, key) ? JSON.stringify(e.properties[key] ?? null) : null,
      );
      columns[5].push(e.occurredAt);
    }
  }
  // Rows are grouped (earliest exposure, least value at it) and written in
  // key order, so concurrent transactions lock them in one order.
  await client.query(
    `with u as (
       select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[])
         as u(e, v, s, d, x, at)
     ), f as (
       select e, v, s, d, min(at) as at from u group by 1, 2, 3, 4
     )
     insert into subject_segments as g (experiment_id, variant_key, subject_id, dimension, value, exposed_at)
     select f.e, f.v, f.s, f.d, min(${valueOf("u.x")}), f.at
     from f join u on u.e = f.e and u.v = f.v and u.s = f.s and u.d = f.d and u.at = f.at
     group by f.e, f.v, f.s, f.d, f.at
     order by 1, 2, 3, 4
     on conflict (experiment_id, variant_key, subject_id, dimension)
     do update set value = case when excluded.exposed_at < g.exposed_at then excluded.value
                                when excluded.exposed_at = g.exposed_at then least(g.value, excluded.value)
                                else g.value end,
                   exposed_at = least(g.exposed_at, excluded.exposed_at)`,
    [...columns.slice(0, 5).map((c) => pgArray(c)), pgTimes(columns[5])],
  );
}

/**
 * The rebuild's statement for subject_segments (rebuild.ts): the same rows
 * from the raw exposures. `counted` selects the experiment's counted
 * events ($1 is its id).
 */
export function rebuildSegmentsSql(counted: string): string {
  return `insert into subject_segments (experiment_id, variant_key, subject_id, dimension, value, exposed_at)
    select x.experiment_id, x.variant_key, x.subject_id, d.key, min(${valueOf("(x.properties -> d.key)")}), x.occurred_at
    from (
      select experiment_id, variant_key, subject_id, occurred_at, properties,
             rank() over (partition by experiment_id, variant_key, subject_id order by occurred_at) as r
      from events where ${counted} and event_type = '${EXPOSURE_EVENT_TYPE}'
    ) x
    cross join dimensions d
    where x.r = 1 and d.archived_at is null
    group by 1, 2, 3, 4, 6`;
}

/** One condition of a segment filter, resolved against the catalog and the data. */
export type SegmentCondition = DimensionCondition | CombinationCondition;

/** The subjects in some segments of one dimension. */
export interface DimensionCondition {
  kind?: "dimension";
  dimension: string;
  /** Segment names wanted: values, "(other)" or "(none)". */
  values: string[];
  /** The values that keep their name (the cap's admitted values). */
  admitted: string[];
}

/**
 * The subjects whose recorded values of `dimensions` (in that order) form
 * one of `combinations`: each the JSON text of an array of the values, null
 * for a subject without a value, as {@link recordedCombinations} spells it.
 * A saved segment filter (docs/saved-segments.md#report-filter) is one.
 */
export interface CombinationCondition {
  kind: "combinations";
  dimensions: string[];
  combinations: string[];
}

/** AND of conditions; empty means every subject. */
export type SegmentFilter = readonly SegmentCondition[];

/**
 * SQL true for the subjects of (variant `variant`, subject `subject`)
 * columns in the filter's segments; `param` binds a value ($1 must be the
 * experiment id). A subject without a row for a dimension (exposed before
 * it was declared) is in "(none)". Each condition is a semi-join on the
 * set of its subjects, which PostgreSQL hashes once per query rather than
 * looking a subject up per row.
 */
export function segmentPredicate(
  filter: SegmentFilter,
  param: (value: unknown) => string,
  variant: string,
  subject: string,
): string {
  if (filter.length === 0) return "true";
  return filter
    .map((c) => `((${variant}, ${subject}) in (${segmentSubjects(c, param)}))`)
    .join(" and ");
}

/** SQL selecting (variant_key, subject_id) of the subjects in a condition's segments. */
function segmentSubjects(c: SegmentCondition, param: (value: unknown) => string): string {
  if (c.kind === "combinations") return combinationSubjects(c, param);
  const dimension = param(c.dimension);
  const named = `select g.variant_key, g.subject_id from subject_segments g
    where g.experiment_id = $1 and g.dimension = ${dimension}
      and (case when g.value is null then '${NONE_SEGMENT}'
                when g.value = any(${param(c.admitted)}::text[]) then g.value
                else '${OTHER_SEGMENT}' end) = any(${param(c.values)}::text[])`;
  if (!c.values.includes(NONE_SEGMENT)) return named;
  return `${named}
    union all
    select r.variant_key, r.subject_id from report_subjects r
    where r.experiment_id = $1 and r.first_exposed_at is not null
      and not exists (select 1 from subject_segments g
                      where g.experiment_id = $1 and g.variant_key = r.variant_key
                        and g.subject_id = r.subject_id and g.dimension = ${dimension})`;
}

/** A breakdown: a dimension and the values its cap keeps named. */
export interface SegmentBreakdown {
  dimension: string;
  admitted: string[];
}

/**
 * SQL of the segment label ("DE", "(other)", "(none)") of the subject in
 * (`variant`, `subject`) for a breakdown: one primary-key look-up (the
 * columns are compared in the database's default collation, the key's, so
 * "C"-collated inputs can use the index).
 */
export function segmentLabel(
  b: SegmentBreakdown,
  param: (value: unknown) => string,
  variant: string,
  subject: string,
): string {
  return `coalesce((select case when g.value is null then '${NONE_SEGMENT}'
                               when g.value = any(${param(b.admitted)}::text[]) then g.value
                               else '${OTHER_SEGMENT}' end
                    from subject_segments g
                    where g.experiment_id = $1 and g.variant_key = (${variant}) collate "default"
                      and g.subject_id = (${subject}) collate "default"
                      and g.dimension = ${param(b.dimension)}),
                   '${NONE_SEGMENT}')`;
}

/**
 * SQL selecting (variant_key, subject_id, label) of every exposed subject
 * of the experiment for a breakdown, to join events to.
 */
export function segmentLabelsSql(b: SegmentBreakdown, param: (value: unknown) => string): string {
  return `select r.variant_key, r.subject_id,
                 case when g.value is null then '${NONE_SEGMENT}'
                      when g.value = any(${param(b.admitted)}::text[]) then g.value
                      else '${OTHER_SEGMENT}' end as label
          from report_subjects r
          left join subject_segments g
            on g.experiment_id = r.experiment_id and g.variant_key = r.variant_key
           and g.subject_id = r.subject_id and g.dimension = ${param(b.dimension)}
          where r.experiment_id = $1 and r.first_exposed_at is not null`;
}

/** A segment of a dimension with its exposed subjects (any time). */
export interface SegmentCount {
  value: string;
  subjects: number;
}

/**
 * The segments of a dimension in an experiment, as reports name them: the
 * `maxValues` values with the most subjects (ties by value), then
 * "(other)" and "(none)" when they have subjects.
 */
export async function segmentCounts(
  pool: pg.Pool,
  experimentId: string,
  dimension: string,
  maxValues: number,
): Promise<{ admitted: string[]; segments: SegmentCount[] }> {
  const [values, totals] = await Promise.all([
    pool.query<{ value: string; n: string }>(
      `select value, count(*)::text as n from subject_segments
       where experiment_id = $1 and dimension = $2 and value is not null
       group by value order by count(*) desc, value limit $3`,
      [experimentId, dimension, maxValues],
    ),
    pool.query<{ exposed: string; valued: string }>(
      `select (select count(*) from report_subjects
               where experiment_id = $1 and first_exposed_at is not null)::text as exposed,
              (select count(*) from subject_segments
               where experiment_id = $1 and dimension = $2 and value is not null)::text as valued`,
      [experimentId, dimension],
    ),
  ]);
  const named = values.rows.map((r) => ({ value: r.value, subjects: Number(r.n) }));
  const valued = Number(totals.rows[0]?.valued ?? 0);
  const other = valued - named.reduce((n, r) => n + r.subjects, 0);
  const none = Math.max(0, Number(totals.rows[0]?.exposed ?? 0) - valued);
  const segments = [...named];
  if (other > 0) segments.push({ value: OTHER_SEGMENT, subjects: other });
  if (none > 0) segments.push({ value: NONE_SEGMENT, subjects: none });
  return { admitted: named.map((r) => r.value), segments };
}

/**
 * For each of `dimensions`, the values an experiment's exposed subjects
 * carried, most subjects first (ties by value), at most `limit` each.
 */
export async function exposedSegmentValues(
  db: pg.Pool | pg.PoolClient,
  experimentId: string,
  dimensions: readonly string[],
  limit: number,
): Promise<Map<string, string[]>> {
  const { rows } = await db.query<{ dimension: string; value: string }>(
    `select dimension, value from (
       select dimension, value,
              row_number() over (partition by dimension order by count(*) desc, value) as rank
       from subject_segments
       where experiment_id = $1 and dimension = any($2::text[]) and value is not null
       group by dimension, value) ranked
     where rank <= $3 order by dimension, rank`,
    [experimentId, dimensions, limit],
  );
  const values = new Map<string, string[]>();
  for (const r of rows) values.set(r.dimension, [...(values.get(r.dimension) ?? []), r.value]);
  return values;
}

/** SQL of each subject's combination over `g` rows grouped by subject: the JSON text of its values. */
function combinationKey(dimensions: readonly string[], param: (value: unknown) => string): string {
  const values = dimensions.map((d) => `max(g.value) filter (where g.dimension = ${param(d)})`);
  return `jsonb_build_array(${values.join(", ")})::text`;
}

/** SQL true when an exposed subject `r` has no row for any of `dimensions` (a param). */
function noRowFor(dimensions: string): string {
  return `not exists (select 1 from subject_segments g
                      where g.experiment_id = $1 and g.variant_key = r.variant_key
                        and g.subject_id = r.subject_id and g.dimension = any(${dimensions}::text[]))`;
}

/**
 * SQL selecting (variant_key, subject_id) of the subjects whose combination
 * is one of `c.combinations`: one grouped pass over the subjects' rows of
 * the condition's dimensions (a dimension without a row reads as null), and
 * for the combination of nothing but nulls, also the exposed subjects with
 * no row for any of them. Single-table reads, like the dimension
 * conditions', so PostgreSQL hashes the set once per query.
 */
function combinationSubjects(c: CombinationCondition, param: (value: unknown) => string): string {
  const dimensions = param(c.dimensions);
  const named = `select g.variant_key, g.subject_id from subject_segments g
    where g.experiment_id = $1 and g.dimension = any(${dimensions}::text[])
    group by g.variant_key, g.subject_id
    having ${combinationKey(c.dimensions, param)} = any(${param(c.combinations)}::text[])`;
  const nothing = JSON.stringify(c.dimensions.map(() => null));
  if (!c.combinations.some((k) => sameNulls(k, nothing))) return named;
  return `${named}
    union all
    select r.variant_key, r.subject_id from report_subjects r
    where r.experiment_id = $1 and r.first_exposed_at is not null and ${noRowFor(dimensions)}`;
}

/** Whether a combination key (jsonb text) is the combination of nulls only. */
function sameNulls(key: string, nothing: string): boolean {
  return JSON.stringify(JSON.parse(key)) === nothing;
}

/** At most this many distinct combinations are read for a saved segment filter. */
export const MAX_COMBINATIONS = 100_000;

/**
 * The distinct combinations of recorded values of `dimensions` among the
 * experiment's exposed subjects: `key` as CombinationCondition expects it,
 * `values` in the order of `dimensions` (null: no value recorded). Null
 * when there are more than {@link MAX_COMBINATIONS}.
 */
export async function recordedCombinations(
  pool: pg.Pool,
  experimentId: string,
  dimensions: readonly string[],
): Promise<{ key: string; values: (string | null)[] }[] | null> {
  const params: unknown[] = [experimentId];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const list = param(dimensions);
  const nothing = JSON.stringify(dimensions.map(() => null));
  const { rows } = await pool.query<{ key: string }>(
    `select key from (
       select distinct ${combinationKey(dimensions, param)} as key from subject_segments g
       where g.experiment_id = $1 and g.dimension = any(${list}::text[])
       group by g.variant_key, g.subject_id
       union
       select ${param(nothing)}::jsonb::text from report_subjects r
       where r.experiment_id = $1 and r.first_exposed_at is not null and ${noRowFor(list)}
     ) k
     limit ${MAX_COMBINATIONS + 1}`,
    params,
  );
  if (rows.length > MAX_COMBINATIONS) return null;
  return rows.map((r) => ({ key: r.key, values: JSON.parse(r.key) as (string | null)[] }));
}
