/**
 * Shared helpers of the learnings pages: who may edit a learning, how an
 * effect, a match reason or an audited change is put in words, and how the
 * server's console paths become router links.
 */
import { useCallback } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { createConnectQueryKey } from "@connectrpc/connect-query";
import { Role, type User } from "../../../../gen/lotty/access/v1/access_pb.js";
import { Outcome } from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import {
  LearningService,
  type Effect,
  type Learning,
} from "../../../../gen/lotty/learnings/v1/learnings_pb.js";
import { may, SERVICES } from "./permissions.js";
import {
  formatInterval,
  formatNumber,
  formatPValue,
  formatSigned,
  formatSignedPercent,
} from "../format/numbers.js";

/** Owner or admin, and the role table allows UpsertLearning. */
export function mayEditLearning(user: User, learning: Pick<Learning, "ownerId">): boolean {
  if (!may(user.roles, SERVICES.learnings, "UpsertLearning")) return false;
  return learning.ownerId === user.id || user.roles.includes(Role.ADMIN);
}

/**
 * A console path from the server (e.g. the report permalink
 * "/console/experiments/{id}/results") as a router path: the router's
 * basename is /console, so that prefix goes.
 */
export function routerPath(consolePath: string): string {
  if (consolePath === "/console") return "/";
  return consolePath.startsWith("/console/") ? consolePath.slice("/console".length) : consolePath;
}

/** The results page of a learning: its report permalink, else the usual path. */
export function resultsPath(learning: Pick<Learning, "reportPermalink" | "experimentId">): string {
  return learning.reportPermalink !== ""
    ? routerPath(learning.reportPermalink)
    : `/experiments/${learning.experimentId}/results`;
}

/** Outcome in words ("rolled out", …) and a colour hint that never carries the meaning alone. */
export function outcomeWords(outcome: Outcome): { label: string; tone: "good" | "bad" | "" } {
  switch (outcome) {
    case Outcome.ROLLOUT:
      return { label: "rolled out", tone: "good" };
    case Outcome.ROLLBACK:
      return { label: "rolled back", tone: "bad" };
    case Outcome.NO_EFFECT:
      return { label: "no effect", tone: "" };
    default:
      return { label: "no outcome", tone: "" };
  }
}

const REASONS: Record<string, string> = {
  same_flag: "Same flag",
  shared_tags: "Shared tags",
  same_primary_metric: "Same primary metric",
  shared_metrics: "Shared metrics",
  similar_audience: "Similar audience",
  same_variant_count: "Same variant shape",
};

/** "same_flag" → "Same flag"; an unknown reason is shown with its words. */
export function reasonLabel(reason: string): string {
  const known = REASONS[reason];
  if (known !== undefined) return known;
  const words = reason.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const FIELDS: Record<string, string> = {
  hypothesis: "hypothesis",
  result: "result",
  action: "action",
  tags: "tags",
  platforms: "platforms",
  countries: "countries",
  versions: "versions",
  planned_days: "planned days",
  links: "links",
  notes: "notes",
  reviewed: "a person's review (one edit)",
};

/** A Learning field name for people: "planned_days" → "planned days". */
export function fieldLabel(field: string): string {
  return FIELDS[field] ?? field.replace(/_/g, " ");
}

/** "Needs writing up: missing notes, action." */
export function missingText(missing: readonly string[]): string {
  if (missing.length === 0) return "Needs writing up.";
  return `Needs writing up: missing ${missing.map(fieldLabel).join(", ")}.`;
}

export interface EffectWords {
  /** "+5.0 %" (relative difference), or the absolute difference when the control is 0. */
  change: string;
  /** "[−0.4 %, +10.2 %]": the interval in the same unit as `change`. */
  interval: string;
  /** "significant (p = 0.012)" / "not significant (p = 0.31)". */
  significance: string;
  significant: boolean;
  /** "blue vs control". */
  comparison: string;
}

/**
 * An effect in words. The interval is reported for the absolute difference;
 * relative to the control it is the same interval divided by the control's
 * value (when that is not 0, else everything stays absolute).
 */
export function effectWords(effect: Effect): EffectWords {
  const relative = effect.controlValue !== 0;
  const change = relative
    ? formatSignedPercent(effect.relativeDifference)
    : formatSigned(effect.absoluteDifference);
  const interval = relative
    ? formatInterval(effect.ciLow / effect.controlValue, effect.ciHigh / effect.controlValue, (x) =>
        formatSignedPercent(x),
      )
    : formatInterval(effect.ciLow, effect.ciHigh, (x) => formatSigned(x));
  const p = formatPValue(effect.pValue);
  return {
    change,
    interval,
    significance: `${effect.significant ? "significant" : "not significant"}${p === "—" ? "" : ` (${p})`}`,
    significant: effect.significant,
    comparison:
      effect.variantKey === ""
        ? ""
        : `${effect.variantKey} vs ${effect.controlVariantKey || "control"}`,
  };
}

/**
 * An audited value (JSON text) for people: strings as they are, lists
 * joined with commas, links as "title (url)", nothing as "(empty)".
 */
export function changeValueText(json: string): string {
  if (json.trim() === "") return "(empty)";
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return json;
  }
  return valueText(value);
}

function valueText(value: unknown): string {
  if (value === null || value === undefined || value === "") return "(empty)";
  if (typeof value === "string") return value;
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) {
    return value.length === 0 ? "(empty)" : value.map(valueText).join(", ");
  }
  if (typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (typeof o.url === "string") {
      return typeof o.title === "string" && o.title !== "" ? `${o.title} (${o.url})` : o.url;
    }
    return JSON.stringify(value);
  }
  return String(value);
}

/** Refreshes every LearningService query (the page, history, searches, similar panels). */
export function useInvalidateLearnings(): () => Promise<void> {
  const queryClient = useQueryClient();
  return useCallback(
    () =>
      queryClient.invalidateQueries({
        queryKey: createConnectQueryKey({ schema: LearningService, cardinality: undefined }),
      }),
    [queryClient],
  );
}
