import { Migration } from "@mikro-orm/migrations";

/**
 * The report rollups (docs/reports.md), written by the event store in the
 * same transaction as the events that change them, and the outcome
 * snapshots of completed experiments. Kept out of the entity snapshot like
 * the event store's tables.
 *
 * - report_subjects: one row per exposed subject and variant: when it was
 *   first exposed (the report's cohort rule) and how many exposure events
 *   it has.
 * - subject_property_sums: per subject, the sum of each number property of
 *   its counted events of a type (SUM metrics and their variance).
 * - minute_property_stats: per minute of occurred_at, the count, sum and
 *   sum of squares of each number property (MEAN metrics, series).
 *
 * Sums are `numeric`: exact, so the order in which events arrive never
 * changes a report, and a rebuild from the raw events gives the same bytes.
 */
export class Migration20261122190000_ReportRollups extends Migration {
  override name = "Migration20261122190000_ReportRollups";

  override up(): void | Promise<void> {
    this.addSql(`create table "report_subjects" (
      "experiment_id" uuid not null,
      "variant_key" varchar(100) collate "C" not null,
      "subject_id" varchar(256) collate "C" not null,
      "first_exposed_at" timestamptz not null,
      "exposures" bigint not null,
      primary key ("experiment_id", "variant_key", "subject_id")
    );`);
    this.addSql(
      `create index "report_subjects_cohort_index" on "report_subjects" ("experiment_id", "first_exposed_at");`,
    );
    this.addSql(`create table "subject_property_sums" (
      "experiment_id" uuid not null,
      "variant_key" varchar(100) collate "C" not null,
      "event_type" varchar(100) collate "C" not null,
      "property" varchar(100) collate "C" not null,
      "subject_id" varchar(256) collate "C" not null,
      "events" bigint not null,
      "total" numeric not null,
      primary key ("experiment_id", "variant_key", "event_type", "property", "subject_id")
    );`);
    this.addSql(`create table "minute_property_stats" (
      "experiment_id" uuid not null,
      "variant_key" varchar(100) collate "C" not null,
      "event_type" varchar(100) collate "C" not null,
      "property" varchar(100) collate "C" not null,
      "minute" timestamptz not null,
      "events" bigint not null,
      "total" numeric not null,
      "total_squares" numeric not null,
      primary key ("experiment_id", "variant_key", "event_type", "property", "minute")
    );`);
    this.addSql(`create table "outcome_reports" (
      "experiment_id" uuid not null primary key,
      "report" jsonb not null,
      "created_at" timestamptz not null default now()
    );`);
  }

  override down(): void | Promise<void> {
    for (const table of [
      "outcome_reports",
      "minute_property_stats",
      "subject_property_sums",
      "report_subjects",
    ]) {
      this.addSql(`drop table if exists "${table}" cascade;`);
    }
  }
}
