/**
 * One prom-client registry per app instance (never the global one), so two
 * apps can live in one process, as tests do.
 */
import { PerformanceObserver, monitorEventLoopDelay } from "node:perf_hooks";
import { Registry, collectDefaultMetrics } from "prom-client";
import { HotCounter, HotHistogram } from "./hot-metrics.js";

export interface Metrics {
  registry: Registry;
  /** Hot metrics (hot-metrics.ts): the Decide fast path counts every call. */
  rpcHandled: HotCounter<"service" | "method" | "code">;
  rpcDuration: HotHistogram<"service" | "method" | "code">;
  /**
   * Stops what the default metrics started in the process: the GC
   * PerformanceObserver and the event-loop-delay histogram. prom-client
   * offers no way to (prometheus/client_js#500, #494); left running, they
   * keep this registry, and everything the module graph that created it
   * holds, alive for the life of the process (in tests: every app ever
   * started, until the jest worker runs out of memory or is too slow to exit).
   */
  close(): void;
}

type IntervalHistogram = ReturnType<typeof monitorEventLoopDelay>;

/**
 * Runs collectDefaultMetrics and returns what it left running in the
 * process: it calls `observe` on one PerformanceObserver (gc) and `enable`
 * on one event-loop-delay histogram, and gives neither back.
 */
function collectDefaultMetricsStoppably(registry: Registry): () => void {
  const observers: PerformanceObserver[] = [];
  const histograms: IntervalHistogram[] = [];
  const observerProto = PerformanceObserver.prototype;
  const histogramProto = Object.getPrototypeOf(monitorEventLoopDelay()) as IntervalHistogram;
  const { observe } = observerProto;
  const { enable } = histogramProto;
  observerProto.observe = function (this: PerformanceObserver, ...args) {
    observers.push(this);
    return observe.apply(this, args);
  };
  histogramProto.enable = function (this: IntervalHistogram) {
    histograms.push(this);
    return enable.call(this);
  };
  try {
    collectDefaultMetrics({ register: registry });
  } finally {
    observerProto.observe = observe;
    histogramProto.enable = enable;
  }
  return () => {
    observers.forEach((observer) => observer.disconnect());
    histograms.forEach((histogram) => histogram.disable());
  };
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const stopDefaultMetrics = collectDefaultMetricsStoppably(registry);
  const rpcHandled = new HotCounter({
    name: "rpc_server_handled_total",
    help: "RPCs completed on the server, by service, method and status code.",
    labelNames: ["service", "method", "code"] as const,
    registers: [registry],
  });
  const rpcDuration = new HotHistogram({
    name: "rpc_server_handling_seconds",
    help: "Time from receiving an RPC to completing it, in seconds.",
    labelNames: ["service", "method", "code"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return { registry, rpcHandled, rpcDuration, close: stopDefaultMetrics };
}
