/**
 * Decide on the server: the request limits, the current snapshot and
 * signer, the Decider (core/decider.ts), then the decision metrics and the
 * decision log. Every transport calls this one function: the Decide RPC
 * (service.ts), the HTTP/1.1 fast path (fast-path.ts) and OFREP (ofrep.ts),
 * so their answers, decision ids and log records are the same.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { DecisionReason } from "../../gen/lotty/decision/v1/decision_pb.js";
import { FieldViolations } from "../platform/errors.js";
import type { HotCounterChild } from "../platform/hot-metrics.js";
import { CONTROL_CHARACTERS } from "../platform/validation.js";
import { REASON_NAMES, decide, type PlainDecision } from "./core/index.js";
import type { DecisionSigner } from "./decision-id.js";
import { decisionLine, type DecisionLog } from "./decision-log.js";
import { MAX_SUBJECT_ID_LENGTH } from "./lookup.js";
import type { DecisionMetrics } from "./metrics.js";
import type { SnapshotStore } from "./snapshot.js";

export const DECIDE_LIMITS = {
  subjectIdLength: MAX_SUBJECT_ID_LENGTH,
  flagKeys: 200,
  attributes: 100,
  attributesJsonBytes: 16 * 1024,
  maxConcurrentExperiments: 1_000,
  cooldownSeconds: 7_776_000,
};

/** A Decide request as the transports hand it over (attributes as JSON). */
export interface ServerDecideRequest {
  subjectId: string;
  attributes?: JsonObject;
  flagKeys: readonly string[];
}

/**
 * Decides every requested flag (all active flags when none are named) for
 * one subject. Throws ConnectError for bad input (INVALID_ARGUMENT) and
 * before the first snapshot or the signer is loaded (UNAVAILABLE).
 */
export type ServerDecide = (request: ServerDecideRequest) => PlainDecision[];

export function createServerDecide(deps: {
  snapshots: Pick<SnapshotStore, "current">;
  signer: () => DecisionSigner | undefined;
  log: DecisionLog;
  metrics: DecisionMetrics;
}): ServerDecide {
  const { snapshots, signer: currentSigner, log, metrics } = deps;
  /** lotty_decisions_total children, bound once per reason. */
  const counters = Object.fromEntries(
    Object.entries(REASON_NAMES).map(([value, reason]) => [
      value,
      metrics.decisions.labels({ reason }),
    ]),
  ) as Record<DecisionReason, HotCounterChild>;

  return (request) => {
    const { subjectId, attributes, flagKeys } = request;
    checkRequest(subjectId, attributes, flagKeys);
    const snapshot = snapshots.current;
    const signer = currentSigner();
    if (snapshot === undefined || signer === undefined) {
      throw new ConnectError(
        "the configuration snapshot is not loaded yet; retry shortly",
        Code.Unavailable,
      );
    }
    const started = performance.now();
    const now = Date.now();
    const decisions = decide(snapshot, signer, request);
    let subjectJson: string | undefined;
    for (const decision of decisions) {
      counters[decision.reason].inc();
      if (decision.decisionId !== "") {
        log.recordLine(
          decisionLine(
            decision.decisionId,
            decision.flagKey,
            (subjectJson ??= JSON.stringify(subjectId)),
            REASON_NAMES[decision.reason],
            decision.experimentId,
            decision.variantKey,
            now,
          ),
        );
      }
    }
    metrics.evaluation.observe((performance.now() - started) / 1000);
    return decisions;
  };
}

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
