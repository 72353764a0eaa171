/**
 * What changed between two saved versions of an experiment, field by field.
 * Only configuration fields count: status and other output-only fields
 * move with the lifecycle, not with a version.
 */
import {
  Direction,
  GuardrailAction,
  type Experiment,
  type Guardrail,
  type Variant,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { enumLabel } from "../../format/labels.js";
import { gateRules, safetyActionLabel, stepTrail } from "./ramp.js";
import { valueText } from "./values.js";

export interface FieldChange {
  /** The field as people read it, e.g. "Variant 2 (treatment) weight". */
  field: string;
  /** The old value as text; "—" when the field was absent. */
  before: string;
  /** The new value as text; "—" when the field was removed. */
  after: string;
}

const NONE = "—";

function text(value: string): string {
  return value === "" ? NONE : value;
}

function list(values: readonly string[]): string {
  return values.length === 0 ? NONE : values.join(", ");
}

function variantFields(v: Variant | undefined): Record<string, string> {
  if (v === undefined) return {};
  return {
    key: v.key,
    value: valueText(v.value),
    weight: `${v.weight} %`,
    control: v.control ? "yes" : "no",
  };
}

function guardrailFields(g: Guardrail | undefined): Record<string, string> {
  if (g === undefined) return {};
  return {
    metric: g.metricKey,
    threshold: String(g.threshold),
    direction: enumLabel(Direction, g.direction),
    action: enumLabel(GuardrailAction, g.action),
    window: g.windowSeconds === 0 ? "600 s" : `${g.windowSeconds} s`,
    "minimum sample": String(g.minSampleSize),
  };
}

/** A ramp plan as comparable rows: steps, each gate, the safety action; none without steps. */
function rampFields(e: Experiment): Record<string, string> {
  const plan = e.rampPlan;
  if (plan === undefined || plan.steps.length === 0) return {};
  const fields: Record<string, string> = { steps: stepTrail(plan.steps) };
  for (const rule of gateRules(plan.gates)) fields[rule.term.toLowerCase()] = rule.value;
  fields["safety action"] = safetyActionLabel(plan.safetyAction);
  return fields;
}

/** Compares two lists of sub-records position by position. */
function compareRows(
  changes: FieldChange[],
  label: (i: number, key: string) => string,
  before: Record<string, string>[],
  after: Record<string, string>[],
) {
  const n = Math.max(before.length, after.length);
  for (let i = 0; i < n; i++) {
    const b = before[i];
    const a = after[i];
    if (b === undefined && a !== undefined) {
      changes.push({
        field: label(i, a.key ?? a.metric ?? ""),
        before: NONE,
        after: describeRow(a),
      });
    } else if (a === undefined && b !== undefined) {
      changes.push({
        field: label(i, b.key ?? b.metric ?? ""),
        before: describeRow(b),
        after: NONE,
      });
    } else if (a !== undefined && b !== undefined) {
      for (const name of Object.keys(a)) {
        if (a[name] !== b[name]) {
          changes.push({
            field: `${label(i, a.key ?? a.metric ?? "")} ${name}`,
            before: text(b[name] ?? ""),
            after: text(a[name] ?? ""),
          });
        }
      }
    }
  }
}

function describeRow(row: Record<string, string>): string {
  return Object.entries(row)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
}

/**
 * The field-level changes from `before` to `after`. Without `before`
 * (the first version) there is nothing to compare and the list is empty.
 */
export function versionDiff(before: Experiment | undefined, after: Experiment): FieldChange[] {
  if (before === undefined) return [];
  const changes: FieldChange[] = [];
  const scalar = (field: string, b: string, a: string) => {
    if (a !== b) changes.push({ field, before: text(b), after: text(a) });
  };
  scalar("Name", before.name, after.name);
  scalar("Description", before.description, after.description);
  scalar("Flag", before.flagKey, after.flagKey);
  scalar("Audience", `${before.audiencePercent} %`, `${after.audiencePercent} %`);
  compareRows(
    changes,
    (i, key) => `Variant ${i + 1}${key === "" ? "" : ` (${key})`}`,
    before.variants.map(variantFields),
    after.variants.map(variantFields),
  );
  scalar("Targeting rule", before.targetingRule, after.targetingRule);
  scalar("Primary metric", before.primaryMetricKey, after.primaryMetricKey);
  scalar("Secondary metrics", list(before.metricKeys), list(after.metricKeys));
  compareRows(
    changes,
    (i, metric) => `Guardrail ${i + 1}${metric === "" ? "" : ` (${metric})`}`,
    before.guardrails.map(guardrailFields),
    after.guardrails.map(guardrailFields),
  );
  scalar("Conflict domains", list(before.conflictDomains), list(after.conflictDomains));
  scalar("Priority", String(before.priority), String(after.priority));
  const rampBefore = rampFields(before);
  const rampAfter = rampFields(after);
  compareRows(
    changes,
    () => "Ramp plan",
    Object.keys(rampBefore).length === 0 ? [] : [rampBefore],
    Object.keys(rampAfter).length === 0 ? [] : [rampAfter],
  );
  return changes;
}
