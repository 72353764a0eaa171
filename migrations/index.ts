/**
 * The migrations Lotty applies at start, in order. `npm run migrate -- create`
 * writes a new migration from the entity changes and rewrites this list.
 */
import type { MigrationObject } from "@mikro-orm/core";
import { Migration20261122141141_Initial } from "./Migration20261122141141_Initial.js";
import { Migration20261122144258_ManagementPlane } from "./Migration20261122144258_ManagementPlane.js";
import { Migration20261122144300_CatalogSeed } from "./Migration20261122144300_CatalogSeed.js";
import { Migration20261122170000_EventStore } from "./Migration20261122170000_EventStore.js";
import { Migration20261122190000_ReportRollups } from "./Migration20261122190000_ReportRollups.js";
import { Migration20261205090000_GuardrailsNotifications } from "./Migration20261205090000_GuardrailsNotifications.js";
import { Migration20261206120000_DataRights } from "./Migration20261206120000_DataRights.js";
import { Migration20261206130000_Segments } from "./Migration20261206130000_Segments.js";
import { Migration20261207010000_Learnings } from "./Migration20261207010000_Learnings.js";
import { Migration20261207050000_Outbox } from "./Migration20261207050000_Outbox.js";
import { Migration20261207060000_TraceContext } from "./Migration20261207060000_TraceContext.js";
import { Migration20261207103141_Ramp } from "./Migration20261207103141_Ramp.js";
import { Migration20261207130000_DataQuality } from "./Migration20261207130000_DataQuality.js";
import { Migration20261207130000_SavedSegments } from "./Migration20261207130000_SavedSegments.js";
import { Migration20261207140000_EventExports } from "./Migration20261207140000_EventExports.js";
import { Migration20261207150000_MetricDefinitions } from "./Migration20261207150000_MetricDefinitions.js";

export const migrationsList: MigrationObject[] = [
  { name: "Migration20261122141141_Initial", class: Migration20261122141141_Initial },
  {
    name: "Migration20261122144258_ManagementPlane",
    class: Migration20261122144258_ManagementPlane,
  },
  { name: "Migration20261122144300_CatalogSeed", class: Migration20261122144300_CatalogSeed },
  { name: "Migration20261122170000_EventStore", class: Migration20261122170000_EventStore },
  { name: "Migration20261122190000_ReportRollups", class: Migration20261122190000_ReportRollups },
  {
    name: "Migration20261205090000_GuardrailsNotifications",
    class: Migration20261205090000_GuardrailsNotifications,
  },
  { name: "Migration20261206120000_DataRights", class: Migration20261206120000_DataRights },
  { name: "Migration20261206130000_Segments", class: Migration20261206130000_Segments },
  { name: "Migration20261207010000_Learnings", class: Migration20261207010000_Learnings },
  { name: "Migration20261207050000_Outbox", class: Migration20261207050000_Outbox },
  { name: "Migration20261207060000_TraceContext", class: Migration20261207060000_TraceContext },
  { name: "Migration20261207103141_Ramp", class: Migration20261207103141_Ramp },
  { name: "Migration20261207130000_DataQuality", class: Migration20261207130000_DataQuality },
  {
    name: "Migration20261207130000_SavedSegments",
    class: Migration20261207130000_SavedSegments,
  },
  {
    name: "Migration20261207140000_EventExports",
    class: Migration20261207140000_EventExports,
  },
  {
    name: "Migration20261207150000_MetricDefinitions",
    class: Migration20261207150000_MetricDefinitions,
  },
];
