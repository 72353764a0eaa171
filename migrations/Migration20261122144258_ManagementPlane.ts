import { Migration } from "@mikro-orm/migrations";

export class Migration20261122144258_ManagementPlane extends Migration {
  override name = "Migration20261122144258_ManagementPlane";

  override up(): void | Promise<void> {
    this.addSql(
      `create table "event_types" ("key" varchar(100) not null, "name" varchar(200) not null, "description" text not null, "properties" jsonb not null, "requires_exposure" boolean not null, "builtin" boolean not null default false, "archived_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("key"));`,
    );

    this.addSql(
      `create table "flags" ("key" varchar(100) not null, "type" varchar(10) not null, "default_value" jsonb not null, "description" text not null, "tags" text[] not null, "created_by" uuid not null, "archived_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("key"));`,
    );
    this.addSql(`create index "flags_tags_index" on "flags" using gin ("tags");`);

    this.addSql(
      `create table "experiments" ("id" uuid not null, "flag_key" varchar(100) not null, "owner_id" uuid not null, "status" varchar(20) not null, "version" int not null, "config" jsonb not null, "rolled_back" boolean not null default false, "outcome" varchar(20) null, "winner_variant_key" varchar(100) null, "justification" text null, "started_at" timestamptz null, "completed_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`create index "experiments_owner_id_index" on "experiments" ("owner_id");`);
    this.addSql(
      `create index "experiments_flag_key_status_index" on "experiments" ("flag_key", "status");`,
    );
    this.addSql(
      `create index "experiments_status_created_at_index" on "experiments" ("status", "created_at");`,
    );
    this.addSql(
      `create unique index "experiments_one_active_per_flag" on "experiments" ("flag_key") where "status" in ('running', 'paused');`,
    );

    this.addSql(
      `create table "experiment_versions" ("experiment_id" uuid not null, "version" int not null, "config" jsonb not null, "author_id" uuid not null, "created_at" timestamptz not null, primary key ("experiment_id", "version"));`,
    );

    this.addSql(
      `create table "experiment_approvals" ("experiment_id" uuid not null, "approver_id" uuid not null, "version" int not null, "comment" text not null, "approved_at" timestamptz not null, primary key ("experiment_id", "approver_id"));`,
    );

    this.addSql(
      `create table "metrics" ("key" varchar(100) not null, "name" varchar(200) not null, "description" text not null, "kind" varchar(20) not null, "event_type_key" varchar(100) null, "property" varchar(100) null, "percentile" double precision null, "numerator_key" varchar(100) null, "denominator_key" varchar(100) null, "requires_exposure" boolean not null, "builtin" boolean not null default false, "archived_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("key"));`,
    );

    this.addSql(
      `alter table "experiments" add constraint "experiments_flag_key_foreign" foreign key ("flag_key") references "flags" ("key");`,
    );

    this.addSql(
      `alter table "experiment_versions" add constraint "experiment_versions_experiment_id_foreign" foreign key ("experiment_id") references "experiments" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "experiment_approvals" add constraint "experiment_approvals_experiment_id_foreign" foreign key ("experiment_id") references "experiments" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "metrics" add constraint "metrics_event_type_key_foreign" foreign key ("event_type_key") references "event_types" ("key") on delete set null;`,
    );
    this.addSql(
      `alter table "metrics" add constraint "metrics_numerator_key_foreign" foreign key ("numerator_key") references "metrics" ("key") on delete set null;`,
    );
    this.addSql(
      `alter table "metrics" add constraint "metrics_denominator_key_foreign" foreign key ("denominator_key") references "metrics" ("key") on delete set null;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "metrics" drop constraint "metrics_event_type_key_foreign";`);
    this.addSql(`alter table "experiments" drop constraint "experiments_flag_key_foreign";`);
    this.addSql(
      `alter table "experiment_versions" drop constraint "experiment_versions_experiment_id_foreign";`,
    );
    this.addSql(
      `alter table "experiment_approvals" drop constraint "experiment_approvals_experiment_id_foreign";`,
    );
    this.addSql(`alter table "metrics" drop constraint "metrics_numerator_key_foreign";`);
    this.addSql(`alter table "metrics" drop constraint "metrics_denominator_key_foreign";`);

    this.addSql(`drop table if exists "event_types" cascade;`);
    this.addSql(`drop table if exists "flags" cascade;`);
    this.addSql(`drop table if exists "experiments" cascade;`);
    this.addSql(`drop table if exists "experiment_versions" cascade;`);
    this.addSql(`drop table if exists "experiment_approvals" cascade;`);
    this.addSql(`drop table if exists "metrics" cascade;`);
  }
}
