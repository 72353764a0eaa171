/** A fixed report for the results component tests. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ReportSchema, type Report } from "../../../../../gen/lotty/reports/v1/reports_pb.js";
import { MetricKind } from "../../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { EventErrorCode } from "../../../../../gen/lotty/events/v1/events_pb.js";
import type { MetricInfo } from "./metrics.js";

export const RATE: MetricInfo = {
  key: "conversion_rate",
  name: "Conversion rate",
  kind: MetricKind.CONVERSION_RATE,
  lowerIsBetter: false,
};

export const ERRORS: MetricInfo = {
  key: "error_rate",
  name: "Error rate",
  kind: MetricKind.RATIO,
  lowerIsBetter: true,
};

const t = (iso: string) => timestampFromDate(new Date(iso));

export function fixtureReport(overrides: Partial<Omit<Report, "$typeName">> = {}): Report {
  return create(ReportSchema, {
    experimentId: "11111111-1111-1111-1111-111111111111",
    from: t("2026-12-01T00:00:00Z"),
    to: t("2026-12-02T00:00:00Z"),
    exposures: 3100,
    subjects: 3000,
    primaryMetricKey: "conversion_rate",
    correction: "holm",
    experimentVersion: 2,
    bucketSeconds: 43200,
    metrics: [
      { metricKey: "conversion_rate", value: 0.11, sampleSize: 3000 },
      { metricKey: "error_rate", value: 0.02, sampleSize: 3000 },
    ],
    variants: [
      {
        variantKey: "control",
        control: true,
        exposures: 1040,
        subjects: 1000,
        weight: 33.3,
        metrics: [
          { metricKey: "conversion_rate", value: 0.1, sampleSize: 1000 },
          { metricKey: "error_rate", value: 0.02, sampleSize: 1000 },
        ],
      },
      {
        variantKey: "green",
        exposures: 1030,
        subjects: 1000,
        weight: 33.3,
        metrics: [
          {
            metricKey: "conversion_rate",
            value: 0.1231,
            sampleSize: 1000,
            comparison: {
              absoluteDiff: 0.0231,
              relativeDiff: 0.231,
              ciLow: 0.004,
              ciHigh: 0.031,
              pValue: 0.0004,
              significant: true,
              adjustedPValue: 0.0012,
              adjustedSignificant: true,
              sequentialCiLow: -0.002,
              sequentialCiHigh: 0.045,
              chanceToBeatControl: 0.9991,
            },
          },
          {
            metricKey: "error_rate",
            value: 0.021,
            sampleSize: 1000,
            comparison: {
              absoluteDiff: 0.001,
              relativeDiff: 0.05,
              ciLow: -0.004,
              ciHigh: 0.006,
              pValue: 0.62,
              adjustedPValue: 1,
              sequentialCiLow: -0.01,
              sequentialCiHigh: 0.012,
              chanceToBeatControl: 0.6,
            },
          },
        ],
      },
      {
        variantKey: "red",
        exposures: 1030,
        subjects: 1000,
        weight: 33.4,
        metrics: [
          {
            metricKey: "conversion_rate",
            value: 0.088,
            sampleSize: 1000,
            comparison: {
              absoluteDiff: -0.012,
              relativeDiff: -0.12,
              ciLow: -0.02,
              ciHigh: -0.004,
              pValue: 0.003,
              significant: true,
              adjustedPValue: 0.006,
              adjustedSignificant: true,
              sequentialCiLow: -0.03,
              sequentialCiHigh: 0.006,
              chanceToBeatControl: 0.004,
            },
          },
          {
            metricKey: "error_rate",
            value: 0.019,
            sampleSize: 1000,
            comparison: {
              absoluteDiff: -0.001,
              relativeDiff: -0.05,
              ciLow: -0.006,
              ciHigh: 0.004,
              pValue: 0.04,
              significant: true,
              adjustedPValue: 0.2,
              adjustedSignificant: false,
              sequentialCiLow: -0.012,
              sequentialCiHigh: 0.01,
              chanceToBeatControl: 0.4,
            },
          },
        ],
      },
    ],
    srm: { pValue: 0.9, mismatch: false, chiSquare: 0.2 },
    dataHealth: {
      receivedEvents: 10000,
      rejectedEvents: 800,
      rejectedShare: 0.08,
      topRejectionReasons: [{ code: EventErrorCode.MISSING_FIELD, count: 600 }],
      duplicateEvents: 100,
      duplicateShare: 0.01,
      pendingAttributionEvents: 42,
      traffic: [
        { variantKey: "control", expectedShare: 0.333, observedShare: 0.333 },
        { variantKey: "green", expectedShare: 0.333, observedShare: 0.333 },
        { variantKey: "red", expectedShare: 0.334, observedShare: 0.334 },
      ],
    },
    series: ["control", "green", "red"].map((variantKey, i) => ({
      metricKey: "conversion_rate",
      variantKey,
      points: [
        {
          start: t("2026-12-01T00:00:00Z"),
          end: t("2026-12-01T12:00:00Z"),
          value: 0.09 + i * 0.01,
          sampleSize: 500,
        },
        {
          start: t("2026-12-01T12:00:00Z"),
          end: t("2026-12-02T00:00:00Z"),
          value: 0.1 + i * 0.01,
          sampleSize: 1000,
        },
      ],
    })),
    ...overrides,
  });
}
