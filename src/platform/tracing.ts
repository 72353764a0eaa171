/**
 * Tracing with OpenTelemetry, off unless the standard OTEL_* variables ask
 * for it (docs/runbook.md#tracing).
 *
 * When on, the OpenTelemetry Node SDK is started once per process
 * (startTracing) with the exporter the variables name — OTLP over
 * http/protobuf by default — and registers the W3C trace-context
 * propagator and an AsyncLocalStorage context manager. Lotty then:
 *
 * - accepts `traceparent` on every RPC (the interceptor and the raw
 *   handlers start a SERVER span as its child);
 * - carries the context in the NATS headers of what it publishes, and
 *   continues it where a message is consumed (producer and consumer spans);
 * - keeps it across a transaction: the outbox row and the notification
 *   delivery row store the headers, so the trace goes on after a relay or a
 *   retry, and a webhook gets `traceparent` too;
 * - writes `trace_id` and `span_id` in every log line written inside a span
 *   (the pino mixin, traceLogFields).
 *
 * When off, nothing is started or imported beyond the API, and every helper
 * here first checks one boolean: the decide path pays that check only.
 * Domain-free: callers name their spans and attributes.
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
} from "@opentelemetry/api";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";

export { SpanKind };
export type { Context, Span };

const TRACER_NAME = "lotty";
const EXPORTERS = new Set(["otlp", "console", "zipkin", "none"]);
const PROTOCOLS = new Set(["grpc", "http/protobuf", "http/json"]);
const DEFAULT_ENDPOINTS: Record<string, string> = {
  grpc: "http://localhost:4317",
  "http/protobuf": "http://localhost:4318",
  "http/json": "http://localhost:4318",
};

let enabled = false;

/** Whether this process exports traces (startTracing ran and was not shut down). */
export function tracingEnabled(): boolean {
  return enabled;
}

export interface TracingSettings {
  /** The exporters OTEL_TRACES_EXPORTER names (otlp when only an endpoint is set). */
  exporters: string[];
  /** For the start banner, e.g. "otlp (http/protobuf) to http://collector:4318". */
  description: string;
}

/**
 * What the standard OTEL_* variables ask for: tracing off (undefined),
 * on (its settings), or problems, one line per variable. On when
 * OTEL_TRACES_EXPORTER names an exporter other than `none`, or when it is
 * unset and an OTLP endpoint is; OTEL_SDK_DISABLED=true turns it off.
 */
export function tracingSettings(
  env: NodeJS.ProcessEnv,
): TracingSettings | undefined | { problems: string[] } {
  const problems: string[] = [];
  const value = (name: string) => {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const disabled = value("OTEL_SDK_DISABLED");
  if (disabled !== undefined && !/^(true|false)$/i.test(disabled)) {
    problems.push("OTEL_SDK_DISABLED: must be true or false");
  }
  const listed = value("OTEL_TRACES_EXPORTER")
    ?.split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "");
  for (const name of listed ?? []) {
    if (!EXPORTERS.has(name)) {
      problems.push(
        `OTEL_TRACES_EXPORTER: unknown exporter "${name}" (use otlp, console, zipkin or none)`,
      );
    }
  }
  const protocol =
    value("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? value("OTEL_EXPORTER_OTLP_PROTOCOL");
  for (const name of ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]) {
    const p = value(name);
    if (p !== undefined && !PROTOCOLS.has(p)) {
      problems.push(`${name}: must be http/protobuf, http/json or grpc, got "${p}"`);
    }
  }
  const tracesEndpoint = value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const endpoint = value("OTEL_EXPORTER_OTLP_ENDPOINT");
  for (const [name, url] of [
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", tracesEndpoint],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", endpoint],
  ] as const) {
    if (url !== undefined && !/^https?:\/\/[^\s/]+/i.test(url)) {
      problems.push(`${name}: must be an http:// or https:// URL, got "${url}"`);
    }
  }
  if (problems.length > 0) return { problems };
  if (disabled?.toLowerCase() === "true") return undefined;
  const exporters =
    listed ?? (tracesEndpoint !== undefined || endpoint !== undefined ? ["otlp"] : []);
  const active = exporters.filter((e) => e !== "none");
  if (active.length === 0) return undefined;
  const p = protocol ?? "http/protobuf";
  const target =
    tracesEndpoint ??
    (endpoint !== undefined
      ? `${endpoint.replace(/\/$/, "")}${p === "grpc" ? "" : "/v1/traces"}`
      : `${DEFAULT_ENDPOINTS[p]}${p === "grpc" ? "" : "/v1/traces"}`);
  const description = active.map((e) => (e === "otlp" ? `otlp (${p}) to ${target}` : e)).join(", ");
  return { exporters: active, description };
}

export interface Tracing {
  /** Exports what is buffered and turns tracing off in this process. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry Node SDK from the OTEL_* variables of the
 * process (the SDK reads them itself: endpoint, headers, protocol,
 * sampler, resource attributes). Traces only: Lotty's metrics stay on
 * /metrics and its logs on stdout. The service name is `lotty` unless
 * OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) says otherwise.
 */
export async function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  // Imported here, so a process without tracing never loads the SDK.
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const named =
    (env.OTEL_SERVICE_NAME ?? "") !== "" ||
    /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? "");
  const sdk = new NodeSDK({
    ...(named ? {} : { serviceName: TRACER_NAME }),
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  enabled = true;
  return {
    async shutdown() {
      enabled = false;
      try {
        await sdk.shutdown();
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}

/** trace_id and span_id of the active span, for every log line (pino's mixin). */
export function traceLogFields(): Record<string, string> {
  if (!enabled) return {};
  const span = trace.getSpan(context.active());
  if (span === undefined) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** Reads W3C headers from a fetch Headers object (a Connect request's header). */
const fetchHeadersGetter: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};

/** Reads W3C headers from NATS message headers. */
const natsGetter: TextMapGetter<MsgHdrs> = {
  keys: (carrier) => carrier.keys(),
  get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
};

/** The context a request or message carries: a remote parent, or undefined when it carries none. */
function extracted<C>(carrier: C, getter?: TextMapGetter<C>): Context | undefined {
  const ctx =
    getter === undefined
      ? propagation.extract(ROOT_CONTEXT, carrier)
      : propagation.extract(ROOT_CONTEXT, carrier, getter);
  return trace.getSpanContext(ctx) === undefined ? undefined : ctx;
}

/** The trace context of an incoming HTTP request (Node's lower-cased headers or fetch Headers). */
export function requestContext(headers: Headers | Record<string, unknown>): Context {
  // Duck-typed: a Headers object from another realm (a test's vm context) counts too.
  if (typeof (headers as Partial<Headers>).get === "function") {
    return extracted(headers as Headers, fetchHeadersGetter) ?? ROOT_CONTEXT;
  }
  return extracted(headers) ?? ROOT_CONTEXT;
}

/** The trace context a NATS message carries, or undefined (tracing off, or none sent). */
export function messageContext(headers: MsgHdrs | undefined): Context | undefined {
  if (!enabled || headers === undefined) return undefined;
  return extracted(headers, natsGetter);
}

/** The context stored with a row (storedTraceHeaders), or undefined. */
export function storedContext(
  stored: Record<string, string> | null | undefined,
): Context | undefined {
  if (!enabled || stored === null || stored === undefined) return undefined;
  return extracted(stored);
}

/** The W3C headers of the active context, to store with a row; null when not tracing. */
export function storedTraceHeaders(): Record<string, string> | null {
  if (!enabled) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return Object.keys(carrier).length === 0 ? null : carrier;
}

/** NATS headers carrying the active context; undefined when not tracing (or no span is active). */
export function traceMessageHeaders(): MsgHdrs | undefined {
  if (!enabled) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return messageHeaders(carrier);
}

export interface SpanSpec {
  name: string;
  kind: SpanKind;
  attributes?: Attributes;
  /** The parent; the active context when undefined. */
  parent?: Context;
}

/** Starts a span (only when tracing) and the context that makes it active. */
export function startSpan(spec: SpanSpec): { span: Span; context: Context } | undefined {
  if (!enabled) return undefined;
  const parent = spec.parent ?? context.active();
  const span = trace
    .getTracer(TRACER_NAME)
    .startSpan(spec.name, { kind: spec.kind, attributes: spec.attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends a span with the outcome: unset (success), or ERROR with the error's message. */
export function endSpan(span: Span | undefined, error?: unknown): void {
  if (span === undefined) return;
  if (error !== undefined) {
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
    if (error instanceof Error) span.recordException(error);
  }
  span.end();
}

/**
 * Runs `work` in a new span (when tracing; else just runs it) and ends the
 * span with its outcome. With `onlyWithParent`, no span is made unless
 * `parent` is given (work that is traced only when something upstream was).
 */
export async function inSpan<T>(
  spec: SpanSpec & { onlyWithParent?: boolean },
  work: () => Promise<T>,
): Promise<T> {
  if (!enabled || (spec.onlyWithParent === true && spec.parent === undefined)) return work();
  const started = startSpan(spec);
  if (started === undefined) return work();
  try {
    const result = await context.with(started.context, work);
    endSpan(started.span);
    return result;
  } catch (error) {
    endSpan(started.span, error);
    throw error;
  }
}

/** Runs `work` with `ctx` active (logs and spans it starts belong to it). */
export function withContext<T>(ctx: Context | undefined, work: () => T): T {
  return ctx === undefined ? work() : context.with(ctx, work);
}

/**
 * Runs `work` with the W3C headers to send onwards for a row that stored
 * `stored` (storedTraceHeaders): when tracing, those of a new span that
 * continues it (ended with work's outcome); when not, `stored` as it is, so
 * a trace begun in a process that traces still reaches the next hop.
 */
export async function continueStored<T>(
  stored: Record<string, string> | null | undefined,
  spec: Omit<SpanSpec, "parent">,
  work: (headers: Record<string, string>) => Promise<T>,
): Promise<T> {
  const parent = storedContext(stored);
  if (parent === undefined) return work(stored ?? {});
  return inSpan({ ...spec, parent }, () => work(storedTraceHeaders() ?? {}));
}

/** NATS headers holding `carrier` (undefined when it is empty). */
export function messageHeaders(carrier: Record<string, string>): MsgHdrs | undefined {
  const keys = Object.keys(carrier);
  if (keys.length === 0) return undefined;
  const headers = natsHeaders();
  for (const key of keys) headers.set(key, carrier[key] as string);
  return headers;
}

/** Sets attributes on the active span (when tracing). */
export function annotateSpan(attributes: Attributes): void {
  if (!enabled) return;
  trace.getActiveSpan()?.setAttributes(attributes);
}
