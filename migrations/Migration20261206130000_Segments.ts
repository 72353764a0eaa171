import { Migration } from "@mikro-orm/migrations";

/**
 * Analysis dimensions and the subjects' segments (docs/segments.md). Plain
 * SQL tables kept out of the entity snapshot like the event store's: the
 * catalog's dimension commands and the analytics module read and write
 * them with hand-written statements.
 *
 * - dimensions: the catalog's declared subject attributes, with their cap.
 * - subject_segments: per exposed subject (experiment, variant, subject)
 *   and dimension, the value its first exposure carried (null when none),
 *   and that exposure's time. Written with report_subjects by the event
 *   store, rebuilt from the raw exposures with the other rollups. Values
 *   compare in the "C" collation, so ties resolve the same way live and in
 *   a rebuild whatever the database's default collation.
 */
export class Migration20261206130000_Segments extends Migration {
  override name = "Migration20261206130000_Segments";

  override up(): void | Promise<void> {
    this.addSql(`create table "dimensions" (
      "key" varchar(100) not null primary key,
      "display_name" varchar(200) not null,
      "description" text not null,
      "max_values" integer not null,
      "archived_at" timestamptz null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null
    );`);
    this.addSql(`create table "subject_segments" (
      "experiment_id" uuid not null,
      "variant_key" text not null,
      "subject_id" text not null,
      "dimension" text not null,
      "value" text collate "C" null,
      "exposed_at" timestamptz not null,
      primary key ("experiment_id", "variant_key", "subject_id", "dimension")
    );`);
    this.addSql(
      `create index "subject_segments_value_index" on "subject_segments" ("experiment_id", "dimension", "value");`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "subject_segments";`);
    this.addSql(`drop table if exists "dimensions";`);
  }
}
