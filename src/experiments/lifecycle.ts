/**
 * The experiment status machine as one table. The service consults it for
 * every state change, docs/experiments.md renders it (a test checks the
 * document against renderTransitionTable()), and every (status, action)
 * pair it does not list fails with FAILED_PRECONDITION.
 */
import type { ExperimentStatusName } from "./entities.js";

export type LifecycleAction =
  | "submit"
  | "approve"
  | "request_changes"
  | "reject"
  | "rework"
  | "start"
  | "pause"
  | "resume"
  | "complete"
  | "archive";

export interface Transition {
  action: LifecycleAction;
  from: ExperimentStatusName;
  to: ExperimentStatusName;
  /** A condition checked by the service beyond the status. */
  guard?: string;
}

export const STATUSES: readonly ExperimentStatusName[] = [
  "draft",
  "in_review",
  "approved",
  "rejected",
  "running",
  "paused",
  "completed",
  "archived",
];

export const ACTIONS: readonly LifecycleAction[] = [
  "submit",
  "approve",
  "request_changes",
  "reject",
  "rework",
  "start",
  "pause",
  "resume",
  "complete",
  "archive",
];

export const TRANSITIONS: readonly Transition[] = [
  { action: "submit", from: "draft", to: "in_review" },
  {
    action: "approve",
    from: "in_review",
    to: "approved",
    guard: "stays in_review until distinct approvals reach the review policy's threshold",
  },
  { action: "request_changes", from: "in_review", to: "draft", guard: "clears approvals" },
  { action: "reject", from: "in_review", to: "rejected", guard: "clears approvals" },
  { action: "rework", from: "rejected", to: "draft" },
  {
    action: "start",
    from: "approved",
    to: "running",
    guard: "approvals ≥ threshold; flag active; no other running or paused experiment on the flag",
  },
  { action: "pause", from: "running", to: "paused" },
  { action: "resume", from: "paused", to: "running" },
  {
    action: "complete",
    from: "running",
    to: "completed",
    guard: "outcome and justification; rollout names the winning variant",
  },
  {
    action: "complete",
    from: "paused",
    to: "completed",
    guard: "outcome and justification; rollout names the winning variant",
  },
  { action: "archive", from: "completed", to: "archived" },
];

/** The transition `action` takes from `from`, or undefined when it is not allowed. */
export function findTransition(
  from: ExperimentStatusName,
  action: LifecycleAction,
): Transition | undefined {
  return TRANSITIONS.find((t) => t.from === from && t.action === action);
}

/** Only drafts are editable; everything that affects assignment is frozen after. */
export function isEditable(status: ExperimentStatusName): boolean {
  return status === "draft";
}

/** The Markdown table docs/experiments.md carries. */
export function renderTransitionTable(): string {
  const rows = TRANSITIONS.map(
    (t) => `| \`${t.from}\` | \`${t.action}\` | \`${t.to}\` | ${t.guard ?? ""} |`,
  );
  return ["| from | action | to | condition |", "| --- | --- | --- | --- |", ...rows].join("\n");
}
