/**
 * Raw node:http handlers served beside the connect router (the Decide fast
 * path, OFREP): reading a request body with connect's size limit, and the
 * telemetry the interceptors give an RPC — x-request-id, rpc_server_*
 * metrics and one `rpc` log line — so such a handler answers and is
 * counted like any RPC without copying the interceptors. Domain-free.
 */
import type http from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeName, isQuietRpc, logRpcOutcome } from "./interceptors.js";
import type { Logger } from "./logging.js";
import type { Metrics } from "./metrics.js";

/** Reads a request body, refusing more than `limit` bytes as connect does. */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) {
    req.resume();
    return Promise.reject(
      new ConnectError(
        `message size ${declared} is larger than configured readMaxBytes ${limit}`,
        Code.ResourceExhausted,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        req.resume();
        reject(
          new ConnectError(
            `message size is larger than configured readMaxBytes ${limit}`,
            Code.ResourceExhausted,
          ),
        );
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once("error", reject);
    req.once("close", () => {
      if (!req.complete) reject(new ConnectError("the request was aborted", Code.Canceled));
    });
  });
}

/** What a raw handler answers, and how the call ended for metrics and logs. */
export interface RawAnswer {
  status: number;
  /** Response headers; content-length and x-request-id are added. */
  headers: Record<string, string>;
  /** The body; an empty one (304) gets no content-length. */
  body: string | Uint8Array;
  /** Undefined for OK; otherwise the error (a ConnectError names the code). */
  error?: unknown;
}

export interface RawCallOptions {
  /** The service label in rpc_server_* metrics and logs. */
  service: string;
  metrics: Metrics;
  logger: Logger;
  /** The request id for a request's x-request-id header (see app.ts). */
  requestId: (given: string | string[] | undefined) => string;
}

/**
 * Serves one call of a raw handler as the interceptors serve an RPC:
 * `answer` computes the response (given the request id); this writes it
 * with x-request-id and content-length in one write, then counts it in
 * rpc_server_handled_total and rpc_server_handling_seconds and logs the
 * `rpc` line (successes of quiet methods at debug). If writing fails (the
 * client went away) the socket is destroyed. `answer` must not throw.
 */
export type RawCall = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  method: string,
  answer: (reqId: string) => Promise<RawAnswer>,
) => void;

export function rawCallTelemetry(options: RawCallOptions): RawCall {
  const { service, metrics, logger } = options;
  /** The OK children of each method's metrics, bound once. */
  const okMetrics = new Map<
    string,
    {
      handled: ReturnType<Metrics["rpcHandled"]["labels"]>;
      duration: ReturnType<Metrics["rpcDuration"]["labels"]>;
    }
  >();
  const okOf = (method: string) => {
    let bound = okMetrics.get(method);
    if (bound === undefined) {
      const labels = { service, method, code: "OK" };
      bound = {
        handled: metrics.rpcHandled.labels(labels),
        duration: metrics.rpcDuration.labels(labels),
      };
      okMetrics.set(method, bound);
    }
    return bound;
  };

  const record = (method: string, reqId: string, started: number, error: unknown) => {
    const seconds = (performance.now() - started) / 1000;
    if (error === undefined) {
      const ok = okOf(method);
      ok.handled.inc();
      ok.duration.observe(seconds);
      // Skip building a child logger for a line that would not be written.
      if (!logger.isLevelEnabled(isQuietRpc(service, method) ? "debug" : "info")) return;
    } else {
      const labels = { service, method, code: codeName(error) };
      metrics.rpcHandled.inc(labels);
      metrics.rpcDuration.observe(labels, seconds);
    }
    logRpcOutcome(logger.child({ reqId, service, method }), service, method, error, started);
  };

  const serve = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    method: string,
    answer: (reqId: string) => Promise<RawAnswer>,
  ) => {
    const started = performance.now();
    const reqId = options.requestId(req.headers["x-request-id"]);
    const { status, headers, body, error } = await answer(reqId);
    const length = typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.byteLength;
    if (length > 0) headers["content-length"] = String(length);
    headers["x-request-id"] = reqId;
    res.writeHead(status, headers);
    // A string body goes out in one write together with the headers.
    res.end(body);
    record(method, reqId, started, error);
  };

  return (req, res, method, answer) => {
    serve(req, res, method, answer).catch((error: unknown) => {
      // Only writing the answer can fail here (the client went away).
      logger.debug({ err: error, service, method }, "could not answer a raw HTTP call");
      res.destroy();
    });
  };
}
