/**
 * Raw node:http handlers served beside the connect router (the Decide fast
 * path, OFREP): reading a request body with connect's size limit, and the
 * telemetry the interceptors give an RPC — x-request-id, rpc_server_*
 * metrics, one `rpc` log line and, when tracing, a SERVER span — so such a
 * handler answers and is counted like any RPC without copying the
 * interceptors. Domain-free.
 */
import type http from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { context } from "@opentelemetry/api";
import { codeName, isQuietRpc, logRpcOutcome, rpcSpanAttributes } from "./interceptors.js";
import type { Logger } from "./logging.js";
import type { Metrics } from "./metrics.js";
import {
  endSpan,
  requestContext,
  SpanKind,
  startSpan,
  tracingEnabled,
  type Span,
} from "./tracing.js";

/** Reads a request body, refusing more than `limit` bytes as connect does. */
export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    readBodyThen(req, limit, (body) => (body instanceof Buffer ? resolve(body) : reject(body))),
  );
}

/**
 * readBody with a callback, for handlers that answer without a promise:
 * `done` gets the body, or a ConnectError (too large, aborted) or the
 * stream's error, exactly once.
 */
export function readBodyThen(
  req: http.IncomingMessage,
  limit: number,
  done: (body: Buffer | Error) => void,
): void {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) {
    req.resume();
    done(
      new ConnectError(
        `message size ${declared} is larger than configured readMaxBytes ${limit}`,
        Code.ResourceExhausted,
      ),
    );
    return;
  }
  let first: Buffer | undefined;
  let rest: Buffer[] | undefined;
  let size = 0;
  let settled = false;
  const settle = (body: Buffer | Error) => {
    if (settled) return;
    settled = true;
    done(body);
  };
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      req.off("data", onData);
      req.resume();
      settle(
        new ConnectError(
          `message size is larger than configured readMaxBytes ${limit}`,
          Code.ResourceExhausted,
        ),
      );
      return;
    }
    if (first === undefined) first = chunk;
    else (rest ??= [first]).push(chunk);
  };
  req.on("data", onData);
  req.once("end", () =>
    settle(rest !== undefined ? Buffer.concat(rest) : (first ?? Buffer.alloc(0))),
  );
  req.once("error", settle);
  req.once("close", () => {
    if (!req.complete) settle(new ConnectError("the request was aborted", Code.Canceled));
  });
}

/**
 * Answers are written together at the end of the event loop's turn
 * (setImmediate), not one by one as each is computed. Under load one turn
 * reads many requests (one per ready connection); computing all their
 * answers first and then making all the writes keeps the JavaScript and the
 * kernel's socket work each in one stretch instead of alternating per
 * request, which measured 30–50 % more Decide throughput on the 2-core
 * machine (docs/benchmarks.md#decide-p1-p2). A lone request waits only for
 * the rest of its own turn; responses on one connection keep their order.
 */
let waiting: (() => void)[] = [];

function flushAnswers(): void {
  const due = waiting;
  waiting = [];
  for (const writeOne of due) {
    // Each catches its own errors; this only keeps one that did not from
    // leaving the others unanswered.
    try {
      writeOne();
    } catch {
      // Nothing left to do for that answer.
    }
  }
}

function later(writeOne: () => void): void {
  if (waiting.length === 0) setImmediate(flushAnswers);
  waiting.push(writeOne);
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
 * `answer` computes the response (given the request id), at once or as a
 * promise; this writes it with x-request-id and content-length in one write
 * (see `flushAnswers` for when), then counts it in rpc_server_handled_total
 * and rpc_server_handling_seconds and logs the `rpc` line (successes of
 * quiet methods at debug). If writing fails (the client went away) the
 * socket is destroyed. `answer` must not throw.
 */
export type RawCall = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  method: string,
  answer: (reqId: string) => RawAnswer | Promise<RawAnswer>,
  /** When the call began (performance.now()), if before this call; now otherwise. */
  started?: number,
) => void;

export function rawCallTelemetry(options: RawCallOptions): RawCall {
  const { service, metrics, logger } = options;
  /** The OK children of each method's metrics, bound once, and its log level. */
  const okMetrics = new Map<
    string,
    {
      handled: ReturnType<Metrics["rpcHandled"]["labels"]>;
      duration: ReturnType<Metrics["rpcDuration"]["labels"]>;
      level: "debug" | "info";
    }
  >();
  const okOf = (method: string) => {
    let bound = okMetrics.get(method);
    if (bound === undefined) {
      const labels = { service, method, code: "OK" };
      bound = {
        handled: metrics.rpcHandled.labels(labels),
        duration: metrics.rpcDuration.labels(labels),
        level: isQuietRpc(service, method) ? "debug" : "info",
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
      if (!logger.isLevelEnabled(ok.level)) return;
    } else {
      const labels = { service, method, code: codeName(error) };
      metrics.rpcHandled.inc(labels);
      metrics.rpcDuration.observe(labels, seconds);
    }
    logRpcOutcome(logger.child({ reqId, service, method }), service, method, error, started);
  };

  const write = (
    res: http.ServerResponse,
    method: string,
    reqId: string,
    started: number,
    { status, headers, body, error }: RawAnswer,
    span?: Span,
  ) => {
    const length = typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.byteLength;
    if (length > 0) headers["content-length"] = String(length);
    headers["x-request-id"] = reqId;
    res.writeHead(status, headers);
    // A string body goes out in one write together with the headers.
    res.end(body);
    record(method, reqId, started, error);
    if (span !== undefined) {
      if (error !== undefined) span.setAttribute("rpc.connect_rpc.error_code", codeName(error));
      endSpan(span, error);
    }
  };

  /** Queues an answer for the end of this turn of the event loop (flushAnswers). */
  const queue = (
    res: http.ServerResponse,
    method: string,
    reqId: string,
    started: number,
    answered: RawAnswer,
    span?: Span,
  ) => {
    const writeOne = () => {
      try {
        write(res, method, reqId, started, answered, span);
      } catch (error) {
        failed(res, method, error, span);
      }
    };
    if (span === undefined) {
      later(writeOne);
    } else {
      // The `rpc` log line keeps the call's trace id.
      const traced = context.active();
      later(() => context.with(traced, writeOne));
    }
  };

  const failed = (res: http.ServerResponse, method: string, error: unknown, span?: Span) => {
    // Only writing the answer can fail here (the client went away).
    logger.debug({ err: error, service, method }, "could not answer a raw HTTP call");
    res.destroy();
    endSpan(span, error);
  };

  const serve = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    method: string,
    answer: (reqId: string) => RawAnswer | Promise<RawAnswer>,
    started: number,
    reqId: string,
    span?: Span,
  ) => {
    try {
      const answered = answer(reqId);
      // A thenable, not `instanceof Promise`: a promise from another realm
      // (a test's vm context, a native module) counts too.
      if (typeof (answered as Partial<Promise<RawAnswer>>).then === "function") {
        (answered as Promise<RawAnswer>)
          .then((a) => queue(res, method, reqId, started, a, span))
          .catch((error: unknown) => failed(res, method, error, span));
      } else {
        queue(res, method, reqId, started, answered as RawAnswer, span);
      }
    } catch (error) {
      failed(res, method, error, span);
    }
  };

  // A synchronous answer is queued at once, without a promise. Tracing
  // off costs one check.
  return (req, res, method, answer, started = performance.now()) => {
    const reqId = options.requestId(req.headers["x-request-id"]);
    if (!tracingEnabled()) {
      serve(req, res, method, answer, started, reqId);
      return;
    }
    const traced = startSpan({
      name: `${service}/${method}`,
      kind: SpanKind.SERVER,
      parent: requestContext(req.headers),
      attributes: rpcSpanAttributes(service, method, reqId),
    });
    context.with(traced?.context ?? context.active(), () =>
      serve(req, res, method, answer, started, reqId, traced?.span),
    );
  };
}
