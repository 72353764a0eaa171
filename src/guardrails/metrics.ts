/** Metrics of the guardrail monitor, registered on the app's registry. */
import { Counter, Histogram, type Registry } from "prom-client";

export interface GuardrailMetrics {
  /** Guardrails that fired, by action (pause, rollback). */
  triggers: Counter<"action">;
  /** From the event store's commit of counted events to the end of the evaluation that saw them. */
  evaluationLag: Histogram;
  /** Evaluations that failed (database unreachable, …); they are retried. */
  evaluationErrors: Counter;
}

export function createGuardrailMetrics(registry: Registry): GuardrailMetrics {
  return {
    triggers: new Counter({
      name: "lotty_guardrail_triggers_total",
      help: "Guardrails that fired, by the action executed (pause or rollback).",
      labelNames: ["action"] as const,
      registers: [registry],
    }),
    evaluationLag: new Histogram({
      name: "lotty_guardrail_evaluation_lag_seconds",
      help: "Time from the commit of counted events to the end of the guardrail evaluation that included them, in seconds.",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    evaluationErrors: new Counter({
      name: "lotty_guardrail_evaluation_errors_total",
      help: "Guardrail evaluations that failed and will be retried.",
      registers: [registry],
    }),
  };
}
