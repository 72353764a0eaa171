/**
 * The figures a report is computed from, as the report's reads
 * (queries.ts) return them: per variant, per-subject sums over the cohort,
 * event-time sums and percentile order statistics.
 */

import type { CohortMetricFigures } from "./cohort-metrics.js";

/** Σx, Σx² and #{x > 0} of one per-subject quantity over a cohort. */
export interface QuantitySums {
  sum: number;
  sumSquares: number;
  positive: number;
}

/** Count, Σ and Σ² of a number property over events. */
export interface EventSums {
  events: number;
  sum: number;
  sumSquares: number;
}

/** Order statistics of one percentile metric in one variant. */
export interface PercentileFigures {
  n: number;
  /** The sample percentile; NaN when n is 0. */
  estimate: number;
  /** Values at the interval's ranks; null when a rank is outside 1..n. */
  lower: number | null;
  upper: number | null;
}

export interface VariantAggregates {
  /** Exposure events in the window. */
  exposures: number;
  /** Subjects first exposed in the window (the cohort). */
  subjects: number;
  /** By quantityKey. */
  quantities: Map<string, QuantitySums>;
  /** Σ x·y by `${quantityKey(x)}|${quantityKey(y)}`. */
  products: Map<string, number>;
  /** Event-time sums by quantityKey (property "" = event count only). */
  events: Map<string, EventSums>;
}

export interface ReportAggregates {
  /** By variant key; variants without data are absent. */
  variants: Map<string, VariantAggregates>;
  /** By metric key, then variant key ("" = all variants together). */
  percentiles: Map<string, Map<string, PercentileFigures>>;
  /** True when per-subject figures came from the raw events. */
  fromRawEvents: boolean;
  /** Per-subject figures per series bucket of first exposure (not cumulative). */
  cohortBuckets?: CohortBuckets;
  /** FUNNEL, RETENTION and session metrics: by metric key, then variant key ("" = all). */
  cohortMetrics?: Map<string, Map<string, CohortMetricFigures>>;
}

export function emptyVariant(): VariantAggregates {
  return {
    exposures: 0,
    subjects: 0,
    quantities: new Map(),
    products: new Map(),
    events: new Map(),
  };
}

export function variantOf(map: Map<string, VariantAggregates>, key: string): VariantAggregates {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = emptyVariant()));
  return v;
}

/** Per variant, the cohort figures of each series bucket (by first exposure). */
export type CohortBuckets = Map<string, VariantAggregates[]>;

/** Adds b's per-subject figures (subjects, quantities, products) into a. */
export function addSubjectFigures(a: VariantAggregates, b: VariantAggregates): void {
  a.subjects += b.subjects;
  for (const [k, q] of b.quantities) {
    const x = a.quantities.get(k) ?? { sum: 0, sumSquares: 0, positive: 0 };
    a.quantities.set(k, {
      sum: x.sum + q.sum,
      sumSquares: x.sumSquares + q.sumSquares,
      positive: x.positive + q.positive,
    });
  }
  for (const [k, p] of b.products) a.products.set(k, (a.products.get(k) ?? 0) + p);
}
