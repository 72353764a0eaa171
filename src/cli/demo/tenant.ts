/**
 * The Stride tenant as data: its people and services, review policies, event
 * types, metrics, flags and the three experiments A, B and C (C is left
 * waiting for its second approval). The earlier experiments D–G, completed
 * for the learnings library, are in past.ts, and H and I, ramped by the
 * autopilot, in ramps.ts (their flags are here).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { catalogV1, flagsV1 } from "../../../clients/node/src/index.js";
import {
  Role,
  MetricKind,
  PropertyType,
  FlagType,
  Direction,
  GuardrailAction,
  FilterOperator,
  FunnelOrder,
  type ExperimentInit,
} from "./proto.js";

export const DEFAULT_URL = "http://127.0.0.1:8080";
export const DEFAULT_SUBJECTS = 2_000;
export const DEFAULT_GUARDRAIL_TIMEOUT_MS = 60_000;
/**
 * H's time on each ramp step (min_step_seconds; I's steps last three times as
 * long). Twice the server's default autopilot interval (5 s): each step then
 * lasts 10–15 s, long enough to see, and both ramps end within a minute.
 */
export const DEFAULT_RAMP_STEP_SECONDS = 10;
/** How long the demo waits for H to finish its ramp, and for I's safety action. */
export const DEFAULT_RAMP_TIMEOUT_MS = 120_000;
/**
 * How long the demo waits for J's sample ratio mismatch alarm after the
 * ramps: the server's data-quality monitor looks every 60 s by default.
 */
export const DEFAULT_DATA_QUALITY_TIMEOUT_MS = 90_000;
export const REPORT_TIMEOUT_MS = 60_000;
export const SNAPSHOT_TIMEOUT_MS = 15_000;
export const DECIDE_CONCURRENCY = 16;

/** The tenant's people and services, by role in the story. */
export type Handle =
  "admin" | "growthPm" | "commercePm" | "headOfProduct" | "dataLead" | "viewer" | "backend";

export interface UserSpec {
  email: string;
  displayName: string;
  roles: Role[];
}

const person = (email: string, displayName: string, role: Role): UserSpec => ({
  email: `${email}@stride.example`,
  displayName,
  roles: [role],
});

export const USERS: Readonly<Record<Handle, UserSpec>> = {
  admin: person("nora.lindqvist", "Nora Lindqvist (platform admin)", Role.ADMIN),
  growthPm: person("sam.okafor", "Sam Okafor (growth PM)", Role.EXPERIMENTER),
  commercePm: person("ines.moreau", "Ines Moreau (commerce PM)", Role.EXPERIMENTER),
  headOfProduct: person("priya.raman", "Priya Raman (head of product)", Role.APPROVER),
  dataLead: person("tom.becker", "Tom Becker (data science lead)", Role.APPROVER),
  viewer: person("ana.silva", "Ana Silva (customer success)", Role.VIEWER),
  backend: person("workout-backend.svc", "Workout backend (service account)", Role.SERVICE),
};

/** Who reviews each experimenter's experiments, and how many approvals they need. */
export const REVIEW_POLICIES: {
  experimenter: Handle;
  approvers: Handle[];
  minApprovals: number;
}[] = [
  { experimenter: "growthPm", approvers: ["headOfProduct", "dataLead"], minApprovals: 2 },
  { experimenter: "commercePm", approvers: ["headOfProduct", "dataLead"], minApprovals: 1 },
];

const number = (name: string, required = false) => ({
  name,
  type: PropertyType.NUMBER,
  required,
});
const text = (name: string) => ({ name, type: PropertyType.STRING, required: false });

/** Event types the demo sends; `error` and `latency` are seeded in a fresh install. */
export const EVENT_TYPES: MessageInitShape<typeof catalogV1.EventTypeSchema>[] = [
  {
    key: "workout_completed",
    name: "Workout completed",
    description: "A member finished a workout and saw the summary screen.",
    properties: [number("duration_min"), text("workout_type")],
    requiresExposure: true,
  },
  {
    key: "promo_click",
    name: "Promo click",
    description: "A member tapped a shop promotion.",
    properties: [text("placement")],
    requiresExposure: true,
  },
  {
    key: "purchase",
    name: "Purchase",
    description: "A completed order in the in-app shop.",
    properties: [number("amount", true), text("currency")],
    requiresExposure: true,
  },
  {
    key: "error",
    name: "Error",
    description: "A client-side error.",
    properties: [text("code")],
    requiresExposure: true,
  },
  {
    key: "latency",
    name: "Latency",
    description: "How long a screen took to load.",
    properties: [number("ms", true)],
    requiresExposure: true,
  },
];

type MetricInit = MessageInitShape<typeof catalogV1.MetricSchema>;
const metric = (
  key: string,
  name: string,
  kind: catalogV1.MetricKind,
  fields: Pick<
    MetricInit,
    | "description"
    | "eventTypeKey"
    | "property"
    | "percentile"
    | "numeratorMetricKey"
    | "denominatorMetricKey"
    | "requiresExposure"
    | "funnel"
    | "retention"
  >,
): MetricInit => ({ key, name, kind, requiresExposure: true, ...fields });

/** Metrics in creation order (a ratio after its parts); exposures to latency_p95 are seeded. */
export const METRICS: MetricInit[] = [
  metric("workout_completion_rate", "Workout completion rate", MetricKind.CONVERSION_RATE, {
    eventTypeKey: "workout_completed",
    description: "Exposed members who completed at least one workout.",
  }),
  metric("workouts_per_member", "Workouts per member", MetricKind.COUNT, {
    eventTypeKey: "workout_completed",
  }),
  metric("purchase_rate", "Purchase rate", MetricKind.CONVERSION_RATE, {
    eventTypeKey: "purchase",
  }),
  metric("purchase_revenue", "Purchase revenue", MetricKind.SUM, {
    eventTypeKey: "purchase",
    property: "amount",
  }),
  metric("average_order_value", "Average order value", MetricKind.MEAN, {
    eventTypeKey: "purchase",
    property: "amount",
  }),
  metric("promo_click_rate", "Promo click rate", MetricKind.CONVERSION_RATE, {
    eventTypeKey: "promo_click",
  }),
  metric("exposures", "Exposures", MetricKind.COUNT, {
    eventTypeKey: "exposure",
    requiresExposure: false,
  }),
  metric("errors", "Errors", MetricKind.COUNT, { eventTypeKey: "error" }),
  metric("error_rate", "Error rate", MetricKind.RATIO, {
    numeratorMetricKey: "errors",
    denominatorMetricKey: "exposures",
  }),
  metric("latency_p95", "Latency p95", MetricKind.PERCENTILE, {
    eventTypeKey: "latency",
    property: "ms",
    percentile: 95,
  }),
  // K's metrics over raw events (docs/funnels.md).
  metric("workout_to_purchase_funnel", "Workout → offer click → purchase", MetricKind.FUNNEL, {
    description:
      "Exposed members who completed a workout, then tapped the post-workout offer, then " +
      "bought, in that order, within a day of their exposure.",
    funnel: {
      steps: [
        { eventTypeKey: "workout_completed" },
        {
          eventTypeKey: "promo_click",
          filter: { property: "placement", operator: FilterOperator.EQUAL, value: "post_workout" },
        },
        { eventTypeKey: "purchase" },
      ],
      conversionWindowSeconds: 86_400n,
      order: FunnelOrder.STRICT,
    },
  }),
  metric("first_week_return_rate", "Back for a workout in days 1–7", MetricKind.RETENTION, {
    eventTypeKey: "workout_completed",
    description:
      "Exposed members who complete a workout on days 1–7 after their first exposure " +
      "(24-hour periods from it); members exposed less than 8 days ago are still maturing.",
    retention: { dayFrom: 1, dayTo: 7 },
  }),
];

type FlagValue = string | boolean;
export const jsonValue = (value: FlagValue) =>
  typeof value === "string"
    ? { kind: { case: "stringValue" as const, value } }
    : { kind: { case: "boolValue" as const, value } };

export const FLAGS: {
  key: string;
  owner: Handle;
  type: flagsV1.FlagType;
  defaultValue: FlagValue;
  description: string;
  tags: string[];
}[] = [
  {
    key: "workout_summary_layout",
    owner: "growthPm",
    type: FlagType.STRING,
    defaultValue: "classic",
    description: 'Layout of the screen after a workout: "classic" list or "cards".',
    tags: ["demo", "workouts"],
  },
  {
    key: "shoe_promo_banner",
    owner: "commercePm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: "Running-shoe promotion banner on the home screen.",
    tags: ["demo", "commerce"],
  },
  {
    key: "onboarding_checklist",
    owner: "growthPm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: "Checklist of first steps for new members.",
    tags: ["demo", "onboarding"],
  },
  // The flags of the team's earlier experiments (past.ts), completed for the learnings library.
  {
    key: "onboarding_welcome_video",
    owner: "growthPm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: "A 60-second welcome video on first launch.",
    tags: ["demo", "onboarding"],
  },
  {
    key: "onboarding_goal_picker",
    owner: "growthPm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: "Asks new members for a weekly workout goal on first launch.",
    tags: ["demo", "onboarding"],
  },
  {
    key: "home_hero_carousel",
    owner: "commercePm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: "Video carousel of shop highlights at the top of the home screen.",
    tags: ["demo", "commerce", "home-screen"],
  },
  {
    key: "shop_free_shipping_note",
    owner: "commercePm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: 'A "free shipping from 50 EUR" note on shop product pages.',
    tags: ["demo", "commerce"],
  },
  // The flag of J, the experiment whose sample ratio breaks (analytics.ts).
  {
    key: "weekly_plan_reminder",
    owner: "growthPm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: "A Sunday reminder to plan the week's workouts, in the mobile apps.",
    tags: ["demo", "workouts", "mobile"],
  },
  // The flag of K, whose metrics are a funnel and a retention (analytics.ts).
  {
    key: "post_workout_shoe_offer",
    owner: "commercePm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: "A running-shoe offer on the summary screen after a workout.",
    tags: ["demo", "commerce", "workouts"],
  },
  // The flags of the experiments ramped by the autopilot (ramps.ts).
  {
    key: "workout_share_card",
    owner: "growthPm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: "A card to share a finished workout with friends, on the summary screen.",
    tags: ["demo", "workouts"],
  },
  {
    key: "shop_express_checkout",
    owner: "commercePm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: "One-tap express checkout in the shop, through a new payment provider.",
    tags: ["demo", "commerce"],
  },
];

export const variant = (key: string, value: FlagValue, weight: number, control = false) => ({
  key,
  value: jsonValue(value),
  weight,
  control,
});

export const guardrail = (metricKey: string, threshold: number) => ({
  metricKey,
  threshold,
  direction: Direction.INCREASE_IS_BAD,
  windowSeconds: 120,
  minSampleSize: 100,
  action: GuardrailAction.PAUSE,
});

/**
 * Analysis dimensions (docs/segments.md): the attributes every exposure
 * carries (decideAndExpose copies them) that reports may filter and break
 * down by. Declared before any traffic, so every demo exposure records them.
 */
export const DIMENSIONS: MessageInitShape<typeof catalogV1.DimensionSchema>[] = [
  {
    key: "country",
    displayName: "Country",
    description: "The member's country, from the app's locale.",
    maxValues: 30,
  },
  {
    key: "platform",
    displayName: "Platform",
    description: "ios, android or web.",
    maxValues: 5,
  },
];

/**
 * Saved segments (docs/saved-segments.md): `mobile` targets J and filters
 * A's report on the results page (`?saved=mobile`).
 */
export const SAVED_SEGMENTS: MessageInitShape<typeof catalogV1.SavedSegmentSchema>[] = [
  {
    key: "mobile",
    displayName: "Mobile app members",
    description: "Members on the iOS or Android app (not the web app).",
    rule: 'platform IN ["ios", "android"]',
  },
];

export type Label = "A" | "B" | "C";
/**
 * J, whose treatment loses exposures, so the data-quality monitor raises SRM,
 * and K, measured by a funnel and a retention metric (analytics.ts).
 */
export type AnalyticsLabel = "J" | "K";
/** The team's earlier experiments, completed by the demo for the learnings library (past.ts). */
export type PastLabel = "D" | "E" | "F" | "G";
/** The experiments the autopilot ramps (ramps.ts). */
export type RampLabel = "H" | "I";
type Target = "running" | "in_review";

export type AnyLabel = Label | PastLabel | RampLabel | AnalyticsLabel;

export interface ExperimentPlan<L extends AnyLabel = AnyLabel> {
  label: L;
  owner: Handle;
  /** How far the demo takes it. */
  target: Target;
  spec: ExperimentInit & { flagKey: string; name: string };
}

export const EXPERIMENTS: Record<Label, ExperimentPlan<Label>> = {
  A: {
    label: "A",
    owner: "growthPm",
    target: "running",
    spec: {
      flagKey: "workout_summary_layout",
      name: "Workout summary: cards vs classic",
      description:
        "Showing the workout summary as cards (pace, heart rate, streak) makes members " +
        "come back for their next workout more often than the classic list.",
      audiencePercent: 100,
      variants: [variant("classic", "classic", 50, true), variant("cards", "cards", 50)],
      targetingRule: "",
      primaryMetricKey: "workout_completion_rate",
      metricKeys: ["workouts_per_member", "purchase_rate", "purchase_revenue"],
    },
  },
  B: {
    label: "B",
    owner: "commercePm",
    target: "running",
    spec: {
      flagKey: "shoe_promo_banner",
      name: "Shoe promo banner on the home screen",
      description:
        "A banner for the new running shoe on the home screen raises promo clicks. " +
        "Guarded: the banner loads a large image carousel.",
      audiencePercent: 100,
      variants: [variant("no_banner", false, 50, true), variant("banner", true, 50)],
      targetingRule: 'platform IN ["ios", "android"]',
      primaryMetricKey: "promo_click_rate",
      metricKeys: ["purchase_rate", "purchase_revenue", "error_rate", "latency_p95"],
      guardrails: [guardrail("error_rate", 0.05), guardrail("latency_p95", 1_200)],
    },
  },
  C: {
    label: "C",
    owner: "growthPm",
    target: "in_review",
    spec: {
      flagKey: "onboarding_checklist",
      name: "Onboarding checklist for new members",
      description:
        "A checklist of first steps (connect a watch, plan a week, first run) gets new " +
        "members to their first completed workout.",
      audiencePercent: 50,
      variants: [variant("no_checklist", false, 25, true), variant("checklist", true, 25)],
      targetingRule: 'app_version >= "5.4.0"',
      primaryMetricKey: "workout_completion_rate",
      metricKeys: ["workouts_per_member"],
    },
  },
};

/**
 * J: a new mobile build's reminder. Its targeting rule uses the saved segment
 * `mobile`; the build loses half of the treatment's exposures, so its report
 * shows a sample ratio mismatch and the data-quality monitor raises an alarm.
 */
export const SRM_EXPERIMENT: ExperimentPlan<AnalyticsLabel> = {
  label: "J",
  owner: "growthPm",
  target: "running",
  spec: {
    flagKey: "weekly_plan_reminder",
    name: "Weekly plan reminder in the mobile apps",
    description:
      "A Sunday reminder to plan the week gets mobile members to complete more workouts. " +
      "Runs on the mobile apps only (the saved segment mobile).",
    audiencePercent: 100,
    variants: [variant("no_reminder", false, 50, true), variant("reminder", true, 50)],
    targetingRule: 'segment("mobile")',
    primaryMetricKey: "workout_completion_rate",
    metricKeys: ["workouts_per_member"],
  },
};

/**
 * K: an offer after a workout, measured by a strict funnel (workout →
 * post-workout offer click → purchase) and a first-week retention that
 * stays maturing for a week after the demo.
 */
export const FUNNEL_EXPERIMENT: ExperimentPlan<AnalyticsLabel> = {
  label: "K",
  owner: "commercePm",
  target: "running",
  spec: {
    flagKey: "post_workout_shoe_offer",
    name: "Shoe offer after a workout",
    description:
      "A running-shoe offer on the summary screen after a workout turns more finished " +
      "workouts into purchases, without keeping members from their next workout.",
    audiencePercent: 100,
    variants: [variant("no_offer", false, 50, true), variant("offer", true, 50)],
    targetingRule: "",
    primaryMetricKey: "workout_to_purchase_funnel",
    metricKeys: ["first_week_return_rate", "purchase_rate"],
  },
};
