/**
 * The experiment form's state: every input as the text the user typed,
 * converted to and from the Experiment message. Problems the browser can
 * see on its own (a value that is not of the flag's type) come back in the
 * same {field, message} shape as the server's, so the form shows both alike.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Direction,
  GuardrailAction,
  type Experiment,
  type ExperimentSchema,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagType } from "../../../../../gen/lotty/flags/v1/flags_pb.js";
import type { FieldError } from "../../api/errors.js";
import { parseValue, valueInput } from "./values.js";

export interface VariantDraft {
  key: string;
  value: string;
  weight: string;
}

export interface GuardrailDraft {
  metricKey: string;
  threshold: string;
  direction: Direction;
  action: GuardrailAction;
  windowSeconds: string;
  minSampleSize: string;
}

export interface ExperimentDraft {
  name: string;
  description: string;
  flagKey: string;
  audiencePercent: string;
  variants: VariantDraft[];
  /** Index of the control variant. */
  control: number;
  targetingRule: string;
  primaryMetricKey: string;
  metricKeys: string[];
  guardrails: GuardrailDraft[];
  /** Comma-separated domain names. */
  conflictDomains: string;
  priority: string;
}

export function emptyDraft(): ExperimentDraft {
  return {
    name: "",
    description: "",
    flagKey: "",
    audiencePercent: "100",
    variants: [
      { key: "control", value: "", weight: "50" },
      { key: "treatment", value: "", weight: "50" },
    ],
    control: 0,
    targetingRule: "",
    primaryMetricKey: "",
    metricKeys: [],
    guardrails: [],
    conflictDomains: "",
    priority: "0",
  };
}

export function emptyGuardrail(): GuardrailDraft {
  return {
    metricKey: "",
    threshold: "",
    direction: Direction.INCREASE_IS_BAD,
    action: GuardrailAction.PAUSE,
    windowSeconds: "600",
    minSampleSize: "0",
  };
}

export function draftFromExperiment(e: Experiment): ExperimentDraft {
  const control = e.variants.findIndex((v) => v.control);
  return {
    name: e.name,
    description: e.description,
    flagKey: e.flagKey,
    audiencePercent: String(e.audiencePercent),
    variants: e.variants.map((v) => ({
      key: v.key,
      value: valueInput(v.value),
      weight: String(v.weight),
    })),
    control: control < 0 ? 0 : control,
    targetingRule: e.targetingRule,
    primaryMetricKey: e.primaryMetricKey,
    metricKeys: [...e.metricKeys],
    guardrails: e.guardrails.map((g) => ({
      metricKey: g.metricKey,
      threshold: String(g.threshold),
      direction: g.direction,
      action: g.action,
      windowSeconds: String(g.windowSeconds === 0 ? 600 : g.windowSeconds),
      minSampleSize: String(g.minSampleSize),
    })),
    conflictDomains: e.conflictDomains.join(", "),
    priority: String(e.priority),
  };
}

/** A number from a text input; NaN for text that is not one (the server names the field). */
function num(text: string): number {
  return text.trim() === "" ? 0 : Number(text);
}

function int(text: string): number {
  const n = num(text);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

/** The Experiment to send, and the problems found before sending. */
export function draftToExperiment(
  draft: ExperimentDraft,
  flagType: FlagType,
  id = "",
): { experiment: MessageInitShape<typeof ExperimentSchema>; problems: FieldError[] } {
  const problems: FieldError[] = [];
  const variants = draft.variants.map((v, i) => {
    const parsed = parseValue(v.value, flagType);
    if ("problem" in parsed)
      problems.push({ field: `experiment.variants[${i}].value`, message: parsed.problem });
    const weight = num(v.weight);
    if (!Number.isFinite(weight))
      problems.push({ field: `experiment.variants[${i}].weight`, message: "must be a number" });
    return {
      key: v.key.trim(),
      value: "value" in parsed ? parsed.value : undefined,
      weight: Number.isFinite(weight) ? weight : 0,
      control: i === draft.control,
    };
  });
  const audience = num(draft.audiencePercent);
  if (!Number.isFinite(audience))
    problems.push({ field: "experiment.audience_percent", message: "must be a number" });
  const guardrails = draft.guardrails.map((g, i) => {
    const threshold = Number(g.threshold);
    if (g.threshold.trim() === "" || !Number.isFinite(threshold)) {
      problems.push({
        field: `experiment.guardrails[${i}].threshold`,
        message: "must be a number",
      });
    }
    return {
      metricKey: g.metricKey,
      threshold: Number.isFinite(threshold) ? threshold : 0,
      direction: g.direction,
      action: g.action,
      windowSeconds: int(g.windowSeconds),
      minSampleSize: int(g.minSampleSize),
    };
  });
  return {
    experiment: {
      id,
      name: draft.name.trim(),
      description: draft.description,
      flagKey: draft.flagKey,
      audiencePercent: Number.isFinite(audience) ? audience : 0,
      variants,
      targetingRule: draft.targetingRule.trim(),
      primaryMetricKey: draft.primaryMetricKey,
      metricKeys: draft.metricKeys.filter((k) => k !== draft.primaryMetricKey),
      guardrails,
      conflictDomains: draft.conflictDomains
        .split(",")
        .map((d) => d.trim())
        .filter((d) => d !== ""),
      priority: int(draft.priority),
    },
    problems,
  };
}
