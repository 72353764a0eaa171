/**
 * Lotty as a real process: configuration errors stop it before anything
 * starts, SIGTERM lets an in-flight call finish and exits 0, and with no
 * DATABASE_URL it runs its own PostgreSQL and becomes ready.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AccessService, Role } from "../../gen/lotty/access/v1/access_pb.js";
import { spawnLotty } from "../support/process.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { bearer } from "../support/clients.js";
import { TEST_NATS_URL } from "../support/env.js";
import { waitFor } from "../support/app.js";

async function ready(baseUrl: string): Promise<boolean> {
  try {
    return (await fetch(`${baseUrl}/ready`)).status === 200;
  } catch {
    return false;
  }
}

describe("configuration errors", () => {
  it("exits 2 before starting anything, with one line per bad variable", async () => {
    const lotty = spawnLotty({ PORT: "http", LOTTY_ROLES: "all-of-them", NATS_URL: "redis://x" });
    const { code } = await lotty.exited;
    expect(code).toBe(2);
    const lines = lotty.output().trim().split("\n");
    expect(lines.filter((l) => l.startsWith("config: "))).toEqual([
      "config: PORT: must be a whole number from 0 to 65535",
      "config: NATS_URL: must use nats:// or tls:// (got redis)",
      "config: LOTTY_ROLES: must be one of api, workers, all",
    ]);
    expect(lotty.output()).not.toContain("listening");
  });
});

describe("graceful shutdown", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it("finishes an in-flight call after SIGTERM and exits 0", async () => {
    const adminKey = `lotty_${randomBytes(32).toString("base64url")}`;
    const lotty = spawnLotty({
      PORT: "0",
      DATABASE_URL: database.url,
      NATS_URL: TEST_NATS_URL,
      LOTTY_BOOTSTRAP_ADMIN_KEY: adminKey,
      LOG_LEVEL: "info",
    });
    const [, port] = await lotty.waitFor(/Lotty is ready on http:\/\/127\.0\.0\.1:(\d+)/);
    const baseUrl = `http://127.0.0.1:${port}`;
    const access = createClient(
      AccessService,
      createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(adminKey)] }),
    );
    const { user } = await access.createUser({
      email: "slow@example.com",
      displayName: "Slow",
      roles: [Role.VIEWER],
    });
    // Hold the user's row so the next update blocks inside the server.
    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    await blocker.query("begin");
    await blocker.query("select * from users where id = $1 for update", [user!.id]);
    const inFlight = access.updateUser({ id: user!.id, displayName: "Finished" });
    await waitFor(
      async () => {
        const r = await blocker.query(
          "select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()",
        );
        return r.rows[0].n > 0;
      },
      10_000,
      "the update to wait for the row lock",
    );

    lotty.child.kill("SIGTERM");
    await lotty.waitFor(/shutting down/);
    // New connections are refused while the in-flight call is still running.
    await expect(fetch(`${baseUrl}/health`)).rejects.toThrow();
    await blocker.query("commit");
    await blocker.end();

    const result = await inFlight;
    expect(result.user?.displayName).toBe("Finished");
    const { code, signal } = await lotty.exited;
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(lotty.output()).toContain('"msg":"stopped"');
  });
});

describe("embedded defaults", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "lotty-embedded-"));
    // The embedded server runs as the postgres user, which must reach the data dir.
    await chmod(dir, 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("starts its own PostgreSQL under ./.lotty when DATABASE_URL is unset and reaches /ready", async () => {
    const lotty = spawnLotty({ PORT: "0", NATS_URL: TEST_NATS_URL, LOG_LEVEL: "info" }, dir);
    try {
      const [, port] = await lotty.waitFor(
        /Lotty is ready on http:\/\/127\.0\.0\.1:(\d+)/,
        100_000,
      );
      const baseUrl = `http://127.0.0.1:${port}`;
      expect(await ready(baseUrl)).toBe(true);
      expect(lotty.output()).toContain("embedded PostgreSQL started");
      // First start: an admin key is generated and printed once, and works.
      const [, key] = await lotty.waitFor(/\n\s+(lotty_[A-Za-z0-9_-]{43})\n/);
      const access = createClient(
        AccessService,
        createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors: [bearer(key)] }),
      );
      const me = await access.getCurrentUser({});
      expect(me.user?.email).toBe("admin@lotty.local");
      expect(me.user?.roles).toEqual([Role.ADMIN]);
      const pidFile = path.join(dir, ".lotty", "postgres", "postmaster.pid");
      const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
      expect(pid).toBeGreaterThan(0);
    } finally {
      // (the process is stopped whatever happened above)
      lotty.child.kill("SIGTERM");
    }
    const { code } = await lotty.exited;
    expect(code).toBe(0);
    // The embedded server stops with Lotty.
    expect(existsSync(path.join(dir, ".lotty", "postgres", "postmaster.pid"))).toBe(false);
  }, 150_000);
});
