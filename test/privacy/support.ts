/** Helpers for data-rights tests: the privacy client, waiting for a job, comparable table rows. */
import { randomBytes } from "node:crypto";
import pg from "pg";
import {
  ErasureStatus,
  PrivacyService,
  type Erasure,
} from "../../gen/lotty/privacy/v1/privacy_pb.js";
import { ROLLUP_TABLES } from "../../src/analytics/index.js";
import { client } from "../support/clients.js";
import { waitFor, type TestApp } from "../support/app.js";
import type { TestDatabase } from "../support/database.js";
import { TEST_PG_ADMIN_URL } from "../support/env.js";
import { query } from "../events/support.js";

export function privacyClient(t: { baseUrl: string }, key: string) {
  return client(PrivacyService, t.baseUrl, key);
}

/** Polls GetErasure until the job is DONE or FAILED; returns it. */
export async function untilFinished(
  t: { baseUrl: string },
  key: string,
  id: string,
  timeoutMs = 60_000,
): Promise<Erasure> {
  const privacy = privacyClient(t, key);
  let last: Erasure | undefined;
  await waitFor(
    async () => {
      last = (await privacy.getErasure({ id })).erasure;
      return last?.status === ErasureStatus.DONE || last?.status === ErasureStatus.FAILED;
    },
    timeoutMs,
    `erasure ${id} finished`,
  );
  return last!;
}

/**
 * A copy of `source` (which nobody may be connected to), dropped like a
 * test database: the same configuration, keys and server secret, so the
 * same decision ids verify in both.
 */
export async function copyDatabase(source: TestDatabase): Promise<TestDatabase> {
  const name = `lotty_test_${randomBytes(6).toString("hex")}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`create database ${name} template ${source.name}`);
  const url = new URL(TEST_PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => admin(`drop database if exists ${name} with (force)`),
  };
}

/** One row as comparable text: numeric text normalised (the same number may carry another scale). */
function rowText(row: Record<string, unknown>): string {
  return JSON.stringify(row, (_key, value: unknown) =>
    typeof value === "string" && /^-?\d+\.\d+$/.test(value) ? String(Number(value)) : value,
  );
}

/**
 * Every rollup row of an experiment, per table, sorted. A cohort row every
 * subject has left holds zeros and a rebuild writes none: such rows are left
 * out (as in test/analytics/recompute.test.ts).
 */
export async function rollupRows(
  t: TestApp,
  experimentId: string,
): Promise<Record<string, string[]>> {
  const tables: Record<string, string[]> = {};
  for (const table of ROLLUP_TABLES) {
    const rows = await query(t, `select * from ${table} where experiment_id = $1`, [experimentId]);
    tables[table] = rows
      .filter(
        (r) =>
          table !== "cohort_stats" ||
          ["subjects", "total", "total_squares", "total_by_exposures"].some(
            (c) => Number(r[c]) !== 0,
          ),
      )
      .map(rowText)
      .sort();
  }
  return tables;
}

/**
 * What the event store holds, minus what differs by nature between two
 * databases sent the same events (the time each received them): event ids
 * with their other columns, exposures, pending attributions, ingest_stats.
 */
export async function storeRows(t: TestApp): Promise<Record<string, string[]>> {
  const read = async (sql: string) => (await query(t, sql)).map(rowText).sort();
  return {
    events: await read(
      `select event_id, event_type, decision_id, experiment_id, variant_key, subject_id,
              occurred_at, properties, counted from events`,
    ),
    exposures: await read(`select * from exposures`),
    pending: await read(`select * from pending_attributions`),
    ingestStats: await read(`select * from ingest_stats`),
  };
}

/** The audit rows of one entity, oldest first. */
export async function auditRows(t: TestApp, entityType: string, entityId: string) {
  return query<{
    actor_id: string | null;
    action: string;
    from_status: string | null;
    to_status: string | null;
    comment: string | null;
    data: Record<string, unknown> | null;
  }>(
    t,
    `select actor_id, action, from_status, to_status, comment, data from audit_log
     where entity_type = $1 and entity_id = $2 order by at, id`,
    [entityType, entityId],
  );
}
