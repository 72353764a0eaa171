import { Migration } from "@mikro-orm/migrations";

export class Migration20261122141141_Initial extends Migration {
  override name = "Migration20261122141141_Initial";

  override up(): void | Promise<void> {
    this.addSql(
      `create table "audit_log" ("id" uuid not null, "at" timestamptz not null, "actor_id" uuid null, "entity_type" varchar(50) not null, "entity_id" varchar(200) not null, "action" varchar(50) not null, "from_status" varchar(50) null, "to_status" varchar(50) null, "version" int null, "comment" text null, "data" jsonb null, primary key ("id"));`,
    );
    this.addSql(
      `create index "audit_log_entity_type_entity_id_at_index" on "audit_log" ("entity_type", "entity_id", "at");`,
    );

    this.addSql(
      `create table "settings" ("key" varchar(100) not null, "value" text not null, "updated_at" timestamptz not null, primary key ("key"));`,
    );

    this.addSql(
      `create table "users" ("id" uuid not null, "email" varchar(254) not null, "display_name" varchar(200) not null, "roles" text[] not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`alter table "users" add constraint "users_email_unique" unique ("email");`);

    this.addSql(
      `create table "review_policies" ("experimenter_id" uuid not null, "approver_ids" text[] not null, "min_approvals" int not null, "updated_at" timestamptz not null, "updated_by" uuid not null, primary key ("experimenter_id"));`,
    );

    this.addSql(
      `create table "api_keys" ("id" uuid not null, "user_id" uuid not null, "name" varchar(100) not null, "key_hash" varchar(64) not null, "prefix" varchar(16) not null, "created_at" timestamptz not null, "revoked_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(`create index "api_keys_user_id_index" on "api_keys" ("user_id");`);
    this.addSql(
      `alter table "api_keys" add constraint "api_keys_key_hash_unique" unique ("key_hash");`,
    );

    this.addSql(
      `alter table "review_policies" add constraint "review_policies_experimenter_id_foreign" foreign key ("experimenter_id") references "users" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "api_keys" add constraint "api_keys_user_id_foreign" foreign key ("user_id") references "users" ("id");`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(
      `alter table "review_policies" drop constraint "review_policies_experimenter_id_foreign";`,
    );
    this.addSql(`alter table "api_keys" drop constraint "api_keys_user_id_foreign";`);

    this.addSql(`drop table if exists "audit_log" cascade;`);
    this.addSql(`drop table if exists "settings" cascade;`);
    this.addSql(`drop table if exists "users" cascade;`);
    this.addSql(`drop table if exists "review_policies" cascade;`);
    this.addSql(`drop table if exists "api_keys" cascade;`);
  }
}
