/**
 * A learning as stored (one row of `learnings`), how a new one is filled
 * from a completed experiment, and how it reads as a Learning message.
 * Pure: no I/O.
 */
import { create, fromJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  EffectSchema,
  LearningSchema,
  type Effect,
  type Learning,
} from "../../gen/lotty/learnings/v1/learnings_pb.js";
import { ReportSchema, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import {
  guardrailToMessage,
  OUTCOME_VALUES,
  type CompletedExperimentFacts,
  type GuardrailConfig,
} from "../experiments/lookup.js";
import { describeRule, valuesFor } from "../targeting/index.js";
import { Outcome } from "../../gen/lotty/experiments/v1/experiments_pb.js";

/** An effect as stored (JSON in `primary_effect`). */
export interface StoredEffect {
  metricKey: string;
  variantKey: string;
  controlVariantKey: string;
  controlValue: number;
  variantValue: number;
  absoluteDifference: number;
  ciLow: number;
  ciHigh: number;
  relativeDifference: number;
  pValue: number;
  significant: boolean;
}

export interface StoredLink {
  title: string;
  url: string;
}

/** One `learnings` row, as `to_jsonb(row) - 'search'` returns it. */
export interface LearningRow {
  experiment_id: string;
  experiment_name: string;
  flag_key: string;
  owner_id: string;
  hypothesis: string;
  primary_metric_key: string;
  metric_keys: string[];
  metric_set: string[];
  guardrails: GuardrailConfig[];
  fired_guardrail_metric_keys: string[];
  outcome: string;
  winner_variant_key: string;
  justification: string;
  result: string;
  action: string;
  tags: string[];
  targeting_rule: string;
  targeting_summary: string;
  targeting_terms: string[];
  platforms: string[];
  countries: string[];
  versions: string[];
  links: StoredLink[];
  notes: string;
  audience_percent: number;
  variant_keys: string[];
  variant_weights: number[];
  primary_effect: StoredEffect | null;
  planned_days: number;
  started_at: string | null;
  completed_at: string;
  version: number;
  created_at: string;
  updated_at: string;
  updated_by: string | null;
}

export type CompletedExperiment = CompletedExperimentFacts;

/** Everything else a new learning is filled from. */
export interface LearningSources {
  flagTags: readonly string[];
  /** proto3 JSON of the report the outcome was decided on; null when none was stored. */
  reportJson: string | null;
  firedGuardrailMetricKeys: readonly string[];
  /** Values of the exposed subjects' segments per dimension (country, platform, app_version, version). */
  segmentValues: ReadonlyMap<string, readonly string[]>;
  now: Date;
}

/** Dimensions whose exposed segments default a learning's context. */
export const CONTEXT_DIMENSIONS = ["country", "platform", "app_version", "version"] as const;

export const LIMITS = {
  hypothesis: 10_000,
  result: 10_000,
  action: 2_000,
  notes: 10_000,
  tags: 20,
  platforms: 10,
  countries: 50,
  versions: 20,
  listItem: 50,
  links: 20,
  linkTitle: 200,
  linkUrl: 2_000,
  plannedDays: 3_650,
};

/** The measured effect of one variant against the control on `metricKey`. */
export function effectFromReport(
  report: Report,
  metricKey: string,
  preferredVariant: string | null,
): StoredEffect | null {
  const control = report.variants.find((v) => v.control);
  if (control === undefined || metricKey === "") return null;
  const controlMetric = control.metrics.find((m) => m.metricKey === metricKey);
  const candidates = report.variants
    .filter((v) => !v.control)
    .map((v) => ({ variant: v, metric: v.metrics.find((m) => m.metricKey === metricKey) }))
    .filter((c) => c.metric?.comparison !== undefined);
  if (candidates.length === 0) return null;
  const chosen =
    candidates.find((c) => c.variant.variantKey === preferredVariant) ??
    [...candidates].sort(
      (a, b) =>
        (a.metric?.comparison?.adjustedPValue ?? 1) - (b.metric?.comparison?.adjustedPValue ?? 1) ||
        (a.variant.variantKey < b.variant.variantKey ? -1 : 1),
    )[0]!;
  const c = chosen.metric!.comparison!;
  // The compared quantity (per exposed subject for counts and sums): the
  // control's follows from the two differences when the relative one is set.
  const controlValue =
    c.relativeDiff !== 0 ? c.absoluteDiff / c.relativeDiff : (controlMetric?.value ?? 0);
  return {
    metricKey,
    variantKey: chosen.variant.variantKey,
    controlVariantKey: control.variantKey,
    controlValue,
    variantValue: controlValue + c.absoluteDiff,
    absoluteDifference: c.absoluteDiff,
    ciLow: c.ciLow,
    ciHigh: c.ciHigh,
    relativeDifference: c.relativeDiff,
    pValue: c.adjustedPValue,
    significant: c.adjustedSignificant,
  };
}

function round(x: number, digits: number): string {
  return Number.isFinite(x) ? Number(x.toPrecision(digits)).toString() : String(x);
}

function percent(fraction: number): string {
  const p = fraction * 100;
  return `${p >= 0 ? "+" : ""}${p.toFixed(Math.abs(p) < 10 ? 1 : 0)} %`;
}

/** The default `result`: the primary metric per compared variant, in one line each. */
export function summariseReport(report: Report, primaryMetricKey: string): string {
  const control = report.variants.find((v) => v.control);
  if (control === undefined || primaryMetricKey === "") return "";
  const lines: string[] = [];
  for (const v of report.variants) {
    if (v.control) continue;
    const c = v.metrics.find((m) => m.metricKey === primaryMetricKey)?.comparison;
    if (c === undefined) continue;
    lines.push(
      `${primaryMetricKey}: ${v.variantKey} vs ${control.variantKey} ` +
        `${round(c.absoluteDiff, 3)} (${percent(c.relativeDiff)}), ` +
        `95 % CI [${round(c.ciLow, 3)}, ${round(c.ciHigh, 3)}], ` +
        `adjusted p = ${round(c.adjustedPValue, 2)}, ` +
        `${c.adjustedSignificant ? "significant" : "not significant"}.`,
    );
  }
  if (lines.length === 0)
    return `${primaryMetricKey}: no comparison (no exposed subjects on a side).`;
  return [`${report.subjects} exposed subjects, ${report.exposures} exposures.`, ...lines].join(
    "\n",
  );
}

function parseReport(json: string | null): Report | null {
  if (json === null) return null;
  try {
    return fromJsonString(ReportSchema, json, { ignoreUnknownFields: true });
  } catch {
    return null;
  }
}

function country(value: string): string {
  return /^[a-z]{2}$/.test(value) ? value.toUpperCase() : value;
}

/** A new learning (version 1) filled from a completed experiment. */
export function newLearning(e: CompletedExperiment, s: LearningSources): LearningRow {
  const report = parseReport(s.reportJson);
  const rule = describeRule(e.config.targetingRule);
  const fromRuleOrSegments = (attributes: readonly string[], max: number) => {
    const fromRule = attributes.flatMap((a) => valuesFor(rule, a));
    const values =
      fromRule.length > 0 ? fromRule : attributes.flatMap((a) => s.segmentValues.get(a) ?? []);
    return [...new Set(values.map((v) => v.slice(0, LIMITS.listItem)))].slice(0, max);
  };
  const metricSet = metricSetOf(e.config);
  const completedAt = e.completedAt.toISOString();
  return {
    experiment_id: e.id,
    experiment_name: e.config.name,
    flag_key: e.flagKey,
    owner_id: e.ownerId,
    hypothesis: e.config.description.slice(0, LIMITS.hypothesis),
    primary_metric_key: e.config.primaryMetricKey,
    metric_keys: e.config.metricKeys,
    metric_set: metricSet,
    guardrails: e.config.guardrails,
    fired_guardrail_metric_keys: [...s.firedGuardrailMetricKeys],
    outcome: e.outcome,
    winner_variant_key: e.winnerVariantKey ?? "",
    justification: e.justification,
    result: report === null ? "" : summariseReport(report, e.config.primaryMetricKey),
    action: "",
    tags: [...new Set(s.flagTags)].slice(0, LIMITS.tags),
    targeting_rule: e.config.targetingRule,
    targeting_summary: rule.summary,
    targeting_terms: [...rule.attributes, ...rule.pairs],
    platforms: fromRuleOrSegments(["platform"], LIMITS.platforms),
    countries: fromRuleOrSegments(["country"], LIMITS.countries).map(country),
    versions: fromRuleOrSegments(["app_version", "version"], LIMITS.versions),
    links: [],
    notes: "",
    audience_percent: e.config.audiencePercent,
    variant_keys: controlFirst(e.config.variants).map((v) => v.key),
    variant_weights: controlFirst(e.config.variants).map((v) => v.weight),
    primary_effect:
      report === null
        ? null
        : effectFromReport(report, e.config.primaryMetricKey, e.winnerVariantKey),
    planned_days: 0,
    started_at: e.startedAt?.toISOString() ?? null,
    completed_at: completedAt,
    version: 1,
    created_at: s.now.toISOString(),
    updated_at: s.now.toISOString(),
    updated_by: null,
  };
}

/** Variants with the control first, the others in configured order. */
export function controlFirst<V extends { control: boolean }>(variants: readonly V[]): V[] {
  return [...variants.filter((v) => v.control), ...variants.filter((v) => !v.control)];
}

/** The primary, secondary and guardrail metric keys of a configuration, without duplicates. */
export function metricSetOf(config: {
  primaryMetricKey: string;
  metricKeys: readonly string[];
  guardrails: readonly { metricKey: string }[];
}): string[] {
  return [
    ...new Set([
      ...(config.primaryMetricKey === "" ? [] : [config.primaryMetricKey]),
      ...config.metricKeys,
      ...config.guardrails.map((g) => g.metricKey),
    ]),
  ];
}

/** What is missing before a learning counts as written up; empty when it does. */
export function missingFields(row: Pick<LearningRow, "updated_by" | "notes" | "action">): string[] {
  const missing: string[] = [];
  if (row.notes.trim() === "") missing.push("notes");
  if (row.action.trim() === "") missing.push("action");
  if (row.updated_by === null) missing.push("reviewed");
  return missing;
}

/** SQL predicate of a learning that is not written up ({@link missingFields} non-empty). */
export const NEEDS_WRITING_UP_SQL = `(l.updated_by is null or l.notes = '' or l.action = '')`;

function effectMessage(e: StoredEffect | null): Effect | undefined {
  return e === null ? undefined : create(EffectSchema, e);
}

function timestamp(iso: string | null) {
  return iso === null ? undefined : timestampFromDate(new Date(iso));
}

/** The console's results page of an experiment (its report permalink). */
export function reportPermalink(experimentId: string): string {
  return `/console/experiments/${experimentId}/results`;
}

export function toLearningMessage(row: LearningRow): Learning {
  const missing = missingFields(row);
  return create(LearningSchema, {
    experimentId: row.experiment_id,
    experimentName: row.experiment_name,
    flagKey: row.flag_key,
    hypothesis: row.hypothesis,
    primaryMetricKey: row.primary_metric_key,
    metricKeys: row.metric_keys,
    guardrails: row.guardrails.map(guardrailToMessage),
    outcome: OUTCOME_VALUES.get(row.outcome) ?? Outcome.UNSPECIFIED,
    winnerVariantKey: row.winner_variant_key,
    justification: row.justification,
    result: row.result,
    action: row.action,
    tags: row.tags,
    targetingRule: row.targeting_rule,
    platforms: row.platforms,
    links: row.links,
    notes: row.notes,
    audiencePercent: row.audience_percent,
    variantKeys: row.variant_keys,
    ownerId: row.owner_id,
    completedAt: timestamp(row.completed_at),
    version: row.version,
    createdAt: timestamp(row.created_at),
    updatedAt: timestamp(row.updated_at),
    updatedBy: row.updated_by ?? "",
    primaryEffect: effectMessage(row.primary_effect),
    firedGuardrailMetricKeys: row.fired_guardrail_metric_keys,
    countries: row.countries,
    versions: row.versions,
    reportPermalink: reportPermalink(row.experiment_id),
    filled: missing.length === 0,
    missingFields: missing,
    targetingSummary: row.targeting_summary,
    variantWeights: row.variant_weights,
    startedAt: timestamp(row.started_at),
    plannedDays: row.planned_days,
  });
}
