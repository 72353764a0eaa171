/** The review policy in force for an experimenter, for other modules. */
import type { EntityManager } from "@mikro-orm/core";
import { ReviewPolicy } from "./entities.js";

/** With no explicit policy: any approver or admin but the owner, one approval. */
export const DEFAULT_MIN_APPROVALS = 1;

export interface EffectiveReviewPolicy {
  /** Empty means any user holding ROLE_APPROVER or ROLE_ADMIN. */
  approverIds: string[];
  minApprovals: number;
  isDefault: boolean;
  /** ArchiveExperiment refuses until the learning is written up. */
  requireLearningToArchive: boolean;
}

export async function reviewPolicyFor(
  em: EntityManager,
  experimenterId: string,
): Promise<EffectiveReviewPolicy> {
  const policy = await em.findOne(ReviewPolicy, { experimenter: experimenterId });
  return policy === null
    ? {
        approverIds: [],
        minApprovals: DEFAULT_MIN_APPROVALS,
        isDefault: true,
        requireLearningToArchive: false,
      }
    : {
        approverIds: policy.approverIds,
        minApprovals: policy.minApprovals,
        isDefault: false,
        requireLearningToArchive: policy.requireLearningToArchive,
      };
}
