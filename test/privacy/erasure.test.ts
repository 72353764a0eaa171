/**
 * Erasure against the real PostgreSQL and NATS: after an erasure, the
 * reports, the rollup rows and the event store's rows equal those of a
 * second database that was sent the same events minus the erased
 * subjects'. Both databases are copies of one configured database (same
 * experiment, keys and decision-id secret), so every id matches.
 *
 * Subjects: E1 (control) exposed with every kind of event, E2 (blue) never
 * exposed (its conversions wait in pending_attributions; its visits count
 * without an exposure) — both erased through EraseSubjects; E3 and E4
 * erased by jobs a stopped process left RUNNING, after and before their
 * deletion step.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { clone } from "@bufbuild/protobuf";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { CatalogService } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { EventService, type Event } from "../../gen/lotty/events/v1/events_pb.js";
import { ErasureStatus } from "../../gen/lotty/privacy/v1/privacy_pb.js";
import { ReportSchema, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import { deleteSubjectRows } from "../../src/events/index.js";
import { rebuildRollups } from "../../src/analytics/index.js";
import { withTransaction } from "../../src/platform/transaction.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { makeUser } from "../support/builders.js";
import { client } from "../support/clients.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { seededRandom } from "../support/random.js";
import {
  event,
  flush,
  plainDecision,
  query,
  storedCount,
  untilEventTypeInSnapshot,
  untilStored,
} from "../events/support.js";
import { reportExperiment, reportFor, subjectsByVariant } from "../reports/support.js";
import {
  auditRows,
  copyDatabase,
  privacyClient,
  rollupRows,
  storeRows,
  untilFinished,
} from "./support.js";

const MIN = 60_000;
const HOUR = 60 * MIN;

interface Sent {
  subject: string;
  event: Event;
  pending: boolean;
}

describe("erasing subjects", () => {
  let dbA: TestDatabase;
  let dbB: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let adminKey: string;
  let serviceKey: string;
  let experimentId: string;
  const sent: Sent[] = [];
  const subject: Record<"E1" | "E2" | "E3" | "E4" | "E5", string> = {
    E1: "",
    E2: "",
    E3: "",
    E4: "",
    E5: "",
  };
  let e5Decision = "";
  const T0 = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR;
  const windows: [number, number][] = [
    [T0, T0 + 150 * MIN],
    [T0, T0 + 60 * MIN],
    [T0 + 30 * MIN, T0 + 150 * MIN],
  ];

  /** An app on a copy of the configured database, with its admin key. */
  const start = async (database: TestDatabase): Promise<TestApp> => ({
    ...(await startTestApp({ database, env: { LOTTY_BOOTSTRAP_ADMIN_KEY: adminKey } })),
    adminKey,
  });
  const of = (...names: (keyof typeof subject)[]) =>
    sent.filter((s) => names.some((n) => subject[n] === s.subject));
  const reports = (t: TestApp) =>
    Promise.all(windows.map(([from, to]) => reportFor(t, experimentId, from, to)));
  const strip = (r: Report) => {
    const copy = clone(ReportSchema, r);
    copy.generatedAt = undefined;
    return copy;
  };
  /** The figures both databases must agree on. */
  async function expectSameFigures(): Promise<void> {
    expect((await reports(a)).map(strip)).toEqual((await reports(b)).map(strip));
    expect(await rollupRows(a, experimentId)).toEqual(await rollupRows(b, experimentId));
    expect(await storeRows(a)).toEqual(await storeRows(b));
  }
  async function send(t: TestApp, events: readonly Event[]): Promise<void> {
    const ingest = client(EventService, t.baseUrl, serviceKey);
    for (let i = 0; i < events.length; i += 50) {
      const answer = await ingest.ingestEvents({ events: events.slice(i, i + 50) });
      expect(answer.rejected).toBe(0);
    }
    await untilStored(
      t,
      events.map((e) => e.eventId),
      60_000,
    );
  }
  async function pendingCount(t: TestApp): Promise<number> {
    const [row] = await query<{ n: string }>(
      t,
      `select count(*)::text as n from pending_attributions`,
    );
    return Number(row!.n);
  }

  beforeAll(async () => {
    // One configured database, copied: A is sent everything, B everything
    // but E1's and E2's events.
    dbA = await createTestDatabase();
    const setup = await startTestApp({ database: dbA });
    adminKey = setup.adminKey;
    const s = await reportExperiment(setup);
    experimentId = s.experimentId;
    const visit = `visit_${experimentId.slice(0, 8)}`;
    await client(CatalogService, setup.baseUrl, adminKey).createEventType({
      eventType: {
        key: visit,
        name: "Visit",
        description: "A page view.",
        requiresExposure: false,
      },
    });
    await untilEventTypeInSnapshot(setup, visit, false);
    serviceKey = (await makeUser(setup, Role.SERVICE)).key;
    const picked = subjectsByVariant(setup, s.flagKey, 6, "er");
    await setup.stop();
    dbB = await copyDatabase(dbA);
    [a, b] = await Promise.all([start(dbA), start(dbB)]);

    const rand = seededRandom(29);
    subject.E1 = picked.control[0]!.subjectId;
    subject.E2 = picked.blue[0]!.subjectId;
    subject.E3 = picked.control[1]!.subjectId;
    subject.E4 = picked.blue[1]!.subjectId;
    subject.E5 = picked.control[2]!.subjectId;
    e5Decision = picked.control[2]!.decisionId;
    for (const { subjectId, decisionId } of [...picked.control, ...picked.blue]) {
      const exposed = subjectId !== subject.E2;
      const add = (type: string, at: number, properties: Record<string, number> = {}) =>
        sent.push({
          subject: subjectId,
          event: event(type, decisionId, { occurredAt: at, properties }),
          pending: !exposed && type !== visit,
        });
      const exposedAt = T0 + Math.floor(rand() * 140) * MIN + Math.floor(rand() * MIN);
      if (exposed) {
        add("exposure", exposedAt);
        if (rand() < 0.5) add("exposure", exposedAt + Math.floor(rand() * 5 * MIN));
      }
      for (let i = 0, n = 1 + Math.floor(rand() * 3); i < n; i++) {
        add("conversion", exposedAt + Math.floor(rand() * 10 * MIN), {
          value: Math.round(rand() * 10_000) / 100,
        });
      }
      add("latency", exposedAt + Math.floor(rand() * 10 * MIN), {
        ms: 50 + Math.floor(rand() * 900),
      });
      if (exposed && rand() < 0.5) add("error", exposedAt + Math.floor(rand() * 10 * MIN));
      add(visit, exposedAt - Math.floor(rand() * 5 * MIN));
    }
    const kept = sent.filter((x) => x.subject !== subject.E1 && x.subject !== subject.E2);
    await Promise.all([
      send(
        a,
        sent.map((x) => x.event),
      ),
      send(
        b,
        kept.map((x) => x.event),
      ),
    ]);
    // Attribution of conversions sent ahead of their exposure has settled.
    const e2Pending = of("E2").filter((x) => x.pending).length;
    await waitFor(async () => (await pendingCount(a)) === e2Pending, 30_000, "A settled");
    await waitFor(async () => (await pendingCount(b)) === 0, 30_000, "B settled");
  }, 180_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all([dbA?.drop(), dbB?.drop()]);
  });

  it("leaves the figures of a database that never stored the subjects' events", async () => {
    // Before: E1's and E2's events make a difference.
    expect((await reports(a)).map(strip)).not.toEqual((await reports(b)).map(strip));
    const privacy = privacyClient(a, adminKey);
    const { erasure } = await privacy.eraseSubjects({
      subjectIds: [subject.E1, subject.E2, subject.E1],
      reason: "ticket DR-1",
    });
    expect(erasure!.status).toBe(ErasureStatus.PENDING);
    expect(erasure!.subjectIds).toEqual([subject.E1, subject.E2]);
    const done = await untilFinished(a, adminKey, erasure!.id);
    expect(done.status).toBe(ErasureStatus.DONE);
    expect(done.error).toBe("");
    expect(done.startedAt).toBeDefined();
    expect(done.finishedAt).toBeDefined();
    expect(done.removed).toMatchObject({
      events: BigInt(of("E1", "E2").length),
      exposures: 1n,
      pendingAttributions: BigInt(of("E2").filter((x) => x.pending).length),
      affectedExperiments: 1,
    });
    expect(done.affectedExperimentIds).toEqual([experimentId]);

    await expectSameFigures();

    // Requested by the admin, completed by the system.
    const audit = await auditRows(a, "erasure", erasure!.id);
    expect(audit.map((r) => [r.action, r.to_status, r.actor_id === null])).toEqual([
      ["requested", "pending", false],
      ["completed", "done", true],
    ]);
    expect(audit[0]!.comment).toBe("ticket DR-1");
    expect(JSON.stringify(audit)).not.toContain(subject.E1);

    const { events, exposures, pendingAttributions } = await privacy.exportSubjectData({
      subjectId: subject.E1,
    });
    expect([events.length, exposures.length, pendingAttributions.length]).toEqual([0, 0, 0]);
  });

  it("finishes jobs a stopped process left RUNNING, before or after their deletion step", async () => {
    // E3 and E4 are in A's figures, in their rollup rows too.
    const subjectsOf = async () =>
      (
        await query<{ subject_id: string }>(
          a,
          `select subject_id from report_subjects where experiment_id = $1`,
          [experimentId],
        )
      ).map((r) => r.subject_id);
    expect(await subjectsOf()).toEqual(expect.arrayContaining([subject.E3, subject.E4]));
    await a.stop();

    // As a crashed worker leaves them: E3's job after its deletion step
    // committed (the rollups still count E3), E4's before it.
    const pool = new pg.Pool({ connectionString: dbA.url, max: 1 });
    const job3 = randomUUID();
    const job4 = randomUUID();
    let removed3: Awaited<ReturnType<typeof deleteSubjectRows>>;
    try {
      removed3 = await withTransaction(pool, async (c) => {
        const removed = await deleteSubjectRows(c, [subject.E3]);
        await c.query(
          `insert into erasures (id, status, subject_ids, reason, created_at, started_at, attempts,
             lease_until, deleted_at, events, exposures, pending_attributions, affected_experiment_ids)
           values ($1, 'running', $2, 'crashed after deleting', now(), now(), 1,
             now() - interval '1 second', now(), $3, $4, $5, $6::uuid[])`,
          [
            job3,
            [subject.E3],
            removed.events,
            removed.exposures,
            removed.pendingAttributions,
            removed.experimentIds,
          ],
        );
        return removed;
      });
      await pool.query(
        `insert into erasures (id, status, subject_ids, reason, created_at, started_at, attempts,
           lease_until)
         values ($1, 'running', $2, 'crashed before deleting', now(), now(), 1, null)`,
        [job4, [subject.E4]],
      );
    } finally {
      await pool.end();
    }
    expect(removed3.events).toBe(of("E3").length);

    a = await start(dbA);
    const [done3, done4] = await Promise.all([
      untilFinished(a, adminKey, job3),
      untilFinished(a, adminKey, job4),
    ]);
    expect([done3.status, done4.status]).toEqual([ErasureStatus.DONE, ErasureStatus.DONE]);
    // The counts recorded by the interrupted deletion are kept.
    expect(done3.removed?.events).toBe(BigInt(of("E3").length));
    expect(done4.removed?.events).toBe(BigInt(of("E4").length));
    expect(await subjectsOf()).not.toEqual(expect.arrayContaining([subject.E3]));

    // B erases the same subjects the ordinary way; the end states agree.
    const privacyB = privacyClient(b, adminKey);
    for (const [name, job] of [
      ["E3", done3],
      ["E4", done4],
    ] as const) {
      const { erasure } = await privacyB.eraseSubjects({
        subjectIds: [subject[name]],
        reason: "same",
      });
      const done = await untilFinished(b, adminKey, erasure!.id);
      expect(done.removed).toEqual(job.removed);
    }
    await expectSameFigures();
  });

  it("keeps the erased event ids: a client's retry does not store an erased event again", async () => {
    const retry = of("E1")[0]!.event;
    const marker = await plainDecision(a);
    const ingest = client(EventService, a.baseUrl, serviceKey);
    const answer = await ingest.ingestEvents({ events: [retry] });
    expect(answer.accepted + answer.duplicates).toBe(1);
    await flush(a, ingest, marker.decisionId);
    expect(await storedCount(a, [retry.eventId])).toBe(0);
  });

  it("counts events a subject sends while its erasure runs once, or erases them", async () => {
    // Whatever the interleaving: the figures equal a rebuild from the rows
    // kept, the data-health counts equal the events kept, none of the
    // subject's earlier events is left, and a kept exposure has its row.
    const ingest = client(EventService, a.baseUrl, serviceKey);
    const late = Array.from({ length: 6 }, (_, i) => [
      event("exposure", e5Decision, { occurredAt: T0 + (100 + i) * MIN }),
      event("conversion", e5Decision, {
        occurredAt: T0 + (101 + i) * MIN,
        properties: { value: 1 + i },
      }),
      event("latency", e5Decision, { occurredAt: T0 + (102 + i) * MIN, properties: { ms: 100 } }),
    ]);
    const privacy = privacyClient(a, adminKey);
    const [{ erasure }] = await Promise.all([
      privacy.eraseSubjects({ subjectIds: [subject.E5], reason: "while sending" }),
      ...late.map((events) => ingest.ingestEvents({ events })),
    ]);
    const done = await untilFinished(a, adminKey, erasure!.id);
    expect(done.status).toBe(ErasureStatus.DONE);
    const marker = await plainDecision(a);
    await flush(a, ingest, marker.decisionId);
    await waitFor(async () => (await pendingCount(a)) === 0, 20_000, "nothing pending");

    const lateIds = new Set(late.flat().map((e) => e.eventId));
    const kept = await query<{ event_id: string; event_type: string }>(
      a,
      `select event_id, event_type from events where subject_id = $1`,
      [subject.E5],
    );
    expect(kept.filter((r) => !lateIds.has(r.event_id))).toEqual([]);
    const exposureRows = await query(a, `select 1 from exposures where decision_id = $1`, [
      e5Decision,
    ]);
    expect(exposureRows.length).toBe(kept.some((r) => r.event_type === "exposure") ? 1 : 0);
    const [stats] = await query<{ stored: string; events: string }>(
      a,
      `select (select sum(events) from ingest_stats
               where experiment_id = $1 and result = 'stored')::text as stored,
              (select count(*) from events where experiment_id = $1::uuid)::text as events`,
      [experimentId],
    );
    expect(stats!.stored).toBe(stats!.events);
    const live = await rollupRows(a, experimentId);
    await rebuildRollups(a.app.eventStore!.pool, experimentId);
    expect(await rollupRows(a, experimentId)).toEqual(live);
  });
});
