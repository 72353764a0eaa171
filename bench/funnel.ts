/**
 * Funnel, retention and session reports over 10,000,000 stored events (the
 * P5 data of bench/report.ts, seeded by its seedReportExperiment: 14 days,
 * 500,000 subjects, exposures, conversions, errors, latencies, a `country`
 * dimension). The time ReportBuilder.build takes for a report whose only
 * metric is one of:
 *
 * - funnel_strict: exposure → error → conversion, STRICT, 3-day window;
 * - funnel_loose: the same steps, LOOSE;
 * - retention_d1: day-1 retention on conversion;
 * - sessions: SESSION_COUNT over every event, 30-minute gap;
 *
 * each over the whole experiment, and the strict funnel also broken down by
 * country (20 segments; P5's breakdown budget is 1 s). The experiment's
 * configuration is pointed at one metric at a time (primary, no secondary
 * metrics) straight in the database, so each build reads exactly that
 * metric. One warm-up build, then up to 10 timed builds, fewer when they
 * have taken BENCH_FUNNEL_BUDGET_S (default 60 s) together (at least 3).
 *
 * Needs PostgreSQL and NATS (BENCH_DATABASE_ADMIN_URL, BENCH_NATS_URL);
 * BENCH_REPORT_EVENTS and BENCH_REPORT_SUBJECTS size the data as for P5.
 */
import pg from "pg";
import type { Report } from "../gen/lotty/reports/v1/reports_pb.js";
import {
  CatalogService,
  FunnelOrder,
  MetricKind,
  type Metric,
} from "../gen/lotty/catalog/v1/catalog_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { MetricSchema } from "../gen/lotty/catalog/v1/catalog_pb.js";
import { resolveSegments, WHOLE_EXPERIMENT, type SegmentQuery } from "../src/reports/segments.js";
import { client } from "../test/support/clients.js";
import { withBenchApp } from "./support.js";
import { seedReportExperiment } from "./report.js";

const EVENTS = Number(process.env.BENCH_REPORT_EVENTS ?? 10_000_000);
const SUBJECTS = Number(process.env.BENCH_REPORT_SUBJECTS ?? 500_000);
const RUNS = 10;
const MIN_RUNS = 3;
const BUDGET_MS = Number(process.env.BENCH_FUNNEL_BUDGET_S ?? 60) * 1000;
const COUNTRIES = 20;

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const STEPS = [
  { eventTypeKey: "exposure" },
  { eventTypeKey: "error" },
  { eventTypeKey: "conversion" },
];

const METRICS: MessageInitShape<typeof MetricSchema>[] = [
  {
    key: "bench_funnel_strict",
    name: "Exposure → error → conversion (strict)",
    kind: MetricKind.FUNNEL,
    funnel: { steps: STEPS, conversionWindowSeconds: 3n * 86_400n, order: FunnelOrder.STRICT },
  },
  {
    key: "bench_funnel_loose",
    name: "Exposure, error, conversion (loose)",
    kind: MetricKind.FUNNEL,
    funnel: { steps: STEPS, conversionWindowSeconds: 3n * 86_400n, order: FunnelOrder.LOOSE },
  },
  {
    key: "bench_retention_d1",
    name: "Day-1 conversion retention",
    kind: MetricKind.RETENTION,
    eventTypeKey: "conversion",
    retention: { dayFrom: 1, dayTo: 1 },
  },
  {
    key: "bench_sessions",
    name: "Sessions per subject",
    kind: MetricKind.SESSION_COUNT,
  },
];

export async function funnel(): Promise<Record<string, number>> {
  return withBenchApp(async (bench) => {
    const { app, baseUrl, adminKey, databaseUrl } = bench;
    const seeded = await seedReportExperiment(bench, {
      events: EVENTS,
      subjects: SUBJECTS,
      label: "funnel",
    });
    const { experimentId } = seeded;
    const catalog = client(CatalogService, baseUrl, adminKey);
    const created: Metric[] = [];
    for (const metric of METRICS) {
      const { metric: m } = await catalog.createMetric({ metric });
      if (m !== undefined) created.push(m);
    }
    const reportPool = app.reportPool;
    if (reportPool === undefined) throw new Error("no database");
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const figures: Record<string, number> = {
      events: seeded.figures.events ?? 0,
      subjects: seeded.figures.subjects ?? 0,
    };
    try {
      const byCountry = await resolveSegments(reportPool, experimentId, {
        segment: [],
        breakdownDimension: "country",
      });
      const scenarios: [string, string, SegmentQuery][] = [
        ["funnel_strict", "bench_funnel_strict", WHOLE_EXPERIMENT],
        ["funnel_loose", "bench_funnel_loose", WHOLE_EXPERIMENT],
        ["retention_d1", "bench_retention_d1", WHOLE_EXPERIMENT],
        ["sessions", "bench_sessions", WHOLE_EXPERIMENT],
        ["funnel_strict_breakdown_country", "bench_funnel_strict", byCountry],
      ];
      const builder = app.reports.builder;
      for (const [name, metricKey, segments] of scenarios) {
        await pool.query(`update experiments set config = config || $2::jsonb where id = $1`, [
          experimentId,
          JSON.stringify({ primaryMetricKey: metricKey, metricKeys: [] }),
        ]);
        const plan = await builder.plan(experimentId);
        const window = builder.window(plan, { bucketSeconds: 0 });
        const check = (r: Report) => {
          const m = r.variants[0]?.metrics[0];
          if (m?.metricKey !== metricKey || r.subjects === 0) {
            throw new Error(`${name}: unexpected report`);
          }
          return r;
        };
        const warm = check(await builder.build(plan, window, segments));
        if (segments.breakdown !== undefined && warm.segmentsCompared !== COUNTRIES) {
          throw new Error(`${name}: ${warm.segmentsCompared} segments, not ${COUNTRIES}`);
        }
        const times: number[] = [];
        const started = performance.now();
        while (
          times.length < RUNS &&
          (times.length < MIN_RUNS || performance.now() - started < BUDGET_MS)
        ) {
          const t = performance.now();
          check(await builder.build(plan, window, segments));
          times.push(performance.now() - t);
        }
        times.sort((a, b) => a - b);
        figures[`${name}_p50_ms`] = round(percentile(times, 0.5));
        figures[`${name}_p95_ms`] = round(percentile(times, 0.95));
        figures[`${name}_runs`] = times.length;
        const headline = warm.metrics[0];
        figures[`${name}_value`] = round(headline?.value ?? 0, 4);
        if (headline?.retention !== undefined) {
          figures[`${name}_maturing`] = headline.retention.maturingSubjects;
        }
        process.stderr.write(
          `funnel: ${name} ${times.length} runs, p50 ${round(percentile(times, 0.5))} ms, ` +
            `value ${headline?.value}\n`,
        );
      }
      figures.metrics_created = created.length;
      return figures;
    } finally {
      await pool.end();
    }
  });
}
