/**
 * decideAndExpose: decide one flag for a subject and, when the subject is
 * in an experiment, queue the exposure event that makes it count.
 */
import { toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type CallOptions, type Client } from "@connectrpc/connect";
import {
  DecisionReason,
  type DecisionService,
} from "../../../gen/lotty/decision/v1/decision_pb.js";
import type { EventSender } from "./event-sender.js";

export interface DecideAndExposeInput {
  subjectId: string;
  flagKey: string;
  /** Attributes for targeting, e.g. `{ country: "DE", app_version: "5.2.0" }`. */
  attributes?: JsonObject;
  /**
   * Properties of the exposure event (the `exposure` type declares none).
   * They win over attributes of the same name.
   */
  properties?: JsonObject;
  /**
   * Which attributes the exposure carries as properties, so reports can be
   * sliced by the dimensions among them (docs/segments.md): `true` (the
   * default) every scalar attribute (string, number, boolean), `false`
   * none, or a list of attribute names.
   */
  exposeAttributes?: boolean | readonly string[];
  /** Event type of the exposure. Default `exposure`. */
  exposureEventType?: string;
}

export interface ExposedDecision {
  flagKey: string;
  /** The value to show, as JSON (the flag's default when not in an experiment). */
  value: JsonValue;
  reason: DecisionReason;
  decisionId: string;
  experimentId: string;
  variantKey: string;
  /** The exposure's event id when one was queued. */
  exposureEventId?: string;
}

/**
 * Decides `flagKey` for the subject and queues an exposure when the answer
 * comes from an experiment (assigned variant, or control after a rollback).
 * Other answers (no running experiment, targeting mismatch, outside the
 * audience …) need no exposure: the subject is in no variant.
 *
 * Call it where the value is actually shown. An unknown or archived flag is
 * NOT_FOUND, so a typo fails loudly instead of silently serving nothing.
 */
export async function decideAndExpose(
  decision: Client<typeof DecisionService>,
  sender: EventSender,
  input: DecideAndExposeInput,
  callOptions?: CallOptions,
): Promise<ExposedDecision> {
  const { decisions } = await decision.decide(
    {
      subjectId: input.subjectId,
      flagKeys: [input.flagKey],
      ...(input.attributes !== undefined ? { attributes: input.attributes } : {}),
    },
    callOptions,
  );
  const found = decisions[0];
  if (found === undefined || found.reason === DecisionReason.FLAG_NOT_FOUND) {
    throw new ConnectError(`flag "${input.flagKey}" does not exist or is archived`, Code.NotFound);
  }
  const result: ExposedDecision = {
    flagKey: found.flagKey,
    value: found.value === undefined ? null : toJson(ValueSchema, found.value),
    reason: found.reason,
    decisionId: found.decisionId,
    experimentId: found.experimentId,
    variantKey: found.variantKey,
  };
  if (found.variantKey !== "" && found.decisionId !== "") {
    const eventId = sender.send({
      eventType: input.exposureEventType ?? "exposure",
      decisionId: found.decisionId,
      properties: exposureProperties(input),
    });
    if (eventId !== undefined) result.exposureEventId = eventId;
  }
  return result;
}

/** Longest string attribute copied onto an exposure (as a string property). */
const MAX_EXPOSED_STRING = 1_000;

/**
 * The exposure's properties: the scalar attributes chosen by
 * exposeAttributes, then the explicit properties over them.
 */
export function exposureProperties(input: DecideAndExposeInput): JsonObject {
  const chosen = input.exposeAttributes ?? true;
  const out: JsonObject = {};
  if (chosen !== false && input.attributes !== undefined) {
    const names = chosen === true ? Object.keys(input.attributes) : chosen;
    for (const name of names) {
      if (!Object.hasOwn(input.attributes, name)) continue;
      const value = input.attributes[name];
      if (
        typeof value === "boolean" ||
        (typeof value === "number" && Number.isFinite(value)) ||
        (typeof value === "string" && value.length <= MAX_EXPOSED_STRING)
      ) {
        out[name] = value;
      }
    }
  }
  return { ...out, ...(input.properties ?? {}) };
}
