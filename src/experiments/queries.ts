/** Read-only questions other modules ask about experiments. */
import type { EntityManager } from "@mikro-orm/core";
import { Experiment, type ExperimentStatusName } from "./entities.js";

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
