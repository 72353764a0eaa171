/**
 * The participation policy RPCs of lotty.decision.v1.DecisionService
 * (GetParticipationPolicy, SetParticipationPolicy): read and written
 * through the database, off the decide hot path. DecisionServiceImpl
 * (service.ts) delegates to this class.
 */
import type { HandlerContext } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { requirePrincipal } from "../platform/auth.js";
import type { ChangePublisher } from "../platform/changes.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import { FieldViolations } from "../platform/errors.js";
import { mutate } from "../platform/mutation.js";
import { DECIDE_LIMITS } from "./decide.js";
import { DEFAULT_POLICY, readPolicy, writePolicy } from "./policy-store.js";

export class ParticipationPolicyService {
  private readonly db: DatabaseHandle;
  private readonly changes: ChangePublisher;

  constructor(deps: { db: DatabaseHandle; changes: ChangePublisher }) {
    this.db = deps.db;
    this.changes = deps.changes;
  }

  async getParticipationPolicy() {
    const stored = await readPolicy(this.db.orm.em.fork());
    return {
      policy:
        stored === undefined
          ? { ...DEFAULT_POLICY, isDefault: true }
          : {
              maxConcurrentExperiments: stored.maxConcurrentExperiments,
              cooldownSeconds: stored.cooldownSeconds,
              isDefault: false,
              updatedAt: timestampFromDate(new Date(stored.updatedAt)),
              updatedBy: stored.updatedBy,
            },
    };
  }

  async setParticipationPolicy(
    req: { maxConcurrentExperiments: number; cooldownSeconds: number },
    ctx: HandlerContext,
  ) {
    const principal = requirePrincipal(ctx);
    const v = new FieldViolations();
    if (
      req.maxConcurrentExperiments < 0 ||
      req.maxConcurrentExperiments > DECIDE_LIMITS.maxConcurrentExperiments
    ) {
      v.add(
        "max_concurrent_experiments",
        `must be between 0 and ${DECIDE_LIMITS.maxConcurrentExperiments} (0 means unlimited)`,
      );
    }
    if (req.cooldownSeconds < 0 || req.cooldownSeconds > DECIDE_LIMITS.cooldownSeconds) {
      v.add(
        "cooldown_seconds",
        `must be between 0 and ${DECIDE_LIMITS.cooldownSeconds} (0 means none)`,
      );
    }
    v.throwIfAny();
    const stored = {
      maxConcurrentExperiments: req.maxConcurrentExperiments,
      cooldownSeconds: req.cooldownSeconds,
      updatedAt: new Date().toISOString(),
      updatedBy: principal.userId,
    };
    await mutate(this.db.orm.em.fork(), this.changes, async (tx) => {
      await writePolicy(tx, stored);
      return {
        result: undefined,
        audit: {
          actorId: principal.userId,
          entityType: "participation_policy",
          entityId: "global",
          action: "participation_policy.set",
          data: {
            maxConcurrentExperiments: stored.maxConcurrentExperiments,
            cooldownSeconds: stored.cooldownSeconds,
          },
        },
        notice: { kind: "participation_policy", key: "global", action: "set" },
      };
    });
    return {
      policy: {
        maxConcurrentExperiments: stored.maxConcurrentExperiments,
        cooldownSeconds: stored.cooldownSeconds,
        isDefault: false,
        updatedAt: timestampFromDate(new Date(stored.updatedAt)),
        updatedBy: stored.updatedBy,
      },
    };
  }
}
