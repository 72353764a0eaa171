/**
 * lotty.decision.v1.DecisionService: Decide answers from the in-memory
 * snapshot only (no database or network call per request); the
 * participation policy is read and written through the database.
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { fromJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  DecisionReason,
  DecisionService,
  type Decision,
} from "../../gen/lotty/decision/v1/decision_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { DecisionSchema } from "../../gen/lotty/decision/v1/decision_pb.js";
import { requirePrincipal } from "../platform/auth.js";
import type { ChangePublisher } from "../platform/changes.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import { FieldViolations } from "../platform/errors.js";
import { CONTROL_CHARACTERS } from "../platform/validation.js";
import { recordAudit } from "../platform/audit.js";
import { assignVariant, bucketOf } from "./bucketing.js";
import type { DecisionSigner } from "./decision-id.js";
import type { DecisionLog } from "./decision-log.js";
import {
  needsGlobalResolution,
  resolveParticipation,
  type ParticipationOutcome,
} from "./eligibility.js";
import type { DecisionMetrics } from "./metrics.js";
import { DEFAULT_POLICY, readPolicy, writePolicy } from "./policy-store.js";
import type { SnapshotStore } from "./snapshot.js";
import type { Snapshot, SnapshotExperiment } from "./types.js";

type DecisionInit = MessageInitShape<typeof DecisionSchema>;

export const DECIDE_LIMITS = {
  subjectIdLength: 256,
  flagKeys: 200,
  attributes: 100,
  attributesJsonBytes: 16 * 1024,
  maxConcurrentExperiments: 1_000,
  cooldownSeconds: 7_776_000,
};

const REASON_NAMES: Record<DecisionReason, string> = {
  [DecisionReason.UNSPECIFIED]: "unspecified",
  [DecisionReason.DEFAULT]: "default",
  [DecisionReason.EXPERIMENT]: "experiment",
  [DecisionReason.TARGETING_MISMATCH]: "targeting_mismatch",
  [DecisionReason.OUTSIDE_AUDIENCE]: "outside_audience",
  [DecisionReason.PARTICIPATION_LIMIT]: "participation_limit",
  [DecisionReason.DOMAIN_CONFLICT]: "domain_conflict",
  [DecisionReason.ROLLED_BACK]: "rolled_back",
  [DecisionReason.FLAG_NOT_FOUND]: "flag_not_found",
};

function checkRequest(
  subjectId: string,
  attributes: JsonObject | undefined,
  flagKeys: string[],
): void {
  const v = new FieldViolations();
  if (subjectId === "") v.add("subject_id", "is required");
  else if (subjectId.length > DECIDE_LIMITS.subjectIdLength) {
    v.add("subject_id", `must be at most ${DECIDE_LIMITS.subjectIdLength} characters`);
  } else if (CONTROL_CHARACTERS.test(subjectId))
    v.add("subject_id", "must not contain control characters");
  if (flagKeys.length > DECIDE_LIMITS.flagKeys) {
    v.add("flag_keys", `must have at most ${DECIDE_LIMITS.flagKeys} keys`);
  }
  if (attributes !== undefined) {
    if (Object.keys(attributes).length > DECIDE_LIMITS.attributes) {
      v.add("attributes", `must have at most ${DECIDE_LIMITS.attributes} keys`);
    } else if (
      // The limit is in bytes: count UTF-8, not UTF-16 code units.
      Buffer.byteLength(JSON.stringify(attributes), "utf8") > DECIDE_LIMITS.attributesJsonBytes
    ) {
      v.add("attributes", `must be at most ${DECIDE_LIMITS.attributesJsonBytes} bytes as JSON`);
    }
  }
  v.throwIfAny();
}

/** The outcome of one experiment for one subject when nothing else competes. */
function decideAlone(
  experiment: SnapshotExperiment,
  subjectId: string,
  attributes: JsonObject,
): ParticipationOutcome {
  if (experiment.rule !== undefined && !experiment.rule.evaluate(attributes))
    return { kind: "targeting_mismatch" };
  const variantKey = assignVariant(bucketOf(experiment.salt, subjectId), experiment.ranges);
  return variantKey === undefined ? { kind: "outside_audience" } : { kind: "variant", variantKey };
}

export class DecisionServiceImpl implements ServiceImpl<typeof DecisionService> {
  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly signer: () => DecisionSigner | undefined,
    private readonly log: DecisionLog,
    private readonly metrics: DecisionMetrics,
    private readonly db: DatabaseHandle,
    private readonly changes: ChangePublisher,
  ) {}

  decide(req: { subjectId: string; attributes?: JsonObject; flagKeys: string[] }) {
    checkRequest(req.subjectId, req.attributes, req.flagKeys);
    const snapshot = this.snapshots.current;
    const signer = this.signer();
    if (snapshot === undefined || signer === undefined) {
      throw new ConnectError(
        "the configuration snapshot is not loaded yet; retry shortly",
        Code.Unavailable,
      );
    }
    const started = performance.now();
    const attributes = req.attributes ?? {};
    const keys =
      req.flagKeys.length > 0 ? [...new Set(req.flagKeys)] : [...snapshot.flags.keys()].sort();
    let global: Map<string, ParticipationOutcome> | undefined;
    const outcomeOf = (experiment: SnapshotExperiment): ParticipationOutcome => {
      if (!needsGlobalResolution(snapshot.policy, experiment)) {
        return decideAlone(experiment, req.subjectId, attributes);
      }
      global ??= resolveParticipation(
        snapshot,
        req.subjectId,
        attributes,
        bucketOf,
        assignVariant,
        Date.now(),
      );
      return global.get(experiment.id) ?? decideAlone(experiment, req.subjectId, attributes);
    };
    const decisions: DecisionInit[] = [];
    for (const flagKey of keys) {
      const decision = this.decideFlag(snapshot, flagKey, req.subjectId, outcomeOf, signer);
      decisions.push(decision);
      const reason = REASON_NAMES[decision.reason as DecisionReason];
      this.metrics.decisions.inc({ reason });
      if (decision.decisionId) {
        this.log.record({
          decisionId: decision.decisionId,
          flagKey,
          subjectId: req.subjectId,
          reason,
          experimentId: decision.experimentId || undefined,
          variantKey: decision.variantKey || undefined,
          at: Date.now(),
        });
      }
    }
    this.metrics.evaluation.observe((performance.now() - started) / 1000);
    return { decisions };
  }

  private decideFlag(
    snapshot: Snapshot,
    flagKey: string,
    subjectId: string,
    outcomeOf: (experiment: SnapshotExperiment) => ParticipationOutcome,
    signer: DecisionSigner,
  ): DecisionInit {
    const flag = snapshot.flags.get(flagKey);
    if (flag === undefined) return { flagKey, reason: DecisionReason.FLAG_NOT_FOUND };
    const value = (json: unknown) => fromJson(ValueSchema, json as JsonValue);
    const experiment = snapshot.experimentByFlag.get(flagKey);
    const byDefault = (reason: DecisionReason, experimentId = "", version = 0): DecisionInit => ({
      flagKey,
      value: value(flag.defaultValue),
      reason,
      experimentId,
      decisionId: signer.sign({
        flagKey,
        subjectId,
        experimentId: experimentId || undefined,
        configVersion: version,
      }),
    });
    if (experiment === undefined) return byDefault(DecisionReason.DEFAULT);
    if (experiment.rolledBack) {
      return {
        flagKey,
        value: value(experiment.values.get(experiment.controlKey)),
        reason: DecisionReason.ROLLED_BACK,
        experimentId: experiment.id,
        variantKey: experiment.controlKey,
        decisionId: signer.sign({
          flagKey,
          subjectId,
          experimentId: experiment.id,
          variantKey: experiment.controlKey,
          configVersion: experiment.version,
        }),
      };
    }
    if (experiment.status !== "running") return byDefault(DecisionReason.DEFAULT);
    const outcome = outcomeOf(experiment);
    switch (outcome.kind) {
      case "targeting_mismatch":
        return byDefault(DecisionReason.TARGETING_MISMATCH, experiment.id, experiment.version);
      case "outside_audience":
        return byDefault(DecisionReason.OUTSIDE_AUDIENCE, experiment.id, experiment.version);
      case "domain_conflict":
        return byDefault(DecisionReason.DOMAIN_CONFLICT, experiment.id, experiment.version);
      case "participation_limit":
        return byDefault(DecisionReason.PARTICIPATION_LIMIT, experiment.id, experiment.version);
      case "variant":
        return {
          flagKey,
          value: value(experiment.values.get(outcome.variantKey)),
          reason: DecisionReason.EXPERIMENT,
          experimentId: experiment.id,
          variantKey: outcome.variantKey,
          decisionId: signer.sign({
            flagKey,
            subjectId,
            experimentId: experiment.id,
            variantKey: outcome.variantKey,
            configVersion: experiment.version,
          }),
        };
    }
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
    const em = this.db.orm.em.fork();
    await em.transactional(async (tx) => {
      await writePolicy(tx, stored);
      recordAudit(tx, {
        actorId: principal.userId,
        entityType: "participation_policy",
        entityId: "global",
        action: "participation_policy.set",
        data: {
          maxConcurrentExperiments: stored.maxConcurrentExperiments,
          cooldownSeconds: stored.cooldownSeconds,
        },
      });
    });
    await this.changes.configChanged({
      kind: "participation_policy",
      key: "global",
      action: "set",
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

export type { Decision };
