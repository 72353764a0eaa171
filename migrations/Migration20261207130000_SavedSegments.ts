import { Migration } from "@mikro-orm/migrations";

/**
 * Saved segments (docs/saved-segments.md): named audiences defined by a
 * targeting rule. Plain SQL tables kept out of the entity snapshot, like
 * dimensions: the catalog's saved segment commands read and write them with
 * hand-written statements.
 *
 * - saved_segments: the current version of each segment; deleting sets
 *   deleted_at (the key stays taken, the versions stay readable).
 * - saved_segment_versions: every saved version, kept for the experiments
 *   that froze one and for the history.
 */
export class Migration20261207130000_SavedSegments extends Migration {
  override name = "Migration20261207130000_SavedSegments";

  override up(): void | Promise<void> {
    this.addSql(`create table "saved_segments" (
      "key" varchar(100) not null primary key,
      "display_name" varchar(200) not null,
      "description" text not null,
      "rule" text not null,
      "version" integer not null,
      "created_by" uuid not null,
      "deleted_at" timestamptz null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null
    );`);
    this.addSql(`create table "saved_segment_versions" (
      "key" varchar(100) not null references "saved_segments" ("key") on delete cascade,
      "version" integer not null,
      "display_name" varchar(200) not null,
      "description" text not null,
      "rule" text not null,
      "author_id" uuid not null,
      "created_at" timestamptz not null,
      primary key ("key", "version")
    );`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "saved_segment_versions";`);
    this.addSql(`drop table if exists "saved_segments";`);
  }
}
