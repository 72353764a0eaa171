/**
 * What the results components need to know about a metric beyond its key:
 * its name and kind (from the catalog, when readable) and which direction
 * is better (the report does not say; a guardrail that forbids increases
 * marks the metric as lower-is-better).
 */
import { MetricKind, type Metric } from "../../../../../gen/lotty/catalog/v1/catalog_pb.js";
import {
  Direction,
  type Experiment,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import type { Comparison, Report } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import {
  formatInterval,
  formatNumber,
  formatPercent,
  formatPoints,
  formatSigned,
  significanceWords,
  type Significance,
} from "../../format/numbers.js";

export interface MetricInfo {
  key: string;
  name: string;
  kind: MetricKind;
  lowerIsBetter: boolean;
}

/** Builds MetricInfo for every metric of a report. */
export function metricInfos(
  report: Report | undefined,
  catalog: readonly Metric[] | undefined,
  experiment: Experiment | undefined,
): Map<string, MetricInfo> {
  const out = new Map<string, MetricInfo>();
  const keys = report?.metrics.map((m) => m.metricKey) ?? [];
  for (const key of keys) {
    const def = catalog?.find((m) => m.key === key);
    const guard = experiment?.guardrails.find((g) => g.metricKey === key);
    out.set(key, {
      key,
      name: def?.name ?? key,
      kind: def?.kind ?? MetricKind.UNSPECIFIED,
      lowerIsBetter: guard?.direction === Direction.INCREASE_IS_BAD,
    });
  }
  return out;
}

export function fallbackInfo(key: string): MetricInfo {
  return { key, name: key, kind: MetricKind.UNSPECIFIED, lowerIsBetter: false };
}

export function isRate(info: MetricInfo): boolean {
  return (
    info.kind === MetricKind.CONVERSION_RATE ||
    info.kind === MetricKind.FUNNEL ||
    info.kind === MetricKind.RETENTION
  );
}

/** COUNT and SUM compare the per-exposed-subject mean. */
export function perSubject(info: MetricInfo): boolean {
  return info.kind === MetricKind.COUNT || info.kind === MetricKind.SUM;
}

export function kindLabel(info: MetricInfo): string {
  switch (info.kind) {
    case MetricKind.COUNT:
      return "count";
    case MetricKind.CONVERSION_RATE:
      return "conversion rate";
    case MetricKind.SUM:
      return "sum";
    case MetricKind.MEAN:
      return "mean";
    case MetricKind.RATIO:
      return "ratio";
    case MetricKind.PERCENTILE:
      return "percentile";
    case MetricKind.FUNNEL:
      return "funnel (last step)";
    case MetricKind.RETENTION:
      return "retention";
    case MetricKind.SESSION_COUNT:
      return "sessions per subject";
    case MetricKind.SESSION_DURATION:
      return "seconds in sessions per subject";
    default:
      return "";
  }
}

/** The metric's value in its unit: "5.11 %" for a rate, "902.1" otherwise. */
export function formatValue(info: MetricInfo, x: number | undefined): string {
  return isRate(info) ? formatPercent(x, 2) : formatNumber(x);
}

/** An absolute difference: "+4.09 pp" for a rate, "+0.24" otherwise. */
export function formatDiff(info: MetricInfo, x: number | undefined): string {
  return isRate(info) ? formatPoints(x) : formatSigned(x);
}

export function formatDiffInterval(info: MetricInfo, low: number, high: number): string {
  return formatInterval(low, high, (x) => formatDiff(info, x));
}

/** The unit of an absolute difference, for headings and axis labels. */
export function diffUnit(info: MetricInfo): string {
  if (isRate(info)) return "percentage points";
  if (perSubject(info)) return "per exposed subject";
  return "value units";
}

/** Significance in words, decided on the Holm-adjusted p-value. */
export function verdict(info: MetricInfo, c: Comparison | undefined): Significance {
  if (c === undefined) return { label: "No comparison", tone: "neutral" };
  return significanceWords({
    diff: c.absoluteDiff,
    significant: c.adjustedSignificant,
    significantUncorrected: c.significant,
    lowerIsBetter: info.lowerIsBetter,
  });
}
