import { Migration } from "@mikro-orm/migrations";

/**
 * Autopilot ramp (docs/autopilot.md): the ramp's state on the experiment
 * (step, its share of the audience — what decide reads —, mode, the step's
 * clock), the share of each saved version (a step is a new version; the
 * autopilot saves versions without an author), and three hand-written
 * tables: the ramp history, the autopilot's last evaluation per experiment
 * and the one-driver lease.
 */
export class Migration20261207103141_Ramp extends Migration {
  override name = "Migration20261207103141_Ramp";

  override up(): void | Promise<void> {
    this.addSql(
      `alter table "experiments" add "ramp_step" int null, add "ramp_percent" double precision null, add "ramp_mode" varchar(10) null, add "ramp_step_started_at" timestamptz null;`,
    );
    this.addSql(`alter table "experiment_versions" add "ramp_percent" double precision null;`);
    this.addSql(`alter table "experiment_versions" alter column "author_id" drop not null;`);
    this.addSql(
      `create table "ramp_events" (
        "id" uuid not null primary key,
        "experiment_id" uuid not null references "experiments" ("id") on delete cascade,
        "at" timestamptz not null,
        "kind" varchar(20) not null,
        "actor_id" uuid null,
        "from_step" int not null,
        "to_step" int not null,
        "from_percent" double precision not null,
        "to_percent" double precision not null,
        "mode" varchar(10) not null,
        "gates" jsonb not null,
        "reason" text not null,
        "version" int not null,
        "safety_action" varchar(20) null,
        "control" varchar(20) null,
        "signature" text null
      );`,
    );
    this.addSql(
      `create index "ramp_events_experiment_at" on "ramp_events" ("experiment_id", "at", "id");`,
    );
    this.addSql(
      `create table "ramp_evaluations" (
        "experiment_id" uuid not null primary key references "experiments" ("id") on delete cascade,
        "at" timestamptz not null,
        "step" int not null,
        "gates" jsonb not null
      );`,
    );
    this.addSql(
      `create table "ramp_leases" (
        "name" text not null primary key,
        "holder" text not null,
        "expires_at" timestamptz not null
      );`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "ramp_leases";`);
    this.addSql(`drop table if exists "ramp_evaluations";`);
    this.addSql(`drop table if exists "ramp_events";`);
    this.addSql(`alter table "experiment_versions" drop column "ramp_percent";`);
    this.addSql(`alter table "experiment_versions" alter column "author_id" set not null;`);
    this.addSql(
      `alter table "experiments" drop column "ramp_step", drop column "ramp_percent", drop column "ramp_mode", drop column "ramp_step_started_at";`,
    );
  }
}
