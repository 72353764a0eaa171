/**
 * FindSimilar: completed experiments like a given one (stored, or a draft
 * being written), scored in one SQL statement. Each reason has fixed
 * points (SIMILARITY_POINTS); the score is the points a learning earns
 * divided by the most possible. docs/learnings.md#find-similar.
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

const MAX_POINTS = Object.values(SIMILARITY_POINTS).reduce((a, b) => a + b, 0);

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

export interface SimilarMatch {
  row: LearningRow;
  score: number;
  reasons: { reason: SimilarityReason; weight: number; detail: string }[];
}

interface ScoredRow {
  row: LearningRow;
  w_flag: number;
  w_tags: number;
  w_primary: number;
  w_metrics: number;
  w_audience: number;
  w_count: number;
  w_weights: number;
  shared_tags: string[];
  shared_metrics: string[];
  shared_terms: string[];
}

/**
 * The scoring statement. A learning is a candidate when it shares the flag,
 * a tag, the primary metric, any metric or a targeting attribute (each an
 * indexed test); the variant shape adds points but does not qualify alone —
 * otherwise every A/B test would be "similar" to every other.
 */
const SIMILAR_SQL = `
with probe as (
  select $1::text as flag, $2::text[] as tags, $3::text as primary_metric, $4::text[] as metrics,
         $5::text[] as attrs, $6::text[] as pairs, $7::float8[] as weights
), scored as (
  select l.*, ${ROW_JSON} as row,
    case when l.flag_key = p.flag then ${SIMILARITY_POINTS.same_flag} else 0 end as w_flag,
    t.shared_tags, t.tag_union, m.shared_metrics, m.metric_union, a.shared_terms,
    a.shared_attrs, a.attr_union, a.shared_pairs, a.pair_union,
    case when p.primary_metric <> '' and l.primary_metric_key = p.primary_metric
         then ${SIMILARITY_POINTS.same_primary_metric} else 0 end as w_primary,
    case when cardinality(l.variant_weights) = cardinality(p.weights)
         then ${SIMILARITY_POINTS.same_variant_count} else 0 end as w_count,
    case when cardinality(l.variant_weights) = cardinality(p.weights)
          and (select bool_and(abs(x.a - x.b) <= ${WEIGHT_TOLERANCE})
               from unnest(l.variant_weights, p.weights) as x(a, b))
         then ${SIMILARITY_POINTS.same_variant_weights} else 0 end as w_weights
  from learnings l
  cross join probe p
  cross join lateral (
    select array(select x from unnest(l.tags) x where x = any(p.tags) order by x) as shared_tags,
           (select count(distinct x) from unnest(l.tags || p.tags) x) as tag_union) t
  cross join lateral (
    select array(select x from unnest(l.metric_set) x where x = any(p.metrics) order by x) as shared_metrics,
           (select count(distinct x) from unnest(l.metric_set || p.metrics) x) as metric_union) m
  cross join lateral (
    select array(select x from unnest(l.targeting_terms) x
                 where x = any(p.attrs) or x = any(p.pairs) order by x) as shared_terms,
           (select count(*) from unnest(l.targeting_terms) x where x = any(p.attrs)) as shared_attrs,
           (select count(distinct x) from unnest(l.targeting_terms || p.attrs) x
             where position('=' in x) = 0) as attr_union,
           (select count(*) from unnest(l.targeting_terms) x where x = any(p.pairs)) as shared_pairs,
           (select count(distinct x) from unnest(l.targeting_terms || p.pairs) x
             where position('=' in x) > 0) as pair_union) a
  where l.experiment_id::text <> $8
    and (l.flag_key = p.flag or l.tags && p.tags or l.metric_set && p.metrics
         or l.targeting_terms && p.attrs or (p.primary_metric <> '' and l.primary_metric_key = p.primary_metric))
), weighted as (
  select s.*,
    case when cardinality(s.shared_tags) > 0
         then ${SIMILARITY_POINTS.shared_tags}.0 * cardinality(s.shared_tags) / s.tag_union else 0 end as w_tags,
    case when cardinality(s.shared_metrics) > 0
         then ${SIMILARITY_POINTS.shared_metrics}.0 * cardinality(s.shared_metrics) / s.metric_union else 0 end as w_metrics,
    case when s.shared_attrs > 0
         then ${SIMILARITY_POINTS.similar_audience}.0 * (0.4 * s.shared_attrs / s.attr_union
              + 0.6 * case when s.pair_union > 0 then s.shared_pairs::float8 / s.pair_union else 0 end)
         else 0 end as w_audience
  from scored s
)
select row, w_flag, w_tags::float8, w_primary, w_metrics::float8, w_audience::float8, w_count,
       w_weights, shared_tags, shared_metrics, shared_terms
from weighted
where w_flag + w_tags + w_primary + w_metrics + w_audience > 0
order by w_flag + w_tags + w_primary + w_metrics + w_audience + w_count + w_weights desc,
         completed_at desc, experiment_id
limit $9`;

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The most similar learnings, best first. */
export async function findSimilar(
  pool: pg.Pool,
  probe: SimilarityProbe,
  limit: number,
): Promise<SimilarMatch[]> {
  const rule = describeRule(probe.targetingRule);
  const { rows } = await pool.query<ScoredRow>(SIMILAR_SQL, [
    probe.flagKey,
    [...new Set(probe.tags)],
    probe.primaryMetricKey,
    [...new Set(probe.metricSet)],
    rule.attributes,
    rule.pairs,
    probe.variantWeights,
    probe.experimentId,
    limit,
  ]);
  return rows.map((r) => {
    const reasons: SimilarMatch["reasons"] = [];
    const add = (reason: SimilarityReason, weight: number, detail: string) => {
      if (weight > 0) reasons.push({ reason, weight: round3(weight), detail });
    };
    add("same_flag", r.w_flag, `flag ${r.row.flag_key}`);
    add("shared_tags", r.w_tags, `tags: ${r.shared_tags.join(", ")}`);
    add("same_primary_metric", r.w_primary, `primary metric ${r.row.primary_metric_key}`);
    add("shared_metrics", r.w_metrics, `metrics: ${r.shared_metrics.join(", ")}`);
    add("similar_audience", r.w_audience, `targeting: ${r.shared_terms.join(", ")}`);
    add("same_variant_count", r.w_count, `${r.row.variant_keys.length} variants`);
    add(
      "same_variant_weights",
      r.w_weights,
      `weights ${r.row.variant_weights.map((w) => `${w} %`).join(" / ")}`,
    );
    const points = reasons.reduce((sum, x) => sum + x.weight, 0);
    return { row: r.row, score: round3(points / MAX_POINTS), reasons };
  });
}
