/** What the benchmarks share: a throw-away database and the NATS address. */
import { randomBytes } from "node:crypto";
import pg from "pg";

export const BENCH_ADMIN_URL =
  process.env.BENCH_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const BENCH_NATS_URL = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";

/** Runs `fn` with the URL of a fresh database that is dropped afterwards. */
export async function withBenchDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const name = `lotty_bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: BENCH_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(BENCH_ADMIN_URL);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}
