/**
 * ReportService beyond the numbers: exports (CSV and JSON, audited), the
 * outcome snapshot stored by CompleteExperiment (B6-4, B6-5), the live
 * view over Connect, gRPC and gRPC-Web, and bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code } from "@connectrpc/connect";
import { fromJsonString } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { ExperimentService, Outcome } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import {
  ExportFormat,
  ReportSchema,
  ReportService,
} from "../../gen/lotty/reports/v1/reports_pb.js";
import { EXPORT_AUDIT_ENTITY } from "../../src/reports/service.js";
import { CSV_COLUMNS } from "../../src/reports/export.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client, type TransportKind } from "../support/clients.js";
import { errorOf } from "../experiments/support.js";
import { event, eventClient, query, untilStored } from "../events/support.js";
import {
  REPORT_METRICS,
  reportClient,
  reportExperiment,
  reportFor,
  subjectsByVariant,
} from "./support.js";
import { makeUser } from "../support/builders.js";

describe("ReportService", () => {
  let t: TestApp;
  let setup: Awaited<ReturnType<typeof reportExperiment>>;
  let events: Awaited<ReturnType<typeof eventClient>>;

  /** Sends an exposure and a conversion for each of `n` subjects per variant. */
  async function traffic(n: number, prefix: string) {
    const picked = subjectsByVariant(t, setup.flagKey, n, prefix);
    const batch = [...picked.control, ...picked.blue].flatMap((s, i) => [
      event("exposure", s.decisionId),
      ...(i % 2 === 0 ? [event("conversion", s.decisionId, { properties: { value: 3 } })] : []),
    ]);
    expect((await events.ingestEvents({ events: batch })).accepted).toBe(batch.length);
    await untilStored(
      t,
      batch.map((e) => e.eventId),
    );
    return batch.length;
  }

  beforeAll(async () => {
    t = await startTestApp();
    setup = await reportExperiment(t);
    events = await eventClient(t);
    await traffic(4, "first");
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
  });

  it("exports CSV with one row per variant and metric, and audits it", async () => {
    const viewer = await makeUser(t, Role.VIEWER);
    const answer = await reportClient(t, viewer.key).exportExperimentReport({
      experimentId: setup.experimentId,
      format: ExportFormat.CSV,
    });
    expect(answer.contentType).toBe("text/csv; charset=utf-8");
    expect(answer.filename).toMatch(
      new RegExp(`^report-${setup.experimentId}-\\d{8}T\\d{6}Z-\\d{8}T\\d{6}Z\\.csv$`),
    );
    const lines = new TextDecoder().decode(answer.data).split("\r\n");
    expect(lines.pop()).toBe("");
    expect(lines[0]).toBe(CSV_COLUMNS.join(","));
    const rows = lines.slice(1).map((l) => l.split(","));
    const metricKeys = REPORT_METRICS.map((k) => (k === "revenue" ? setup.revenueKey : k));
    expect(rows.map((r) => [r[0], r[4]])).toEqual([
      ...metricKeys.map((k) => ["control", k]),
      ...metricKeys.map((k) => ["blue", k]),
    ]);
    const rate = rows.find((r) => r[0] === "blue" && r[4] === "conversion_rate")!;
    expect(rate.slice(1, 4)).toEqual(["false", "4", "4"]);
    expect(Number(rate[5])).toBeCloseTo(0.5, 12); // two of four converted
    expect(rows.find((r) => r[0] === "control")!.slice(7)).toEqual(new Array(10).fill(""));

    const audit = await query<{ actor_id: string; action: string; data: { format: string } }>(
      t,
      `select actor_id, action, data from audit_log where entity_type = $1 and entity_id = $2`,
      [EXPORT_AUDIT_ENTITY, setup.experimentId],
    );
    expect(audit).toEqual([
      { actor_id: viewer.id, action: "exported", data: expect.objectContaining({ format: "csv" }) },
    ]);
  });

  it("exports JSON that parses back to the report", async () => {
    const answer = await reportClient(t).exportExperimentReport({
      experimentId: setup.experimentId,
      format: ExportFormat.JSON,
    });
    expect(answer.contentType).toBe("application/json");
    const report = fromJsonString(ReportSchema, new TextDecoder().decode(answer.data));
    expect(report.experimentId).toBe(setup.experimentId);
    expect(report.subjects).toBe(8);
    expect(answer.filename.endsWith(".json")).toBe(true);
  });

  it("rejects bad input with the field named", async () => {
    const reports = reportClient(t);
    const cases: [Promise<unknown>, Code, RegExp][] = [
      [reports.getExperimentReport({ experimentId: "" }), Code.InvalidArgument, /experiment_id/],
      [
        reports.getExperimentReport({ experimentId: "nope" }),
        Code.InvalidArgument,
        /experiment_id/,
      ],
      [
        reports.getExperimentReport({ experimentId: "00000000-0000-4000-8000-000000000000" }),
        Code.NotFound,
        /experiment/,
      ],
      [
        reports.getExperimentReport({
          experimentId: setup.experimentId,
          from: timestampFromMs(Date.now()),
          to: timestampFromMs(Date.now() - 60_000),
        }),
        Code.InvalidArgument,
        /^\[invalid_argument\] to: must be after from/,
      ],
      [
        reports.getExperimentReport({ experimentId: setup.experimentId, bucketSeconds: 30 }),
        Code.InvalidArgument,
        /bucket_seconds/,
      ],
      [
        reports.getExperimentReport({ experimentId: setup.experimentId, bucketSeconds: 90 }),
        Code.InvalidArgument,
        /bucket_seconds: must be a whole number of minutes/,
      ],
      [
        reports.exportExperimentReport({ experimentId: setup.experimentId }),
        Code.InvalidArgument,
        /format/,
      ],
      [
        reports.getOutcomeReport({ experimentId: setup.experimentId }),
        Code.NotFound,
        /not been completed/,
      ],
    ];
    for (const [call, code, message] of cases) {
      const error = await errorOf(call);
      expect([Code[error.code], error.message]).toEqual([
        Code[code],
        expect.stringMatching(message),
      ]);
    }
    const service = await makeUser(t, Role.SERVICE);
    const denied = await errorOf(
      client(ReportService, t.baseUrl, service.key).getExperimentReport({
        experimentId: setup.experimentId,
      }),
    );
    expect(denied.code).toBe(Code.PermissionDenied);
  });

  it.each<TransportKind>(["connect-json-h1", "grpc", "grpc-web"])(
    "streams a fresh report when new events arrive (%s)",
    async (kind) => {
      const watcher = client(ReportService, t.baseUrl, t.adminKey, kind);
      const controller = new AbortController();
      const stream = watcher.watchExperimentReport(
        { experimentId: setup.experimentId },
        { signal: controller.signal },
      );
      const iterator = stream[Symbol.asyncIterator]();
      try {
        const first = (await iterator.next()).value.report;
        const before = first.subjects;
        const sentAt = Date.now();
        await traffic(2, `watch-${kind}`);
        let latest = first;
        while (latest.subjects === before) {
          const next = await iterator.next();
          if (next.done === true) throw new Error("the stream ended");
          latest = next.value.report;
        }
        expect(latest.subjects).toBe(before + 4);
        expect(timestampMs(latest.generatedAt!)).toBeGreaterThanOrEqual(sentAt);
        expect(Date.now() - sentAt).toBeLessThan(20_000);
      } finally {
        controller.abort();
        await iterator.return?.();
      }
    },
    30_000,
  );

  it("stores the report an outcome was decided on, and keeps it as events arrive (B6-4, B6-5)", async () => {
    const live = await reportFor(t, setup.experimentId);
    const experiments = client(ExperimentService, t.baseUrl, setup.team.owner.key);
    await experiments.completeExperiment({
      id: setup.experimentId,
      outcome: Outcome.ROLLOUT,
      winnerVariantKey: "blue",
      justification: "blue converts better on the primary metric",
    });
    const stored = await reportClient(t).getOutcomeReport({ experimentId: setup.experimentId });
    expect(stored).toMatchObject({
      outcome: Outcome.ROLLOUT,
      winnerVariantKey: "blue",
      justification: "blue converts better on the primary metric",
    });
    expect(stored.completedAt).toBeDefined();
    expect(stored.report!.subjects).toBe(live.subjects);
    expect(stored.report!.variants.map((v) => v.metrics.map((m) => m.value))).toEqual(
      live.variants.map((v) => v.metrics.map((m) => m.value)),
    );

    // Late events of the experiment (decided before it completed) change
    // the live report, not the stored one.
    const picked = subjectsByVariant(t, setup.flagKey, 0, "unused");
    expect(picked.control).toEqual([]);
    const late = await query<{ decision_id: string }>(
      t,
      `select decision_id from exposures where experiment_id = $1 order by decision_id limit 1`,
      [setup.experimentId],
    );
    const conversion = event("conversion", late[0]!.decision_id, { properties: { value: 99 } });
    expect((await events.ingestEvents({ events: [conversion] })).accepted).toBe(1);
    await untilStored(t, [conversion.eventId]);
    await waitFor(
      async () => {
        const now = await reportFor(t, setup.experimentId);
        const revenue = (r: typeof now) =>
          r.metrics.find((m) => m.metricKey === setup.revenueKey)?.value ?? 0;
        return revenue(now) === revenue(live) + 99;
      },
      15_000,
      "the live report counts the late conversion",
    );
    const again = await reportClient(t).getOutcomeReport({ experimentId: setup.experimentId });
    expect(again.report).toEqual(stored.report);
  });
});
