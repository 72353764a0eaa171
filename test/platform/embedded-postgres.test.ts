/** The embedded PostgreSQL's guard for data directories its user cannot reach. */
import { describe, expect, it } from "@jest/globals";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startEmbeddedPostgres } from "../../src/platform/embedded-postgres.js";
import { createLogger } from "../../src/platform/logging.js";

const asRoot = typeof process.getuid === "function" && process.getuid() === 0;

describe("embedded PostgreSQL data directory", () => {
  // Only root hands the server to another user; otherwise there is nothing to guard.
  (asRoot ? it : it.skip)(
    "refuses, with a way out, a directory the postgres user cannot enter",
    async () => {
      const closed = await mkdtemp(path.join(os.tmpdir(), "lotty-closed-"));
      await chmod(closed, 0o700);
      const dataDir = path.join(closed, "project", ".lotty");
      await mkdir(path.dirname(dataDir), { recursive: true });
      try {
        await expect(startEmbeddedPostgres(dataDir, createLogger("silent"))).rejects.toThrow(
          `the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${closed}; ` +
            `run Lotty from a directory others can reach (or chmod o+x ${closed}), or set DATABASE_URL`,
        );
        expect(existsSync(path.join(dataDir, "postgres", "PG_VERSION"))).toBe(false);
      } finally {
        await rm(closed, { recursive: true, force: true });
      }
    },
  );
});
