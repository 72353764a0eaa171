/**
 * Report files: CSV (RFC 4180, one row per variant and metric) and the
 * Report message in proto3 JSON form.
 */
import { toJsonString } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  ReportSchema,
  type Comparison,
  type MetricResult,
  type Report,
} from "../../gen/lotty/reports/v1/reports_pb.js";

export const CSV_COLUMNS = [
  "variant_key",
  "control",
  "exposures",
  "subjects",
  "metric_key",
  "value",
  "sample_size",
  "absolute_diff",
  "relative_diff",
  "ci_low",
  "ci_high",
  "p_value",
  "significant",
  "adjusted_p_value",
  "sequential_ci_low",
  "sequential_ci_high",
  "chance_to_beat_control",
] as const;

/** Columns added when the report has a segment filter or a breakdown. */
export const SEGMENT_CSV_COLUMNS = ["segment", "breakdown"] as const;

/** A field quoted when it holds a comma, quote or line break (RFC 4180 §2). */
function field(value: string | number | boolean): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** `dimension=value|value&dimension=value`: a segment filter in one CSV field. */
function filterText(report: Report): string {
  return report.segment.map((c) => `${c.dimension}=${c.values.join("|")}`).join("&");
}

type Row = { key: string; value: number; sampleSize: number; comparison: Comparison | undefined };

/**
 * A metric's CSV rows: its own, then for a funnel one per step
 * (`key[step i: event type]`, value the step's share) and for retention
 * one of the maturing subjects (`key[maturing]`, sample size the cohort).
 */
function metricRows(metric: MetricResult): Row[] {
  const rows: Row[] = [
    {
      key: metric.metricKey,
      value: metric.value,
      sampleSize: metric.sampleSize,
      comparison: metric.comparison,
    },
  ];
  metric.funnel?.steps.forEach((step, i) =>
    rows.push({
      key: `${metric.metricKey}[step ${i + 1}: ${step.eventTypeKey}]`,
      value: step.share,
      sampleSize: metric.funnel?.subjects ?? 0,
      comparison: step.comparison,
    }),
  );
  const r = metric.retention;
  if (r !== undefined) {
    rows.push({
      key: `${metric.metricKey}[maturing]`,
      value: r.maturingSubjects,
      sampleSize: r.eligibleSubjects + r.maturingSubjects,
      comparison: undefined,
    });
  }
  return rows;
}

/** One row per variant and metric of a report's (or a breakdown segment's) variants. */
function variantRows(variants: Report["variants"], extra: string[]): string[] {
  const lines: string[] = [];
  for (const variant of variants) {
    for (const metric of variant.metrics.flatMap(metricRows)) {
      const c = metric.comparison;
      const comparison =
        c === undefined
          ? ["", "", "", "", "", "", "", "", "", ""]
          : [
              c.absoluteDiff,
              c.relativeDiff,
              c.ciLow,
              c.ciHigh,
              c.pValue,
              c.significant,
              c.adjustedPValue,
              c.sequentialCiLow,
              c.sequentialCiHigh,
              c.chanceToBeatControl,
            ];
      lines.push(
        [
          variant.variantKey,
          variant.control,
          variant.exposures,
          variant.subjects,
          metric.key,
          metric.value,
          metric.sampleSize,
          ...comparison,
          ...extra,
        ]
          .map(field)
          .join(","),
      );
    }
  }
  return lines;
}

/**
 * The report as CSV: a header row, then one row per variant and metric,
 * CRLF line ends. With a segment filter or a breakdown, the columns
 * `segment` and `breakdown` follow, and each breakdown segment's rows
 * come after the report's (docs/segments.md).
 */
export function reportCsv(report: Report): string {
  const segmented = report.segment.length > 0 || report.breakdownDimension !== "";
  if (!segmented) {
    return [CSV_COLUMNS.join(","), ...variantRows(report.variants, [])]
      .map((line) => `${line}\r\n`)
      .join("");
  }
  const filter = filterText(report);
  const lines = [
    [...CSV_COLUMNS, ...SEGMENT_CSV_COLUMNS].join(","),
    ...variantRows(report.variants, [filter, ""]),
  ];
  for (const segment of report.segments) {
    lines.push(...variantRows(segment.variants, [filter, `${segment.dimension}=${segment.value}`]));
  }
  return lines.map((line) => `${line}\r\n`).join("");
}

export function reportJson(report: Report): string {
  return toJsonString(ReportSchema, report, { prettySpaces: 2 });
}

/** `20261122T183000Z`: a file-name-safe UTC time. */
function compactTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

export function reportFilename(report: Report, extension: "csv" | "json"): string {
  const from = report.from ? timestampMs(report.from) : 0;
  const to = report.to ? timestampMs(report.to) : 0;
  return `report-${report.experimentId}-${compactTime(from)}-${compactTime(to)}.${extension}`;
}
