/**
 * LottyProvider: an OpenFeature server provider that evaluates flags with
 * Lotty's Decide over @lotty/client, and sends `client.track(...)` events
 * through an EventSender.
 *
 * - `context.targetingKey` is the subject; every other context value is an
 *   attribute: strings, numbers, booleans, Dates (as ISO strings); nested
 *   objects and lists are INVALID_CONTEXT, as over OFREP.
 * - Each evaluation is one Decide call (≈ 1 ms on a local network); the
 *   decision id is in `flagMetadata.decisionId`, to put on later events.
 * - Lotty reasons map to OpenFeature's (EXPERIMENT → SPLIT, no running
 *   experiment → STATIC, not in the experiment → DEFAULT, rolled back →
 *   DISABLED); the Lotty reason is in `flagMetadata.lottyReason`.
 * - Errors become OpenFeature errors, so the SDK returns the caller's
 *   default with an error code: unknown flag → FLAG_NOT_FOUND, a value of
 *   another type → TYPE_MISMATCH, no targeting key → TARGETING_KEY_MISSING,
 *   a context Lotty refuses → INVALID_CONTEXT, anything else → GENERAL.
 * - In-process mode (`inProcess: true` or the options of a local decider,
 *   or `localDecider`: one of yours): flags are evaluated in this process
 *   by @lotty/client's createLocalDecider from the streamed configuration,
 *   with no call per evaluation. The provider is READY once a configuration
 *   is held. While the configuration is stale (not confirmed by the server
 *   within staleAfterMs) the reason is STALE (the Lotty reason stays in
 *   `flagMetadata.lottyReason`, and `flagMetadata.stale` is true). Without a
 *   signing key (the API key is not ROLE_SERVICE) `flagMetadata.decisionId`
 *   is absent.
 */
import {
  FlagNotFoundError,
  GeneralError,
  InvalidContextError,
  TargetingKeyMissingError,
  TypeMismatchError,
  type EvaluationContext,
  type JsonValue,
  type Logger,
  type Provider,
  type ResolutionDetails,
  type TrackingEventDetails,
} from "@openfeature/server-sdk";
import {
  Code,
  ConnectError,
  createLocalDecider,
  createLottyClient,
  decisionV1,
  EventSender,
  type EventSenderOptions,
  type LottyClient,
  type LocalDecider,
  type LocalDeciderOptions,
  type LottyClientOptions,
} from "@lotty/client";
import { toJson, type JsonObject } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";

const { DecisionReason } = decisionV1;
type DecisionReason = decisionV1.DecisionReason;

/** OpenFeature's resolution reason for each Lotty decision reason. */
export const RESOLUTION_REASONS: Record<DecisionReason, string> = {
  [DecisionReason.UNSPECIFIED]: "UNKNOWN",
  [DecisionReason.DEFAULT]: "STATIC",
  [DecisionReason.EXPERIMENT]: "SPLIT",
  [DecisionReason.TARGETING_MISMATCH]: "DEFAULT",
  [DecisionReason.OUTSIDE_AUDIENCE]: "DEFAULT",
  [DecisionReason.PARTICIPATION_LIMIT]: "DEFAULT",
  [DecisionReason.DOMAIN_CONFLICT]: "DEFAULT",
  [DecisionReason.ROLLED_BACK]: "DISABLED",
  [DecisionReason.FLAG_NOT_FOUND]: "ERROR",
};

export type LottyProviderOptions = (
  | LottyClientOptions
  | {
      /** An existing client (its API key needs ROLE_SERVICE or another decide role). */ client: LottyClient;
    }
) & {
  /** Options of the EventSender behind `track` (created on the first track). */
  events?: EventSenderOptions;
  /**
   * Evaluate in-process with a local decider created from the client
   * options (`true`) or from these options (their connection options
   * default to the provider's). Closed with the provider.
   */
  inProcess?: boolean | Omit<LocalDeciderOptions, "baseUrl" | "apiKey" | "client" | "events">;
  /** Evaluate in-process with this local decider (yours: not closed with the provider). */
  localDecider?: LocalDecider;
};

/** The resolution reason while the local configuration is stale. */
export const STALE_REASON = "STALE";

type ValueKind = "boolean" | "string" | "number" | "object";

export class LottyProvider implements Provider {
  readonly metadata = { name: "lotty" } as const;
  readonly runsOn = "server";
  private readonly client: LottyClient;
  private sender: EventSender | undefined;
  private readonly local: LocalDecider | undefined;
  private readonly ownsLocal: boolean;

  constructor(private readonly options: LottyProviderOptions) {
    this.client = "client" in options ? options.client : createLottyClient(options);
    if (options.localDecider !== undefined) {
      this.local = options.localDecider;
      this.ownsLocal = false;
    } else if (options.inProcess !== undefined && options.inProcess !== false) {
      const extra = options.inProcess === true ? {} : options.inProcess;
      const connection = "client" in options ? { client: options.client } : options;
      this.local = createLocalDecider({ ...connection, ...extra, events: false });
      this.ownsLocal = true;
    } else {
      this.ownsLocal = false;
    }
  }

  /** In-process mode: ready once the local decider holds a configuration. */
  async initialize(): Promise<void> {
    await this.local?.ready();
  }

  resolveBooleanEvaluation(
    flagKey: string,
    _defaultValue: boolean,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<boolean>> {
    return this.resolve(flagKey, "boolean", context);
  }

  resolveStringEvaluation(
    flagKey: string,
    _defaultValue: string,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<string>> {
    return this.resolve(flagKey, "string", context);
  }

  resolveNumberEvaluation(
    flagKey: string,
    _defaultValue: number,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<number>> {
    return this.resolve(flagKey, "number", context);
  }

  resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    _defaultValue: T,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<T>> {
    return this.resolve(flagKey, "object", context);
  }

  /**
   * Sends an event of type `trackingEventName`. `details.decisionId` (from
   * an evaluation's flagMetadata) is required: Lotty attributes events
   * through it. The other primitive details become event properties
   * (`value` included). Events without a decision id are logged and dropped.
   * An `exposure` also carries the evaluation context's primitive values
   * (targetingKey aside) as properties, so reports can be sliced by the
   * dimensions among them (docs/segments.md); details win over context
   * values of the same name.
   */
  track(
    trackingEventName: string,
    context: EvaluationContext,
    details: TrackingEventDetails,
    logger?: Logger,
  ): void {
    const { decisionId, ...rest } = details;
    if (typeof decisionId !== "string" || decisionId === "") {
      logger?.warn(`lotty: track("${trackingEventName}") needs details.decisionId; not sent`);
      return;
    }
    this.sender ??= new EventSender(this.client.events, this.options.events);
    this.sender.send({
      eventType: trackingEventName,
      decisionId,
      properties: {
        ...(trackingEventName === EXPOSURE ? exposedContext(context) : {}),
        ...primitives(rest),
      },
    });
  }

  /** Sends the tracked events still queued. */
  async onClose(): Promise<void> {
    await this.sender?.close();
    if (this.ownsLocal) await this.local?.close();
  }

  private async resolve<T>(
    flagKey: string,
    kind: ValueKind,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<T>> {
    const { targetingKey, ...rest } = context;
    if (targetingKey === undefined || targetingKey === "") {
      throw new TargetingKeyMissingError("context.targetingKey is required: it is the subject id");
    }
    const attributes = attributesOf(rest);
    if (this.local !== undefined)
      return this.resolveLocally(this.local, flagKey, kind, targetingKey, attributes);
    let decision: decisionV1.Decision | undefined;
    try {
      ({
        decisions: [decision],
      } = await this.client.decision.decide({
        subjectId: targetingKey,
        attributes,
        flagKeys: [flagKey],
      }));
    } catch (error) {
      const failure = ConnectError.from(error);
      if (failure.code === Code.InvalidArgument) throw new InvalidContextError(failure.rawMessage);
      throw new GeneralError(`lotty: ${Code[failure.code]}: ${failure.rawMessage}`);
    }
    if (decision === undefined || decision.reason === DecisionReason.FLAG_NOT_FOUND) {
      throw new FlagNotFoundError(`flag "${flagKey}" does not exist or is archived`);
    }
    const value = decision.value === undefined ? null : toJson(ValueSchema, decision.value);
    if (kindOf(value) !== kind) {
      throw new TypeMismatchError(`flag "${flagKey}" is ${kindOf(value)}, not ${kind}`);
    }
    const flagMetadata: Record<string, string> = {
      decisionId: decision.decisionId,
      lottyReason: DecisionReason[decision.reason].toLowerCase(),
    };
    if (decision.experimentId !== "") flagMetadata.experimentId = decision.experimentId;
    return {
      value: value as T,
      variant: decision.variantKey === "" ? "default" : decision.variantKey,
      reason: RESOLUTION_REASONS[decision.reason],
      flagMetadata,
    };
  }
  private resolveLocally<T>(
    local: LocalDecider,
    flagKey: string,
    kind: ValueKind,
    subjectId: string,
    attributes: JsonObject,
  ): ResolutionDetails<T> {
    let decision;
    try {
      [decision] = local.decide({ subjectId, attributes, flagKeys: [flagKey] });
    } catch (error) {
      const failure = ConnectError.from(error);
      throw new GeneralError(`lotty: ${Code[failure.code]}: ${failure.rawMessage}`);
    }
    if (decision === undefined || decision.reason === DecisionReason.FLAG_NOT_FOUND) {
      throw new FlagNotFoundError(`flag "${flagKey}" does not exist or is archived`);
    }
    const value = decision.value ?? null;
    if (kindOf(value) !== kind) {
      throw new TypeMismatchError(`flag "${flagKey}" is ${kindOf(value)}, not ${kind}`);
    }
    const flagMetadata: Record<string, string | boolean> = {
      lottyReason: DecisionReason[decision.reason].toLowerCase(),
      configVersion: decision.configVersion,
      stale: decision.stale,
    };
    if (decision.signed) flagMetadata.decisionId = decision.decisionId;
    if (decision.experimentId !== "") flagMetadata.experimentId = decision.experimentId;
    return {
      value: value as T,
      variant: decision.variantKey === "" ? "default" : decision.variantKey,
      reason: decision.stale ? STALE_REASON : RESOLUTION_REASONS[decision.reason],
      flagMetadata,
    };
  }
}

function kindOf(value: JsonValue): ValueKind | "null" {
  if (value === null) return "null";
  const type = typeof value;
  return type === "boolean" || type === "string" || type === "number" ? type : "object";
}

const EXPOSURE = "exposure";

/** The context's primitive values but targetingKey: what an exposure carries. */
function exposedContext(context: EvaluationContext): JsonObject {
  const { targetingKey: _subject, ...rest } = context;
  return primitives(rest);
}

/**
 * Context values as attributes: strings, numbers, booleans, Dates (as ISO
 * strings); null and undefined are left out; anything else is refused, as
 * Lotty's OFREP endpoint refuses it.
 */
function attributesOf(context: Record<string, unknown>): JsonObject {
  const out = primitives(context);
  for (const [key, value] of Object.entries(context)) {
    if (!(key in out) && value !== null && value !== undefined) {
      throw new InvalidContextError(`context.${key} must be a string, number, boolean or Date`);
    }
  }
  return out;
}

/** The primitive values of a context or details object; Dates as ISO strings. */
function primitives(values: Record<string, unknown>): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(values)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      out[key] = value;
    } else if (value instanceof Date) {
      out[key] = value.toISOString();
    }
  }
  return out;
}
