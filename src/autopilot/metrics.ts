/** Metrics of the ramp autopilot, registered on the app's registry. */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface RampMetrics {
  /** What evaluations did: advanced, safety_action, held, blocked (recorded or not). */
  outcomes: Counter<"outcome">;
  /** Evaluations that failed (database unreachable, …); retried on the next pass. */
  evaluationErrors: Counter;
  /** One pass over every ramping experiment, in seconds (passes without the lease are not timed). */
  passSeconds: Histogram;
  /** 1 while this process holds the autopilot's lease. */
  leaseHeld: Gauge;
}

export function createRampMetrics(registry: Registry): RampMetrics {
  return {
    outcomes: new Counter({
      name: "lotty_ramp_evaluations_total",
      help: "Ramp evaluations by outcome (advanced, safety_action, held, blocked, raced, skipped).",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    evaluationErrors: new Counter({
      name: "lotty_ramp_evaluation_errors_total",
      help: "Ramp evaluations that failed and will be retried on the next pass.",
      registers: [registry],
    }),
    passSeconds: new Histogram({
      name: "lotty_ramp_pass_seconds",
      help: "Time of one autopilot pass over every ramping experiment, in seconds.",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    leaseHeld: new Gauge({
      name: "lotty_ramp_lease_held",
      help: "1 while this process holds the ramp autopilot's lease, else 0.",
      registers: [registry],
    }),
  };
}
