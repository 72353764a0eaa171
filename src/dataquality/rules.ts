/**
 * The data-quality alarm rules (docs/notifications.md#data-quality-alarms).
 * Pure: figures in, verdict out.
 *
 * Volume: the events of one event type in the last complete hour (x)
 * against the same hour of the previous `baselineDays` days. Its history
 * starts at the first of those days on which the type had events (later
 * days count, zeros included); with fewer than `minHistoryDays` days of
 * history there is no verdict. With the history's median m and median
 * absolute deviation MAD, the robust z-score is 0.6745·(x − m)/MAD. When
 * MAD is 0 (more than half of the days had the same count) the mean
 * absolute deviation around the median stands in: z = (x − m)/(1.2533·MeanAD);
 * when that is 0 too (every day the same), any x ≠ m is an infinite z.
 * It fires when |z| ≥ zThreshold and the change is material:
 * |x − m| ≥ minRelativeChange·m and ≥ minAbsoluteChange events.
 */

export interface VolumeRule {
  /** How many previous days' same hour form the baseline. */
  baselineDays: number;
  /** Fewer days of history than this: no alarm. */
  minHistoryDays: number;
  /** |robust z| at or above this fires. */
  zThreshold: number;
  /** |x − median| must be at least this fraction of the median. */
  minRelativeChange: number;
  /** |x − median| must be at least this many events. */
  minAbsoluteChange: number;
}

export const DEFAULT_VOLUME_RULE: VolumeRule = {
  baselineDays: 7,
  minHistoryDays: 3,
  zThreshold: 3.5,
  minRelativeChange: 0.2,
  minAbsoluteChange: 50,
};

/** 0.6745 ≈ Φ⁻¹(0.75): makes MAD comparable to a standard deviation. */
const MAD_SCALE = 0.6745;
/** √(π/2) ≈ 1.2533: mean absolute deviation → standard deviation. */
const MEAN_AD_SCALE = 1.2533;

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface RobustScore {
  median: number;
  mad: number;
  /** The robust z-score; ±Infinity when the baseline does not vary and x differs. */
  z: number;
}

/** Robust z-score of x against a baseline (at least one value). */
export function robustZ(x: number, baseline: readonly number[]): RobustScore {
  const m = median(baseline);
  const deviations = baseline.map((b) => Math.abs(b - m));
  const mad = median(deviations);
  const diff = x - m;
  if (mad > 0) return { median: m, mad, z: (MAD_SCALE * diff) / mad };
  const meanAd = deviations.reduce((s, d) => s + d, 0) / deviations.length;
  if (meanAd > 0) return { median: m, mad, z: diff / (MEAN_AD_SCALE * meanAd) };
  return { median: m, mad, z: diff === 0 ? 0 : diff > 0 ? Infinity : -Infinity };
}

export interface VolumeVerdict {
  /** Whether it fires, and which way. */
  alarm: "drop" | "spike" | null;
  /** Why not, when it does not (or "" when it fires). */
  reason: "" | "too_little_history" | "within_baseline" | "not_material";
  observed: number;
  historyDays: number;
  median: number;
  mad: number;
  z: number;
}

/**
 * The volume verdict for one event type: `x` this hour, `days` the same
 * hour of the previous days, oldest first (0 for a day without events).
 */
export function volumeVerdict(
  x: number,
  days: readonly number[],
  rule: VolumeRule = DEFAULT_VOLUME_RULE,
): VolumeVerdict {
  const recent = days.slice(-rule.baselineDays);
  const first = recent.findIndex((n) => n > 0);
  const history = first < 0 ? [] : recent.slice(first);
  const base = { observed: x, historyDays: history.length };
  if (history.length < rule.minHistoryDays) {
    return { ...base, alarm: null, reason: "too_little_history", median: 0, mad: 0, z: 0 };
  }
  const score = robustZ(x, history);
  const verdict = { ...base, median: score.median, mad: score.mad, z: score.z };
  if (Math.abs(score.z) < rule.zThreshold) {
    return { ...verdict, alarm: null, reason: "within_baseline" };
  }
  const change = Math.abs(x - score.median);
  if (change < rule.minAbsoluteChange || change < rule.minRelativeChange * score.median) {
    return { ...verdict, alarm: null, reason: "not_material" };
  }
  return { ...verdict, alarm: score.z < 0 ? "drop" : "spike", reason: "" };
}

export interface RejectedShareRule {
  /** Fires above this share of received events (0–1). */
  maxShare: number;
  /** Fewer received events than this in the hour: no verdict. */
  minEvents: number;
}

export const DEFAULT_REJECTED_SHARE_RULE: RejectedShareRule = { maxShare: 0.05, minEvents: 100 };

/**
 * The rejected share of an hour: rejected / (stored + duplicates +
 * rejected), as reports compute it. Fires when above the bound.
 */
export function rejectedShareVerdict(
  figures: { stored: number; duplicates: number; rejected: number },
  rule: RejectedShareRule = DEFAULT_REJECTED_SHARE_RULE,
): { alarm: boolean; received: number; share: number } {
  const received = figures.stored + figures.duplicates + figures.rejected;
  const share = received === 0 ? 0 : figures.rejected / received;
  return { alarm: received >= rule.minEvents && share > rule.maxShare, received, share };
}

export interface BacklogRule {
  /** Fires at or above this many pending events. */
  maxPending: number;
  /** Or when it grew by this factor within the hour … */
  growthFactor: number;
  /** … and is at least this many events. */
  minGrowthPending: number;
}

export const DEFAULT_BACKLOG_RULE: BacklogRule = {
  maxPending: 10_000,
  growthFactor: 1.5,
  minGrowthPending: 1_000,
};

/** The attribution backlog verdict: `pending` now, `before` an hour ago (if known). */
export function backlogVerdict(
  pending: number,
  before: number | undefined,
  rule: BacklogRule = DEFAULT_BACKLOG_RULE,
): { alarm: "above_bound" | "growing" | null } {
  if (pending >= rule.maxPending) return { alarm: "above_bound" };
  if (
    before !== undefined &&
    pending >= rule.minGrowthPending &&
    pending >= before * rule.growthFactor
  ) {
    return { alarm: "growing" };
  }
  return { alarm: null };
}
