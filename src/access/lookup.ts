/**
 * The access module's face for other modules (experiments): an owner's
 * effective review policy, read through the caller's EntityManager so it
 * takes part in the caller's transaction.
 */
export { reviewPolicyFor, type EffectiveReviewPolicy } from "./review-policy.js";
