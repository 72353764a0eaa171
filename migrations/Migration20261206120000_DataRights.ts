import { Migration } from "@mikro-orm/migrations";

/**
 * Erasure jobs (docs/data-rights.md). A plain SQL table kept out of the
 * entity snapshot like the event store's: the privacy worker claims jobs
 * with `for update skip locked` and a lease, which the entity model does
 * not express.
 *
 * - erasures: one row per EraseSubjects call. `status` is pending,
 *   running, done or failed. `deleted_at` is set in the transaction that
 *   deleted the subjects' rows (with the counts and the affected
 *   experiments), so a job taken up again after a crash does not delete a
 *   second time and keeps its counts; `rebuilt_experiment_ids` records the
 *   experiments whose figures have been rebuilt since. `lease_until` is
 *   how long the worker that runs it owns it; a RUNNING job whose lease
 *   has passed was left by a stopped process and is taken up again.
 */
export class Migration20261206120000_DataRights extends Migration {
  override name = "Migration20261206120000_DataRights";

  override up(): void | Promise<void> {
    this.addSql(`create table "erasures" (
      "id" uuid not null primary key,
      "status" varchar(20) not null,
      "subject_ids" text[] not null,
      "reason" text not null,
      "requested_by" uuid null,
      "created_at" timestamptz not null,
      "started_at" timestamptz null,
      "finished_at" timestamptz null,
      "error" text not null default '',
      "attempts" integer not null default 0,
      "lease_until" timestamptz null,
      "deleted_at" timestamptz null,
      "events" bigint not null default 0,
      "exposures" bigint not null default 0,
      "pending_attributions" bigint not null default 0,
      "affected_experiment_ids" uuid[] not null default '{}',
      "rebuilt_experiment_ids" uuid[] not null default '{}'
    );`);
    this.addSql(
      `create index "erasures_listing_index" on "erasures" ("created_at" desc, "id" desc);`,
    );
    this.addSql(
      `create index "erasures_open_index" on "erasures" ("created_at") where "status" in ('pending', 'running');`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "erasures" cascade;`);
  }
}
