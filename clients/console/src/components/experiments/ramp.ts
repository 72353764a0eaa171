/**
 * The autopilot ramp in words (docs/console.md#autopilot-ramp): modes,
 * safety actions, gates with their figures, history entries, which manual
 * controls the server would accept now, and the step changes the results
 * chart marks. Pure functions of the contract's messages, unit-tested.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  Direction,
  ExperimentStatus,
  RampControl,
  RampEventKind,
  RampMode,
  RampSafetyAction,
  type Experiment,
  type RampEvent,
  type RampGateResult,
  type RampGates,
} from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { formatCount, formatNumber, formatPValue, MISSING } from "../../format/numbers.js";
import { personLabel } from "../../api/experiments.js";

/** A share in percent as written on a step: 10 → "10 %", 2.5 → "2.5 %". */
export function formatStepPercent(percent: number | undefined): string {
  if (percent === undefined || !Number.isFinite(percent)) return MISSING;
  return `${formatNumber(percent)} %`;
}

/** A 0–1 fraction as a percentage without trailing zeros: 0.1 → "10 %", 0.025 → "2.5 %". */
export function formatFraction(fraction: number | undefined): string {
  if (fraction === undefined || !Number.isFinite(fraction)) return MISSING;
  return `${formatNumber(fraction * 100)} %`;
}

/** The plan's steps in one line: "1 % → 5 % → 10 %". */
export function stepTrail(steps: readonly number[]): string {
  return steps.map(formatStepPercent).join(" → ");
}

/** "45 s", "5 min", "1 h 30 min", "2 d 3 h". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return MISSING;
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  const parts: string[] = [];
  const days = Math.floor(s / 86_400);
  const hours = Math.floor((s % 86_400) / 3_600);
  const minutes = Math.floor((s % 3_600) / 60);
  const rest = s % 60;
  if (days > 0) parts.push(`${days} d`);
  if (hours > 0) parts.push(`${hours} h`);
  if (minutes > 0 && days === 0) parts.push(`${minutes} min`);
  if (rest > 0 && days === 0 && hours === 0) parts.push(`${rest} s`);
  return parts.join(" ");
}

const MODE_WORDS: Record<RampMode, string> = {
  [RampMode.UNSPECIFIED]: "Not started",
  [RampMode.AUTO]: "Autopilot",
  [RampMode.HOLD]: "Held",
  [RampMode.MANUAL]: "Manual",
  [RampMode.DONE]: "Done",
};

/** Who moves the ramp, in one word. */
export function modeLabel(mode: RampMode): string {
  return MODE_WORDS[mode] ?? MODE_WORDS[RampMode.UNSPECIFIED];
}

/** What the mode means, in a sentence. */
export function modeHelp(mode: RampMode): string {
  switch (mode) {
    case RampMode.AUTO:
      return "The autopilot moves up a step when every gate passes, and runs the safety action when a safety gate fails.";
    case RampMode.HOLD:
      return "The ramp stays on this step; the autopilot still watches the safety gates.";
    case RampMode.MANUAL:
      return "The autopilot does nothing; the owner or an admin moves the ramp.";
    case RampMode.DONE:
      return "The last step was reached: the ramp is over.";
    default:
      return "The ramp begins at the first step when the experiment starts.";
  }
}

/** The plan's safety action in words. */
export function safetyActionLabel(action: RampSafetyAction): string {
  switch (action) {
    case RampSafetyAction.PAUSE:
      return "Pause the experiment and hold the ramp";
    case RampSafetyAction.ROLLBACK:
      return "Roll back to control (pause; everyone gets the control value) and hold the ramp";
    case RampSafetyAction.STEP_BACK:
      return "Step back one step and hold the ramp there (pause at the first step)";
    default:
      return "None set";
  }
}

/** One line of the configured gates: what is checked and what a failure does. */
export interface GateRule {
  term: string;
  value: string;
}

/** The plan's gates as term/description pairs, in the order the autopilot checks them. */
export function gateRules(gates: RampGates | undefined): GateRule[] {
  const g = gates;
  const atLeast = (n: number, text: (n: number) => string) =>
    n > 0 ? `at least ${text(n)} (waits)` : "no minimum";
  const rules: GateRule[] = [
    { term: "Time on each step", value: atLeast(g?.minStepSeconds ?? 0, formatDuration) },
    {
      term: "Exposures on each step",
      value: atLeast(g?.minExposures ?? 0, (n) => `${formatCount(n)}, all variants`),
    },
    {
      term: "Exposures per variant",
      value: atLeast(g?.minExposuresPerVariant ?? 0, (n) => `${formatCount(n)} in every variant`),
    },
    {
      term: "Guardrails",
      value:
        "the experiment's guardrails are checked on every step; one that fires runs the safety action",
    },
  ];
  for (const t of g?.thresholds ?? []) {
    const increaseIsBad = t.direction !== Direction.DECREASE_IS_BAD;
    rules.push({
      term: `Threshold on ${t.metricKey}`,
      value: `a treatment ${increaseIsBad ? "above" : "below"} ${formatNumber(t.threshold)} runs the safety action`,
    });
  }
  rules.push({
    term: "Sample ratio mismatch",
    value:
      g?.allowSrm === true
        ? "allowed (not checked)"
        : "a mismatch over the step (p < 0.001) holds the ramp",
  });
  rules.push({
    term: "Traffic skew",
    value:
      g?.maxTrafficSkew === undefined
        ? "not checked"
        : `a variant more than ${formatFraction(g.maxTrafficSkew)} off its weight's share holds the ramp`,
  });
  rules.push({
    term: "Rejected events",
    value:
      g?.maxRejectedShare === undefined
        ? "not checked"
        : `more than ${formatFraction(g.maxRejectedShare)} rejected over the step holds the ramp`,
  });
  return rules;
}

const GATE_NAMES: Record<string, string> = {
  min_step_seconds: "Time on the step",
  min_exposures: "Exposures",
  min_exposures_per_variant: "Exposures per variant",
  guardrail: "Guardrails",
  threshold: "Threshold",
  srm: "Sample ratio",
  traffic_skew: "Traffic skew",
  rejected_share: "Rejected events",
};

/** A gate's name in words ("min_exposures" → "Exposures"); unknown gates as sent. */
export function gateName(gate: string): string {
  return GATE_NAMES[gate] ?? gate.replace(/_/g, " ");
}

/** What a failure of the gate does. */
export function gateEffectLabel(effect: string): string {
  switch (effect) {
    case "wait":
      return "waits";
    case "hold":
      return "holds the ramp";
    case "safety":
      return "runs the safety action";
    default:
      return effect;
  }
}

/** The figure a gate observed, in its unit. */
export function gateObserved(g: RampGateResult): string {
  switch (g.gate) {
    case "min_step_seconds":
      return formatDuration(g.observed);
    case "min_exposures":
    case "min_exposures_per_variant":
      return formatCount(g.observed);
    case "guardrail":
      return `${formatCount(g.observed)} fired`;
    case "srm":
      return formatPValue(g.observed);
    case "traffic_skew":
    case "rejected_share":
      return formatFraction(g.observed);
    default:
      return formatNumber(g.observed);
  }
}

/** The bound a gate compares with, with the comparison that passes. */
export function gateThreshold(g: RampGateResult): string {
  switch (g.gate) {
    case "min_step_seconds":
      return `≥ ${formatDuration(g.threshold)}`;
    case "min_exposures":
    case "min_exposures_per_variant":
      return `≥ ${formatCount(g.threshold)}`;
    case "guardrail":
      return "none fired";
    case "srm":
      return `p ≥ ${formatNumber(g.threshold)}`;
    case "traffic_skew":
    case "rejected_share":
      return `≤ ${formatFraction(g.threshold)}`;
    default:
      return formatNumber(g.threshold);
  }
}

/** A failed gate in one line: "Exposures: 0 observed, ≥ 20 needed (waits)". */
export function failedGateLine(g: RampGateResult): string {
  return `${gateName(g.gate)}: ${gateObserved(g)} observed, ${gateThreshold(g)} needed (${gateEffectLabel(g.effect)})`;
}

const CONTROL_WORDS: Record<RampControl, string> = {
  [RampControl.UNSPECIFIED]: "Unknown command",
  [RampControl.MANUAL]: "Manual",
  [RampControl.RESUME_AUTOPILOT]: "Resume autopilot",
  [RampControl.HOLD]: "Hold",
  [RampControl.ADVANCE]: "Advance",
  [RampControl.SKIP]: "Skip a step",
  [RampControl.STEP_BACK]: "Step back",
};

/** A manual command's name, as on its button. */
export function controlLabel(control: RampControl): string {
  return CONTROL_WORDS[control] ?? CONTROL_WORDS[RampControl.UNSPECIFIED];
}

const SAFETY_DONE: Partial<Record<RampSafetyAction, string>> = {
  [RampSafetyAction.PAUSE]: "paused",
  [RampSafetyAction.ROLLBACK]: "rolled back",
  [RampSafetyAction.STEP_BACK]: "stepped back",
};

/**
 * What a history entry records, in words: "Started", "Moved up", "Blocked"
 * (a sufficiency gate waits), "Held" (a data-health gate holds), "Safety
 * action: step back", "Manual: Advance".
 */
export function eventKindLabel(e: RampEvent): string {
  switch (e.kind) {
    case RampEventKind.STARTED:
      return "Started";
    case RampEventKind.ADVANCED:
      return "Moved up";
    case RampEventKind.BLOCKED:
      return e.gates.some((g) => !g.passed && g.effect === "hold") ? "Held" : "Blocked";
    case RampEventKind.SAFETY_ACTION: {
      // At the first step there is nothing to step back to: the autopilot pauses instead.
      const action =
        e.safetyAction === RampSafetyAction.STEP_BACK && e.toStep === e.fromStep
          ? SAFETY_DONE[RampSafetyAction.PAUSE]
          : SAFETY_DONE[e.safetyAction];
      return action === undefined ? "Safety action" : `Safety action: ${action}`;
    }
    case RampEventKind.MANUAL:
      return `Manual: ${controlLabel(e.control)}`;
    default:
      return "Recorded";
  }
}

/** The tone of an entry's badge (always with its words). */
export function eventTone(e: RampEvent): "good" | "bad" | "warn" | "" {
  switch (e.kind) {
    case RampEventKind.ADVANCED:
      return "good";
    case RampEventKind.SAFETY_ACTION:
      return "bad";
    case RampEventKind.BLOCKED:
      return "warn";
    default:
      return "";
  }
}

/** Who acted: "autopilot" for the autopilot, else the person as the console shows people. */
export function eventActor(e: RampEvent, me: string): string {
  return e.actorId === "" ? "autopilot" : personLabel(e.actorId, me);
}

/** "10 % → 50 %", or "at 10 %" when the step did not change. */
export function percentChange(e: RampEvent): string {
  return e.fromStep === e.toStep && e.fromPercent === e.toPercent
    ? `at ${formatStepPercent(e.toPercent)}`
    : `${formatStepPercent(e.fromPercent)} → ${formatStepPercent(e.toPercent)}`;
}

/** The manual commands in the order their buttons appear. */
export const CONTROLS: readonly RampControl[] = [
  RampControl.MANUAL,
  RampControl.RESUME_AUTOPILOT,
  RampControl.HOLD,
  RampControl.ADVANCE,
  RampControl.SKIP,
  RampControl.STEP_BACK,
];

/**
 * The commands ControlRamp would accept now, from what the page knows (the
 * server still decides; a stale page gets its FAILED_PRECONDITION): a
 * started ramp of a running or paused experiment; not the mode it is in;
 * no autopilot after the last step; Advance and Skip only while running
 * and with a step to go to; Step back above the first step.
 */
export function availableControls(e: Experiment): RampControl[] {
  const r = e.ramp;
  const steps = e.rampPlan?.steps.length ?? 0;
  if (r === undefined || steps === 0) return [];
  const running = e.status === ExperimentStatus.RUNNING;
  if (!running && e.status !== ExperimentStatus.PAUSED) return [];
  return CONTROLS.filter((c) => {
    switch (c) {
      case RampControl.MANUAL:
        return r.mode !== RampMode.MANUAL;
      case RampControl.RESUME_AUTOPILOT:
        return r.mode !== RampMode.AUTO && r.mode !== RampMode.DONE;
      case RampControl.HOLD:
        return r.mode !== RampMode.HOLD;
      case RampControl.ADVANCE:
        return running && r.stepIndex + 1 < steps;
      case RampControl.SKIP:
        return running && r.stepIndex + 2 < steps;
      case RampControl.STEP_BACK:
        return r.stepIndex > 0;
      default:
        return false;
    }
  });
}

/** The title of a command's comment form and what it will do. */
export function controlForm(e: Experiment, control: RampControl): { title: string; help: string } {
  const steps = e.rampPlan?.steps ?? [];
  const at = e.ramp?.stepIndex ?? 0;
  const step = (i: number) => formatStepPercent(steps[i]);
  switch (control) {
    case RampControl.MANUAL:
      return {
        title: "Switch the ramp to manual",
        help: "The autopilot stops moving this ramp; only Advance, Skip a step and Step back move it.",
      };
    case RampControl.RESUME_AUTOPILOT:
      return {
        title: "Resume the autopilot",
        help: "The autopilot moves up when every gate passes; the step's clock starts again.",
      };
    case RampControl.HOLD:
      return {
        title: "Hold the ramp",
        help: `The ramp stays at ${step(at)}; the autopilot still watches the safety gates.`,
      };
    case RampControl.ADVANCE:
      return {
        title: `Advance to ${step(at + 1)}`,
        help: `Moves from ${step(at)} to ${step(at + 1)} now, without waiting for the gates.`,
      };
    case RampControl.SKIP:
      return {
        title: `Skip to ${step(at + 2)}`,
        help: `Moves from ${step(at)} to ${step(at + 2)} now, skipping ${step(at + 1)}.`,
      };
    case RampControl.STEP_BACK:
      return {
        title: `Step back to ${step(at - 1)}`,
        help: `Moves from ${step(at)} down to ${step(at - 1)}.`,
      };
    default:
      return { title: controlLabel(control), help: "" };
  }
}

/** Where the ramp stands, in a sentence: "The ramp is at 50 % (step 2 of 3), autopilot." */
export function rampSentence(e: Experiment | undefined): string {
  const r = e?.ramp;
  if (e === undefined || r === undefined) return "The ramp was changed.";
  const steps = e.rampPlan?.steps.length ?? 0;
  return `The ramp is at ${formatStepPercent(r.stepPercent)} (step ${r.stepIndex + 1} of ${steps}), ${modeLabel(r.mode).toLowerCase()}.`;
}

/** A step change, as the results chart marks it. */
export interface StepBoundary {
  at: Date;
  fromPercent: number;
  toPercent: number;
  /** "Moved up", "Manual: Advance", "Safety action: stepped back". */
  what: string;
  /** "autopilot" or a person. */
  who: string;
}

/** The entries that changed the step, oldest first (ListRampEvents answers oldest first). */
export function stepBoundaries(events: readonly RampEvent[], me: string): StepBoundary[] {
  return events
    .filter((e) => e.toStep !== e.fromStep && e.at !== undefined)
    .map((e) => ({
      at: timestampDate(e.at!),
      fromPercent: e.fromPercent,
      toPercent: e.toPercent,
      what: eventKindLabel(e),
      who: eventActor(e, me),
    }))
    .sort((a, b) => a.at.getTime() - b.at.getTime());
}

/**
 * Rows for the markers' labels so that close ones do not overlap: each
 * label takes the first of `rows` rows where no earlier label is within
 * `gap` pixels; -1 when every row is taken there (the list under the chart
 * still names it). `xs` in drawing order.
 */
export function labelRows(xs: readonly number[], gap: number, rows: number): number[] {
  const lastX: number[] = Array.from({ length: rows }, () => Number.NEGATIVE_INFINITY);
  return xs.map((x) => {
    const row = lastX.findIndex((last) => x - last >= gap);
    if (row >= 0) lastX[row] = x;
    return row;
  });
}

/** How often a page showing a ramp the autopilot drives reads it again. */
export const RAMP_REFRESH_MS = 15_000;

/** Whether the autopilot may move this experiment's ramp on its own (AUTO or HOLD, live). */
export function autopilotDrives(e: Experiment | undefined): boolean {
  const mode = e?.ramp?.mode;
  return (
    (mode === RampMode.AUTO || mode === RampMode.HOLD) &&
    (e?.status === ExperimentStatus.RUNNING || e?.status === ExperimentStatus.PAUSED)
  );
}
