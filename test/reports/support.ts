/** Helpers for report tests: an experiment with every metric kind, and report calls. */
import { randomBytes } from "node:crypto";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { CatalogService, MetricKind } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { Direction, GuardrailAction } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { ReportService, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { client } from "../support/clients.js";
import type { TestApp } from "../support/app.js";
import { decisionFor, query } from "../events/support.js";
import { waitFor } from "../support/app.js";
import {
  greyBlue,
  makeTeam,
  makeTypedFlag,
  runExperiment,
  untilInSnapshot,
} from "../support/builders.js";

/** The metrics of the report experiment, in report order. */
export const REPORT_METRICS = [
  "conversion_rate",
  "conversions",
  "revenue",
  "latency_mean",
  "latency_p95",
  "error_rate",
  "errors",
] as const;

/**
 * A running 50/50 experiment (control "control", treatment "blue") whose
 * report has one metric of every kind: conversion_rate (primary),
 * conversions (COUNT), revenue (SUM of conversion.value, created here),
 * latency_mean (MEAN), latency_p95 (PERCENTILE), error_rate (RATIO) and,
 * as a guardrail only, errors (COUNT).
 */
export async function reportExperiment(t: TestApp, primaryMetricKey = "conversion_rate") {
  const revenueKey = `revenue_${randomBytes(3).toString("hex")}`;
  const catalog = client(CatalogService, t.baseUrl, t.adminKey);
  await catalog.createMetric({
    metric: {
      key: revenueKey,
      name: "Revenue",
      description: "Sum of conversion.value",
      kind: MetricKind.SUM,
      eventTypeKey: "conversion",
      property: "value",
      requiresExposure: true,
    },
  });
  const team = await makeTeam(t);
  const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
  const experiment = await runExperiment(
    t,
    team,
    flagKey,
    greyBlue({
      primaryMetricKey,
      metricKeys: [
        "conversion_rate",
        "conversions",
        revenueKey,
        "latency_mean",
        "latency_p95",
        "error_rate",
      ].filter((k) => k !== primaryMetricKey),
      guardrails: [
        {
          metricKey: "errors",
          threshold: 1000,
          direction: Direction.INCREASE_IS_BAD,
          windowSeconds: 600,
          minSampleSize: 0,
          action: GuardrailAction.PAUSE,
        },
      ],
    }),
  );
  await untilInSnapshot(t, flagKey, experiment.id);
  return { flagKey, experimentId: experiment.id, revenueKey, team };
}

/**
 * Subjects whose decisions put them in each variant: the first `perVariant`
 * of `s-<prefix>-0, s-<prefix>-1, …` in control and in blue.
 */
export function subjectsByVariant(t: TestApp, flagKey: string, perVariant: number, prefix = "s") {
  const picked: Record<string, { subjectId: string; decisionId: string }[]> = {
    control: [],
    blue: [],
  };
  for (
    let i = 0;
    (picked.control!.length < perVariant || picked.blue!.length < perVariant) && i < 10_000;
    i++
  ) {
    const subjectId = `${prefix}-${i}`;
    const d = decisionFor(t, flagKey, subjectId);
    const list = picked[d.variantKey];
    if (list !== undefined && list.length < perVariant)
      list.push({ subjectId, decisionId: d.decisionId });
  }
  return picked as {
    control: { subjectId: string; decisionId: string }[];
    blue: { subjectId: string; decisionId: string }[];
  };
}

export function reportClient(t: TestApp, key = t.adminKey) {
  return client(ReportService, t.baseUrl, key);
}

export async function reportFor(
  t: TestApp,
  experimentId: string,
  from?: number,
  to?: number,
): Promise<Report> {
  const { report } = await reportClient(t).getExperimentReport({
    experimentId,
    from: from === undefined ? undefined : timestampFromMs(from),
    to: to === undefined ? undefined : timestampFromMs(to),
  });
  if (report === undefined) throw new Error("no report");
  return report;
}

/** metric key → value, for one variant of a report ("" = the overall figures). */
export function valuesOf(report: Report, variantKey: string, metricKeys: readonly string[]) {
  const metrics =
    variantKey === ""
      ? report.metrics
      : (report.variants.find((v) => v.variantKey === variantKey)?.metrics ?? []);
  return Object.fromEntries(
    metricKeys.map((key) => {
      const m = metrics.find((r) => r.metricKey === key);
      return [key, m === undefined ? undefined : { value: m.value, n: m.sampleSize }];
    }),
  );
}

/** The variant's exposures and subjects. */
export function countsOfVariant(report: Report, variantKey: string) {
  const v = report.variants.find((r) => r.variantKey === variantKey);
  return { exposures: v?.exposures, subjects: v?.subjects };
}

/** Waits until none of the experiment's events waits for its exposure. */
export async function untilNothingPending(t: TestApp, experimentId: string, timeoutMs = 15_000) {
  await waitFor(
    async () => {
      const [row] = await query<{ n: string }>(
        t,
        `select count(*)::text as n from pending_attributions where experiment_id = $1`,
        [experimentId],
      );
      return row?.n === "0";
    },
    timeoutMs,
    "no events pending",
  );
}
