/**
 * One prom-client registry per app instance (never the global one), so two
 * apps can live in one process, as tests do.
 */
import { Registry, collectDefaultMetrics } from "prom-client";
import { HotCounter, HotHistogram } from "./hot-metrics.js";

export interface Metrics {
  registry: Registry;
  /** Hot metrics (hot-metrics.ts): the Decide fast path counts every call. */
  rpcHandled: HotCounter<"service" | "method" | "code">;
  rpcDuration: HotHistogram<"service" | "method" | "code">;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
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
  return { registry, rpcHandled, rpcDuration };
}
