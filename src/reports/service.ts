/**
 * lotty.reports.v1.ReportService: reports for any window, a live view,
 * exports (audited) and the snapshot stored at completion.
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { create, fromJsonString } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { EntityManager } from "@mikro-orm/core";
import type pg from "pg";
import { Outcome } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import {
  ExportFormat,
  ReportSchema,
  type ReportService,
  type WatchExperimentReportResponse,
  WatchExperimentReportResponseSchema,
} from "../../gen/lotty/reports/v1/reports_pb.js";
import { Experiment } from "../experiments/lookup.js";
import { requirePrincipal } from "../platform/auth.js";
import { mutate } from "../platform/mutation.js";
import { FieldViolations, notFound } from "../platform/errors.js";
import { sleep } from "../platform/timing.js";
import { checkUuid } from "../platform/validation.js";
import { ReportBuilder } from "./builder.js";
import { reportCsv, reportFilename, reportJson } from "./export.js";
import { listSegmentValues, resolveSegments, type SegmentRequest } from "./segments.js";

/** Audit entries of exports: entity type, and the experiment's id as entity id. */
export const EXPORT_AUDIT_ENTITY = "experiment_report";

/** A watcher checks for new data this often, and pushes at most this often. */
export const WATCH_POLL_MS = 1_000;
/** A watcher pushes a fresh report at least this often. */
export const WATCH_HEARTBEAT_MS = 30_000;

const OUTCOMES: Record<string, Outcome> = {
  rollout: Outcome.ROLLOUT,
  rollback: Outcome.ROLLBACK,
  no_effect: Outcome.NO_EFFECT,
};

function checkExperimentId(id: string): void {
  const v = new FieldViolations();
  checkUuid(v, "experiment_id", id);
  v.throwIfAny();
}

/**
 * What changes when newly stored or attributed events change a report:
 * events stored, duplicates and rejections (ingest_stats) and events
 * still waiting for their exposure.
 */
async function dataFingerprint(pool: pg.Pool, experimentId: string): Promise<string> {
  const { rows } = await pool.query<{ f: string }>(
    `select (select coalesce(sum(events), 0) from ingest_stats where experiment_id = $1::text)::text
            || '/' || (select count(*) from pending_attributions where experiment_id = $1::uuid)::text as f`,
    [experimentId],
  );
  return rows[0]?.f ?? "";
}

export interface ReportServiceDeps {
  em: () => EntityManager;
  pool: () => pg.Pool;
  /** Aborted on shutdown: live views end. */
  shutdown: AbortSignal;
  now?: () => number;
}

export class ReportServiceImpl implements ServiceImpl<typeof ReportService> {
  readonly builder: ReportBuilder;

  constructor(private readonly deps: ReportServiceDeps) {
    this.builder = new ReportBuilder(deps);
  }

  async getExperimentReport(
    req: {
      experimentId: string;
      from?: Timestamp;
      to?: Timestamp;
      bucketSeconds: number;
    } & SegmentRequest,
  ) {
    checkExperimentId(req.experimentId);
    const plan = await this.builder.plan(req.experimentId);
    const window = this.builder.window(plan, req);
    const segments = await resolveSegments(this.deps.pool(), req.experimentId, req);
    return { report: await this.builder.build(plan, window, segments) };
  }

  async listSegmentValues(req: { experimentId: string; dimension: string }) {
    checkExperimentId(req.experimentId);
    await this.builder.plan(req.experimentId);
    return { values: await listSegmentValues(this.deps.pool(), req) };
  }

  async *watchExperimentReport(
    req: { experimentId: string; from?: Timestamp; bucketSeconds: number } & SegmentRequest,
    ctx: HandlerContext,
  ): AsyncGenerator<WatchExperimentReportResponse> {
    checkExperimentId(req.experimentId);
    const signal = AbortSignal.any([ctx.signal, this.deps.shutdown]);
    let plan = await this.builder.plan(req.experimentId);
    const request = { from: req.from, bucketSeconds: req.bucketSeconds };
    const pool = this.deps.pool();
    // Resolved again with each report: the caps' admitted values follow the data.
    const segments = () => resolveSegments(pool, req.experimentId, req);
    let fingerprint = await dataFingerprint(pool, req.experimentId);
    let report = await this.builder.build(
      plan,
      this.builder.window(plan, request),
      await segments(),
    );
    yield create(WatchExperimentReportResponseSchema, { report });
    let lastPush = Date.now();
    while (!signal.aborted) {
      await sleep(WATCH_POLL_MS, signal);
      if (signal.aborted) break;
      const current = await dataFingerprint(pool, req.experimentId);
      if (signal.aborted) break;
      if (current === fingerprint && Date.now() - lastPush < WATCH_HEARTBEAT_MS) continue;
      fingerprint = current;
      // The plan again: metric definitions and the start may have changed.
      plan = await this.builder.plan(req.experimentId);
      report = await this.builder.build(plan, this.builder.window(plan, request), await segments());
      // The client may have gone while the report was built: nothing to write to.
      if (signal.aborted) break;
      yield create(WatchExperimentReportResponseSchema, { report });
      lastPush = Date.now();
    }
  }

  async exportExperimentReport(
    req: {
      experimentId: string;
      from?: Timestamp;
      to?: Timestamp;
      format: ExportFormat;
    } & SegmentRequest,
    ctx: HandlerContext,
  ) {
    const principal = requirePrincipal(ctx);
    const v = new FieldViolations();
    checkUuid(v, "experiment_id", req.experimentId);
    if (req.format !== ExportFormat.CSV && req.format !== ExportFormat.JSON) {
      v.add("format", "must be EXPORT_FORMAT_CSV or EXPORT_FORMAT_JSON");
    }
    v.throwIfAny();
    const plan = await this.builder.plan(req.experimentId);
    const window = this.builder.window(plan, { from: req.from, to: req.to, bucketSeconds: 0 });
    const segments = await resolveSegments(this.deps.pool(), req.experimentId, req);
    const report = await this.builder.build(plan, window, segments);
    const csv = req.format === ExportFormat.CSV;
    // An export changes no configuration: its audit row announces nothing.
    await mutate(this.deps.em(), undefined, async () => ({
      result: undefined,
      audit: {
        actorId: principal.userId,
        // Its own entity type, so exports stay out of the experiment's
        // lifecycle history.
        entityType: EXPORT_AUDIT_ENTITY,
        entityId: req.experimentId,
        action: "exported",
        data: {
          format: csv ? "csv" : "json",
          from: report.from ? timestampDateIso(report.from) : null,
          to: report.to ? timestampDateIso(report.to) : null,
          ...(report.segment.length > 0
            ? { segment: report.segment.map((c) => ({ dimension: c.dimension, values: c.values })) }
            : {}),
          ...(report.breakdownDimension !== "" ? { breakdown: report.breakdownDimension } : {}),
          ...(report.savedSegment !== ""
            ? {
                savedSegment: { key: report.savedSegment, version: report.savedSegmentVersion },
              }
            : {}),
        },
      },
    }));
    return {
      contentType: csv ? "text/csv; charset=utf-8" : "application/json",
      data: new TextEncoder().encode(csv ? reportCsv(report) : reportJson(report)),
      filename: reportFilename(report, csv ? "csv" : "json"),
    };
  }

  /** The report for [start, now) as proto3 JSON: what CompleteExperiment stores. */
  async outcomeReportJson(experimentId: string): Promise<string> {
    return reportJson(await this.builder.report(experimentId, { bucketSeconds: 0 }));
  }

  async getOutcomeReport(req: { experimentId: string }) {
    checkExperimentId(req.experimentId);
    const em = this.deps.em();
    const experiment = await em.findOne(Experiment, { id: req.experimentId });
    if (experiment === null) throw notFound("experiment", req.experimentId);
    const { rows } = await this.deps
      .pool()
      .query<{ report: string }>(
        `select report::text as report from outcome_reports where experiment_id = $1`,
        [req.experimentId],
      );
    const stored = rows[0]?.report;
    if (stored === undefined || experiment.outcome === null) {
      throw new ConnectError(
        `experiment ${JSON.stringify(req.experimentId)} has no outcome report: it has not been completed`,
        Code.NotFound,
      );
    }
    return {
      report: fromJsonString(ReportSchema, stored),
      outcome: OUTCOMES[experiment.outcome ?? ""] ?? Outcome.UNSPECIFIED,
      winnerVariantKey: experiment.winnerVariantKey ?? "",
      justification: experiment.justification ?? "",
      completedAt: experiment.completedAt ? timestampFromDate(experiment.completedAt) : undefined,
    };
  }
}

function timestampDateIso(t: Timestamp): string {
  return new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)).toISOString();
}
