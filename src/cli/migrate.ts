/**
 * `npm run migrate`            apply pending migrations to DATABASE_URL (or
 *                              the embedded PostgreSQL when unset) and exit.
 * `npm run migrate -- create`  write a migration for the entity changes
 *                              (development; needs a database at the previous
 *                              migration) and refresh migrations/index.ts.
 */
import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { migrate } from "../platform/database.js";
import { openOrm } from "../orm.js";
import { cliDatabase } from "./database.js";

async function writeIndex(dir: string): Promise<void> {
  const files = (await readdir(dir)).filter((f) => /^Migration\d+.*\.ts$/.test(f)).sort();
  const names = files.map((f) => f.replace(/\.ts$/, ""));
  const body = [
    "/**",
    " * The migrations Lotty applies at start, in order. `npm run migrate -- create`",
    " * writes a new migration from the entity changes and rewrites this list.",
    " */",
    'import type { MigrationObject } from "@mikro-orm/core";',
    ...names.map((n) => `import { ${n} } from "./${n}.js";`),
    "",
    "export const migrationsList: MigrationObject[] = [",
    ...names.map((n) => `  { name: "${n}", class: ${n} },`),
    "];",
    "",
  ].join("\n");
  await writeFile(path.join(dir, "index.ts"), body);
}

async function main(): Promise<number> {
  const database = await cliDatabase();
  if (database === undefined) return 2;
  const { url, logger } = database;
  const orm = await openOrm(url);
  try {
    if (process.argv[2] === "create") {
      await migrate(orm, url);
      const created = await orm.migrator.create("migrations", false, false, process.argv[3]);
      if (created.fileName === "") logger.info("no changes: no migration written");
      else logger.info({ file: created.fileName }, "migration written");
      await writeIndex(path.resolve("migrations"));
    } else {
      const applied = await migrate(orm, url);
      logger.info({ applied }, applied.length > 0 ? "migrations applied" : "database up to date");
    }
    return 0;
  } finally {
    await orm.close(true);
    await database.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`migrate failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
