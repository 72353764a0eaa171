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
] as const;

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
