/**
 * Figures of the metrics computed from the raw events of the report's
 * cohort (docs/funnels.md): funnels, retention and sessions. Each is one
 * query over the subjects first exposed in [from, to) (report_subjects,
 * restricted to a segment filter when there is one, grouped by segment
 * label for a breakdown) joined to their counted events in [from, to);
 * every time is counted from the subject's own first exposure t0.
 *
 * - FUNNEL: per step, the subjects reaching it within [t0, t0 + window).
 *   STRICT: step k is reached at the earliest event of step k strictly
 *   after the time step k − 1 was reached (per subject, over arrays of its
 *   steps' times). LOOSE: step k is reached when every step 1..k
 *   has an event in the window.
 * - RETENTION: subjects whose days day_from..day_to end at or before `to`
 *   (eligible), those of them with an event of the type in those days
 *   (retained), and the others (maturing).
 * - SESSION_COUNT / SESSION_DURATION: a subject's events at or after t0,
 *   in time order, split where two consecutive ones are more than the gap
 *   apart; Σx and Σx² over the cohort of x = sessions, or seconds in
 *   sessions (Σ of the gaps not longer than the gap), 0 without events.
 *
 * Counts are read as text and sums as numeric, so the same events always
 * give the same figures.
 */
import type pg from "pg";
import type { PropertyFilterConfig } from "../catalog/lookup.js";
import type { PlannedMetric, ReportPlan } from "./plan.js";
import type { ReportWindow } from "./window.js";
import {
  segmentLabel,
  segmentPredicate,
  type SegmentBreakdown,
  type SegmentFilter,
} from "./segments.js";

/** One cohort metric's figures for one group of subjects (a variant, or all). */
export interface CohortMetricFigures {
  /** Subjects of the cohort. */
  subjects: number;
  /** FUNNEL: subjects reaching each step. */
  steps: number[];
  /** RETENTION: subjects whose counted days have elapsed before `to`. */
  eligible: number;
  /** RETENTION: eligible subjects with an event in the counted days. */
  retained: number;
  /** RETENTION: subjects whose counted days end after `to`. */
  maturing: number;
  /** Sessions: Σx and Σx² over the cohort. */
  sum: number;
  sumSquares: number;
}

/** By segment label ("" without a breakdown), then variant key ("" = all variants). */
export type CohortMetricResults = Map<string, Map<string, CohortMetricFigures>>;

const DAY_SECONDS = 86_400;

export function emptyCohortFigures(steps = 0): CohortMetricFigures {
  return {
    subjects: 0,
    steps: new Array<number>(steps).fill(0),
    eligible: 0,
    retained: 0,
    maturing: 0,
    sum: 0,
    sumSquares: 0,
  };
}

function addInto(a: CohortMetricFigures, b: CohortMetricFigures): void {
  a.subjects += b.subjects;
  b.steps.forEach((n, i) => (a.steps[i] = (a.steps[i] ?? 0) + n));
  a.eligible += b.eligible;
  a.retained += b.retained;
  a.maturing += b.maturing;
  a.sum += b.sum;
  a.sumSquares += b.sumSquares;
}

const SQL_OPERATORS = { eq: "=", ne: "<>", gt: ">", ge: ">=", lt: "<", le: "<=" } as const;

/** SQL matching a step's property filter on events `e`. */
function filterSql(f: PropertyFilterConfig, param: (value: unknown) => string): string {
  const property = param(f.property);
  const op = SQL_OPERATORS[f.operator];
  switch (f.type) {
    case "number":
      // CASE: SQL does not promise to test the type before the cast.
      return `(case when jsonb_typeof(e.properties -> ${property}) = 'number'
               then (e.properties ->> ${property})::numeric end ${op} ${param(f.value)}::numeric)`;
    case "bool":
      return `(jsonb_typeof(e.properties -> ${property}) = 'boolean'
               and (e.properties ->> ${property}) ${op} ${param(f.value)})`;
    default:
      return `(jsonb_typeof(e.properties -> ${property}) = 'string'
               and (e.properties ->> ${property}) collate "C" ${op} ${param(f.value)} collate "C")`;
  }
}

/**
 * The figures of one FUNNEL, RETENTION or session metric for the report's
 * cohort, per variant and for all variants together (""), by segment
 * label when `breakdown` is given ("" otherwise).
 */
export async function cohortMetricFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  window: ReportWindow,
  metric: PlannedMetric,
  segment: SegmentFilter = [],
  breakdown?: SegmentBreakdown,
): Promise<CohortMetricResults> {
  const params: unknown[] = [plan.experimentId, new Date(window.from), new Date(window.to)];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const label =
    breakdown === undefined
      ? `''`
      : segmentLabel(breakdown, param, "r.variant_key", "r.subject_id");
  const cohort = `select r.variant_key, r.subject_id, r.first_exposed_at as t0, ${label} as label
    from report_subjects r
    where r.experiment_id = $1 and r.first_exposed_at >= $2 and r.first_exposed_at < $3
      and ${segmentPredicate(segment, param, "r.variant_key", "r.subject_id")}`;
  // The cohort's counted events in [from, to) (t0 ≥ from: nothing earlier counts).
  const events = (types: string | null, extra: string) => `from cohort c
    join events e on e.variant_key = c.variant_key and e.subject_id = c.subject_id
    where e.experiment_id = $1 and e.counted and e.occurred_at >= $2 and e.occurred_at < $3
      ${types === null ? "" : `and e.event_type = any(${types}::text[])`}
      and e.occurred_at >= c.t0 ${extra}`;
  const definition = metric.definition ?? {};
  let select: string;
  let steps = 0;
  const columns: string[] = [];
  if (metric.kind === "funnel" && definition.funnel !== undefined) {
    const funnel = definition.funnel;
    steps = funnel.steps.length;
    const types = param([...new Set(funnel.steps.map((s) => s.eventType))]);
    const seconds = param(funnel.windowSeconds);
    const matches = funnel.steps.map(
      (s, i) =>
        `(e.event_type = ${param(s.eventType)}${s.filter === null ? "" : ` and ${filterSql(s.filter, param)}`}) as m${i}`,
    );
    const ev = `ev as (
      select c.variant_key, c.subject_id, e.occurred_at as at, ${matches.join(", ")}
      ${events(types, `and e.occurred_at < c.t0 + ${seconds}::bigint * interval '1 second'`)})`;
    const on = (a: string) => `${a}.variant_key = c.variant_key and ${a}.subject_id = c.subject_id`;
    if (funnel.order === "strict") {
      // Per subject, each step's event times; step k is reached at the
      // earliest time of step k strictly after step k − 1's (lateral
      // scans of the subject's own small arrays: no join across subjects
      // whose plan could depend on row estimates).
      const arrays = funnel.steps.map((_, i) => `array_agg(at) filter (where m${i}) as a${i}`);
      const laterals = funnel.steps.map((_, i) =>
        i === 0
          ? `cross join lateral (select min(x) as r0 from unnest(p.a0) as x) as l0`
          : `cross join lateral (select min(x) as r${i} from unnest(p.a${i}) as x where x > l${i - 1}.r${i - 1}) as l${i}`,
      );
      select = `with cohort as (${cohort}), ${ev},
        per as (select variant_key, subject_id, ${arrays.join(", ")} from ev group by 1, 2),
        reach as (
          select p.variant_key, p.subject_id ${funnel.steps.map((_, i) => `, l${i}.r${i}`).join("")}
          from per p ${laterals.join(" ")})
        select c.label, c.variant_key, count(*)::text as subjects
          ${funnel.steps.map((_, i) => `, count(x.r${i})::text as r${i}`).join("")}
        from cohort c left join reach x on ${on("x")}
        group by 1, 2`;
    } else {
      const flags = funnel.steps.map((_, i) => `bool_or(m${i}) as b${i}`);
      select = `with cohort as (${cohort}), ${ev},
        per as (select variant_key, subject_id, ${flags.join(", ")} from ev group by 1, 2)
        select c.label, c.variant_key, count(*)::text as subjects
          ${funnel.steps
            .map(
              (_, i) =>
                `, count(*) filter (where ${funnel.steps
                  .map((__, j) => `p.b${j}`)
                  .slice(0, i + 1)
                  .join(" and ")})::text as r${i}`,
            )
            .join("")}
        from cohort c left join per p on ${on("p")}
        group by 1, 2`;
    }
    columns.push(...funnel.steps.map((_, i) => `r${i}`));
  } else if (metric.kind === "retention" && definition.retention !== undefined) {
    const { dayFrom, dayTo } = definition.retention;
    const start = param(dayFrom * DAY_SECONDS);
    const end = param((dayTo + 1) * DAY_SECONDS);
    const matured = `c.t0 + ${end}::bigint * interval '1 second' <= $3`;
    select = `with cohort as (${cohort}),
      retained as (
        select distinct c.variant_key, c.subject_id
        ${events(
          param([metric.eventType]),
          `and ${matured}
           and e.occurred_at >= c.t0 + ${start}::bigint * interval '1 second'
           and e.occurred_at < c.t0 + ${end}::bigint * interval '1 second'`,
        )})
      select c.label, c.variant_key, count(*)::text as subjects,
             count(*) filter (where ${matured})::text as eligible,
             count(*) filter (where not (${matured}))::text as maturing,
             count(x.subject_id)::text as retained
      from cohort c left join retained x on x.variant_key = c.variant_key and x.subject_id = c.subject_id
      group by 1, 2`;
  } else if (metric.kind === "session_count" || metric.kind === "session_duration") {
    const gap = `${param(definition.session?.gapSeconds ?? 1800)}::bigint * interval '1 second'`;
    const x =
      metric.kind === "session_count"
        ? `count(*) filter (where gap is null or gap > ${gap})::numeric`
        : `coalesce(extract(epoch from sum(gap) filter (where gap <= ${gap})), 0)::numeric`;
    select = `with cohort as (${cohort}),
      ev as (
        select c.variant_key, c.subject_id,
               e.occurred_at - lag(e.occurred_at) over (
                 partition by c.variant_key, c.subject_id order by e.occurred_at) as gap
        ${events(metric.eventType === "" ? null : param([metric.eventType]), "")}),
      per as (select variant_key, subject_id, ${x} as x from ev group by 1, 2)
      select c.label, c.variant_key, count(*)::text as subjects,
             coalesce(sum(p.x), 0)::text as total, coalesce(sum(p.x * p.x), 0)::text as squares
      from cohort c left join per p on p.variant_key = c.variant_key and p.subject_id = c.subject_id
      group by 1, 2`;
  } else {
    return new Map();
  }
  const { rows } = await pool.query<Record<string, string>>(select, params);
  const out: CohortMetricResults = new Map();
  for (const row of rows) {
    const byVariant = out.get(row.label ?? "") ?? new Map<string, CohortMetricFigures>();
    out.set(row.label ?? "", byVariant);
    const f: CohortMetricFigures = {
      subjects: Number(row.subjects),
      steps: columns.map((c) => Number(row[c] ?? 0)),
      eligible: Number(row.eligible ?? 0),
      retained: Number(row.retained ?? 0),
      maturing: Number(row.maturing ?? 0),
      sum: Number(row.total ?? 0),
      sumSquares: Number(row.squares ?? 0),
    };
    byVariant.set(row.variant_key ?? "", f);
    const all = byVariant.get("") ?? emptyCohortFigures(steps);
    addInto(all, f);
    byVariant.set("", all);
  }
  return out;
}
