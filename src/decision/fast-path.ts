/**
 * A direct route for the hottest call: Decide as a Connect unary JSON POST
 * over HTTP/1.1. connect-node spends far more per request on its general
 * machinery (header objects, abort signals, async iterables, protobuf
 * messages for every value) than decide spends deciding; this handler does
 * the same work without it and answers byte-for-byte what the general path
 * answers:
 *
 * - the request is read, size-checked and decompressed with the same connect
 *   functions (readMaxBytes, Content-Encoding) and parsed as protobuf's JSON
 *   reader parses it (decide-request-json.ts: unknown fields and duplicate
 *   keys rejected, with protobuf's own error);
 * - then authentication and the role table (same order as the interceptors);
 *   a caller whose key is cached is answered without a promise;
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
import { Code, ConnectError } from "@connectrpc/connect";
import { compressionNegotiate } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorToJsonBytes,
  parseTimeout,
} from "@connectrpc/connect/protocol-connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { DecisionReasonSchema, DecisionService } from "../../gen/lotty/decision/v1/decision_pb.js";
import { authorize, authorizeCached, type Authenticator } from "../platform/auth.js";
import { toClientError } from "../platform/errors.js";
import type { Logger } from "../platform/logging.js";
import type { Metrics } from "../platform/metrics.js";
import { rawCallTelemetry, readBodyThen, type RawAnswer } from "../platform/raw-http.js";
import type { PlainDecision } from "./core/index.js";
import type { ServerDecide } from "./decide.js";
import { parseDecideRequestJson, type DecideRequestFields } from "./decide-request-json.js";
import { quoted } from "./json-text.js";

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
  /** The per-key rate limit (decide-limit.ts), checked after authorisation; none when omitted. */
  limit?: (apiKeyId: string) => void;
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
  const { authenticator, decide, logger, readMaxBytes } = options;
  const limit = options.limit ?? (() => {});

  /** The answer for `body`, compressed when the client accepts it and it is large enough. */
  const finish = (
    status: number,
    headers: Record<string, string>,
    body: string | Uint8Array,
    failure: ConnectError | undefined,
    compression: Compression,
  ): RawAnswer | Promise<RawAnswer> => {
    const length = typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.byteLength;
    if (compression.response === null || length < COMPRESS_MIN_BYTES) {
      return { status, headers, body, error: failure };
    }
    const { response } = compression;
    return response
      .compress(typeof body === "string" ? Buffer.from(body, "utf8") : body)
      .then((compressed) => {
        headers["content-encoding"] = response.name;
        return { status, headers, body: compressed, error: failure };
      });
  };

  /** The Connect error answer for `error`. */
  const failed = (error: unknown, reqId: string, compression: Compression) => {
    const failure = toClientError(error, reqId, logger);
    const headers: Record<string, string> = { "content-type": "application/json" };
    for (const [name, value] of failure.metadata) {
      if (!PROTOCOL_HEADERS.has(name)) headers[name] = value;
    }
    return finish(
      codeToHttpStatus(failure.code),
      headers,
      errorToJsonBytes(failure, {}),
      failure,
      compression,
    );
  };

  const decided = (input: DecideRequestFields, compression: Compression) =>
    finish(
      200,
      { "content-type": "application/json" },
      decideResponseJson(decide(input)),
      undefined,
      compression,
    );

  /** Every case: a compressed request, a key not in the authenticator's cache. */
  const answerWaiting = async (
    read: Buffer | Error,
    reqId: string,
    compression: Compression,
    authorization: string | undefined,
  ): Promise<RawAnswer> => {
    try {
      if (read instanceof Error) throw read;
      let bytes = read;
      if (compression.request !== null) {
        bytes = Buffer.from(await compression.request.decompress(bytes, readMaxBytes));
      }
      const input = parseDecideRequest(bytes.toString("utf8"));
      limit((await authorize(authenticator, SERVICE, METHOD, authorization ?? null)).apiKeyId);
      return await decided(input, compression);
    } catch (error) {
      return failed(error, reqId, compression);
    }
  };

  /**
   * The usual case without a promise: an uncompressed body from a caller
   * whose key is cached. Checks run in the interceptors' order: the body,
   * then the key and roles, then decide.
   */
  const answer = (
    read: Buffer | Error,
    reqId: string,
    compression: Compression,
    authorization: string | undefined,
    connection: object,
  ): RawAnswer | Promise<RawAnswer> => {
    if (read instanceof Error || compression.request !== null) {
      return answerWaiting(read, reqId, compression, authorization);
    }
    try {
      const input = parseDecideRequest(read.toString("utf8"));
      const principal = authorizeCached(authenticator, SERVICE, METHOD, authorization, connection);
      if (principal === undefined) {
        return answerWaiting(read, reqId, compression, authorization);
      }
      limit(principal.apiKeyId);
      return decided(input, compression);
    } catch (error) {
      return failed(error, reqId, compression);
    }
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
    const started = performance.now();
    readBodyThen(req, readMaxBytes, (read) =>
      call(
        req,
        res,
        METHOD,
        (reqId) => answer(read, reqId, compression, h.authorization, req.socket),
        started,
      ),
    );
    return true;
  };
}

type Compression = ReturnType<typeof compressionNegotiate>;

/**
 * Parses a DecideRequest as protobuf's own JSON reader does, so a body is
 * accepted or rejected exactly as on the general path (unknown fields,
 * duplicate keys, both field spellings); decide-request-json.ts reads the
 * common shape without protobuf's reflection.
 */
function parseDecideRequest(text: string): DecideRequestFields {
  try {
    return parseDecideRequestJson(text);
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
    if (d.flagKey !== "") fields += `,"flagKey":${quoted(d.flagKey)}`;
    if (d.hasValue) fields += `,"value":${JSON.stringify(d.value ?? null)}`;
    // Decision ids are base64url and dots: never escaped.
    if (d.decisionId !== "") fields += `,"decisionId":"${d.decisionId}"`;
    if (d.reason !== 0) fields += `,"reason":${REASON_JSON.get(d.reason) ?? d.reason}`;
    if (d.experimentId !== "") fields += `,"experimentId":${quoted(d.experimentId)}`;
    if (d.variantKey !== "") fields += `,"variantKey":${quoted(d.variantKey)}`;
    out += (i === 0 ? "{" : ",{") + fields.slice(1) + "}";
  }
  return out + "]}";
}
