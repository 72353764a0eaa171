import { Migration } from "@mikro-orm/migrations";

/**
 * Data-quality alarms and scheduled digests (docs/notifications.md),
 * written by hand like the other notification tables.
 *
 * - data_quality_alarms: every alarm that fired; `dedup_key` (kind,
 *   subject, hour) is unique, so an alarm is recorded and announced once
 *   however many passes or processes see it.
 * - data_quality_hour_counts / data_quality_counted_hours: events per
 *   event type per UTC hour of occurred_at, counted once from the raw
 *   events when the hour is first needed (and settled), so a pass reads at
 *   most one new hour of raw events.
 * - data_quality_marks: ingest totals and the attribution backlog as each
 *   pass saw them, to compare with an hour earlier.
 * - data_quality_srm: whether each experiment's report showed a sample
 *   ratio mismatch at the last pass (the alarm fires when it appears).
 * - notification_digests: one row per rule and period sent; its key is
 *   what makes a digest go out once per period across processes.
 * - notification_rules.digest_*: the rule's digest schedule.
 */
export class Migration20261207130000_DataQuality extends Migration {
  override name = "Migration20261207130000_DataQuality";

  override up(): void | Promise<void> {
    this.addSql(`create table "data_quality_alarms" (
      "id" uuid not null primary key,
      "kind" varchar(50) not null,
      "subject" varchar(200) collate "C" not null,
      "experiment_id" uuid null,
      "dedup_key" varchar(300) not null unique,
      "window_start" timestamptz not null,
      "window_end" timestamptz not null,
      "summary" text not null,
      "figures" jsonb not null,
      "fired_at" timestamptz not null
    );`);
    this.addSql(
      `create index "data_quality_alarms_listing_index" on "data_quality_alarms" ("fired_at" desc, "id" desc);`,
    );
    this.addSql(`create table "data_quality_counted_hours" (
      "hour" timestamptz not null primary key,
      "counted_at" timestamptz not null
    );`);
    this.addSql(`create table "data_quality_hour_counts" (
      "hour" timestamptz not null,
      "event_type" varchar(100) collate "C" not null,
      "events" bigint not null,
      primary key ("hour", "event_type")
    );`);
    this.addSql(`create table "data_quality_marks" (
      "taken_at" timestamptz not null primary key,
      "day" date not null,
      "stored" bigint not null,
      "duplicates" bigint not null,
      "rejected" bigint not null,
      "pending" bigint not null
    );`);
    this.addSql(`create table "data_quality_srm" (
      "experiment_id" uuid not null primary key,
      "mismatch" boolean not null,
      "updated_at" timestamptz not null
    );`);
    this.addSql(`alter table "notification_rules"
      add column "digest_period" varchar(10) null,
      add column "digest_hour" integer not null default 0,
      add column "digest_weekday" integer not null default 0;`);
    this.addSql(`create table "notification_digests" (
      "rule_id" uuid not null references "notification_rules" ("id") on delete cascade,
      "period_start" timestamptz not null,
      "sent_at" timestamptz not null,
      primary key ("rule_id", "period_start")
    );`);
  }

  override down(): void | Promise<void> {
    for (const table of [
      "notification_digests",
      "data_quality_srm",
      "data_quality_marks",
      "data_quality_hour_counts",
      "data_quality_counted_hours",
      "data_quality_alarms",
    ]) {
      this.addSql(`drop table if exists "${table}";`);
    }
    this.addSql(`alter table "notification_rules"
      drop column "digest_period", drop column "digest_hour", drop column "digest_weekday";`);
  }
}
