/** The participation policy, kept in the settings table (one JSON row). */
import type { EntityManager } from "@mikro-orm/core";
import { Setting } from "../platform/settings.js";
import type { ParticipationPolicy } from "./types.js";

export const POLICY_SETTING = "participation_policy";
export const DEFAULT_POLICY: ParticipationPolicy = {
  maxConcurrentExperiments: 0,
  cooldownSeconds: 0,
};

export interface StoredPolicy extends ParticipationPolicy {
  updatedAt: string;
  updatedBy: string;
}

export async function readPolicy(em: EntityManager): Promise<StoredPolicy | undefined> {
  const row = await em.findOne(Setting, { key: POLICY_SETTING });
  return row === null ? undefined : (JSON.parse(row.value) as StoredPolicy);
}

export async function writePolicy(em: EntityManager, policy: StoredPolicy): Promise<void> {
  await em.upsert(Setting, {
    key: POLICY_SETTING,
    value: JSON.stringify(policy),
    updatedAt: new Date(),
  });
}
