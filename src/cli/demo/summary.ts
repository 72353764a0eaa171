/**
 * What a demo run is given and what it reports back.
 */
import type { Role, ExperimentStatus } from "./proto.js";
import type { AnyLabel, Handle, Label, PastLabel, RampLabel } from "./tenant.js";

export interface DemoOptions {
  baseUrl: string;
  /** An admin's API key. */
  apiKey: string;
  /**
   * Simulated members sent through experiment A (B gets half, at least 200; each of
   * the earlier experiments D–G a quarter, at least 300). Default 2,000.
   */
  subjects?: number;
  /** Progress lines; default: standard output. */
  log?: (line: string) => void;
  /** How long to wait for B's guardrail to pause it. Default 60 s. */
  guardrailTimeoutMs?: number;
  /**
   * Seconds on each step of H's ramp plan (its min_step_seconds gate; I's
   * steps last three times as long), for experiments this run creates.
   * Default 10, for a server with the default autopilot interval (5 s).
   */
  rampStepSeconds?: number;
  /** How long to wait for H to finish its ramp, and for I's safety action. Default 120 s. */
  rampTimeoutMs?: number;
  /**
   * How long to wait, after J's traffic, for the data-quality monitor's SRM
   * alarm on J. Default 90 s: the server's monitor runs every 60 s, and the
   * ramps of H and I run in between.
   */
  dataQualityTimeoutMs?: number;
  /**
   * The demo webhook channel's url (LOTTY_DEMO_WEBHOOK_URL): your own
   * receiver. Unset: the demo receives its notifications itself while it
   * runs, on http://127.0.0.1:<webhookPort>/stride-demo-webhook.
   */
  webhookUrl?: string;
  /** The port of the demo's own receiver (LOTTY_DEMO_WEBHOOK_PORT). Default 8091. */
  webhookPort?: number;
}

export interface DemoUser {
  id: string;
  email: string;
  displayName: string;
  roles: Role[];
  created: boolean;
}

export interface DemoExperiment {
  label: AnyLabel;
  id: string;
  name: string;
  flagKey: string;
  ownerEmail: string;
  status: ExperimentStatus;
  statusName: string;
  approvals: number;
  requiredApprovals: number;
  created: boolean;
}

/** One of the earlier experiments D–G, completed, and its learning. */
export interface DemoPastExperiment extends DemoExperiment {
  /** The outcome it was completed with, e.g. "OUTCOME_ROLLBACK"; empty when not completed. */
  outcome: string;
  /** Whether its learning is written up (filled); false when it has none. */
  writtenUp: boolean;
  /** Metric keys of the guardrails that fired while it ran. */
  firedGuardrails: string[];
}

/** One move of a ramp, from its history (ListRampEvents). */
export interface RampMoveHighlights {
  /** "RAMP_EVENT_KIND_ADVANCED" or "RAMP_EVENT_KIND_SAFETY_ACTION". */
  kind: string;
  at: string;
  fromPercent: number;
  toPercent: number;
  /** The ramp's mode after, e.g. "RAMP_MODE_HOLD". */
  mode: string;
  /** For a safety action, e.g. "RAMP_SAFETY_ACTION_STEP_BACK"; else empty. */
  safetyAction: string;
  /** Every gate as the autopilot evaluated it; effect `wait`, `hold` or `safety`. */
  gates: {
    gate: string;
    passed: boolean;
    observed: number;
    threshold: number;
    effect: string;
    detail: string;
  }[];
}

/** Where an experiment's ramp stands after the run, and how it got there. */
export interface RampHighlights {
  /** The plan's steps, percent of the audience. */
  steps: number[];
  /** e.g. "RAMP_MODE_DONE". */
  mode: string;
  stepIndex: number;
  stepPercent: number;
  effectiveAudiencePercent: number;
  /** The highest step it reached (0-based). */
  highestStep: number;
  /** The autopilot's moves up, oldest first. */
  advanced: RampMoveHighlights[];
  /** The safety actions it ran, oldest first. */
  safetyActions: RampMoveHighlights[];
}

/** H or I, ramped by the autopilot. */
export interface DemoRampExperiment extends DemoExperiment {
  /** Undefined until it has started. */
  ramp?: RampHighlights;
}

/** A learning FindSimilar relates to experiment C, with why. */
export interface SimilarLearning {
  experimentId: string;
  name: string;
  score: number;
  reasons: string[];
}

/** What the learnings library holds after the run (the whole tenant's, not only the demo's). */
export interface LibraryHighlights {
  writtenUp: number;
  needsWritingUp: number;
  guardrailFired: number;
  /** FindSimilar for experiment C, best first. */
  similarToC: SimilarLearning[];
}

export interface Traffic {
  /** Members decided. */
  decided: number;
  /** Members exposed per variant (those the decision put in a variant). */
  exposed: Record<string, number>;
  /** Events sent per variant and type, exposures included. */
  events: Record<string, Record<string, number>>;
  /** Members per variant who sent at least one event of each type. */
  members: Record<string, Record<string, number>>;
  /** Members per variant whose exposure the client lost (J's buggy build); absent elsewhere. */
  lost?: Record<string, number>;
  rejected: number;
  dropped: number;
}

export interface WinnerHighlights {
  metricKey: string;
  control: { key: string; subjects: number; value: number };
  treatment: { key: string; subjects: number; value: number };
  absoluteDiff: number;
  relativeDiff: number;
  ciLow: number;
  ciHigh: number;
  pValue: number;
  adjustedPValue: number;
  adjustedSignificant: boolean;
  chanceToBeatControl: number;
  srmMismatch: boolean;
}

export interface TriggerHighlights {
  id: string;
  metricKey: string;
  observedValue: number;
  threshold: number;
  variantKey: string;
  sampleSize: number;
  windowSeconds: number;
  triggeredAt: string;
}

/** The saved segment the demo made, and A's report filtered by it. */
export interface SavedSegmentHighlights {
  key: string;
  version: number;
  rule: string;
  /** Experiments whose targeting rule uses it (ids). */
  usedBy: string[];
  /** A's subjects in the whole report, and in the report filtered by the segment. */
  wholeSubjects: number;
  filteredSubjects: number;
}

/** A data-quality alarm, as ListDataQualityAlarms shows it. */
export interface AlarmHighlights {
  id: string;
  kind: string;
  experimentId: string;
  summary: string;
  firedAt: string;
  figures: Record<string, number>;
}

/** J, whose treatment loses exposures, and the SRM alarm the monitor raised. */
export interface DataQualityHighlights {
  experiment: DemoExperiment;
  alarm?: AlarmHighlights;
}

/** K's funnel and retention, per variant. */
export interface FunnelHighlights {
  experiment: DemoExperiment;
  funnelMetricKey: string;
  retentionMetricKey: string;
  variants: {
    variantKey: string;
    control: boolean;
    subjects: number;
    /** Each step: the subjects that reached it, their share of the variant's cohort. */
    steps: { eventTypeKey: string; subjects: number; share: number }[];
    retention: { eligible: number; retained: number; maturing: number };
  }[];
}

/** A notification delivery of the demo's channel. */
export interface DeliveryHighlights {
  trigger: string;
  experimentId: string;
  /** e.g. "DELIVERY_STATUS_SENT". */
  status: string;
  dedupKey: string;
  lastError: string;
}

/** The demo's webhook channel, its rules and what was delivered. */
export interface NotificationHighlights {
  channelId: string;
  channelName: string;
  /** The channel's url as ListChannels shows it (scheme and host). */
  maskedUrl: string;
  /** Whether this run received the webhooks itself (no LOTTY_DEMO_WEBHOOK_URL). */
  ownReceiver: boolean;
  /** The alerts rule (guardrails, ramp safety actions and holds, data-quality alarms). */
  ruleId: string;
  triggers: string[];
  /** The daily digest rule. */
  digestRuleId: string;
  digestHourUtc: number;
  /** The channel's deliveries after the run, newest first. */
  deliveries: DeliveryHighlights[];
  /** What the demo's own receiver got in this run (trigger and dedup key). */
  received: { trigger: string; experimentId: string; dedupKey: string }[];
}

/** The raw event export of A. */
export interface ExportHighlights {
  id: string;
  /** e.g. "EVENT_EXPORT_STATUS_DONE". */
  status: string;
  rows: number;
  bytes: number;
  filename: string;
  /** Whether this run started it (else an earlier run's, still downloadable, was reused). */
  created: boolean;
}

export interface DemoSummary {
  baseUrl: string;
  users: Record<Handle, DemoUser>;
  /** Keys of users created by this run: shown only here. */
  newApiKeys: { email: string; secret: string }[];
  eventTypes: string[];
  metrics: string[];
  flags: string[];
  experiments: Record<Label, DemoExperiment>;
  /** The earlier experiments, completed for the learnings library. */
  past: Record<PastLabel, DemoPastExperiment>;
  /** The experiments the autopilot ramps. */
  ramps: Record<RampLabel, DemoRampExperiment>;
  /** Traffic this run sent, per experiment. */
  traffic: Partial<Record<AnyLabel, Traffic>>;
  /** The learnings library after the run. */
  library?: LibraryHighlights;
  /** Experiment A's primary metric, treatment against control. */
  winner?: WinnerHighlights;
  /** The guardrail trigger that paused B. */
  trigger?: TriggerHighlights;
  /** The saved segment `mobile` and A's report filtered by it. */
  savedSegment?: SavedSegmentHighlights;
  /** J and its SRM alarm. */
  dataQuality?: DataQualityHighlights;
  /** K, its funnel and retention. */
  funnel?: FunnelHighlights;
  /** The webhook channel, rules and deliveries. */
  notifications?: NotificationHighlights;
  /** A's raw events, exported as CSV. */
  eventExport?: ExportHighlights;
  /** What this run created and what it found. */
  created: string[];
  reused: string[];
}

/** A problem the user can fix; printed without a stack. */
export class DemoError extends Error {}
