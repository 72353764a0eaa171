/**
 * What the command-line tools share: configuration from the environment
 * and the database URL (DATABASE_URL, or the embedded PostgreSQL in
 * `.lotty/` when unset, started here and stopped by `stop`).
 */
import path from "node:path";
import { loadConfig } from "../platform/config.js";
import { createLogger, type Logger } from "../platform/logging.js";
import { startEmbeddedPostgres } from "../platform/embedded-postgres.js";

export interface CliDatabase {
  url: string;
  logger: Logger;
  stop(): Promise<void>;
}

/** The database to work on, or undefined after printing the configuration problems. */
export async function cliDatabase(): Promise<CliDatabase | undefined> {
  const result = loadConfig(process.env);
  if (!result.ok) {
    for (const problem of result.problems) console.error(`config: ${problem}`);
    return undefined;
  }
  const logger = createLogger(result.config.logLevel);
  const embedded =
    result.config.databaseUrl === undefined
      ? await startEmbeddedPostgres(path.resolve(".lotty"), logger)
      : undefined;
  return {
    url: result.config.databaseUrl ?? (embedded as { url: string }).url,
    logger,
    stop: async () => {
      await embedded?.stop();
    },
  };
}
