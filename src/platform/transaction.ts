/** One PostgreSQL transaction on a client of a pg pool. */
import type pg from "pg";

/**
 * Runs `work` in a transaction on a client of `pool`: commits when it
 * resolves, rolls back when it throws (and rethrows), releases the client.
 * `begin` is the statement that opens it (e.g. with an isolation level).
 *
 * While the client is checked out it has a listener for `error`: pg emits
 * one when the connection drops between two queries, and a checked-out
 * client has no other listener, so the process would crash. The error
 * fails the next query anyway; the client is then discarded, not reused.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  begin = "begin",
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on("error", onError);
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.off("error", onError);
    client.release(broken);
  }
}
