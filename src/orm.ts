/**
 * The ORM's entity registry and options, assembled at the composition root:
 * the platform's database plumbing (src/platform/database.ts) knows no
 * domain, so the domain entities and the migrations list are gathered here.
 */
import { MikroORM, type Options } from "@mikro-orm/postgresql";
import { Migrator } from "@mikro-orm/migrations";
import { accessEntities } from "./access/entities.js";
import { flagEntities } from "./flags/entities.js";
import { experimentEntities } from "./experiments/entities.js";
import { catalogEntities } from "./catalog/entities.js";
import { AuditEntrySchema } from "./platform/audit.js";
import { SettingSchema } from "./platform/settings.js";
import { migrationsList } from "../migrations/index.js";

export const entities = [
  ...accessEntities,
  ...flagEntities,
  ...experimentEntities,
  ...catalogEntities,
  AuditEntrySchema,
  SettingSchema,
];

/** Tables written by hand in migrations (event store, rollups, guardrails, notifications, the outbox), outside the entity model. */
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
  // Migration DataRights.
  "erasures",
  // Migration Segments.
  "dimensions",
  "subject_segments",
  // Migration Learnings.
  "learnings",
  "learning_edits",
  // Migration Outbox.
  "outbox",
  // Migration Ramp.
  "ramp_events",
  "ramp_evaluations",
  "ramp_leases",
  // Migration DataQuality.
  "data_quality_alarms",
  "data_quality_counted_hours",
  "data_quality_hour_counts",
  "data_quality_marks",
  "data_quality_srm",
  "notification_digests",
  // Migration SavedSegments.
  "saved_segments",
  "saved_segment_versions",
  // Migration EventExports.
  "event_exports",
  "event_export_links",
];

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
