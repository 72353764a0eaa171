import { Migration } from "@mikro-orm/migrations";

/**
 * Raw event exports (docs/event-export.md). Plain SQL tables kept out of
 * the entity snapshot like `erasures`: the export worker claims jobs with
 * `for update skip locked` and a lease.
 *
 * - event_exports: one row per StartEventExport call. `status` is queued,
 *   running, done, failed or expired; `lease_until` is how long the worker
 *   writing the file owns it (a RUNNING job whose lease has passed was
 *   left by a stopped process and is written again from the start);
 *   `file_name` is the file's name in the export directory, set when the
 *   job is DONE; `expires_at` is when the file is deleted.
 * - event_export_links: one row per CreateEventExportLink call, keyed by
 *   the link's random nonce; `used_at` is set when a download starts, so a
 *   link serves one download (it is cleared again when that download
 *   breaks off).
 */
export class Migration20261207140000_EventExports extends Migration {
  override name = "Migration20261207140000_EventExports";

  override up(): void | Promise<void> {
    this.addSql(`create table "event_exports" (
      "id" uuid not null primary key,
      "experiment_id" uuid not null,
      "window_from" timestamptz not null,
      "window_to" timestamptz not null,
      "format" varchar(20) not null,
      "status" varchar(20) not null,
      "created_by" uuid null,
      "created_at" timestamptz not null,
      "started_at" timestamptz null,
      "finished_at" timestamptz null,
      "expires_at" timestamptz null,
      "rows" bigint not null default 0,
      "bytes" bigint not null default 0,
      "error" text not null default '',
      "attempts" integer not null default 0,
      "lease_until" timestamptz null,
      "file_name" text null
    );`);
    this.addSql(
      `create index "event_exports_listing_index" on "event_exports" ("experiment_id", "created_at" desc, "id" desc);`,
    );
    this.addSql(
      `create index "event_exports_open_index" on "event_exports" ("created_at") where "status" in ('queued', 'running');`,
    );
    this.addSql(
      `create index "event_exports_expiry_index" on "event_exports" ("expires_at") where "status" = 'done';`,
    );
    this.addSql(`create table "event_export_links" (
      "nonce" varchar(64) collate "C" not null primary key,
      "export_id" uuid not null references "event_exports" ("id") on delete cascade,
      "created_by" uuid null,
      "created_at" timestamptz not null,
      "expires_at" timestamptz not null,
      "used_at" timestamptz null
    );`);
    this.addSql(
      `create index "event_export_links_export_index" on "event_export_links" ("export_id");`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "event_export_links" cascade;`);
    this.addSql(`drop table if exists "event_exports" cascade;`);
  }
}
