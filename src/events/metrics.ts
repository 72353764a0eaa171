/** Metrics of ingestion and the event store, registered on the app's registry. */
import { Counter, Gauge, type Registry } from "prom-client";

export interface EventMetrics {
  /** IngestEvents outcomes per event: accepted, duplicate or rejected (with the code). */
  events: Counter<"result" | "reason">;
  stored: Counter;
  deadLetters: Counter;
  attributionDropped: Counter;
  consumerLag: Gauge;
  pendingAttribution: Gauge;
}

export function createEventMetrics(registry: Registry): EventMetrics {
  return {
    events: new Counter({
      name: "lotty_events_total",
      help: "Events received by IngestEvents, by result (accepted, duplicate, rejected) and reason.",
      labelNames: ["result", "reason"] as const,
      registers: [registry],
    }),
    stored: new Counter({
      name: "lotty_events_stored_total",
      help: "Events written to the event store for the first time.",
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: "lotty_events_dead_letters_total",
      help: "Event messages moved to the dead-letter stream because they could not be stored.",
      registers: [registry],
    }),
    attributionDropped: new Counter({
      name: "lotty_attribution_dropped_total",
      help: "Events dropped because no exposure arrived within the 7-day attribution horizon.",
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: "lotty_event_consumer_lag",
      help: "Event messages in the stream not yet delivered to the event store consumer.",
      registers: [registry],
    }),
    pendingAttribution: new Gauge({
      name: "lotty_events_pending_attribution",
      help: "Events stored but waiting for the exposure of their decision id.",
      registers: [registry],
    }),
  };
}
