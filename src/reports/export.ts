/**
 * Report files: CSV (RFC 4180, one row per variant and metric) and the
 * Report message in proto3 JSON form.
 */
import { toJsonString } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ReportSchema, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";

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

/** A field quoted when it holds a comma, quote or line break (RFC 4180 §2). */
function field(value: string | number | boolean): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The report as CSV: a header row, then one row per variant and metric, CRLF line ends. */
export function reportCsv(report: Report): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const variant of report.variants) {
    for (const metric of variant.metrics) {
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
          metric.metricKey,
          metric.value,
          metric.sampleSize,
          ...comparison,
        ]
          .map(field)
          .join(","),
      );
    }
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
