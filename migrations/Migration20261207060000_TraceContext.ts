import { Migration } from "@mikro-orm/migrations";

/**
 * Trace context kept across a transaction (src/platform/tracing.ts): the
 * W3C headers (`traceparent`, `tracestate`) of the change that staged an
 * outbox row, and of the lifecycle event that queued a notification
 * delivery, so the relay and the dispatcher continue that trace whenever
 * they run. Null when the writer was not tracing.
 */
export class Migration20261207060000_TraceContext extends Migration {
  override name = "Migration20261207060000_TraceContext";

  override up(): void | Promise<void> {
    this.addSql(`alter table "outbox" add column "headers" jsonb null;`);
    this.addSql(`alter table "notification_deliveries" add column "trace_context" jsonb null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "notification_deliveries" drop column if exists "trace_context";`);
    this.addSql(`alter table "outbox" drop column if exists "headers";`);
  }
}
