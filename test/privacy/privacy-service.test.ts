/**
 * PrivacyService over the real server: admins only, input checks naming the
 * field, an erasure of a subject Lotty never saw, the listing, and the
 * export of what Lotty holds about a subject (audited).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { ErasureStatus } from "../../gen/lotty/privacy/v1/privacy_pb.js";
import { subjectAuditId } from "../../src/privacy/service.js";
import { subjectRows } from "../../src/events/index.js";
import {
  deleteStreams,
  startTestApp,
  testBusPrefix,
  waitFor,
  type TestApp,
} from "../support/app.js";
import { createTestDatabase } from "../support/database.js";
import { makeUser, runningExperiment } from "../support/builders.js";
import { errorOf } from "../experiments/support.js";
import { decisionFor, event, eventClient, query, untilStored } from "../events/support.js";
import { auditRows, privacyClient, untilFinished } from "./support.js";

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(async () => {
  await t?.stop();
});

describe("who may call PrivacyService", () => {
  it.each(
    [Role.EXPERIMENTER, Role.APPROVER, Role.VIEWER, Role.SERVICE].map((r) => [Role[r], r] as const),
  )("denies ROLE_%s every RPC", async (_name, role) => {
    const { key } = await makeUser(t, role);
    const privacy = privacyClient(t, key);
    const calls = [
      privacy.eraseSubjects({ subjectIds: ["s-1"], reason: "r" }),
      privacy.getErasure({ id: "00000000-0000-4000-8000-000000000000" }),
      privacy.listErasures({}),
      privacy.exportSubjectData({ subjectId: "s-1" }),
    ];
    const codes = await Promise.all(calls.map(async (c) => Code[(await errorOf(c)).code]));
    expect(codes).toEqual(Array(4).fill("PermissionDenied"));
  });
});

describe("EraseSubjects input", () => {
  const cases: [string, string[], string, string][] = [
    ["no subject ids", [], "why", "subject_ids"],
    ["more than 1,000", Array.from({ length: 1001 }, (_, i) => `s-${i}`), "why", "subject_ids"],
    ["an empty subject id", ["s-1", ""], "why", "subject_ids[1]"],
    ["a subject id over 256 characters", ["x".repeat(257)], "why", "subject_ids[0]"],
    ["a control character", ["s\u0001"], "why", "subject_ids[0]"],
    ["no reason", ["s-1"], "  ", "reason"],
    ["a reason over 500 characters", ["s-1"], "r".repeat(501), "reason"],
  ];
  it.each(cases)("rejects %s, naming the field", async (_what, subjectIds, reason, field) => {
    const e = await errorOf(privacyClient(t, t.adminKey).eraseSubjects({ subjectIds, reason }));
    expect([Code[e.code], e.rawMessage.split(": ")[0]]).toEqual(["InvalidArgument", field]);
  });

  it("accepts 1,000 ids of 256 characters and a 500-character reason", async () => {
    const subjectIds = Array.from({ length: 1000 }, (_, i) => `${i}-`.padEnd(256, "x"));
    const { erasure } = await privacyClient(t, t.adminKey).eraseSubjects({
      subjectIds,
      reason: "r".repeat(500),
    });
    expect(erasure!.subjectIds).toHaveLength(1000);
    expect((await untilFinished(t, t.adminKey, erasure!.id)).status).toBe(ErasureStatus.DONE);
  });

  it("rejects a GetErasure id that is not a UUID and answers NOT_FOUND for an unknown one", async () => {
    const privacy = privacyClient(t, t.adminKey);
    const bad = await errorOf(privacy.getErasure({ id: "nope" }));
    expect([Code[bad.code], bad.rawMessage.split(": ")[0]]).toEqual(["InvalidArgument", "id"]);
    const unknown = await errorOf(
      privacy.getErasure({ id: "00000000-0000-4000-8000-000000000000" }),
    );
    expect(Code[unknown.code]).toBe("NotFound");
  });
});

describe("an erasure of subjects Lotty never saw", () => {
  it("completes DONE with nothing removed, audited", async () => {
    const privacy = privacyClient(t, t.adminKey);
    const { erasure } = await privacy.eraseSubjects({
      subjectIds: ["never-seen-1", "never-seen-2"],
      reason: "request 42",
    });
    expect(erasure!.status).toBe(ErasureStatus.PENDING);
    const done = await untilFinished(t, t.adminKey, erasure!.id);
    expect(done.status).toBe(ErasureStatus.DONE);
    expect(done.removed).toMatchObject({
      events: 0n,
      exposures: 0n,
      pendingAttributions: 0n,
      affectedExperiments: 0,
    });
    expect(done.affectedExperimentIds).toEqual([]);
    const audit = await auditRows(t, "erasure", erasure!.id);
    expect(audit.map((r) => r.action)).toEqual(["requested", "completed"]);
  });

  it("is listed newest first", async () => {
    const privacy = privacyClient(t, t.adminKey);
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const { erasure } = await privacy.eraseSubjects({ subjectIds: [`l-${n}`], reason: "list" });
      ids.push(erasure!.id);
    }
    const { erasures } = await privacy.listErasures({ pageSize: 3 });
    expect(erasures.map((e) => e.id)).toEqual([...ids].reverse());
    // Counts only: GetErasure has the ids.
    expect(erasures.map((e) => [e.subjectIds, e.subjectCount])).toEqual(Array(3).fill([[], 1]));
    const { erasure } = await privacy.getErasure({ id: ids[0]! });
    expect(erasure!.subjectIds).toEqual(["l-1"]);
    for (const id of ids) await untilFinished(t, t.adminKey, id);
  });
});

describe("ExportSubjectData", () => {
  it("returns the subject's events, exposures and pending events, and is audited", async () => {
    const experiment = await runningExperiment(t);
    const subjectId = "export-me";
    const d = decisionFor(t, experiment.flagKey, subjectId);
    const other = decisionFor(t, experiment.flagKey, "someone-else");
    const now = Date.now() - 60_000;
    const mine = [
      event("exposure", d.decisionId, { occurredAt: now }),
      event("conversion", d.decisionId, { occurredAt: now + 1_000, properties: { value: 12.5 } }),
    ];
    // Someone else's conversion waits for an exposure that never comes.
    const theirs = [event("conversion", other.decisionId, { occurredAt: now })];
    const ingest = await eventClient(t);
    await ingest.ingestEvents({ events: [...mine, ...theirs] });
    await untilStored(
      t,
      [...mine, ...theirs].map((e) => e.eventId),
    );

    const privacy = privacyClient(t, t.adminKey);
    const data = await privacy.exportSubjectData({ subjectId });
    expect(data.subjectId).toBe(subjectId);
    expect(data.truncated).toBe(false);
    expect(
      data.events.map((e) => [e.eventId, e.eventType, e.decisionId, e.variantKey, e.counted]),
    ).toEqual(mine.map((e) => [e.eventId, e.eventType, d.decisionId, d.variantKey, true]));
    expect(data.events[1]!.properties).toEqual({ value: 12.5 });
    expect(data.events[0]!.experimentId).toBe(d.experimentId);
    expect(timestampMs(data.events[0]!.occurredAt!)).toBe(now);
    expect(
      data.exposures.map((x) => [x.decisionId, x.eventId, x.experimentId, x.variantKey]),
    ).toEqual([[d.decisionId, mine[0]!.eventId, d.experimentId, d.variantKey]]);
    expect(data.pendingAttributions).toEqual([]);
    // Bounded: by rows, and by the bytes of the events.
    const pool = t.app.eventStore!.pool;
    const byRows = await subjectRows(pool, subjectId, 1, 1 << 20);
    expect([byRows.events.map((e) => e.event_id), byRows.truncated]).toEqual([
      [mine[0]!.eventId],
      true,
    ]);
    const byBytes = await subjectRows(pool, subjectId, 10, 600);
    expect([byBytes.events.length, byBytes.truncated]).toEqual([1, true]);
    const all = await subjectRows(pool, subjectId, 2, 1 << 20);
    expect([all.events.length, all.truncated]).toEqual([2, false]);

    const pending = await privacy.exportSubjectData({ subjectId: "someone-else" });
    expect(pending.events.map((e) => [e.eventId, e.counted])).toEqual([
      [theirs[0]!.eventId, false],
    ]);
    expect(pending.exposures).toEqual([]);
    expect(pending.pendingAttributions.map((p) => [p.eventId, p.decisionId])).toEqual([
      [theirs[0]!.eventId, other.decisionId],
    ]);

    // Audited under a hash of the subject id, never the id itself.
    const audit = await auditRows(t, "subject_data", subjectAuditId(subjectId));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: "exported",
      data: { events: 2, exposures: 1, pendingAttributions: 0, truncated: false },
    });
    const leaks = await query(t, `select 1 from audit_log where data::text like '%export-me%'`);
    expect(leaks).toEqual([]);

    // Erased, the subject has nothing left to export; the other subject keeps its data.
    const { erasure } = await privacy.eraseSubjects({ subjectIds: [subjectId], reason: "asked" });
    const done = await untilFinished(t, t.adminKey, erasure!.id);
    expect(done.removed).toMatchObject({ events: 2n, exposures: 1n, affectedExperiments: 1 });
    const after = await privacy.exportSubjectData({ subjectId });
    expect([after.events, after.exposures, after.pendingAttributions]).toEqual([[], [], []]);
    await waitFor(
      async () =>
        (await privacy.exportSubjectData({ subjectId: "someone-else" })).events.length === 1,
      5_000,
      "the other subject's data kept",
    );
  });

  it("rejects an empty or too long subject id, naming subject_id", async () => {
    const privacy = privacyClient(t, t.adminKey);
    for (const subjectId of ["", "y".repeat(257)]) {
      const e = await errorOf(privacy.exportSubjectData({ subjectId }));
      expect([Code[e.code], e.rawMessage.split(": ")[0]]).toEqual([
        "InvalidArgument",
        "subject_id",
      ]);
    }
  });
});

describe("an API process and a separate workers process", () => {
  it("runs a job recorded by the API in the workers process", async () => {
    const database = await createTestDatabase();
    const busPrefix = testBusPrefix();
    const api = await startTestApp({ database, busPrefix, env: { LOTTY_ROLES: "api" } });
    const workers = await startTestApp({
      database,
      busPrefix,
      env: { LOTTY_ROLES: "workers", LOTTY_BOOTSTRAP_ADMIN_KEY: api.adminKey },
    });
    try {
      expect([api.app.erasureWorker, workers.app.erasureWorker === undefined]).toEqual([
        undefined,
        false,
      ]);
      const { erasure } = await privacyClient(api, api.adminKey).eraseSubjects({
        subjectIds: ["split-1"],
        reason: "split roles",
      });
      const done = await untilFinished(api, api.adminKey, erasure!.id);
      expect(done.status).toBe(ErasureStatus.DONE);
    } finally {
      await workers.stop();
      await api.stop();
      await deleteStreams(busPrefix);
      await database.drop();
    }
  });
});
