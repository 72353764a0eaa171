/**
 * A direct route for the hottest call: Decide as a Connect unary JSON POST
 * over HTTP/1.1. connect-node spends far more per request on its general
 * machinery (header objects, abort signals, async iterables, protobuf
 * messages for every value) than decide spends deciding; this handler does
 * the same work without it and answers byte-for-byte what the general path
 * answers:
 *
 * - the request is read, size-checked, decompressed and parsed with the same
 *   connect and protobuf functions and messages (readMaxBytes,
 *   Content-Encoding, unknown JSON fields rejected);
 * - then authentication and the role table (same order as the interceptors);
 * - the decisions come from the server's decide (decide.ts → the Decider),
 *   the code behind the RPC, and are written as protobuf canonical JSON (a
 *   test compares the two paths response for response);
 * - errors are Connect error JSON with the status connect maps the code to,
 *   through toClientError, so nothing but a ConnectError leaves;
 * - x-request-id, rpc_server_* metrics and the request log come from the
 *   raw-handler telemetry (platform/raw-http.ts), as in the interceptors;
 *   response compression (Accept-Encoding, ≥ 1 KiB) as in connect-node.
 *
 * Anything else (HTTP/2, gRPC, gRPC-Web, binary protobuf, Connect GET, an
 * unknown encoding, a malformed timeout) takes the general path.
 */
import type http from "node:http";
import { fromJsonString, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { compressionNegotiate } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorToJsonBytes,
  parseTimeout,
} from "@connectrpc/connect/protocol-connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import {
  DecideRequestSchema,
  DecisionReasonSchema,
  DecisionService,
} from "../../gen/lotty/decision/v1/decision_pb.js";
import { authorize, type Authenticator } from "../platform/auth.js";
import { toClientError } from "../platform/errors.js";
import type { Logger } from "../platform/logging.js";
import type { Metrics } from "../platform/metrics.js";
import { rawCallTelemetry, readBody, type RawAnswer } from "../platform/raw-http.js";
import type { PlainDecision } from "./core/index.js";
import type { ServerDecide } from "./decide.js";

const SERVICE = DecisionService.typeName;
const METHOD = DecisionService.method.decide.name;
export const DECIDE_PATH = `/${SERVICE}/${METHOD}`;
/** Connect's unary JSON content types (application/proto takes the general path). */
const UNARY_JSON = /^application\/json(?:; ?charset=utf-?8)?$/i;
const COMPRESSIONS = [compressionGzip, compressionBrotli];
/** connect-node's default: smaller responses are not worth compressing. */
const COMPRESS_MIN_BYTES = 1024;
/** Headers of the protocol itself, never copied from error metadata. */
const PROTOCOL_HEADERS = new Set(["content-type", "content-length", "content-encoding"]);

const REASON_JSON = new Map(
  DecisionReasonSchema.values.map((v) => [v.number, JSON.stringify(v.name)]),
);

export interface FastDecideOptions {
  /** Decide as every transport serves it (decide.ts). */
  decide: ServerDecide;
  authenticator: Authenticator;
  metrics: Metrics;
  logger: Logger;
  readMaxBytes: number;
  maxTimeoutMs: number;
  /** The request id for a request's x-request-id header (see app.ts). */
  requestId: (given: string | string[] | undefined) => string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/** Returns a handler that answers Decide requests it can serve and returns false for the rest. */
export function createFastDecide(options: FastDecideOptions): Handler {
  const call = rawCallTelemetry({ ...options, service: SERVICE });

  const answer = async (
    req: http.IncomingMessage,
    reqId: string,
    compression: ReturnType<typeof compressionNegotiate>,
  ): Promise<RawAnswer> => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    let status = 200;
    let body: Uint8Array | string;
    let failure: ConnectError | undefined;
    try {
      let bytes = await readBody(req, options.readMaxBytes);
      if (compression.request !== null) {
        bytes = Buffer.from(await compression.request.decompress(bytes, options.readMaxBytes));
      }
      const input = parseDecideRequest(bytes.toString("utf8"));
      await authorize(options.authenticator, SERVICE, METHOD, req.headers.authorization ?? null);
      body = decideResponseJson(options.decide(input));
    } catch (error) {
      failure = toClientError(error, reqId, options.logger);
      status = codeToHttpStatus(failure.code);
      for (const [name, value] of failure.metadata) {
        if (!PROTOCOL_HEADERS.has(name)) headers[name] = value;
      }
      body = errorToJsonBytes(failure, {});
    }
    if (
      compression.response !== null &&
      (typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.byteLength) >=
        COMPRESS_MIN_BYTES
    ) {
      body = await compression.response.compress(
        typeof body === "string" ? Buffer.from(body, "utf8") : body,
      );
      headers["content-encoding"] = compression.response.name;
    }
    return { status, headers, body, error: failure };
  };

  return (req, res) => {
    if (req.method !== "POST" || req.url !== DECIDE_PATH || req.httpVersionMajor !== 1) {
      return false;
    }
    const h = req.headers;
    const contentType = h["content-type"];
    if (contentType === undefined || !UNARY_JSON.test(contentType)) return false;
    const timeout = h["connect-timeout-ms"];
    if (typeof timeout === "string" && parseTimeout(timeout, options.maxTimeoutMs).error) {
      return false;
    }
    const compression = compressionNegotiate(
      COMPRESSIONS,
      h["content-encoding"] ?? null,
      h["accept-encoding"] ?? null,
      "accept-encoding",
    );
    if (compression.error !== undefined) return false;
    call(req, res, METHOD, (reqId) => answer(req, reqId, compression));
    return true;
  };
}

interface DecideInput {
  subjectId: string;
  attributes?: JsonObject;
  flagKeys: readonly string[];
}

/**
 * Parses a DecideRequest with protobuf's own JSON reader, so a body is
 * accepted or rejected exactly as on the general path (unknown fields,
 * duplicate keys, both field spellings). JSON.parse plus a shape check
 * would be faster but accepts duplicate keys.
 */
function parseDecideRequest(text: string): DecideInput {
  try {
    return fromJsonString(DecideRequestSchema, text, { ignoreUnknownFields: false });
  } catch (error) {
    throw ConnectError.from(error, Code.InvalidArgument);
  }
}

/**
 * A DecideResponse as protobuf canonical JSON: fields in declaration order,
 * proto3 defaults (empty strings, reason 0, an empty list) left out, the
 * value as its JSON and the reason by enum name — what toJsonString writes
 * for the same message.
 */
export function decideResponseJson(decisions: readonly PlainDecision[]): string {
  if (decisions.length === 0) return "{}";
  let out = '{"decisions":[';
  for (let i = 0; i < decisions.length; i++) {
    const d = decisions[i] as PlainDecision;
    let fields = "";
    if (d.flagKey !== "") fields += `,"flagKey":${jsonString(d.flagKey)}`;
    if (d.hasValue) fields += `,"value":${JSON.stringify(d.value ?? null)}`;
    if (d.decisionId !== "") fields += `,"decisionId":${jsonString(d.decisionId)}`;
    if (d.reason !== 0) fields += `,"reason":${REASON_JSON.get(d.reason) ?? d.reason}`;
    if (d.experimentId !== "") fields += `,"experimentId":${jsonString(d.experimentId)}`;
    if (d.variantKey !== "") fields += `,"variantKey":${jsonString(d.variantKey)}`;
    out += (i === 0 ? "{" : ",{") + fields.slice(1) + "}";
  }
  return out + "]}";
}

/** Characters that never need escaping in JSON (ids, keys, base64url). */
const PLAIN = /^[\w.:-]*$/;

function jsonString(value: string): string {
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}
