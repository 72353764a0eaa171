import { Migration } from "@mikro-orm/migrations";

/**
 * The learnings library (docs/learnings.md). Plain SQL tables kept out of
 * the entity snapshot like the event store's: search needs a `tsvector`
 * kept by a trigger, array columns with GIN indexes and set-based scoring
 * that the entity model does not express.
 *
 * - learnings: one row per completed experiment, recorded in the
 *   transaction that completed it (or by the backfill at start for
 *   experiments completed before this table existed). `search` is
 *   maintained by the trigger below from the searchable text;
 *   `targeting_terms` holds the targeting rule's attributes (`country`)
 *   and attribute–value pairs (`country=de`) for "find similar";
 *   `metric_set` the primary, secondary and guardrail metric keys.
 * - learning_edits: every version of a learning: who, when and which
 *   fields changed (before and after, JSON).
 */
export class Migration20261207010000_Learnings extends Migration {
  override name = "Migration20261207010000_Learnings";

  override up(): void | Promise<void> {
    this.addSql(`create table "learnings" (
      "experiment_id" uuid not null primary key references "experiments" ("id") on delete cascade,
      "experiment_name" text not null,
      "flag_key" text not null,
      "owner_id" uuid not null,
      "hypothesis" text not null default '',
      "primary_metric_key" text not null default '',
      "metric_keys" text[] not null default '{}',
      "metric_set" text[] not null default '{}',
      "guardrails" jsonb not null default '[]',
      "fired_guardrail_metric_keys" text[] not null default '{}',
      "outcome" varchar(20) not null,
      "winner_variant_key" text not null default '',
      "justification" text not null default '',
      "result" text not null default '',
      "action" text not null default '',
      "tags" text[] not null default '{}',
      "targeting_rule" text not null default '',
      "targeting_summary" text not null default '',
      "targeting_terms" text[] not null default '{}',
      "platforms" text[] not null default '{}',
      "countries" text[] not null default '{}',
      "versions" text[] not null default '{}',
      "links" jsonb not null default '[]',
      "notes" text not null default '',
      "audience_percent" double precision not null,
      "variant_keys" text[] not null,
      "variant_weights" double precision[] not null,
      "primary_effect" jsonb null,
      "planned_days" integer not null default 0,
      "started_at" timestamptz null,
      "completed_at" timestamptz not null,
      "version" integer not null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null,
      "updated_by" uuid null,
      "search" tsvector not null default ''::tsvector
    );`);
    // The searchable text, weighted: name and tags (A), hypothesis and
    // result (B), notes, action and justification (C), metric keys (D).
    this.addSql(`create function "learnings_search_vector"() returns trigger language plpgsql as $$
      begin
        new.search :=
          setweight(to_tsvector('english', new.experiment_name), 'A') ||
          setweight(to_tsvector('simple', array_to_string(new.tags, ' ')), 'A') ||
          setweight(to_tsvector('english', array_to_string(new.tags, ' ')), 'A') ||
          setweight(to_tsvector('english', new.hypothesis), 'B') ||
          setweight(to_tsvector('english', new.result), 'B') ||
          setweight(to_tsvector('english', new.notes), 'C') ||
          setweight(to_tsvector('english', new.action), 'C') ||
          setweight(to_tsvector('english', new.justification), 'C') ||
          setweight(to_tsvector('simple', new.flag_key || ' ' || array_to_string(new.metric_set, ' ')), 'D');
        return new;
      end
    $$;`);
    this.addSql(`create trigger "learnings_search" before insert or update on "learnings"
      for each row execute function "learnings_search_vector"();`);
    this.addSql(`create index "learnings_search_index" on "learnings" using gin ("search");`);
    this.addSql(`create index "learnings_tags_index" on "learnings" using gin ("tags");`);
    this.addSql(
      `create index "learnings_metric_set_index" on "learnings" using gin ("metric_set");`,
    );
    this.addSql(
      `create index "learnings_targeting_terms_index" on "learnings" using gin ("targeting_terms");`,
    );
    this.addSql(
      `create index "learnings_recent_index" on "learnings" ("completed_at" desc, "experiment_id");`,
    );
    this.addSql(`create index "learnings_flag_index" on "learnings" ("flag_key");`);
    this.addSql(`create index "learnings_owner_index" on "learnings" ("owner_id");`);
    this.addSql(`create table "learning_edits" (
      "experiment_id" uuid not null references "learnings" ("experiment_id") on delete cascade,
      "version" integer not null,
      "editor_id" uuid null,
      "edited_at" timestamptz not null,
      "changes" jsonb not null default '[]',
      primary key ("experiment_id", "version")
    );`);
    this.addSql(
      `alter table "review_policies" add column "require_learning_to_archive" boolean not null default false;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(
      `alter table "review_policies" drop column if exists "require_learning_to_archive";`,
    );
    this.addSql(`drop table if exists "learning_edits" cascade;`);
    this.addSql(`drop table if exists "learnings" cascade;`);
    this.addSql(`drop function if exists "learnings_search_vector"();`);
  }
}
