/**
 * PostgreSQL through MikroORM: one ORM per app, an EntityManager fork per
 * request, migrations applied at start under an advisory lock so replicas
 * starting together migrate once. The entity registry and the ORM options
 * live at the composition root (src/orm.ts): this file knows no domain.
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";

/** Arbitrary but fixed key of the advisory lock that serialises migrations. */
export const MIGRATION_LOCK_KEY = 7_402_114_001;

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
