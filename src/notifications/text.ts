/**
 * The one-line summary of a lifecycle event, and rule templates. Pure.
 */
import type { LifecycleEvent } from "../platform/changes.js";

/** Trigger names a rule may subscribe to (proto/lotty/notifications/v1). */
export const TRIGGERS = [
  "experiment.submitted",
  "experiment.approved",
  "experiment.rejected",
  "experiment.started",
  "experiment.paused",
  "experiment.resumed",
  "experiment.completed",
  "guardrail.triggered",
  "ramp.step",
  "ramp.held",
  "ramp.safety_action",
  "data_quality.volume_drop",
  "data_quality.volume_spike",
  "data_quality.rejected_share",
  "data_quality.srm",
  "data_quality.attribution_backlog",
  "digest.daily",
  "digest.weekly",
] as const;

/** The data-quality alarm triggers (docs/notifications.md#data-quality-alarms). */
export const DATA_QUALITY_TRIGGERS = TRIGGERS.filter((t) => t.startsWith("data_quality."));

/** The digest trigger of each period. */
export const DIGEST_TRIGGERS = { daily: "digest.daily", weekly: "digest.weekly" } as const;

export const GUARDRAIL_TRIGGERED = "guardrail.triggered";

const VERBS: Record<string, string> = {
  "experiment.submitted": "was submitted for review",
  "experiment.approved": "was approved",
  "experiment.rejected": "was rejected",
  "experiment.started": "was started",
  "experiment.paused": "was paused",
  "experiment.resumed": "was resumed",
  "experiment.completed": "was completed",
  "ramp.step": "changed its ramp step",
  "ramp.held": "has its ramp held",
  "ramp.safety_action": "had a ramp safety action",
};

/** The default summary: what happened, to which experiment, by whom. */
export function defaultSummary(event: LifecycleEvent): string {
  const subject = `Experiment "${event.experimentName}" (flag ${event.flagKey})`;
  if (event.trigger === GUARDRAIL_TRIGGERED) {
    const breach = typeof event.details.summary === "string" ? event.details.summary : "";
    return `${subject}: ${breach || "a guardrail fired"}`;
  }
  if (event.trigger.startsWith("data_quality.") || event.trigger.startsWith("digest.")) {
    // Written by the alarm or the digest itself.
    return typeof event.details.summary === "string" ? event.details.summary : event.trigger;
  }
  if (event.trigger.startsWith("ramp.")) {
    const d = event.details;
    const by = event.actorId ? ` by ${event.actorId}` : " by the autopilot";
    const step =
      d.fromPercent === d.toPercent
        ? `stays at ${String(d.toPercent)} % of its audience`
        : `moved from ${String(d.fromPercent)} % to ${String(d.toPercent)} % of its audience`;
    return `${subject} ${VERBS[event.trigger]}${by}: ${step}${event.comment ? ` (${event.comment})` : ""}`;
  }
  const verb = VERBS[event.trigger] ?? event.trigger;
  const by = event.actorId ? ` by ${event.actorId}` : "";
  const comment = event.comment ? `: ${event.comment}` : "";
  return `${subject} ${verb}${by}${comment}`;
}

const PLACEHOLDER = /\{(trigger|experimentId|experimentName|flagKey|actorId|occurredAt|summary)\}/g;

/** Applies a rule template; an empty template means the default summary. */
export function renderSummary(template: string, event: LifecycleEvent): string {
  const summary = defaultSummary(event);
  if (template === "") return summary;
  const values: Record<string, string> = {
    trigger: event.trigger,
    experimentId: event.experimentId,
    experimentName: event.experimentName,
    flagKey: event.flagKey,
    actorId: event.actorId ?? "",
    occurredAt: event.occurredAt,
    summary,
  };
  return template.replace(PLACEHOLDER, (_all, name: string) => values[name] ?? "");
}
