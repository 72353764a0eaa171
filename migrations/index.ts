/**
 * The migrations Lotty applies at start, in order. `npm run migrate -- create`
 * writes a new migration from the entity changes and rewrites this list.
 */
import type { MigrationObject } from "@mikro-orm/core";
import { Migration20261122141141_Initial } from "./Migration20261122141141_Initial.js";

export const migrationsList: MigrationObject[] = [
  { name: "Migration20261122141141_Initial", class: Migration20261122141141_Initial },
];
