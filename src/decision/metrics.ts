/** Product metrics of decide, registered on the app's registry. */
import { Counter, type Registry } from "prom-client";
import { HotCounter, HotHistogram } from "../platform/hot-metrics.js";

export interface DecisionMetrics {
  /** Hot metrics (platform/hot-metrics.ts): updated on every Decide. */
  decisions: HotCounter<"reason">;
  evaluation: HotHistogram;
  logDropped: Counter;
}

export function createDecisionMetrics(registry: Registry): DecisionMetrics {
  return {
    decisions: new HotCounter({
      name: "lotty_decisions_total",
      help: "Flag decisions issued, by reason.",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    evaluation: new HotHistogram({
      name: "lotty_decide_evaluation_seconds",
      help: "Time to evaluate one Decide request against the snapshot (no transport), in seconds.",
      buckets: [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005],
      registers: [registry],
    }),
    logDropped: new Counter({
      name: "lotty_decision_log_dropped_total",
      help: "Decision log records dropped because the buffer towards NATS was full.",
      registers: [registry],
    }),
  };
}
