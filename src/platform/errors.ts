/**
 * Expected failures are ConnectErrors with a code and a message that names
 * the field. Anything else is turned into INTERNAL by errorInterceptor, with
 * the cause logged next to the request id and never sent to the client.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "./logging.js";
import { requestIdKey, loggerKey } from "./request-context.js";
import { observeStream } from "./streams.js";

/** Collects field problems so one response can name all of them. */
export class FieldViolations {
  private readonly problems: { field: string; message: string }[] = [];

  add(field: string, message: string): this {
    this.problems.push({ field, message });
    return this;
  }

  get size(): number {
    return this.problems.length;
  }

  /** Throws INVALID_ARGUMENT listing every problem, if there are any. */
  throwIfAny(): void {
    if (this.problems.length > 0) {
      throw new ConnectError(
        this.problems.map((p) => `${p.field}: ${p.message}`).join("; "),
        Code.InvalidArgument,
      );
    }
  }
}

export function invalidArgument(field: string, message: string): ConnectError {
  return new ConnectError(`${field}: ${message}`, Code.InvalidArgument);
}

export function notFound(what: string, id: string): ConnectError {
  return new ConnectError(`${what} ${JSON.stringify(id)} not found`, Code.NotFound);
}

const UNAVAILABLE_ERRNO = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
]);

/**
 * True for failures of a dependency that a retry may cure: a database
 * connection that is refused or reset, or PostgreSQL refusing connections
 * (SQLSTATE class 08, 57P01–57P03, 53300 too many connections).
 */
export function isUnavailableError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      // 08P01 (protocol violation) comes from bad input, not from an outage.
      const connectionClass = code.startsWith("08") && code !== "08P01";
      // 57P01–57P03: shutting down / cannot connect now; 53300: too many connections.
      if (
        UNAVAILABLE_ERRNO.has(code) ||
        connectionClass ||
        /^57P0[123]$/.test(code) ||
        code === "53300"
      ) {
        return true;
      }
    }
    if (e.name === "ConnectionException" || /Connection terminated/i.test(e.message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null;
}

/** Node's codes for a write to a stream the other side has closed or reset. */
const STREAM_GONE = new Set([
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_HTTP2_INVALID_STREAM",
  "ERR_HTTP2_STREAM_CANCEL",
]);
/** Socket codes that mean the client is gone only when the call's signal says so too. */
const SOCKET_GONE = new Set(["ECONNRESET", "EPIPE"]);

/**
 * True when `error` (or a cause) says the response could not be written
 * because the client went away: a browser leaving a page, a cancelled or
 * reset stream. connect-node reports such a failed write to the handler's
 * response stream, so it surfaces in interceptors as well as in the Node
 * handler. ECONNRESET and EPIPE also come from a database connection, so
 * they count only when `clientLeft` (the call's signal is aborted).
 */
export function isClientGoneError(error: unknown, clientLeft = false): boolean {
  // Not `instanceof Error`: Node's own errors come from another realm under
  // test runners that use vm contexts (jest), and still carry their code.
  for (let e: unknown = error, depth = 0; isObject(e) && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (
      typeof code === "string" &&
      (STREAM_GONE.has(code) || (clientLeft && SOCKET_GONE.has(code)))
    ) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Converts an unexpected error into a client-safe ConnectError. A client
 * that went away is a normal end (CANCELED, logged at debug): there is
 * nobody to answer.
 */
export function toClientError(
  error: unknown,
  requestId: string,
  logger: Logger,
  clientLeft = false,
): ConnectError {
  if (error instanceof ConnectError) return error;
  if (isClientGoneError(error, clientLeft)) {
    logger.debug({ err: error, reqId: requestId }, "client went away during the call");
    return new ConnectError("the client went away", Code.Canceled);
  }
  const metadata = { "x-request-id": requestId };
  if (isUnavailableError(error)) {
    logger.warn({ err: error, reqId: requestId }, "dependency unavailable");
    return new ConnectError(
      `a dependency is temporarily unavailable; retry later (request id ${requestId})`,
      Code.Unavailable,
      metadata,
    );
  }
  logger.error({ err: error, reqId: requestId }, "unexpected error");
  return new ConnectError(`internal error (request id ${requestId})`, Code.Internal, metadata);
}

/** Outermost interceptor: nothing but a ConnectError leaves the server. */
export function errorInterceptor(rootLogger: Logger): Interceptor {
  return (next) => async (req) => {
    const convert = (error: unknown) =>
      toClientError(
        error,
        req.contextValues.get(requestIdKey),
        req.contextValues.get(loggerKey) ?? rootLogger,
        req.signal.aborted,
      );
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return observeStream(res, { mapError: convert });
    } catch (error) {
      throw convert(error);
    }
  };
}
