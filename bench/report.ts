/**
 * P5: GetExperimentReport over 10,000,000 stored events — the time
 * ReportBuilder.build takes (aggregates, series and data health: the whole
 * report but the plan) for several windows of one experiment.
 *
 * One flag with a running 50/50 experiment (control / treatment): primary
 * metric conversion_rate, secondary conversions, latency_mean, error_rate
 * and latency_p95. Its events are written straight into the `events` table
 * with `insert … select … from generate_series` (BENCH_REPORT_EVENTS,
 * default 10,000,000, in statements of 1,000,000 rows), spread over the 14
 * days before now − 1 h, for BENCH_REPORT_SUBJECTS subjects (default
 * 500,000; even ones control, odd ones treatment). Each subject's first
 * exposure falls in the first 95 % of that span and its other events
 * between it and the end. The mix: 10 % exposures (one per subject, plus
 * 5.3 % of the rest), 20 % conversions (from the ~31.5 % of subjects who
 * convert; half carry a number `value`), 10 % errors, 60 % latency events
 * with a number `ms`; every exposure carries its subject's `country` (20
 * values, c00…c19), a dimension declared through CatalogService before the
 * rebuild, so `subject_segments` is filled. The experiment's start is moved to the first event;
 * ingest_stats gets the stored count per day. Then rebuildRollups fills
 * every rollup table from the raw events (timed), and the tables are
 * vacuumed and analysed. The `event_ids` and `exposures` tables stay empty:
 * reports do not read them.
 *
 * Windows: the default one (experiment start … now), the last 24 hours,
 * the last 7 days, and experiment start … now − 3 days (events exist after
 * its end, so the per-subject figures come from the raw events); then the
 * whole experiment filtered to one country, and broken down by country
 * (20 segments). Each gets
 * one warm-up build, then up to 15 timed builds, fewer when they have taken
 * BENCH_REPORT_WINDOW_BUDGET_S (default 60 s) together (at least 3). The
 * time of each SQL statement the builds issue is printed to stderr per
 * window; BENCH_REPORT_EXPLAIN=1 also prints EXPLAIN ANALYZE of each.
 *
 * Needs PostgreSQL and NATS (BENCH_DATABASE_ADMIN_URL, BENCH_NATS_URL).
 */
import pg from "pg";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { SegmentConditionSchema, type Report } from "../gen/lotty/reports/v1/reports_pb.js";
import { rebuildRollups, ROLLUP_TABLES } from "../src/analytics/index.js";
import type { WindowRequest } from "../src/analytics/index.js";
import { CatalogService } from "../gen/lotty/catalog/v1/catalog_pb.js";
import { resolveSegments, WHOLE_EXPERIMENT, type SegmentQuery } from "../src/reports/segments.js";
import { client } from "../test/support/clients.js";
import { seedRunningExperiments, withBenchApp, type BenchApp } from "./support.js";

const EVENTS = Number(process.env.BENCH_REPORT_EVENTS ?? 10_000_000);
const SUBJECTS = Number(process.env.BENCH_REPORT_SUBJECTS ?? 500_000);
const CHUNK = 1_000_000;
const DAYS = 14;
const RUNS = 15;
const MIN_RUNS = 3;
const WINDOW_BUDGET_MS = Number(process.env.BENCH_REPORT_WINDOW_BUDGET_S ?? 60) * 1000;
const EXPLAIN = process.env.BENCH_REPORT_EXPLAIN === "1";
/** Values of the `country` dimension every exposure carries (subject mod COUNTRIES). */
const COUNTRIES = 20;
/** The seeded experiment's flag and its metrics besides the primary conversion_rate. */
export const FLAG_KEY = "checkout_redesign";
export const METRIC_KEYS = ["conversions", "latency_mean", "error_rate", "latency_p95"];
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * The rows n of [$1, $2]: subject n mod $3, events between $4 and $5 (epoch
 * seconds). u(n, seed) is a deterministic uniform number in [0, 1).
 */
const GENERATE = `
  insert into events (event_id, event_type, decision_id, flag_key, experiment_id, variant_key,
                      subject_id, occurred_at, received_at, properties, counted)
  select 'e-' || n, event_type,
         case when event_type = 'exposure' then 'd-' || n else 'd-' || s end,
         $6::text, $7::uuid, case when s % 2 = 0 then 'control' else 'treatment' end,
         'subject-' || s, to_timestamp(at), to_timestamp(at + 2),
         case event_type
           when 'latency' then jsonb_build_object('ms',
             round((20 + 80 * -ln(1 - u7) * case when s % 2 = 0 then 1.0 else 1.05 end)::numeric))
           when 'conversion' then
             case when u7 < 0.5 then jsonb_build_object('value', round((10 + 180 * u7)::numeric, 2))
                  else '{}'::jsonb end
           when 'error' then jsonb_build_object('code', 'E' || (500 + n % 4))
           when 'exposure' then jsonb_build_object('country', 'c' || lpad((s % $8)::text, 2, '0'))
           else '{}'::jsonb
         end,
         true
  from (
    select n, s, t0, u7,
           case when n < $3 then t0 else t0 + u2 * ($5::float8 - t0) end as at,
           case
             when n < $3 or u4 < 0.0526 then 'exposure'
             when u4 < 0.1579 then 'error'
             when converter and u4 < 0.8259 then 'conversion'
             else 'latency'
           end as event_type
    from (
      select n, s,
             $4::float8 + (hashint8extended(s, 1) & 2147483647)::float8 / 2147483648 * 0.95
               * ($5::float8 - $4::float8) as t0,
             (hashint8extended(n, 2) & 2147483647)::float8 / 2147483648 as u2,
             (hashint8extended(n, 4) & 2147483647)::float8 / 2147483648 as u4,
             (hashint8extended(n, 7) & 2147483647)::float8 / 2147483648 as u7,
             (hashint8extended(s, 5) & 2147483647)::float8 / 2147483648
               < case when s % 2 = 0 then 0.30 else 0.33 end as converter
      from (select n, n % $3::bigint as s from generate_series($1::bigint, $2::bigint) as g(n)) as g
    ) as r
  ) as e`;

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** A short name for a statement the report builder issues. */
function statementName(sql: string): string {
  const series = sql.includes("floor(extract") ? "series_" : "";
  if (sql.includes("exists (select 1 from event_counts")) return "has_events_from";
  if (sql.includes("with cohort as"))
    return sql.includes("from events") ? "subject_figures_raw" : "subject_figures";
  if (sql.includes("from cohort_stats")) return "cohort_figures";
  if (sql.includes("hour_value_histograms")) return `${series}percentile_histogram`;
  if (sql.includes("coalesce(sum(events), 0)::text as n from minute_property_stats"))
    return "percentile_value_count";
  if (sql.includes("minute_property_stats")) return `${series}event_figures`;
  if (sql.includes("from ingest_stats")) return "health_ingest_stats";
  if (sql.includes("from pending_attributions")) return "health_pending";
  if (sql.includes("percentile_disc")) return "series_percentile";
  if (sql.includes("grouping sets")) return "percentile_counts";
  if (sql.includes("row_number()")) return "percentile_values";
  if (sql.includes("(properties ->> $5)::numeric::text")) return `${series}percentile_exact_values`;
  if (sql.includes("join subject_event_counts c")) return "series_conversions";
  if (sql.includes("from report_subjects")) return "series_cohort";
  return sql.replace(/\s+/g, " ").trim().slice(0, 40);
}

interface Statement {
  name: string;
  text: string;
  values: unknown[] | undefined;
  ms: number;
}

/** Records every statement run through `pool.query(text, values)`. */
function recordStatements(pool: pg.Pool): { log: Statement[] | undefined; restore: () => void } {
  const original = pool.query;
  const call = original.bind(pool) as (text: string, values?: unknown[]) => Promise<unknown>;
  const recorder: { log: Statement[] | undefined; restore: () => void } = {
    log: undefined,
    restore: () => {
      pool.query = original;
    },
  };
  const timed = async (text: string, values?: unknown[]) => {
    const started = performance.now();
    try {
      return await call(text, values);
    } finally {
      recorder.log?.push({
        name: statementName(text),
        text,
        values,
        ms: performance.now() - started,
      });
    }
  };
  pool.query = timed as unknown as typeof pool.query;
  return recorder;
}

export interface SeededReport {
  experimentId: string;
  /** What was stored and how long it took, as report's figures (events … rollup rows). */
  figures: Record<string, number>;
}

/**
 * Seeds the P5 experiment on a bench app: the flag FLAG_KEY with a running
 * 50/50 experiment (metrics METRIC_KEYS besides conversion_rate), `events`
 * events of `subjects` subjects written straight into the event store over
 * the 14 days before now − 1 h, the experiment's start moved to the first
 * event, ingest_stats filled, every rollup rebuilt, the tables vacuumed and
 * analysed. Progress goes to stderr after `label`. Shared by the report (P5)
 * and console (P11) benchmarks.
 */
export async function seedReportExperiment(
  bench: BenchApp,
  options: { events: number; subjects: number; label: string },
): Promise<SeededReport> {
  const { app, baseUrl, adminKey, databaseUrl } = bench;
  const { events: EVENTS, subjects: SUBJECTS, label } = options;
  const { experimentIds } = await seedRunningExperiments(baseUrl, adminKey, [
    { key: FLAG_KEY, targetingRule: "", metricKeys: METRIC_KEYS },
  ]);
  const experimentId = experimentIds[0]!;
  // The breakdown's dimension: every exposure carries its subject's country.
  await client(CatalogService, baseUrl, adminKey).createDimension({
    dimension: { key: "country", displayName: "Country", maxValues: 50 },
  });
  const store = app.eventStore;
  if (store === undefined) throw new Error("no database");
  // Set-up statements run for minutes: a pool of our own, without the
  // app's statement timeouts (as `npm run reports:rebuild`).
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const figures: Record<string, number> = {};
  try {
    const end = Date.now() - HOUR_MS;
    const start = end - DAYS * DAY_MS;
    await pool.query(`update experiments set started_at = $2 where id = $1`, [
      experimentId,
      new Date(start),
    ]);
    const days: number[] = [];
    for (let t = start; t < end + DAY_MS; t += DAY_MS) days.push(Math.min(t, end));
    await store.ensurePartitions(days);

    await pool.query("set synchronous_commit = off");
    const generateStarted = performance.now();
    for (let first = 0; first < EVENTS; first += CHUNK) {
      const last = Math.min(EVENTS, first + CHUNK) - 1;
      const t = performance.now();
      await pool.query(GENERATE, [
        first,
        last,
        SUBJECTS,
        start / 1000,
        end / 1000,
        FLAG_KEY,
        experimentId,
        COUNTRIES,
      ]);
      process.stderr.write(
        `${label}: events ${first}..${last} inserted in ${round((performance.now() - t) / 1000)} s\n`,
      );
    }
    const generateMs = performance.now() - generateStarted;
    await pool.query(
      `insert into ingest_stats (day, experiment_id, result, reason, events)
       select (occurred_at at time zone 'UTC')::date, experiment_id::text, 'stored', '', count(*)
       from events where experiment_id = $1 group by 1, 2`,
      [experimentId],
    );
    await pool.query("set synchronous_commit = on");

    const rebuildStarted = performance.now();
    const rebuilt = await rebuildRollups(pool, experimentId);
    const rebuildMs = performance.now() - rebuildStarted;
    process.stderr.write(`${label}: rebuilt ${JSON.stringify(rebuilt.rows)}\n`);
    const vacuumStarted = performance.now();
    await pool.query(`vacuum (analyze) events, ingest_stats, ${ROLLUP_TABLES.join(", ")}`);
    const vacuumMs = performance.now() - vacuumStarted;

    const counts = (
      await pool.query<{ events: string; subjects: string; exposures: string; mb: string }>(
        `select (select count(*) from events)::text as events,
                (select count(*) from report_subjects where experiment_id = $1)::text as subjects,
                (select count(*) from events where event_type = 'exposure')::text as exposures,
                (pg_total_relation_size('events') + (select coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)
                   from pg_inherits i where i.inhparent = 'events'::regclass))::text as mb`,
        [experimentId],
      )
    ).rows[0]!;
    Object.assign(figures, {
      events: Number(counts.events),
      subjects: Number(counts.subjects),
      exposure_events: Number(counts.exposures),
      events_table_mb: Math.round(Number(counts.mb) / 2 ** 20),
      generate_s: round(generateMs / 1000),
      rebuild_rollups_s: round(rebuildMs / 1000),
      vacuum_analyze_s: round(vacuumMs / 1000),
    });
    for (const table of ROLLUP_TABLES) figures[`${table}_rows`] = rebuilt.rows[table];
    return { experimentId, figures };
  } finally {
    await pool.end();
  }
}

export async function report(): Promise<Record<string, number>> {
  return withBenchApp(async (bench) => {
    const { app, databaseUrl } = bench;
    const seeded = await seedReportExperiment(bench, {
      events: EVENTS,
      subjects: SUBJECTS,
      label: "report",
    });
    const experimentId = seeded.experimentId;
    const reportPool = app.reportPool;
    if (reportPool === undefined) throw new Error("no database");
    // For BENCH_REPORT_EXPLAIN: a pool without the app's statement timeouts.
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const figures: Record<string, number> = { ...seeded.figures };
    try {
      const builder = app.reports.builder;
      const plan = await builder.plan(experimentId);
      const now = Date.now();
      const byCountry = await resolveSegments(reportPool, experimentId, {
        segment: [],
        breakdownDimension: "country",
      });
      const oneCountry = await resolveSegments(reportPool, experimentId, {
        segment: [create(SegmentConditionSchema, { dimension: "country", values: ["c07"] })],
        breakdownDimension: "",
      });
      const windows: [string, WindowRequest, SegmentQuery][] = [
        ["full", { bucketSeconds: 0 }, WHOLE_EXPERIMENT],
        ["last_24h", { from: timestampFromMs(now - DAY_MS), bucketSeconds: 0 }, WHOLE_EXPERIMENT],
        [
          "last_7d",
          { from: timestampFromMs(now - 7 * DAY_MS), bucketSeconds: 0 },
          WHOLE_EXPERIMENT,
        ],
        [
          "ended_3d_ago",
          { to: timestampFromMs(now - 3 * DAY_MS), bucketSeconds: 0 },
          WHOLE_EXPERIMENT,
        ],
        ["segment_one_country", { bucketSeconds: 0 }, oneCountry],
        ["breakdown_country", { bucketSeconds: 0 }, byCountry],
      ];
      const recorder = recordStatements(reportPool);
      try {
        for (const [name, request, segments] of windows) {
          const window = builder.window(plan, request);
          const check = (r: Report) => {
            const metrics = r.variants[0]?.metrics.length ?? 0;
            if (r.variants.length !== 2 || metrics !== 1 + METRIC_KEYS.length || r.subjects === 0) {
              throw new Error(`${name}: unexpected report ${JSON.stringify(r.variants.length)}`);
            }
            return r;
          };
          const warm = check(await builder.build(plan, window, segments));
          if (segments.breakdown !== undefined && warm.segmentsCompared !== COUNTRIES) {
            throw new Error(`${name}: ${warm.segmentsCompared} segments, not ${COUNTRIES}`);
          }
          const times: number[] = [];
          recorder.log = [];
          const started = performance.now();
          while (
            times.length < RUNS &&
            (times.length < MIN_RUNS || performance.now() - started < WINDOW_BUDGET_MS)
          ) {
            const t = performance.now();
            check(await builder.build(plan, window, segments));
            times.push(performance.now() - t);
          }
          const log = recorder.log;
          recorder.log = undefined;
          times.sort((a, b) => a - b);
          figures[`${name}_p50_ms`] = round(percentile(times, 0.5));
          figures[`${name}_p95_ms`] = round(percentile(times, 0.95));
          figures[`${name}_runs`] = times.length;
          figures[`${name}_subjects`] = warm.subjects;
          figures[`${name}_bucket_seconds`] = window.bucketSeconds;
          const byName = new Map<string, Statement[]>();
          for (const s of log) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
          const lines = [...byName]
            .map(([statement, list]) => {
              const ms = list.map((s) => s.ms).sort((a, b) => a - b);
              return { statement, p50: percentile(ms, 0.5), sample: list[0]! };
            })
            .sort((a, b) => b.p50 - a.p50);
          process.stderr.write(
            `report: ${name} [${new Date(window.from).toISOString()}, ${new Date(window.to).toISOString()}) ` +
              `bucket ${window.bucketSeconds} s, ${times.length} runs, p50 ${round(percentile(times, 0.5))} ms\n` +
              lines.map((l) => `  ${l.statement}: p50 ${round(l.p50)} ms\n`).join(""),
          );
          if (EXPLAIN) {
            for (const { statement, sample } of lines) {
              const { rows } = await pool.query<{ "QUERY PLAN": string }>(
                `explain (analyze, buffers) ${sample.text}`,
                sample.values,
              );
              process.stderr.write(
                `report: ${name} ${statement}\n${rows.map((r) => r["QUERY PLAN"]).join("\n")}\n`,
              );
            }
          }
        }
      } finally {
        recorder.restore();
      }
      return figures;
    } finally {
      await pool.end();
    }
  });
}
