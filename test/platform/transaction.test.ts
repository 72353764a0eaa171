/**
 * withTransaction when the connection drops between two queries of a
 * transaction (a PostgreSQL restart, a network cut): the transaction fails
 * with the connection error instead of the process crashing on an
 * unhandled `error` event, and the broken client is not handed out again.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import pg from "pg";
import { withTransaction } from "../../src/platform/transaction.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";

describe("withTransaction", () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let admin: pg.Pool;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 1 });
    pool.on("error", () => {});
    admin = new pg.Pool({ connectionString: database.url, max: 1 });
  });
  afterAll(async () => {
    await pool.end();
    await admin.end();
    await database.drop();
  });

  it("fails, without crashing, when the connection drops between queries", async () => {
    const work = withTransaction(pool, async (client) => {
      const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
      // Waiting for the connection to end, not a fixed time: under load the
      // terminated backend took longer than 300 ms to go, and `select 1` ran.
      const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
      await admin.query("select pg_terminate_backend($1)", [rows[0]!.pid]);
      // The connection is gone while no query runs: pg emits `error` on the client.
      await ended;
      await client.query("select 1");
    });
    await expect(work).rejects.toThrow();
    // The pool's only client was discarded: the next transaction gets a new one.
    await expect(withTransaction(pool, (c) => c.query("select 1 as one"))).resolves.toMatchObject({
      rows: [{ one: 1 }],
    });
  });
});
