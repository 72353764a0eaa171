/**
 * GetMetaAnalysis: figures across the learnings a search selects. One
 * aggregate statement for the shares and medians; the impact on a metric
 * reads the effects stored with each shipped experiment's learning (the
 * primary effect when the metric is its primary metric, otherwise the
 * outcome report's comparison of the winner on that metric).
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type pg from "pg";
import {
  EffectSchema,
  GetMetaAnalysisResponseSchema,
  ImpactContributionSchema,
  MetricImpactSchema,
  SearchLearningsRequestSchema,
  type ImpactContribution,
  type GetMetaAnalysisRequest,
  type GetMetaAnalysisResponse,
} from "../../gen/lotty/learnings/v1/learnings_pb.js";
import { ReportSchema } from "../../gen/lotty/reports/v1/reports_pb.js";
import { fromJsonString } from "@bufbuild/protobuf";
import { invalidArgument } from "../platform/errors.js";
import { CONTROL_CHARACTERS } from "../platform/validation.js";
import { effectFromReport, NEEDS_WRITING_UP_SQL, type StoredEffect } from "./entry.js";
import { buildPredicate } from "./search.js";

const DAY_SECONDS = 86_400;

export async function metaAnalysis(
  pool: pg.Pool,
  req: GetMetaAnalysisRequest,
  outcomeReport: (experimentId: string) => Promise<string | null>,
): Promise<GetMetaAnalysisResponse> {
  const metricKey = req.metricKey.trim();
  if (metricKey.length > 100 || CONTROL_CHARACTERS.test(metricKey)) {
    throw invalidArgument("metric_key", "must be a metric key of at most 100 characters");
  }
  const p = buildPredicate(req.filter ?? create(SearchLearningsRequestSchema), "filter.");
  const { rows } = await pool.query<{
    n: number;
    rollout: number;
    rollback: number;
    no_effect: number;
    significant: number;
    fired: number;
    unwritten: number;
    median_actual: number | null;
    median_planned: number | null;
    median_actual_planned: number | null;
    with_plan: number;
  }>(
    `select count(*)::int as n,
       count(*) filter (where l.outcome = 'rollout')::int as rollout,
       count(*) filter (where l.outcome = 'rollback')::int as rollback,
       count(*) filter (where l.outcome = 'no_effect')::int as no_effect,
       count(*) filter (where (l.primary_effect ->> 'significant')::boolean)::int as significant,
       count(*) filter (where cardinality(l.fired_guardrail_metric_keys) > 0)::int as fired,
       count(*) filter (where ${NEEDS_WRITING_UP_SQL})::int as unwritten,
       percentile_cont(0.5) within group (order by extract(epoch from l.completed_at - l.started_at) / ${DAY_SECONDS})
         filter (where l.started_at is not null) as median_actual,
       percentile_cont(0.5) within group (order by l.planned_days) filter (where l.planned_days > 0) as median_planned,
       percentile_cont(0.5) within group (order by extract(epoch from l.completed_at - l.started_at) / ${DAY_SECONDS})
         filter (where l.planned_days > 0 and l.started_at is not null) as median_actual_planned,
       count(*) filter (where l.planned_days > 0)::int as with_plan
     from learnings l where ${p.where}`,
    p.params,
  );
  const r = rows[0]!;
  const share = (k: number) => (r.n === 0 ? 0 : k / r.n);
  const response = create(GetMetaAnalysisResponseSchema, {
    experiments: r.n,
    winRate: share(r.rollout),
    rollbackShare: share(r.rollback),
    noEffectShare: share(r.no_effect),
    significantShare: share(r.significant),
    guardrailFiredShare: share(r.fired),
    needsWritingUpShare: share(r.unwritten),
    medianActualDays: r.median_actual ?? 0,
    medianPlannedDays: r.median_planned ?? 0,
    medianActualDaysWhenPlanned: r.median_actual_planned ?? 0,
    withPlan: r.with_plan,
  });
  if (metricKey === "") return response;

  const shipped = await pool.query<{
    experiment_id: string;
    experiment_name: string;
    completed_at: Date;
    primary_metric_key: string;
    winner_variant_key: string;
    primary_effect: StoredEffect | null;
  }>(
    `select l.experiment_id::text as experiment_id, l.experiment_name, l.completed_at,
            l.primary_metric_key, l.winner_variant_key, l.primary_effect
     from learnings l
     where ${p.where} and l.outcome = 'rollout'
       and (l.primary_metric_key = $${p.params.length + 1} or $${p.params.length + 1} = any(l.metric_set))
     order by l.completed_at, l.experiment_id`,
    [...p.params, metricKey],
  );
  const contributions: { contribution: ImpactContribution; effect: StoredEffect }[] = [];
  for (const s of shipped.rows) {
    let effect: StoredEffect | null = null;
    if (s.primary_metric_key === metricKey) effect = s.primary_effect;
    else {
      const json = await outcomeReport(s.experiment_id);
      if (json !== null) {
        try {
          const report = fromJsonString(ReportSchema, json, { ignoreUnknownFields: true });
          effect = effectFromReport(report, metricKey, s.winner_variant_key);
        } catch {
          effect = null;
        }
      }
    }
    if (effect === null) continue;
    contributions.push({
      effect,
      contribution: create(ImpactContributionSchema, {
        experimentId: s.experiment_id,
        experimentName: s.experiment_name,
        completedAt: timestampFromDate(s.completed_at),
        effect: create(EffectSchema, effect),
      }),
    });
  }
  const sum = (pick: (e: StoredEffect) => number) =>
    contributions.reduce((total, c) => total + pick(c.effect), 0);
  response.impact = create(MetricImpactSchema, {
    metricKey,
    experiments: contributions.length,
    summedRelativeDifference: sum((e) => e.relativeDifference),
    summedAbsoluteDifference: sum((e) => e.absoluteDifference),
    summedCiLow: sum((e) => e.ciLow),
    summedCiHigh: sum((e) => e.ciHigh),
    contributions: contributions.map((c) => c.contribution),
  });
  return response;
}
