/**
 * Small helpers the event store's writers share: string order (rows are
 * always written and locked in key order, so concurrent transactions take
 * row locks in one order), UTC days, keys returned by a statement, and the
 * shapes in which summed values travel to SQL.
 */
import type pg from "pg";

export const DAY_MS = 86_400_000;

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function startOfDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** The `key` column of the rows a statement returns (insert … returning, select). */
export async function insertReturning(
  client: pg.PoolClient,
  sql: string,
  params: unknown[],
): Promise<Set<string>> {
  const { rows } = await client.query<{ key: string }>(sql, params);
  return new Set(rows.map((r) => r.key));
}

/**
 * Each row's value list flattened, with its 1-based row number alongside:
 * the values travel as text and are summed in SQL as numeric, exactly.
 */
export function flattenValues(rows: readonly { values: readonly string[] }[]) {
  const owner: number[] = [];
  const values: string[] = [];
  rows.forEach((r, i) => {
    for (const v of r.values) {
      owner.push(i + 1);
      values.push(v);
    }
  });
  return { owner, values };
}

/** The map's values in the order of their keys. */
export function sortedValues<T>(map: Map<string, T>): T[] {
  return [...map.entries()].sort(([a], [b]) => compare(a, b)).map(([, v]) => v);
}
