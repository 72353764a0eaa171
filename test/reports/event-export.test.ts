/**
 * Raw event export (docs/event-export.md) against the real PostgreSQL and
 * NATS: a small experiment's attributed events exported as CSV, JSON Lines
 * and Parquet, each file checked row by row against the events sent;
 * reading by pages; one-time links; validation, permissions, audit rows,
 * expiry and jobs left behind by a stopped process.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code } from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { EventService, type Event } from "../../gen/lotty/events/v1/events_pb.js";
import {
  EventExportFormat,
  EventExportStatus,
} from "../../gen/lotty/reports/v1/event_export_pb.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { makeUser } from "../support/builders.js";
import { client } from "../support/clients.js";
import { event, plainDecision, query, untilStored } from "../events/support.js";
import { errorOf } from "../experiments/support.js";
import {
  auditRows,
  privacyClient,
  untilFinished as untilErasureFinished,
} from "../privacy/support.js";
import { ErasureStatus } from "../../gen/lotty/privacy/v1/privacy_pb.js";
import { reportExperiment, subjectsByVariant } from "./support.js";
import {
  exportClient,
  readByPages,
  rowsOf,
  untilExportFinished,
  type ExportedRow,
} from "./event-export-support.js";
import { FAILED_MESSAGE, MAX_ATTEMPTS } from "../../src/reports/event-export-worker.js";

const MIN = 60_000;
const FORMATS = [
  ["csv", EventExportFormat.CSV],
  ["jsonl", EventExportFormat.JSONL],
  ["parquet", EventExportFormat.PARQUET],
] as const;

let t: TestApp;
let dir: string;
let experimentId: string;
let experimenter: { id: string; key: string };
const testStart = Date.now();
const T0 = Math.floor((Date.now() - 2 * 60 * MIN) / MIN) * MIN;
const FROM = T0;
const TO = T0 + 30 * MIN;
/** What the export must hold: the attributed events in [FROM, TO), sent by this test. */
let expected: Omit<ExportedRow, "received_at">[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "lotty-export-test-"));
  t = await startTestApp({ env: { LOTTY_EXPORT_DIR: dir } });
  const s = await reportExperiment(t);
  experimentId = s.experimentId;
  experimenter = await makeUser(t, Role.EXPERIMENTER);
  const service = await makeUser(t, Role.SERVICE);
  const ingest = client(EventService, t.baseUrl, service.key);
  const picked = subjectsByVariant(t, s.flagKey, 3, `x${randomBytes(2).toString("hex")}`);
  const sent: { event: Event; variant: string; subject: string; attributed: boolean }[] = [];
  const add = (e: Event, variant: string, subject: string, attributed: boolean) =>
    sent.push({ event: e, variant, subject, attributed });
  let i = 0;
  for (const variant of ["control", "blue"] as const) {
    for (const { subjectId, decisionId } of picked[variant]) {
      const at = T0 + i * MIN;
      add(event("exposure", decisionId, { occurredAt: at }), variant, subjectId, true);
      // Two events at one instant: ordered by event id.
      add(
        event("conversion", decisionId, {
          occurredAt: at + 30_000,
          properties: { value: i + 0.5 },
        }),
        variant,
        subjectId,
        true,
      );
      add(
        event("error", decisionId, {
          occurredAt: at + 30_000,
          properties: { code: `E,"${i}"\r\nnext line, ü` },
        }),
        variant,
        subjectId,
        true,
      );
      // After the window: not exported.
      add(event("conversion", decisionId, { occurredAt: TO + 5 * MIN }), variant, subjectId, false);
      i++;
    }
  }
  // Exactly at `to` (excluded) and exactly at `from` (included).
  const first = picked.control[0]!;
  add(
    event("latency", first.decisionId, { occurredAt: TO, properties: { ms: 1 } }),
    "control",
    first.subjectId,
    false,
  );
  add(
    event("latency", first.decisionId, { occurredAt: FROM, properties: { ms: 2 } }),
    "control",
    first.subjectId,
    true,
  );
  // A subject never exposed: its conversion waits for the exposure, not attributed.
  const unexposed = subjectsByVariant(t, s.flagKey, 1, `u${randomBytes(2).toString("hex")}`)
    .blue[0]!;
  add(
    event("conversion", unexposed.decisionId, { occurredAt: T0 + MIN }),
    "blue",
    unexposed.subjectId,
    false,
  );
  // A flag without an experiment: not this experiment's.
  const plain = await plainDecision(t, "plain-subject");
  add(
    event("exposure", plain.decisionId, { occurredAt: T0 + 2 * MIN }),
    "",
    "plain-subject",
    false,
  );

  const answer = await ingest.ingestEvents({ events: sent.map((x) => x.event) });
  expect(answer.rejected).toBe(0);
  await untilStored(
    t,
    sent.map((x) => x.event.eventId),
  );
  expected = sent
    .filter((x) => x.attributed)
    .map((x) => ({
      event_id: x.event.eventId,
      event_type: x.event.eventType,
      subject_id: x.subject,
      occurred_at: new Date(
        Number(x.event.occurredAt!.seconds) * 1000 + x.event.occurredAt!.nanos / 1e6,
      ).toISOString(),
      variant_key: x.variant,
      experiment_id: experimentId,
      properties: x.event.properties ?? {},
    }))
    .sort((a, b) =>
      a.occurred_at === b.occurred_at
        ? a.event_id < b.event_id
          ? -1
          : 1
        : a.occurred_at < b.occurred_at
          ? -1
          : 1,
    );
  expect(expected).toHaveLength(6 * 3 + 1);
}, 120_000);

afterAll(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function startExport(format: EventExportFormat, key = experimenter.key) {
  const { eventExport } = await exportClient(t, key).startEventExport({
    experimentId,
    from: timestampFromMs(FROM),
    to: timestampFromMs(TO),
    format,
  });
  return eventExport!;
}

/** The received_at the store recorded for each event id. */
async function receivedAt(): Promise<Map<string, string>> {
  const rows = await query<{ event_id: string; received_at: Date }>(
    t,
    `select event_id, received_at from events where event_id = any($1::text[])`,
    [expected.map((e) => e.event_id)],
  );
  return new Map(rows.map((r) => [r.event_id, r.received_at.toISOString()]));
}

describe.each(FORMATS)("an export as %s", (name, format) => {
  let id: string;

  beforeAll(async () => {
    id = (await startExport(format)).id;
    const done = await untilExportFinished(t, experimenter.key, id);
    expect(done.status).toBe(EventExportStatus.DONE);
  });

  it("holds the attributed events of the window, row by row, in (occurred_at, event_id) order", async () => {
    const rows = await rowsOf(name, path.join(dir, `${id}.${name}`));
    const received = await receivedAt();
    expect(rows.map(({ received_at: _r, ...rest }) => rest)).toEqual(expected);
    for (const row of rows) {
      expect(row.received_at).toBe(received.get(row.event_id));
      expect(Date.parse(row.received_at)).toBeGreaterThanOrEqual(testStart - 1000);
    }
  });

  it("reports its rows, bytes, file name and expiry", async () => {
    const { eventExport: job } = await exportClient(t, experimenter.key).getEventExport({ id });
    const file = await readFile(path.join(dir, `${id}.${name}`));
    expect(job!.rows).toBe(BigInt(expected.length));
    expect(job!.bytes).toBe(BigInt(file.length));
    expect(job!.createdBy).toBe(experimenter.id);
    expect(job!.filename).toMatch(
      new RegExp(`^events-${experimentId}-\\d{8}T\\d{6}Z-\\d{8}T\\d{6}Z\\.${name}$`),
    );
    const finished = Number(job!.finishedAt!.seconds);
    expect(Number(job!.expiresAt!.seconds) - finished).toBe(24 * 3600);
  });

  it("reads back by pages as exactly the file", async () => {
    const file = await readFile(path.join(dir, `${id}.${name}`));
    const { data, pages } = await readByPages(t, experimenter.key, id, 1000);
    expect(data.equals(file)).toBe(true);
    expect(pages).toBe(Math.max(1, Math.ceil(file.length / 1000)));
  });
});

describe("input", () => {
  const exports = () => exportClient(t, experimenter.key);
  it.each([
    [
      "an experiment id that is not a UUID",
      { experimentId: "nope", format: EventExportFormat.CSV },
      "experiment_id",
    ],
    ["no format", { experimentId: "00000000-0000-4000-8000-000000000000" }, "format"],
  ])("StartEventExport refuses %s", async (_what, req, field) => {
    const error = await errorOf(exports().startEventExport(req));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage.startsWith(`${field}:`)).toBe(true);
  });

  it("StartEventExport refuses a window whose end is not after its start, naming `to`", async () => {
    const error = await errorOf(
      exports().startEventExport({
        experimentId,
        format: EventExportFormat.CSV,
        from: timestampFromMs(TO),
        to: timestampFromMs(TO),
      }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^to: must be after from/);
  });

  it("StartEventExport answers NOT_FOUND for an unknown experiment", async () => {
    const error = await errorOf(
      exports().startEventExport({
        experimentId: "00000000-0000-4000-8000-000000000000",
        format: EventExportFormat.CSV,
      }),
    );
    expect(error.code).toBe(Code.NotFound);
  });

  it("ReadEventExport names bad fields, and refuses a job that is not DONE", async () => {
    const bad = await errorOf(
      exports().readEventExport({ id: "x", offset: -1n, maxBytes: 9 * 1024 * 1024 }),
    );
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toMatch(/^id: .*; offset: .*; max_bytes: /);
    // A job a worker holds (a lease far ahead): not readable yet.
    const running = randomUUID();
    await query(
      t,
      `insert into event_exports (id, experiment_id, window_from, window_to, format, status,
         created_at, attempts, lease_until)
       values ($1, $2, now() - interval '1 hour', now(), 'csv', 'running', now(), 1,
         now() + interval '1 hour')`,
      [running, experimentId],
    );
    const early = await errorOf(exports().readEventExport({ id: running }));
    expect(early.code).toBe(Code.FailedPrecondition);
    expect(early.rawMessage).toMatch(/not written yet/);
    await query(t, `delete from event_exports where id = $1`, [running]);
    const queued = await startExport(EventExportFormat.CSV);
    const done = await untilExportFinished(t, experimenter.key, queued.id);
    const past = await errorOf(
      exports().readEventExport({ id: queued.id, offset: done.bytes + 1n }),
    );
    expect(past.code).toBe(Code.InvalidArgument);
    expect(past.rawMessage).toMatch(/^offset: /);
    expect(
      (await errorOf(exports().getEventExport({ id: "00000000-0000-4000-8000-000000000000" })))
        .code,
    ).toBe(Code.NotFound);
  });
});

describe("who may export", () => {
  it.each([Role.VIEWER, Role.APPROVER, Role.SERVICE].map((r) => [Role[r], r] as const))(
    "denies ROLE_%s every RPC",
    async (_name, role) => {
      const { key } = await makeUser(t, role);
      const exports = exportClient(t, key);
      const id = "00000000-0000-4000-8000-000000000000";
      const calls = [
        exports.startEventExport({ experimentId, format: EventExportFormat.CSV }),
        exports.getEventExport({ id }),
        exports.listEventExports({ experimentId }),
        exports.readEventExport({ id }),
        exports.createEventExportLink({ id }),
      ];
      const codes = await Promise.all(calls.map(async (c) => Code[(await errorOf(c)).code]));
      expect(codes).toEqual(Array(5).fill("PermissionDenied"));
    },
  );

  it("lets an admin list an experiment's exports, newest first, by pages", async () => {
    const exports = exportClient(t, t.adminKey);
    const all = [];
    let pageToken = "";
    do {
      const page = await exports.listEventExports({ experimentId, pageSize: 2, pageToken });
      all.push(...page.eventExports);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(all.length).toBeGreaterThanOrEqual(3);
    const created = all.map((e) => Number(e.createdAt!.seconds) * 1e9 + e.createdAt!.nanos);
    expect([...created].sort((a, b) => b - a)).toEqual(created);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
  });
});

describe("audit", () => {
  it("records the start, the completion and each download from the start of the file", async () => {
    const job = await startExport(EventExportFormat.JSONL);
    await untilExportFinished(t, experimenter.key, job.id);
    const exports = exportClient(t, experimenter.key);
    await exports.readEventExport({ id: job.id, maxBytes: 10 });
    await exports.readEventExport({ id: job.id, offset: 10n, maxBytes: 10 });
    const rows = await auditRows(t, "event_export", job.id);
    expect(rows.map((r) => [r.action, r.actor_id])).toEqual([
      ["requested", experimenter.id],
      ["completed", null],
      ["downloaded", experimenter.id],
    ]);
    expect(rows[0]!.data).toEqual({
      experimentId,
      format: "jsonl",
      from: new Date(FROM).toISOString(),
      to: new Date(TO).toISOString(),
    });
    expect(rows[1]!.data).toMatchObject({ rows: expected.length });
    expect(rows[2]!.data).toMatchObject({ via: "api" });
  });
});

describe("one-time links", () => {
  let id: string;
  let file: Buffer;
  beforeAll(async () => {
    id = (await startExport(EventExportFormat.CSV)).id;
    await untilExportFinished(t, experimenter.key, id);
    file = await readFile(path.join(dir, `${id}.csv`));
  });
  const link = async () =>
    (await exportClient(t, experimenter.key).createEventExportLink({ id })).path;

  it("downloads the file once, then answers 410", async () => {
    const p = await link();
    expect(p).toMatch(new RegExp(`^/exports/events/${id}\\?token=`));
    const first = await fetch(`${t.baseUrl}${p}`);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(first.headers.get("content-disposition")).toMatch(/^attachment; filename="events-/);
    expect(Buffer.from(await first.arrayBuffer()).equals(file)).toBe(true);
    const second = await fetch(`${t.baseUrl}${p}`);
    expect(second.status).toBe(410);
    await waitFor(
      async () =>
        (await auditRows(t, "event_export", id)).some(
          (r) => r.action === "downloaded" && (r.data as { via?: string }).via === "link",
        ),
      10_000,
      "the link download audited",
    );
    const actions = (await auditRows(t, "event_export", id)).map((r) => r.action);
    expect(actions.filter((a) => a === "link_created")).toHaveLength(1);
  });

  it("refuses a tampered signature with 403, and an unknown id with 404", async () => {
    const p = await link();
    const flipped = p.slice(0, -1) + (p.endsWith("A") ? "B" : "A");
    expect((await fetch(`${t.baseUrl}${flipped}`)).status).toBe(403);
    const other = p.replace(id, "00000000-0000-4000-8000-000000000000");
    expect((await fetch(`${t.baseUrl}${other}`)).status).toBe(403);
    expect((await fetch(`${t.baseUrl}/exports/events/nope?token=x.y`)).status).toBe(404);
    // The tampered tries did not spend the link.
    expect((await fetch(`${t.baseUrl}${p}`)).status).toBe(200);
  });

  it("refuses an expired link with 410", async () => {
    const p = await link();
    const nonce = new URL(p, t.baseUrl).searchParams.get("token")!.split(".")[0];
    await query(
      t,
      `update event_export_links set expires_at = now() - interval '1 second' where nonce = $1`,
      [nonce],
    );
    expect((await fetch(`${t.baseUrl}${p}`)).status).toBe(410);
  });

  it("cannot be made for a job that is not DONE", async () => {
    const queued = await startExport(EventExportFormat.CSV);
    await query(t, `update event_exports set status = 'failed' where id = $1`, [queued.id]);
    const error = await errorOf(
      exportClient(t, experimenter.key).createEventExportLink({ id: queued.id }),
    );
    expect(error.code).toBe(Code.FailedPrecondition);
  });
});

describe("the worker", () => {
  it("deletes a file when its export expires", async () => {
    const job = await startExport(EventExportFormat.PARQUET);
    await untilExportFinished(t, experimenter.key, job.id);
    const file = path.join(dir, `${job.id}.parquet`);
    expect(existsSync(file)).toBe(true);
    const p = (await exportClient(t, experimenter.key).createEventExportLink({ id: job.id })).path;
    await query(t, `update event_exports set expires_at = now() where id = $1`, [job.id]);
    t.app.eventExportWorker!.poke();
    await waitFor(
      async () =>
        (await exportClient(t, experimenter.key).getEventExport({ id: job.id })).eventExport!
          .status === EventExportStatus.EXPIRED,
      10_000,
      "the export expired",
    );
    expect(existsSync(file)).toBe(false);
    const error = await errorOf(exportClient(t, experimenter.key).readEventExport({ id: job.id }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect((await fetch(`${t.baseUrl}${p}`)).status).toBe(410);
  });

  it("writes again a job left RUNNING by a stopped process, and fails one out of attempts", async () => {
    const left = await startExport(EventExportFormat.CSV);
    const exhausted = await startExport(EventExportFormat.CSV);
    // Both as a process that died mid-job leaves them (the worker may have claimed them first).
    await query(
      t,
      `update event_exports set status = 'running', attempts = $2, lease_until = now() - interval '1 second',
         rows = 5, file_name = null, finished_at = null, expires_at = null
       where id = $1`,
      [left.id, 1],
    );
    await query(
      t,
      `update event_exports set status = 'running', attempts = $2, lease_until = now() - interval '1 second',
         file_name = null, finished_at = null, expires_at = null
       where id = $1`,
      [exhausted.id, MAX_ATTEMPTS],
    );
    t.app.eventExportWorker!.poke();
    const redone = await untilExportFinished(t, experimenter.key, left.id);
    expect(redone.status).toBe(EventExportStatus.DONE);
    expect(redone.rows).toBe(BigInt(expected.length));
    const rows = await rowsOf("csv", path.join(dir, `${left.id}.csv`));
    expect(rows.map((r) => r.event_id)).toEqual(expected.map((e) => e.event_id));
    const failed = await untilExportFinished(t, experimenter.key, exhausted.id);
    expect(failed.status).toBe(EventExportStatus.FAILED);
    expect(failed.error).toBe(FAILED_MESSAGE);
    expect((await auditRows(t, "event_export", exhausted.id)).map((r) => r.action)).toContain(
      "failed",
    );
  });
});

describe("erasure", () => {
  it("expires finished exports of the experiment, and a new export leaves the erased subject out", async () => {
    const before = await startExport(EventExportFormat.CSV);
    await untilExportFinished(t, experimenter.key, before.id);
    const erased = expected[0]!.subject_id;
    expect(expected.some((e) => e.subject_id === erased)).toBe(true);
    const { erasure } = await privacyClient(t, t.adminKey).eraseSubjects({
      subjectIds: [erased],
      reason: "test: erasure reaches export files",
    });
    expect((await untilErasureFinished(t, t.adminKey, erasure!.id)).status).toBe(
      ErasureStatus.DONE,
    );
    await waitFor(
      async () =>
        (await exportClient(t, experimenter.key).getEventExport({ id: before.id })).eventExport!
          .status === EventExportStatus.EXPIRED,
      20_000,
      "the earlier export expired",
    );
    expect(existsSync(path.join(dir, `${before.id}.csv`))).toBe(false);
    const after = await startExport(EventExportFormat.CSV);
    expect((await untilExportFinished(t, experimenter.key, after.id)).status).toBe(
      EventExportStatus.DONE,
    );
    const rows = await rowsOf("csv", path.join(dir, `${after.id}.csv`));
    expect(rows.map((r) => r.event_id)).toEqual(
      expected.filter((e) => e.subject_id !== erased).map((e) => e.event_id),
    );
  });
});
