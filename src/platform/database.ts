/**
 * PostgreSQL through MikroORM: one ORM per app, an EntityManager fork per
 * request, migrations applied at start under an advisory lock so replicas
 * starting together migrate once.
 */
import { MikroORM, type Options } from "@mikro-orm/postgresql";
import { Migrator } from "@mikro-orm/migrations";
import pg from "pg";
import { accessEntities } from "../access/entities.js";
import { flagEntities } from "../flags/entities.js";
import { experimentEntities } from "../experiments/entities.js";
import { catalogEntities } from "../catalog/entities.js";
import { AuditEntrySchema } from "./audit.js";
import { SettingSchema } from "./settings.js";
import { migrationsList } from "../../migrations/index.js";

export const entities = [
  ...accessEntities,
  ...flagEntities,
  ...experimentEntities,
  ...catalogEntities,
  AuditEntrySchema,
  SettingSchema,
];

/** Tables written by hand in migrations (event store, rollups, guardrails, notifications), outside the entity model. */
export const EVENT_STORE_TABLES: (string | RegExp)[] = [
  "events",
  /^events_p\d{8}$/,
  "event_ids",
  "exposures",
  "pending_attributions",
  "event_counts",
  "subject_event_counts",
  "ingest_stats",
  "ingest_messages",
  "report_subjects",
  "subject_property_sums",
  "minute_property_stats",
  "hour_value_histograms",
  "cohort_stats",
  "outcome_reports",
  // Migration GuardrailsNotifications.
  "guardrail_triggers",
  "notification_channels",
  "notification_rules",
  "notification_deliveries",
];

/** Arbitrary but fixed key of the advisory lock that serialises migrations. */
export const MIGRATION_LOCK_KEY = 7_402_114_001;

export function ormOptions(clientUrl: string): Options {
  return {
    clientUrl,
    entities,
    extensions: [Migrator],
    migrations: {
      migrationsList,
      path: "migrations",
      pathTs: "migrations",
      snapshotName: ".snapshot-lotty",
      transactional: true,
      allOrNothing: true,
      silent: true,
    },
    // The event store's tables are written by hand (partitioned, plain SQL;
    // src/events/store.ts): schema diffs and snapshots leave them alone.
    schemaGenerator: { skipTables: EVENT_STORE_TABLES },
    pool: { min: 0, max: 10 },
    driverOptions: { connectionTimeoutMillis: 3_000 },
    // The ORM's own logger stays quiet; failures surface as errors we log.
    debug: false,
    allowGlobalContext: false,
  };
}

export async function openOrm(clientUrl: string): Promise<MikroORM> {
  return MikroORM.init(ormOptions(clientUrl));
}

/**
 * Applies pending migrations while holding a session advisory lock on a
 * dedicated connection, so concurrent starts wait for each other.
 */
export async function migrate(orm: MikroORM, clientUrl: string): Promise<string[]> {
  const lockClient = new pg.Client({ connectionString: clientUrl, connectionTimeoutMillis: 3_000 });
  await lockClient.connect();
  try {
    await lockClient.query("select pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    const applied = await orm.migrator.up();
    return applied.map((m) => m.name);
  } finally {
    await lockClient.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => {});
    await lockClient.end().catch(() => {});
  }
}
