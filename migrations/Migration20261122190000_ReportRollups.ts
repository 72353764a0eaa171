import { Migration } from "@mikro-orm/migrations";

/**
 * The report rollups (docs/reports.md), written by the event store in the
 * same transaction as the events that change them, and the outcome
 * snapshots of completed experiments. Kept out of the entity snapshot like
 * the event store's tables.
 *
 * - report_subjects: one row per subject and variant with counted events:
 *   when it was first exposed (the report's cohort rule; null until it is),
 *   how many exposure events it has, and the cohort minute its figures are
 *   counted under in cohort_stats. The event store locks a subject's row
 *   while it changes the subject's figures.
 * - cohort_stats: per variant and minute of first exposure, the sums over
 *   those subjects of each per-subject figure: subjects with a non-zero
 *   value, Σx, Σx² and Σx·exposures (event type "" holds the cohort's
 *   subjects and exposures). Reports add these up over the window instead
 *   of reading every subject.
 * - subject_property_sums: per subject, the sum of each number property of
 *   its counted events of a type (SUM metrics and their variance).
 * - minute_property_stats: per minute of occurred_at, the count, sum and
 *   sum of squares of each number property (MEAN metrics, series).
 * - hour_value_histograms: per hour of occurred_at, how many values of each
 *   number property fell in each log-scale bucket of
 *   lotty_value_bucket() (PERCENTILE metrics over large samples).
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
      "first_exposed_at" timestamptz null,
      "exposures" bigint not null,
      "counted_cohort" timestamptz null,
      primary key ("experiment_id", "variant_key", "subject_id")
    );`);
    // The event store reads a subject's counts together: key them by subject.
    this.addSql(`alter table "subject_event_counts" drop constraint "subject_event_counts_pkey";`);
    this.addSql(
      `alter table "subject_event_counts" add primary key ("experiment_id", "variant_key", "subject_id", "event_type");`,
    );
    this.addSql(`create table "cohort_stats" (
      "experiment_id" uuid not null,
      "variant_key" varchar(100) collate "C" not null,
      "cohort_minute" timestamptz not null,
      "event_type" varchar(100) collate "C" not null,
      "property" varchar(100) collate "C" not null,
      "subjects" bigint not null,
      "total" numeric not null,
      "total_squares" numeric not null,
      "total_by_exposures" numeric not null,
      primary key ("experiment_id", "variant_key", "cohort_minute", "event_type", "property")
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
      primary key ("experiment_id", "variant_key", "subject_id", "event_type", "property")
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
    this.addSql(`create table "hour_value_histograms" (
      "experiment_id" uuid not null,
      "variant_key" varchar(100) collate "C" not null,
      "event_type" varchar(100) collate "C" not null,
      "property" varchar(100) collate "C" not null,
      "hour" timestamptz not null,
      "bucket" integer not null,
      "events" bigint not null,
      primary key ("experiment_id", "variant_key", "event_type", "property", "hour", "bucket")
    );`);
    // Log-scale buckets with a relative error of at most 1 %: bucket i holds
    // (γ^(i−1), γ^i] with γ = 1.01/0.99; negative values mirror positive ones,
    // 0 has bucket 0, and the order of buckets is the order of values.
    // Computed in SQL only, so the live rollups and a rebuild agree exactly.
    this.addSql(`create function lotty_value_bucket(x numeric) returns integer
      language sql immutable parallel safe as $$
        select case
          when x > 0 then 100000 + ceil(ln(x::float8) / ln(1.01::float8 / 0.99::float8))::integer
          when x < 0 then -(100000 + ceil(ln((-x)::float8) / ln(1.01::float8 / 0.99::float8))::integer)
          else 0
        end
      $$;`);
    this.addSql(`create table "outcome_reports" (
      "experiment_id" uuid not null primary key,
      "report" jsonb not null,
      "created_at" timestamptz not null default now()
    );`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop function if exists lotty_value_bucket(numeric);`);
    this.addSql(`alter table "subject_event_counts" drop constraint "subject_event_counts_pkey";`);
    this.addSql(
      `alter table "subject_event_counts" add primary key ("experiment_id", "variant_key", "event_type", "subject_id");`,
    );
    for (const table of [
      "outcome_reports",
      "hour_value_histograms",
      "cohort_stats",
      "minute_property_stats",
      "subject_property_sums",
      "report_subjects",
    ]) {
      this.addSql(`drop table if exists "${table}" cascade;`);
    }
  }
}
