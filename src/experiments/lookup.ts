/**
 * The experiments' read model for other modules: read-only questions about
 * experiments, the configuration types, and the experiment entity for the
 * read models that load experiments (reports' plan, the guardrail monitor).
 * Changes go through transitions.ts.
 */
import type { EntityManager } from "@mikro-orm/core";
import { Experiment, type ExperimentStatusName } from "./entities.js";

export { Experiment };
export type {
  ExperimentConfig,
  ExperimentStatusName,
  GuardrailConfig,
  VariantConfig,
} from "./entities.js";

/** The running or paused experiment on `flagKey`, if any (there is at most one). */
export async function findActiveExperimentOnFlag(
  em: EntityManager,
  flagKey: string,
): Promise<{ id: string; status: ExperimentStatusName } | null> {
  const active = await em.findOne(
    Experiment,
    { flag: flagKey, status: { $in: ["running", "paused"] } },
    { fields: ["id", "status"] },
  );
  return active === null ? null : { id: active.id, status: active.status };
}
