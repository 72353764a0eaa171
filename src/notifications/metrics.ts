/** Metrics of notifications, registered on the app's registry. */
import { Counter, type Registry } from "prom-client";

export interface NotificationMetrics {
  /**
   * Delivery status changes: queued, rate_limited (when recorded), sent,
   * retrying, failed (after an attempt).
   */
  deliveries: Counter<"status">;
}

export function createNotificationMetrics(registry: Registry): NotificationMetrics {
  return {
    deliveries: new Counter({
      name: "lotty_notification_deliveries_total",
      help: "Notification deliveries by status reached: queued, rate_limited, sent, retrying, failed.",
      labelNames: ["status"] as const,
      registers: [registry],
    }),
  };
}
