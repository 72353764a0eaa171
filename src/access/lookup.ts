/**
 * The access module's face for other modules: for experiments, an owner's
 * effective review policy, read through the caller's EntityManager so it
 * takes part in the caller's transaction; for events, the in-memory
 * registry of service API keys that local decision ids are checked
 * against (service-keys.ts).
 */
export { reviewPolicyFor, type EffectiveReviewPolicy } from "./review-policy.js";
export {
  ServiceKeyRegistry,
  SERVICE_KEYS_POLL_MS,
  type ServiceKeyStatus,
  type ServiceKeys,
} from "./service-keys.js";
