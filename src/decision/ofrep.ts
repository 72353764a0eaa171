/**
 * The OpenFeature Remote Evaluation Protocol (OFREP) on the RPC port, so any
 * OpenFeature SDK with an OFREP provider can evaluate Lotty flags:
 *
 * - `POST /ofrep/v1/evaluate/flags/{key}` evaluates one flag;
 * - `POST /ofrep/v1/evaluate/flags` evaluates every active flag, with an
 *   ETag; `If-None-Match` with the current tag answers 304 and no body.
 *
 * The body is `{"context": {"targetingKey": "<subject id>", ...}}`: the
 * targeting key is the subject, every other key an attribute (string,
 * number or boolean). Decisions come from the server's decide (decide.ts →
 * the Decider), the code behind Decide, so answers, decision ids and the
 * decision log are the same as over RPC; metrics and the request log from
 * the raw-handler telemetry (platform/raw-http.ts). Auth is the API key as `Authorization: Bearer <key>`
 * with Decide's roles. See docs/ofrep.md for the reason mapping and errors.
 */
import { createHash } from "node:crypto";
import type http from "node:http";
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { DecisionReason, DecisionService } from "../../gen/lotty/decision/v1/decision_pb.js";
import { authorize, type Authenticator } from "../platform/auth.js";
import { toClientError } from "../platform/errors.js";
import type { Logger } from "../platform/logging.js";
import type { Metrics } from "../platform/metrics.js";
import { rawCallTelemetry, readBody, type RawAnswer } from "../platform/raw-http.js";
import { REASON_NAMES, type PlainDecision } from "./core/index.js";
import type { ServerDecide } from "./decide.js";

export const OFREP_PREFIX = "/ofrep/v1/evaluate/flags";
/** The service label of OFREP calls in rpc_server_* metrics and logs. */
const METRICS_SERVICE = "ofrep.v1";

/** OFREP's error codes (the OpenFeature error codes it uses). */
export type OfrepErrorCode =
  "PARSE_ERROR" | "TARGETING_KEY_MISSING" | "INVALID_CONTEXT" | "FLAG_NOT_FOUND" | "GENERAL";

/** OpenFeature's resolution reason for each Lotty decision reason. */
export const OPENFEATURE_REASONS: Record<DecisionReason, string> = {
  [DecisionReason.UNSPECIFIED]: "UNKNOWN",
  // No running experiment: the flag's configured value, nothing evaluated.
  [DecisionReason.DEFAULT]: "STATIC",
  [DecisionReason.EXPERIMENT]: "SPLIT",
  // An experiment was considered but the subject is not in it.
  [DecisionReason.TARGETING_MISMATCH]: "DEFAULT",
  [DecisionReason.OUTSIDE_AUDIENCE]: "DEFAULT",
  [DecisionReason.PARTICIPATION_LIMIT]: "DEFAULT",
  [DecisionReason.DOMAIN_CONFLICT]: "DEFAULT",
  // A guardrail switched the experiment off: everyone gets the control.
  [DecisionReason.ROLLED_BACK]: "DISABLED",
  [DecisionReason.FLAG_NOT_FOUND]: "ERROR",
};

/** A failure with its OFREP answer: HTTP status, error code and details. */
class OfrepFailure extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: OfrepErrorCode,
    message: string,
    /** For metrics and logs, as an RPC would have ended. */
    readonly code: Code,
    /** Seconds for a Retry-After header. */
    readonly retryAfter?: string,
  ) {
    super(message);
  }
}

export interface OfrepOptions {
  /** Decide as every transport serves it (decide.ts). */
  decide: ServerDecide;
  /** The per-key rate limit (decide-limit.ts), checked after authorisation; none when omitted. */
  limit?: (apiKeyId: string) => void;
  authenticator: Authenticator;
  metrics: Metrics;
  logger: Logger;
  readMaxBytes: number;
  requestId: (given: string | string[] | undefined) => string;
}

type Req = http.IncomingMessage;
type Res = http.ServerResponse;

/** One evaluated flag as OFREP writes it. */
export function ofrepEvaluation(d: PlainDecision): Record<string, unknown> {
  if (d.reason === DecisionReason.FLAG_NOT_FOUND) {
    return {
      key: d.flagKey,
      errorCode: "FLAG_NOT_FOUND",
      errorDetails: `flag "${d.flagKey}" does not exist or is archived`,
    };
  }
  const metadata: Record<string, string> = {
    decisionId: d.decisionId,
    lottyReason: REASON_NAMES[d.reason],
  };
  if (d.experimentId !== "") metadata.experimentId = d.experimentId;
  return {
    key: d.flagKey,
    value: d.value,
    reason: OPENFEATURE_REASONS[d.reason],
    variant: d.variantKey === "" ? "default" : d.variantKey,
    metadata,
  };
}

/**
 * Reads the evaluation context: the subject from `targetingKey`, the other
 * keys as attributes. Throws OfrepFailure naming the offending key.
 */
export function parseContext(body: string): { subjectId: string; attributes: JsonObject } {
  let parsed: unknown;
  try {
    parsed = body.trim() === "" ? {} : JSON.parse(body);
  } catch {
    throw invalid("PARSE_ERROR", "the request body is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw invalid("PARSE_ERROR", 'the request body must be a JSON object: {"context": {...}}');
  }
  const context = (parsed as { context?: unknown }).context;
  if (context === undefined || context === null) {
    throw invalid("TARGETING_KEY_MISSING", "context.targetingKey is required");
  }
  if (typeof context !== "object" || Array.isArray(context)) {
    throw invalid("INVALID_CONTEXT", "context must be a JSON object");
  }
  const { targetingKey, ...rest } = context as Record<string, unknown>;
  if (targetingKey === undefined || targetingKey === null || targetingKey === "") {
    throw invalid("TARGETING_KEY_MISSING", "context.targetingKey is required");
  }
  if (typeof targetingKey !== "string") {
    throw invalid("INVALID_CONTEXT", "context.targetingKey must be a string");
  }
  const attributes: JsonObject = {};
  for (const [key, value] of Object.entries(rest)) {
    if (value === null) continue;
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw invalid("INVALID_CONTEXT", `context.${key} must be a string, number or boolean`);
    }
    attributes[key] = value;
  }
  return { subjectId: targetingKey, attributes };
}

function invalid(errorCode: OfrepErrorCode, message: string): OfrepFailure {
  return new OfrepFailure(400, errorCode, message, Code.InvalidArgument);
}

/** The OFREP answer for an error thrown while evaluating. */
function failureOf(error: unknown, reqId: string, logger: Logger): OfrepFailure {
  if (error instanceof OfrepFailure) return error;
  const e = toClientError(error, reqId, logger);
  switch (e.code) {
    case Code.Unauthenticated:
      return new OfrepFailure(401, "GENERAL", e.rawMessage, e.code);
    case Code.PermissionDenied:
      return new OfrepFailure(403, "GENERAL", e.rawMessage, e.code);
    case Code.InvalidArgument: {
      // Decide's field names, in the words of the context.
      const message = e.rawMessage
        .replace(/\bsubject_id\b/g, "context.targetingKey")
        .replace(/\battributes\b/g, "context");
      return new OfrepFailure(400, "INVALID_CONTEXT", message, e.code);
    }
    case Code.ResourceExhausted: {
      // The rate limit carries a wait; a body too large does not.
      const retryAfter = e.metadata.get("retry-after");
      if (retryAfter !== null) {
        return new OfrepFailure(429, "GENERAL", e.rawMessage, e.code, retryAfter);
      }
      return new OfrepFailure(413, "GENERAL", e.rawMessage, e.code);
    }
    case Code.Unavailable:
      return new OfrepFailure(503, "GENERAL", e.rawMessage, e.code);
    default:
      return new OfrepFailure(500, "GENERAL", e.rawMessage, e.code);
  }
}

/** A strong ETag of a response body. */
export function etagOf(body: string): string {
  return `"${createHash("sha256").update(body).digest("base64url").slice(0, 32)}"`;
}

/** Whether an If-None-Match header names `etag` (weak or strong, or `*`). */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header
    .split(",")
    .map((tag) => tag.trim().replace(/^W\//, ""))
    .some((tag) => tag === etag || tag === "*");
}

/** Returns a handler that answers OFREP requests and returns false for the rest. */
export function createOfrep(options: OfrepOptions): (req: Req, res: Res) => boolean {
  const call = rawCallTelemetry({ ...options, service: METRICS_SERVICE });

  const answer = async (
    req: Req,
    reqId: string,
    flagKey: string | undefined,
  ): Promise<RawAnswer> => {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "cache-control": "no-store",
      "x-request-id": reqId,
    };
    let status = 200;
    let body = "";
    let error: OfrepFailure | undefined;
    try {
      const bytes = await readBody(req, options.readMaxBytes);
      const principal = await authorize(
        options.authenticator,
        DecisionService.typeName,
        DecisionService.method.decide.name,
        req.headers.authorization ?? null,
      );
      options.limit?.(principal.apiKeyId);
      const { subjectId, attributes } = parseContext(bytes.toString("utf8"));
      const decisions = options.decide({
        subjectId,
        attributes,
        flagKeys: flagKey === undefined ? [] : [flagKey],
      });
      if (flagKey === undefined) {
        body = JSON.stringify({ flags: decisions.map(ofrepEvaluation) });
        const etag = etagOf(body);
        headers.etag = etag;
        if (matchesEtag(req.headers["if-none-match"], etag)) {
          status = 304;
          body = "";
          delete headers["content-type"];
        }
      } else {
        const evaluation = ofrepEvaluation(decisions[0]!);
        if (evaluation.errorCode !== undefined) {
          error = new OfrepFailure(
            404,
            "FLAG_NOT_FOUND",
            String(evaluation.errorDetails),
            Code.NotFound,
          );
        }
        body = JSON.stringify(evaluation);
        status = error?.status ?? 200;
      }
    } catch (caught) {
      error = failureOf(caught, reqId, options.logger);
      status = error.status;
      body = JSON.stringify({
        ...(flagKey !== undefined ? { key: flagKey } : {}),
        errorCode: error.errorCode,
        errorDetails: error.message,
      });
      if (status === 503) headers["retry-after"] = "1";
      if (error.retryAfter !== undefined) headers["retry-after"] = error.retryAfter;
    }
    const outcome = error === undefined ? undefined : new ConnectError(error.message, error.code);
    return { status, headers, body, error: outcome };
  };

  return (req, res) => {
    const path = (req.url ?? "").split("?")[0]!;
    if (!path.startsWith(OFREP_PREFIX)) return false;
    const rest = path.slice(OFREP_PREFIX.length);
    let flagKey: string | undefined;
    if (rest === "" || rest === "/") flagKey = undefined;
    else if (rest.startsWith("/") && !rest.slice(1).includes("/")) {
      try {
        flagKey = decodeURIComponent(rest.slice(1));
      } catch {
        flagKey = rest.slice(1);
      }
    } else return false;
    if (req.method !== "POST") {
      res.writeHead(405, { allow: "POST", "content-type": "application/json" });
      res.end(JSON.stringify({ errorCode: "GENERAL", errorDetails: "use POST" }));
      return true;
    }
    const method = flagKey === undefined ? "EvaluateFlags" : "EvaluateFlag";
    call(req, res, method, (reqId) => answer(req, reqId, flagKey));
    return true;
  };
}
