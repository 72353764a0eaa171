/**
 * The team's earlier experiments D–G, as data: each runs on its own flag with
 * simulated members, is completed by its owner, and (except G) written up in
 * the learnings library. They are what the library shows: C's similar past
 * experiments (D, E: onboarding, the same primary metric), the post-mortem of
 * a p95-latency guardrail that fired (F, like B's banner), and a learning
 * still waiting for its write-up (G).
 */
import { Outcome } from "./proto.js";
import { type ExperimentPlan, type PastLabel, variant, guardrail } from "./tenant.js";
import {
  type Behaviour,
  onboardingBehaviour,
  carouselBehaviour,
  shippingBehaviour,
} from "./traffic.js";

/** What the owner writes up with UpsertLearning (the other editable fields are kept). */
export interface WriteUp {
  /** One finding a line. */
  notes: string[];
  action: string;
  tags: string[];
  plannedDays: number;
  platforms: string[];
  links: { title: string; url: string }[];
}

export interface PastPlan extends ExperimentPlan<PastLabel> {
  behaviour: Behaviour;
  /** The event the primary metric (a conversion rate) counts: the report has it all when it matches. */
  primaryEvent: string;
  /** Whether a guardrail is expected to pause it before it is completed. */
  guarded: boolean;
  completion: { outcome: Outcome; winnerVariantKey: string; justification: string };
  /** Left undefined for an experiment nobody has written up yet. */
  writeUp?: WriteUp;
}

const wiki = (path: string) => `https://wiki.stride.example/experiments/${path}`;

export const PAST_EXPERIMENTS: Record<PastLabel, PastPlan> = {
  D: {
    label: "D",
    owner: "growthPm",
    target: "running",
    behaviour: onboardingBehaviour({ no_video: 0.3, video: 0.31 }),
    primaryEvent: "workout_completed",
    guarded: false,
    spec: {
      flagKey: "onboarding_welcome_video",
      name: "Onboarding: welcome video on first launch",
      description:
        "A 60-second welcome video on first launch gets new members to their first " +
        "completed workout.",
      audiencePercent: 100,
      variants: [variant("no_video", false, 50, true), variant("video", true, 50)],
      targetingRule: 'app_version >= "5.3.0"',
      primaryMetricKey: "workout_completion_rate",
      metricKeys: ["workouts_per_member"],
    },
    completion: {
      outcome: Outcome.NO_EFFECT,
      winnerVariantKey: "",
      justification: "No lift in first workouts worth the video's upkeep.",
    },
    writeUp: {
      notes: [
        "First-workout completion barely moved: nowhere near the lift we planned for (result).",
        "About a third of members watched past the 20-second mark (video analytics).",
        "Members who skipped the video started their first workout no sooner than the control.",
        "Onboarding support tickets did not change.",
        "Takeaway: passive content does not move activation; asking for a commitment might (E).",
      ],
      action: "Kept the control: no video on first launch; the video moved to the help centre.",
      tags: ["demo", "onboarding", "activation", "video"],
      plannedDays: 14,
      platforms: ["ios", "android"],
      links: [{ title: "Analysis notes", url: wiki("onboarding-welcome-video") }],
    },
  },
  E: {
    label: "E",
    owner: "growthPm",
    target: "running",
    behaviour: onboardingBehaviour({ no_picker: 0.3, goal_picker: 0.58 }),
    primaryEvent: "workout_completed",
    guarded: false,
    spec: {
      flagKey: "onboarding_goal_picker",
      name: "Onboarding: weekly goal picker",
      description:
        "Asking new members for a weekly workout goal on first launch makes them complete " +
        "their first workout more often.",
      audiencePercent: 100,
      variants: [variant("no_picker", false, 50, true), variant("goal_picker", true, 50)],
      targetingRule: "",
      primaryMetricKey: "workout_completion_rate",
      metricKeys: ["workouts_per_member"],
    },
    completion: {
      outcome: Outcome.ROLLOUT,
      winnerVariantKey: "goal_picker",
      justification: "Clear lift in first workouts completed, no downside seen.",
    },
    writeUp: {
      notes: [
        "Members who picked a weekly goal completed a first workout clearly more often.",
        "The lift held on iOS and Android alike; web members rarely see onboarding.",
        "Most members picked 3 workouts a week; few picked 5 or more.",
        "Workouts per member rose with completion, not only among already active members.",
        "Goal reminders were out of scope: worth a follow-up experiment.",
      ],
      action: "Rolled out the goal picker to every new member; goal reminders are next.",
      tags: ["demo", "onboarding", "activation", "goals"],
      plannedDays: 14,
      platforms: ["ios", "android"],
      links: [{ title: "Analysis notes", url: wiki("onboarding-goal-picker") }],
    },
  },
  F: {
    label: "F",
    owner: "commercePm",
    target: "running",
    behaviour: carouselBehaviour,
    primaryEvent: "promo_click",
    guarded: true,
    spec: {
      flagKey: "home_hero_carousel",
      name: "Home screen: video hero carousel",
      description:
        "A video carousel of shop highlights at the top of the home screen raises promo " +
        "clicks. Guarded on p95 latency: the videos are heavy.",
      audiencePercent: 100,
      variants: [variant("static_hero", false, 50, true), variant("carousel", true, 50)],
      targetingRule: 'platform IN ["ios", "android"]',
      primaryMetricKey: "promo_click_rate",
      metricKeys: ["purchase_rate", "error_rate", "latency_p95"],
      guardrails: [guardrail("latency_p95", 1_200)],
    },
    completion: {
      outcome: Outcome.ROLLBACK,
      winnerVariantKey: "",
      justification:
        "Its p95 latency guardrail paused it: the carousel makes the home screen slow.",
    },
    writeUp: {
      notes: [
        "The p95 latency guardrail paused it within minutes: the carousel's home screen took " +
          "far longer than the 1.2 s threshold.",
        "Promo clicks did not rise enough to trade for a slower first screen.",
        "The videos load before the rest of the home screen; mid-range Android phones showed " +
          "a blank screen for seconds.",
        "Errors rose too (video decode failures), mostly on older Android versions.",
        "Lesson: anything heavy on the home screen needs lazy loading and a latency guardrail.",
      ],
      action: "Rolled back to the static hero; the carousel returns with lazy-loaded videos.",
      tags: ["demo", "commerce", "home-screen", "performance", "latency"],
      plannedDays: 21,
      platforms: ["ios", "android"],
      links: [{ title: "Post-mortem", url: wiki("home-hero-carousel-post-mortem") }],
    },
  },
  G: {
    label: "G",
    owner: "commercePm",
    target: "running",
    behaviour: shippingBehaviour,
    primaryEvent: "purchase",
    guarded: false,
    spec: {
      flagKey: "shop_free_shipping_note",
      name: "Shop: free-shipping note on product pages",
      description: 'A "free shipping from 50 EUR" note on product pages raises the purchase rate.',
      audiencePercent: 100,
      variants: [variant("no_note", false, 50, true), variant("note", true, 50)],
      targetingRule: "",
      primaryMetricKey: "purchase_rate",
      metricKeys: ["purchase_revenue", "average_order_value"],
    },
    completion: {
      outcome: Outcome.ROLLOUT,
      winnerVariantKey: "note",
      justification: "Customers asked for it in support tickets; write-up to follow.",
    },
  },
};
