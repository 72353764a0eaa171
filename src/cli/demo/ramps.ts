/**
 * The experiments the autopilot ramps, as data: each has a ramp plan, so it
 * starts on a small share of its audience and the autopilot widens it one
 * step at a time while the step's gates pass (autopilot.ts runs them).
 *
 * - H, the workout share card: a clean ramp, 5 → 25 → 50 → 100 %.
 * - I, express checkout: advances once, then its payment provider starts
 *   failing; its strict error-share threshold fails and the autopilot steps
 *   it back one level and holds it there.
 *
 * The plans depend on the step time (DemoOptions.rampStepSeconds), so they
 * are made per run; an experiment found from an earlier run keeps its own.
 */
import { Direction, RampSafetyAction } from "./proto.js";
import { type ExperimentPlan, type RampLabel, variant } from "./tenant.js";

/** Exposures each variant needs on a step: thresholds are judged only from there. */
export const MIN_EXPOSURES_PER_VARIANT = 20;

/** A ceiling on the share of exposures followed by an error, checked on every step. */
const errorShare = (threshold: number) => ({
  metricKey: "error_rate",
  threshold,
  direction: Direction.INCREASE_IS_BAD,
});

/**
 * H and I with `stepSeconds` on each of H's steps. I soaks each step three
 * times as long (a checkout change): once it has advanced, its failing
 * members are judged well before its next step is due.
 */
export function rampExperiments(stepSeconds: number): Record<RampLabel, ExperimentPlan<RampLabel>> {
  return {
    H: {
      label: "H",
      owner: "growthPm",
      target: "running",
      spec: {
        flagKey: "workout_share_card",
        name: "Workout share card, ramped by the autopilot",
        description:
          "A card to share a finished workout with friends brings members back for their next " +
          "workout a little more often. Rolled out step by step: the autopilot widens it while " +
          "nothing breaks.",
        audiencePercent: 100,
        variants: [variant("no_share_card", false, 50, true), variant("share_card", true, 50)],
        targetingRule: "",
        primaryMetricKey: "workout_completion_rate",
        metricKeys: ["workouts_per_member", "error_rate"],
        rampPlan: {
          steps: [5, 25, 50, 100],
          gates: {
            minStepSeconds: stepSeconds,
            minExposuresPerVariant: MIN_EXPOSURES_PER_VARIANT,
            thresholds: [errorShare(0.05)],
          },
          safetyAction: RampSafetyAction.STEP_BACK,
        },
      },
    },
    I: {
      label: "I",
      owner: "commercePm",
      target: "running",
      spec: {
        flagKey: "shop_express_checkout",
        name: "Express checkout, ramped by the autopilot",
        description:
          "One-tap express checkout raises the purchase rate. It goes through a new payment " +
          "provider, so it is ramped with a strict ceiling on errors: the autopilot steps it " +
          "back when more than 2 % of exposures end in an error.",
        audiencePercent: 100,
        variants: [
          variant("standard_checkout", false, 50, true),
          variant("express_checkout", true, 50),
        ],
        targetingRule: "",
        primaryMetricKey: "purchase_rate",
        metricKeys: ["purchase_revenue", "error_rate"],
        rampPlan: {
          steps: [10, 25, 50, 100],
          gates: {
            minStepSeconds: 3 * stepSeconds,
            minExposuresPerVariant: MIN_EXPOSURES_PER_VARIANT,
            thresholds: [errorShare(0.02)],
          },
          safetyAction: RampSafetyAction.STEP_BACK,
        },
      },
    },
  };
}
