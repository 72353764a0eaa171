/**
 * lotty.decision.v1.DecisionService: Decide answers from the in-memory
 * snapshot only (no database or network call per request); the
 * participation policy is read and written through the database.
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { fromJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import type { Counter } from "prom-client";
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
import { mutate } from "../platform/mutation.js";
import { assignVariant, bucketOf } from "./bucketing.js";
import type { DecisionSigner } from "./decision-id.js";
import type { DecisionLog } from "./decision-log.js";
import {
  needsGlobalResolution,
  resolveParticipation,
  type ParticipationOutcome,
} from "./eligibility.js";
import type { DecisionMetrics } from "./metrics.js";
import { MAX_SUBJECT_ID_LENGTH } from "./lookup.js";
import { DEFAULT_POLICY, readPolicy, writePolicy } from "./policy-store.js";
import type { SnapshotStore } from "./snapshot.js";
import type { Snapshot, SnapshotExperiment } from "./types.js";

type DecisionInit = MessageInitShape<typeof DecisionSchema>;

/**
 * One flag's decision with its value as plain JSON, before it becomes a
 * protobuf message (RPC) or JSON text (fast path). Empty strings stand for
 * absent fields, as in proto3; `value` is absent only for FLAG_NOT_FOUND.
 */
export interface PlainDecision {
  flagKey: string;
  /** The value as JSON; `hasValue` is false only for FLAG_NOT_FOUND. */
  value: unknown;
  hasValue: boolean;
  decisionId: string;
  reason: DecisionReason;
  experimentId: string;
  variantKey: string;
}

export const DECIDE_LIMITS = {
  subjectIdLength: MAX_SUBJECT_ID_LENGTH,
  flagKeys: 200,
  attributes: 100,
  attributesJsonBytes: 16 * 1024,
  maxConcurrentExperiments: 1_000,
  cooldownSeconds: 7_776_000,
};

export const REASON_NAMES: Record<DecisionReason, string> = {
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
  flagKeys: readonly string[],
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

const OUTCOME_REASONS = {
  targeting_mismatch: DecisionReason.TARGETING_MISMATCH,
  outside_audience: DecisionReason.OUTSIDE_AUDIENCE,
  domain_conflict: DecisionReason.DOMAIN_CONFLICT,
  participation_limit: DecisionReason.PARTICIPATION_LIMIT,
} as const;

function decideFlag(
  snapshot: Snapshot,
  flagKey: string,
  subjectId: string,
  outcomeOf: (experiment: SnapshotExperiment) => ParticipationOutcome,
  signer: DecisionSigner,
): PlainDecision {
  const flag = snapshot.flags.get(flagKey);
  if (flag === undefined) {
    return {
      flagKey,
      value: undefined,
      hasValue: false,
      decisionId: "",
      reason: DecisionReason.FLAG_NOT_FOUND,
      experimentId: "",
      variantKey: "",
    };
  }
  const experiment = snapshot.experimentByFlag.get(flagKey);
  const decision = (
    reason: DecisionReason,
    value: unknown,
    experimentId = "",
    variantKey = "",
    configVersion = 0,
  ): PlainDecision => ({
    flagKey,
    value,
    hasValue: true,
    decisionId: signer.sign({
      flagKey,
      subjectId,
      experimentId: experimentId || undefined,
      variantKey: variantKey || undefined,
      configVersion,
    }),
    reason,
    experimentId,
    variantKey,
  });
  if (experiment === undefined) return decision(DecisionReason.DEFAULT, flag.defaultValue);
  const { id, version, controlKey } = experiment;
  if (experiment.rolledBack) {
    return decision(
      DecisionReason.ROLLED_BACK,
      experiment.values.get(controlKey),
      id,
      controlKey,
      version,
    );
  }
  if (experiment.status !== "running") return decision(DecisionReason.DEFAULT, flag.defaultValue);
  const outcome = outcomeOf(experiment);
  if (outcome.kind === "variant") {
    const { variantKey } = outcome;
    return decision(
      DecisionReason.EXPERIMENT,
      experiment.values.get(variantKey),
      id,
      variantKey,
      version,
    );
  }
  return decision(OUTCOME_REASONS[outcome.kind], flag.defaultValue, id, "", version);
}

export class DecisionServiceImpl implements ServiceImpl<typeof DecisionService> {
  /** lotty_decisions_total children, bound once per reason. */
  private readonly counters: Record<DecisionReason, Counter.Internal>;

  private readonly snapshots: SnapshotStore;
  private readonly signer: () => DecisionSigner | undefined;
  private readonly log: DecisionLog;
  private readonly metrics: DecisionMetrics;
  private readonly db: DatabaseHandle;
  private readonly changes: ChangePublisher;

  constructor(deps: {
    snapshots: SnapshotStore;
    signer: () => DecisionSigner | undefined;
    log: DecisionLog;
    metrics: DecisionMetrics;
    db: DatabaseHandle;
    changes: ChangePublisher;
  }) {
    this.snapshots = deps.snapshots;
    this.signer = deps.signer;
    this.log = deps.log;
    this.metrics = deps.metrics;
    this.db = deps.db;
    this.changes = deps.changes;
    const metrics = deps.metrics;
    this.counters = Object.fromEntries(
      Object.entries(REASON_NAMES).map(([value, reason]) => [
        value,
        metrics.decisions.labels({ reason }),
      ]),
    ) as Record<DecisionReason, Counter.Internal>;
  }

  decide(req: { subjectId: string; attributes?: JsonObject; flagKeys: string[] }) {
    const decisions = this.evaluate(req.subjectId, req.attributes, req.flagKeys).map(
      ({ hasValue, value, ...rest }): DecisionInit => ({
        ...rest,
        ...(hasValue ? { value: fromJson(ValueSchema, (value ?? null) as JsonValue) } : {}),
      }),
    );
    return { decisions };
  }

  /**
   * Decides every requested flag (all active flags when none are named) for
   * one subject. Shared by the RPC above and the JSON fast path
   * (fast-path.ts). Throws ConnectError for bad input and before the first
   * snapshot is loaded.
   */
  evaluate(
    subjectId: string,
    attributes: JsonObject | undefined,
    flagKeys: readonly string[],
  ): PlainDecision[] {
    checkRequest(subjectId, attributes, flagKeys);
    const snapshot = this.snapshots.current;
    const signer = this.signer();
    if (snapshot === undefined || signer === undefined) {
      throw new ConnectError(
        "the configuration snapshot is not loaded yet; retry shortly",
        Code.Unavailable,
      );
    }
    const started = performance.now();
    const attrs = attributes ?? {};
    const keys = flagKeys.length > 0 ? new Set(flagKeys) : snapshot.sortedFlagKeys;
    let global: Map<string, ParticipationOutcome> | undefined;
    const outcomeOf = (experiment: SnapshotExperiment): ParticipationOutcome => {
      if (!needsGlobalResolution(snapshot.policy, experiment)) {
        return decideAlone(experiment, subjectId, attrs);
      }
      global ??= resolveParticipation(
        snapshot,
        subjectId,
        attrs,
        bucketOf,
        assignVariant,
        Date.now(),
      );
      return global.get(experiment.id) ?? decideAlone(experiment, subjectId, attrs);
    };
    const now = Date.now();
    const decisions: PlainDecision[] = [];
    for (const flagKey of keys) {
      const decision = decideFlag(snapshot, flagKey, subjectId, outcomeOf, signer);
      decisions.push(decision);
      this.counters[decision.reason].inc();
      if (decision.decisionId !== "") {
        this.log.record({
          decisionId: decision.decisionId,
          flagKey,
          subjectId,
          reason: REASON_NAMES[decision.reason],
          experimentId: decision.experimentId || undefined,
          variantKey: decision.variantKey || undefined,
          at: now,
        });
      }
    }
    this.metrics.evaluation.observe((performance.now() - started) / 1000);
    return decisions;
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

export type { Decision };
