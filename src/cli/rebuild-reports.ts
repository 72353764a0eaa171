/**
 * `npm run reports:rebuild -- <experiment id>...`  rebuilds the report
 * rollups of the given experiments from their stored events (DATABASE_URL,
 * or the embedded PostgreSQL when unset) and prints the rows written.
 */
import pg from "pg";
import { cliDatabase } from "./database.js";
import { isUuid } from "../platform/validation.js";
import { rebuildRollups } from "../analytics/index.js";

async function main(): Promise<number> {
  const ids = process.argv.slice(2);
  if (ids.length === 0 || ids.some((id) => !isUuid(id))) {
    console.error("usage: npm run reports:rebuild -- <experiment id (UUID)>...");
    return 2;
  }
  const database = await cliDatabase();
  if (database === undefined) return 2;
  const { url } = database;
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    for (const id of ids) {
      const rebuilt = await rebuildRollups(pool, id);
      process.stdout.write(`${JSON.stringify(rebuilt)}\n`);
    }
    return 0;
  } finally {
    await pool.end();
    await database.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(
      `reports:rebuild failed: ${error instanceof Error ? error.message : String(error)}`,
    );
    process.exit(1);
  },
);
