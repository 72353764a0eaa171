/** One PostgreSQL transaction on a client of a pg pool. */
import type pg from "pg";

/**
 * Runs `work` in a transaction on a client of `pool`: commits when it
 * resolves, rolls back when it throws (and rethrows), releases the client.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
