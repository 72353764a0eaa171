/**
 * A guardrail metric's value over the trailing observation window, per
 * variant and for all variants together, read from the rollups the event
 * store keeps in the same transaction as the events (so every counted
 * event is in exactly once, attribution included, and nothing needs
 * rebuilding after a restart). docs/guardrails.md#what-is-measured.
 *
 * The window is [start of the minute of now − window_seconds, now]: the
 * rollups are per minute, so it covers between window_seconds and
 * window_seconds + 60 s. By kind:
 * - COUNT: counted events of the type in the window; sample: exposure
 *   events in the window.
 * - SUM: the property added up over those events; sample as COUNT.
 * - RATIO: Σ numerator ÷ Σ denominator over the window (each a COUNT or a
 *   SUM as above); sample: Σ denominator.
 * - MEAN: the property's mean over the window's events; sample: those events.
 * - PERCENTILE: as a report computes it for the window; sample: the values.
 * - CONVERSION_RATE: of the subjects first exposed in the window, the share
 *   with at least one counted event of the type (a report's cohort rule);
 *   sample: those subjects.
 */
import type pg from "pg";
import { EXPOSURE_EVENT_TYPE } from "../catalog/lookup.js";
import {
  conversionFigures,
  eventFigures,
  percentileFigures,
  quantityKey,
  type EventSums,
  type PlannedMetric,
  type ReportPlan,
  type ReportWindow,
  type SubjectQuantity,
} from "../analytics/index.js";
import { ranksFor } from "../reports/lookup.js";
import type { WindowFigure, WindowFigures } from "./evaluate.js";

const MINUTE_MS = 60_000;
/** Events may be dated up to 5 minutes ahead; the window's end leaves room for them. */
const FUTURE_MS = 10 * MINUTE_MS;
const EXPOSURES: SubjectQuantity = { eventType: EXPOSURE_EVENT_TYPE, property: "" };

export function trailingWindow(windowSeconds: number, now: number): ReportWindow {
  const from = Math.floor((now - windowSeconds * 1000) / MINUTE_MS) * MINUTE_MS;
  return { from, to: Math.ceil((now + FUTURE_MS) / MINUTE_MS) * MINUTE_MS, bucketSeconds: 0 };
}

/** The event-time quantities a metric reads from the per-minute rollups. */
function quantitiesOf(metric: PlannedMetric): SubjectQuantity[] {
  switch (metric.kind) {
    case "count":
      return [{ eventType: metric.eventType, property: "" }];
    case "sum":
    case "mean":
      return [{ eventType: metric.eventType, property: metric.property }];
    case "ratio":
      return metric.numerator && metric.denominator ? [metric.numerator, metric.denominator] : [];
    default:
      return [];
  }
}

type SumsByVariant = Map<string, Map<string, EventSums>>;

function total(sums: SumsByVariant, variant: string, q: SubjectQuantity | undefined): number {
  if (q === undefined) return 0;
  const s = sums.get(variant)?.get(quantityKey(q));
  if (s === undefined) return 0;
  return q.property === "" ? s.events : s.sum;
}

function eventFigure(metric: PlannedMetric, sums: SumsByVariant, variant: string): WindowFigure {
  const exposures = total(sums, variant, EXPOSURES);
  const own = sums.get(variant)?.get(quantityKey(quantitiesOf(metric)[0] ?? EXPOSURES));
  switch (metric.kind) {
    case "count":
      return { value: own?.events ?? 0, sample: exposures };
    case "sum":
      return { value: own?.sum ?? 0, sample: exposures };
    case "mean": {
      const n = own?.events ?? 0;
      return { value: n > 0 ? (own?.sum ?? 0) / n : 0, sample: n };
    }
    default: {
      const numerator = total(sums, variant, metric.numerator);
      const denominator = total(sums, variant, metric.denominator);
      return { value: denominator > 0 ? numerator / denominator : 0, sample: denominator };
    }
  }
}

/**
 * The figures of each metric (by key) over `window`, for the variants
 * `variantKeys` and ("") all of them together.
 */
export async function windowFigures(
  pool: pg.Pool,
  plan: ReportPlan,
  metrics: readonly PlannedMetric[],
  window: ReportWindow,
): Promise<Map<string, WindowFigures>> {
  const variantKeys = plan.variants.map((v) => v.key);
  const result = new Map<string, WindowFigures>();
  const perEvent = metrics.filter((m) => ["count", "sum", "mean", "ratio"].includes(m.kind));
  const jobs: Promise<void>[] = [];
  if (perEvent.length > 0) {
    const quantities = new Map<string, SubjectQuantity>([[quantityKey(EXPOSURES), EXPOSURES]]);
    for (const m of perEvent) for (const q of quantitiesOf(m)) quantities.set(quantityKey(q), q);
    jobs.push(
      eventFigures(pool, plan, window, [...quantities.values()]).then((rows) => {
        const sums: SumsByVariant = new Map();
        for (const r of rows) {
          for (const variant of [r.variantKey, ""]) {
            const byKey = sums.get(variant) ?? new Map<string, EventSums>();
            const s = byKey.get(r.key) ?? { events: 0, sum: 0, sumSquares: 0 };
            s.events += r.sums.events;
            s.sum += r.sums.sum;
            s.sumSquares += r.sums.sumSquares;
            byKey.set(r.key, s);
            sums.set(variant, byKey);
          }
        }
        for (const m of perEvent) {
          result.set(
            m.key,
            new Map([...variantKeys, ""].map((v) => [v, eventFigure(m, sums, v)] as const)),
          );
        }
      }),
    );
  }
  for (const m of metrics.filter((m) => m.kind === "percentile")) {
    jobs.push(
      percentileFigures(pool, plan, window, m, ranksFor(m.probability)).then((byVariant) => {
        result.set(
          m.key,
          new Map(
            [...variantKeys, ""].map((v) => {
              const f = byVariant.get(v);
              const value = f === undefined || Number.isNaN(f.estimate) ? 0 : f.estimate;
              return [v, { value, sample: f?.n ?? 0 }] as const;
            }),
          ),
        );
      }),
    );
  }
  for (const m of metrics.filter((m) => m.kind === "conversion_rate")) {
    jobs.push(
      conversionFigures(pool, plan.experimentId, m.eventType, window).then((byVariant) => {
        result.set(
          m.key,
          new Map(
            [...variantKeys, ""].map((v) => {
              const f = byVariant.get(v) ?? { subjects: 0, converted: 0 };
              const value = f.subjects > 0 ? f.converted / f.subjects : 0;
              return [v, { value, sample: f.subjects }] as const;
            }),
          ),
        );
      }),
    );
  }
  await Promise.all(jobs);
  return result;
}
