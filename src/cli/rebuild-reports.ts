/**
 * `npm run reports:rebuild -- <experiment id>...`  rebuilds the report
 * rollups of the given experiments from their stored events (DATABASE_URL,
 * or the embedded PostgreSQL when unset) and prints the rows written.
 */
import path from "node:path";
import pg from "pg";
import { loadConfig } from "../platform/config.js";
import { createLogger } from "../platform/logging.js";
import { startEmbeddedPostgres } from "../platform/embedded-postgres.js";
import { isUuid } from "../platform/validation.js";
import { rebuildRollups } from "../reports/rebuild.js";

async function main(): Promise<number> {
  const ids = process.argv.slice(2);
  if (ids.length === 0 || ids.some((id) => !isUuid(id))) {
    console.error("usage: npm run reports:rebuild -- <experiment id (UUID)>...");
    return 2;
  }
  const result = loadConfig(process.env);
  if (!result.ok) {
    for (const problem of result.problems) console.error(`config: ${problem}`);
    return 2;
  }
  const logger = createLogger(result.config.logLevel);
  const embedded =
    result.config.databaseUrl === undefined
      ? await startEmbeddedPostgres(path.resolve(".lotty"), logger)
      : undefined;
  const url = result.config.databaseUrl ?? (embedded as { url: string }).url;
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    for (const id of ids) {
      const rebuilt = await rebuildRollups(pool, id);
      process.stdout.write(`${JSON.stringify(rebuilt)}\n`);
    }
    return 0;
  } finally {
    await pool.end();
    await embedded?.stop();
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
