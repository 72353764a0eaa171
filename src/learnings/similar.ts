/**
 * FindSimilar: completed experiments like a given one (stored, or a draft
 * being written). Each reason has fixed points (SIMILARITY_POINTS); the
 * score is the points a learning earns divided by the most possible.
 * docs/learnings.md#find-similar.
 *
 * Scoring runs in memory over the comparable features of every learning
 * (a few short arrays each, about 1 kB), loaded once and loaded again when
 * the table has changed — checked on every call with one aggregate over
 * `learnings` (count, newest update, summed versions), so a learning
 * recorded or edited in another process is seen at once.
 */
import type pg from "pg";
import { describeRule } from "../targeting/index.js";
import type { LearningRow } from "./entry.js";
import { ROW_JSON } from "./store.js";

/** Points per reason (at full overlap for the graded ones). */
export const SIMILARITY_POINTS = {
  same_flag: 30,
  shared_tags: 20,
  same_primary_metric: 20,
  shared_metrics: 10,
  similar_audience: 15,
  same_variant_count: 5,
  same_variant_weights: 5,
} as const;

export type SimilarityReason = keyof typeof SIMILARITY_POINTS;

/** Reasons that qualify a learning on their own; the variant shape only adds points. */
const QUALIFYING: ReadonlySet<SimilarityReason> = new Set([
  "same_flag",
  "shared_tags",
  "same_primary_metric",
  "shared_metrics",
  "similar_audience",
]);

export const MAX_POINTS = Object.values(SIMILARITY_POINTS).reduce((a, b) => a + b, 0);

/** Two variants' weights differ by at most this many percentage points to count as the same. */
export const WEIGHT_TOLERANCE = 0.5;

/** What is compared: a stored experiment's or a draft's planned shape. */
export interface SimilarityProbe {
  /** Excluded from the results (the experiment itself); empty for a draft. */
  experimentId: string;
  flagKey: string;
  tags: readonly string[];
  targetingRule: string;
  primaryMetricKey: string;
  /** Primary, secondary and guardrail metric keys. */
  metricSet: readonly string[];
  /** Weights in percent, the control first. */
  variantWeights: readonly number[];
}

/** The comparable features of one learning. */
export interface SimilarityFeatures {
  experimentId: string;
  flagKey: string;
  tags: readonly string[];
  primaryMetricKey: string;
  metricSet: readonly string[];
  /** Targeting attributes (`country`) and attribute–value pairs (`country=de`). */
  targetingTerms: readonly string[];
  variantWeights: readonly number[];
  completedAt: number;
}

export interface Reason {
  reason: SimilarityReason;
  weight: number;
  detail: string;
}

export interface Scored {
  features: SimilarityFeatures;
  points: number;
  reasons: Reason[];
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function intersection(a: readonly string[], b: ReadonlySet<string>): string[] {
  return a.filter((x) => b.has(x));
}

/** |A ∩ B| / |A ∪ B| of two duplicate-free lists, given their intersection. */
function jaccard(shared: number, a: number, b: number): number {
  return shared === 0 ? 0 : shared / (a + b - shared);
}

/** A scorer for one probe: pure, deterministic. */
export function scorer(probe: SimilarityProbe): (f: SimilarityFeatures) => Scored | undefined {
  const rule = describeRule(probe.targetingRule);
  const tags = new Set(probe.tags);
  const metrics = new Set(probe.metricSet);
  const attrs = new Set(rule.attributes);
  const pairs = new Set(rule.pairs);
  return (f) => {
    if (f.experimentId === probe.experimentId) return undefined;
    const reasons: Reason[] = [];
    const add = (reason: SimilarityReason, points: number, detail: string) => {
      if (points > 0) reasons.push({ reason, weight: round3(points), detail });
    };
    if (f.flagKey === probe.flagKey && probe.flagKey !== "") {
      add("same_flag", SIMILARITY_POINTS.same_flag, `flag ${f.flagKey}`);
    }
    const sharedTags = intersection(f.tags, tags);
    add(
      "shared_tags",
      SIMILARITY_POINTS.shared_tags * jaccard(sharedTags.length, f.tags.length, tags.size),
      `tags: ${sharedTags.join(", ")}`,
    );
    if (probe.primaryMetricKey !== "" && f.primaryMetricKey === probe.primaryMetricKey) {
      add(
        "same_primary_metric",
        SIMILARITY_POINTS.same_primary_metric,
        `primary metric ${f.primaryMetricKey}`,
      );
    }
    const sharedMetrics = intersection(f.metricSet, metrics);
    add(
      "shared_metrics",
      SIMILARITY_POINTS.shared_metrics *
        jaccard(sharedMetrics.length, f.metricSet.length, metrics.size),
      `metrics: ${sharedMetrics.join(", ")}`,
    );
    const ownAttrs = f.targetingTerms.filter((t) => !t.includes("="));
    const ownPairs = f.targetingTerms.filter((t) => t.includes("="));
    const sharedAttrs = intersection(ownAttrs, attrs);
    if (sharedAttrs.length > 0) {
      const sharedPairs = intersection(ownPairs, pairs);
      add(
        "similar_audience",
        SIMILARITY_POINTS.similar_audience *
          (0.4 * jaccard(sharedAttrs.length, ownAttrs.length, attrs.size) +
            0.6 * jaccard(sharedPairs.length, ownPairs.length, pairs.size)),
        `targeting: ${[...sharedAttrs, ...sharedPairs].join(", ")}`,
      );
    }
    if (!reasons.some((r) => QUALIFYING.has(r.reason))) return undefined;
    if (f.variantWeights.length === probe.variantWeights.length) {
      add(
        "same_variant_count",
        SIMILARITY_POINTS.same_variant_count,
        `${f.variantWeights.length} variants`,
      );
      if (
        f.variantWeights.every((w, i) => Math.abs(w - probe.variantWeights[i]!) <= WEIGHT_TOLERANCE)
      ) {
        add(
          "same_variant_weights",
          SIMILARITY_POINTS.same_variant_weights,
          `weights ${f.variantWeights.map((w) => `${w} %`).join(" / ")}`,
        );
      }
    }
    return { features: f, points: reasons.reduce((sum, r) => sum + r.weight, 0), reasons };
  };
}

/** Best first; ties to the most recently completed, then by id. */
export function rank(scored: Scored[], limit: number): Scored[] {
  return scored
    .sort(
      (a, b) =>
        b.points - a.points ||
        b.features.completedAt - a.features.completedAt ||
        (a.features.experimentId < b.features.experimentId ? -1 : 1),
    )
    .slice(0, limit);
}

export interface SimilarMatch {
  row: LearningRow;
  score: number;
  reasons: Reason[];
}

interface FeatureRow {
  experiment_id: string;
  flag_key: string;
  tags: string[];
  primary_metric_key: string;
  metric_set: string[];
  targeting_terms: string[];
  variant_weights: number[];
  completed_at: Date;
}

/** The features of every learning, kept in memory and reloaded when the table changed. */
export class SimilarityIndex {
  private features: SimilarityFeatures[] = [];
  private stamp = "";
  private loading: Promise<void> | undefined;

  constructor(private readonly pool: () => pg.Pool) {}

  private async current(): Promise<SimilarityFeatures[]> {
    const { rows } = await this.pool().query<{ stamp: string }>(
      `select concat_ws('/', count(*), max(updated_at), sum(version)) as stamp from learnings`,
    );
    const stamp = rows[0]?.stamp ?? "";
    if (stamp !== this.stamp) {
      this.loading ??= this.load(stamp).finally(() => (this.loading = undefined));
      await this.loading;
    }
    return this.features;
  }

  private async load(stamp: string): Promise<void> {
    const { rows } = await this.pool().query<FeatureRow>(
      `select experiment_id::text as experiment_id, flag_key, tags, primary_metric_key, metric_set,
              targeting_terms, variant_weights, completed_at
       from learnings`,
    );
    this.features = rows.map((r) => ({
      experimentId: r.experiment_id,
      flagKey: r.flag_key,
      tags: r.tags,
      primaryMetricKey: r.primary_metric_key,
      metricSet: r.metric_set,
      targetingTerms: r.targeting_terms,
      variantWeights: r.variant_weights,
      completedAt: r.completed_at.getTime(),
    }));
    this.stamp = stamp;
  }

  /** The most similar learnings, best first. */
  async findSimilar(probe: SimilarityProbe, limit: number): Promise<SimilarMatch[]> {
    const score = scorer(probe);
    const scored: Scored[] = [];
    for (const f of await this.current()) {
      const s = score(f);
      if (s !== undefined) scored.push(s);
    }
    const best = rank(scored, limit);
    if (best.length === 0) return [];
    const { rows } = await this.pool().query<{ row: LearningRow }>(
      `select ${ROW_JSON} as row from learnings l where experiment_id = any($1::uuid[])`,
      [best.map((b) => b.features.experimentId)],
    );
    const byId = new Map(rows.map((r) => [r.row.experiment_id, r.row]));
    return best.flatMap((b) => {
      const row = byId.get(b.features.experimentId);
      return row === undefined
        ? []
        : [{ row, score: round3(b.points / MAX_POINTS), reasons: b.reasons }];
    });
  }
}
