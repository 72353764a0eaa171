/**
 * Tracing, request logging and RPC metrics. Order (outermost first) is set
 * in src/app.ts: tracing → errors → request log → metrics → auth → handler.
 */
import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamResponse,
  type UnaryResponse,
} from "@connectrpc/connect";
import { context } from "@opentelemetry/api";
import type { Logger } from "./logging.js";
import type { Metrics } from "./metrics.js";
import { loggerKey, requestIdKey } from "./request-context.js";
import { observeStream } from "./streams.js";
import { isClientGoneError, isUnavailableError } from "./errors.js";
import { endSpan, requestContext, SpanKind, startSpan, tracingEnabled } from "./tracing.js";

type AnyResponse = UnaryResponse | StreamResponse;

/**
 * Calls `done` when a call ends: now for a unary answer, when the stream
 * ends (or fails) for a streaming one.
 */
function whenEnded<R extends AnyResponse>(res: R, done: (error: unknown) => void): R {
  if (!res.stream) {
    done(undefined);
    return res;
  }
  return observeStream(res, { onEnd: done }) as R;
}

/**
 * Services whose successful calls are logged at debug, not info: probes,
 * and Decide, which runs thousands of times a second (its outcomes are in
 * the metrics and the decision log). Failures are logged at info or above.
 */
const QUIET_SERVICES = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);
const QUIET_METHODS = new Set([
  "lotty.decision.v1.DecisionService/Decide",
  "ofrep.v1/EvaluateFlag",
  "ofrep.v1/EvaluateFlags",
]);

export function isQuietRpc(service: string, method: string): boolean {
  return QUIET_SERVICES.has(service) || QUIET_METHODS.has(`${service}/${method}`);
}

/**
 * The code an RPC ended with. A failed write to a client that went away is
 * CANCELED (the client's doing), not INTERNAL: `clientLeft` is whether the
 * call's signal was aborted.
 */
export function codeName(error: unknown, clientLeft = false): string {
  if (error === undefined) return "OK";
  const code =
    error instanceof ConnectError
      ? error.code
      : isClientGoneError(error, clientLeft)
        ? Code.Canceled
        : isUnavailableError(error)
          ? Code.Unavailable
          : Code.Internal;
  return Code[code];
}

/**
 * Logs how an RPC ended: quiet successes and calls the client cancelled at
 * debug, others at info, INTERNAL/UNKNOWN at error (the cause was logged
 * where it was caught).
 */
export function logRpcOutcome(
  logger: Logger,
  service: string,
  method: string,
  error: unknown,
  startedAt: number,
  clientLeft = false,
): void {
  const code = codeName(error, clientLeft);
  const durationMs = Math.round((performance.now() - startedAt) * 1000) / 1000;
  const fields = { code, durationMs };
  if (error === undefined) {
    if (isQuietRpc(service, method)) logger.debug(fields, "rpc");
    else logger.info(fields, "rpc");
  } else if (code === "Canceled") {
    logger.debug(fields, "rpc");
  } else if (code === "Internal" || code === "Unknown") {
    logger.error(fields, "rpc");
  } else {
    logger.info({ ...fields, error: (error as Error).message }, "rpc");
  }
}

/** Gives each RPC a child logger and logs its outcome once it completes. */
export function requestLogInterceptor(rootLogger: Logger): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const reqId = req.contextValues.get(requestIdKey);
    const logger = rootLogger.child({
      reqId,
      service: req.service.typeName,
      method: req.method.name,
    });
    req.contextValues.set(loggerKey, logger);
    const done = (error: unknown) =>
      logRpcOutcome(
        logger,
        req.service.typeName,
        req.method.name,
        error,
        started,
        req.signal.aborted,
      );
    try {
      const res = await next(req);
      res.header.set("x-request-id", reqId);
      return whenEnded(res, done);
    } catch (error) {
      if (error instanceof ConnectError) error.metadata.set("x-request-id", reqId);
      done(error);
      throw error;
    }
  };
}

/** Counts RPCs and records their latency by service, method and code. */
export function metricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const labels = { service: req.service.typeName, method: req.method.name };
    const done = (error: unknown) => {
      const code = codeName(error, req.signal.aborted);
      metrics.rpcHandled.inc({ ...labels, code });
      metrics.rpcDuration.observe({ ...labels, code }, (performance.now() - started) / 1000);
    };
    try {
      return whenEnded(await next(req), done);
    } catch (error) {
      done(error);
      throw error;
    }
  };
}

/** The attributes of an RPC's server span (OpenTelemetry's RPC conventions). */
export function rpcSpanAttributes(service: string, method: string, reqId: string) {
  return {
    "rpc.system": "connect_rpc",
    "rpc.service": service,
    "rpc.method": method,
    "lotty.request_id": reqId,
  };
}

/**
 * Makes each RPC a SERVER span, the child of the caller's `traceparent`
 * when it sends one; the handler, its logs and what it publishes run in
 * that span. Does nothing when tracing is off.
 */
export function tracingInterceptor(): Interceptor {
  return (next) => async (req) => {
    if (!tracingEnabled()) return next(req);
    const service = req.service.typeName;
    const method = req.method.name;
    const started = startSpan({
      name: `${service}/${method}`,
      kind: SpanKind.SERVER,
      parent: requestContext(req.header),
      attributes: rpcSpanAttributes(service, method, req.contextValues.get(requestIdKey)),
    });
    const end = (error: unknown) => {
      if (error !== undefined) {
        started?.span.setAttribute(
          "rpc.connect_rpc.error_code",
          codeName(error, req.signal.aborted),
        );
      }
      endSpan(started?.span, error);
    };
    try {
      const res = await context.with(started?.context ?? context.active(), () => next(req));
      return whenEnded(res, end);
    } catch (error) {
      end(error);
      throw error;
    }
  };
}
