import { Migration } from "@mikro-orm/migrations";

/**
 * Guardrail trigger records and notifications (docs/guardrails.md,
 * docs/notifications.md). Plain SQL tables kept out of the entity snapshot
 * like the event store's: the guardrail monitor and the notifier read and
 * write them with hand-written statements.
 *
 * - guardrail_triggers: one row per guardrail that fired, written in the
 *   same transaction as the pause or rollback it caused. `run` is the
 *   experiment's run number when it fired (its starts and resumes so far,
 *   counted in the audit log): a rule fires
 *   at most once per run, enforced by the unique key.
 * - notification_channels: where to send. `url` and `secret` are stored
 *   encrypted (AES-256-GCM); `url_display` is the masked form List RPCs show.
 * - notification_rules: what to send when, and where.
 * - notification_deliveries: one row per (channel, dedup key), so an event
 *   is never queued or sent twice to a channel; its status, attempts and
 *   the lease of the attempt in flight.
 */
export class Migration20261205090000_GuardrailsNotifications extends Migration {
  override name = "Migration20261205090000_GuardrailsNotifications";

  override up(): void | Promise<void> {
    this.addSql(`create table "guardrail_triggers" (
      "id" uuid not null primary key,
      "experiment_id" uuid not null,
      "experiment_version" integer not null,
      "run" integer not null,
      "rule_index" integer not null,
      "metric_key" varchar(100) not null,
      "threshold" double precision not null,
      "direction" varchar(20) not null,
      "window_seconds" integer not null,
      "min_sample_size" integer not null,
      "action" varchar(20) not null,
      "observed_value" double precision not null,
      "variant_key" varchar(100) not null,
      "sample_size" bigint not null,
      "triggered_at" timestamptz not null,
      constraint "guardrail_triggers_once" unique ("experiment_id", "run", "rule_index")
    );`);
    this.addSql(
      `create index "guardrail_triggers_listing_index" on "guardrail_triggers" ("experiment_id", "triggered_at" desc, "id" desc);`,
    );
    this.addSql(
      `create index "guardrail_triggers_time_index" on "guardrail_triggers" ("triggered_at" desc, "id" desc);`,
    );
    this.addSql(`create table "notification_channels" (
      "id" uuid not null primary key,
      "name" varchar(200) not null,
      "kind" varchar(20) not null,
      "url" text not null,
      "url_display" varchar(2000) not null,
      "chat_id" varchar(200) not null,
      "secret" text null,
      "created_at" timestamptz not null,
      "created_by" uuid null
    );`);
    this.addSql(
      `create index "notification_channels_name_index" on "notification_channels" ("name", "id");`,
    );
    this.addSql(`create table "notification_rules" (
      "id" uuid not null primary key,
      "name" varchar(200) not null,
      "triggers" text[] not null,
      "experiment_id" uuid null,
      "flag_key" varchar(100) null,
      "owner_id" uuid null,
      "channel_ids" uuid[] not null,
      "rate_limit_per_minute" integer not null,
      "template" text not null,
      "created_at" timestamptz not null,
      "created_by" uuid null
    );`);
    this.addSql(
      `create index "notification_rules_name_index" on "notification_rules" ("name", "id");`,
    );
    this.addSql(`create table "notification_deliveries" (
      "id" uuid not null primary key,
      "channel_id" uuid not null references "notification_channels" ("id"),
      "rule_id" uuid not null references "notification_rules" ("id"),
      "trigger" varchar(50) not null,
      "experiment_id" uuid null,
      "flag_key" varchar(100) not null,
      "dedup_key" varchar(300) not null,
      "payload" jsonb not null,
      "status" varchar(20) not null,
      "attempts" integer not null default 0,
      "last_error" text not null default '',
      "created_at" timestamptz not null,
      "occurred_at" timestamptz not null,
      "next_attempt_at" timestamptz null,
      "lease_until" timestamptz null,
      "sent_at" timestamptz null,
      constraint "notification_deliveries_once" unique ("channel_id", "dedup_key")
    );`);
    this.addSql(
      `create index "notification_deliveries_due_index" on "notification_deliveries" ("next_attempt_at") where "status" in ('pending', 'retrying');`,
    );
    this.addSql(
      `create index "notification_deliveries_listing_index" on "notification_deliveries" ("created_at" desc, "id" desc);`,
    );
    this.addSql(
      `create index "notification_deliveries_rate_index" on "notification_deliveries" ("rule_id", "channel_id", "created_at");`,
    );
  }

  override down(): void | Promise<void> {
    for (const table of [
      "notification_deliveries",
      "notification_rules",
      "notification_channels",
      "guardrail_triggers",
    ]) {
      this.addSql(`drop table if exists "${table}" cascade;`);
    }
  }
}
