import { Migration } from "@mikro-orm/migrations";

/**
 * The event store (docs/events.md). Written by hand and kept out of the
 * entity snapshot: the event table is partitioned by time, which entities
 * cannot express, and the hot path writes these tables with plain SQL.
 *
 * - events: every stored event, partitioned by day of occurred_at
 *   (partitions are created by the event store as needed). Only its
 *   primary key is indexed: every index is paid for on each insert, and
 *   reports read the counts, not the raw events.
 * - event_ids: one row per stored event id. A partitioned table can only
 *   enforce uniqueness together with its partition key, so this table is
 *   what makes an event id unique across all time.
 * - exposures: the first exposure of each decision id.
 * - pending_attributions: events waiting for their exposure.
 * - event_counts / subject_event_counts: the counts reports read, changed
 *   in the same transaction as the insert that causes them.
 * - ingest_stats: duplicates, rejections and dropped attributions per day.
 * - ingest_messages: JetStream messages already applied (by message id).
 *
 * Ids and keys are compared bytewise (collate "C"): they are opaque, and
 * a locale-aware comparison costs several times more in every index.
 */
export class Migration20261122170000_EventStore extends Migration {
  override name = "Migration20261122170000_EventStore";

  override up(): void | Promise<void> {
    this.addSql(`create table "events" (
      "event_id" varchar(200) collate "C" not null,
      "event_type" varchar(100) collate "C" not null,
      "decision_id" varchar(2048) collate "C" not null,
      "flag_key" varchar(100) not null,
      "experiment_id" uuid null,
      "variant_key" varchar(100) null,
      "subject_id" varchar(256) collate "C" not null,
      "occurred_at" timestamptz not null,
      "received_at" timestamptz not null,
      "properties" jsonb not null,
      "counted" boolean not null,
      primary key ("occurred_at", "event_id")
    ) partition by range ("occurred_at");`);
    this.addSql(`create table "event_ids" (
      "event_id" varchar(200) collate "C" not null primary key,
      "occurred_at" timestamptz not null
    );`);
    this.addSql(`create table "exposures" (
      "decision_id" varchar(2048) collate "C" not null primary key,
      "event_id" varchar(200) collate "C" not null,
      "flag_key" varchar(100) not null,
      "experiment_id" uuid null,
      "variant_key" varchar(100) null,
      "subject_id" varchar(256) collate "C" not null,
      "exposed_at" timestamptz not null
    );`);
    this.addSql(
      `create index "exposures_experiment_index" on "exposures" ("experiment_id", "variant_key", "exposed_at");`,
    );
    this.addSql(`create table "pending_attributions" (
      "event_id" varchar(200) collate "C" not null primary key,
      "decision_id" varchar(2048) collate "C" not null,
      "experiment_id" uuid not null,
      "occurred_at" timestamptz not null,
      "expires_at" timestamptz not null
    );`);
    this.addSql(
      `create index "pending_attributions_decision_id_index" on "pending_attributions" ("decision_id");`,
    );
    this.addSql(
      `create index "pending_attributions_expires_at_index" on "pending_attributions" ("expires_at");`,
    );
    this.addSql(`create table "event_counts" (
      "experiment_id" uuid not null,
      "variant_key" varchar(100) collate "C" not null,
      "event_type" varchar(100) collate "C" not null,
      "minute" timestamptz not null,
      "events" bigint not null,
      primary key ("experiment_id", "variant_key", "event_type", "minute")
    );`);
    this.addSql(`create table "subject_event_counts" (
      "experiment_id" uuid not null,
      "variant_key" varchar(100) collate "C" not null,
      "event_type" varchar(100) collate "C" not null,
      "subject_id" varchar(256) collate "C" not null,
      "events" bigint not null,
      "first_at" timestamptz not null,
      "last_at" timestamptz not null,
      primary key ("experiment_id", "variant_key", "event_type", "subject_id")
    );`);
    this.addSql(`create table "ingest_stats" (
      "day" date not null,
      "experiment_id" varchar(36) collate "C" not null,
      "result" varchar(20) collate "C" not null,
      "reason" varchar(40) collate "C" not null,
      "events" bigint not null,
      primary key ("day", "experiment_id", "result", "reason")
    );`);
    this.addSql(`create table "ingest_messages" (
      "message_id" varchar(100) collate "C" not null primary key,
      "applied_at" timestamptz not null default now()
    );`);
    this.addSql(
      `create index "ingest_messages_applied_at_index" on "ingest_messages" ("applied_at");`,
    );
  }

  override down(): void | Promise<void> {
    for (const table of [
      "ingest_messages",
      "ingest_stats",
      "subject_event_counts",
      "event_counts",
      "pending_attributions",
      "exposures",
      "event_ids",
      "events",
    ]) {
      this.addSql(`drop table if exists "${table}" cascade;`);
    }
  }
}
