/**
 * /ready, grpc health and the NATS and migration gates, against real
 * PostgreSQL and a real nats-server this file starts and stops itself.
 */
import { afterAll, afterEach, describe, expect, it } from "@jest/globals";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { Code, ConnectError } from "@connectrpc/connect";
import { HealthCheckResponse_ServingStatus, Health } from "../../gen/grpc/health/v1/health_pb.js";
import { AccessService } from "../../gen/lotty/access/v1/access_pb.js";
import { freePort } from "../../src/platform/embedded-postgres.js";
import { MIGRATION_LOCK_KEY } from "../../src/platform/database.js";
import { lottyStreams } from "../../src/platform/bus.js";
import { migrationsList } from "../../migrations/index.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { createTestDatabase } from "../support/database.js";
import { client } from "../support/clients.js";

async function readyStatus(
  baseUrl: string,
): Promise<{ status: number; checks: Record<string, boolean> }> {
  const res = await fetch(`${baseUrl}/ready`);
  const body = (await res.json()) as { checks: Record<string, boolean> };
  return { status: res.status, checks: body.checks };
}

function startNats(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], {
    stdio: "ignore",
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("spawn", () => resolve(child));
  });
}

function stopNats(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

const apps: TestApp[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map(stopNats));
  await Promise.all(apps.splice(0).map((a) => a.stop()));
});

describe("NATS gate", () => {
  let natsDir: string;
  afterAll(async () => {
    if (natsDir) await rm(natsDir, { recursive: true, force: true });
  });

  it("is 503 while NATS is unreachable, 200 once it is up, and follows outages", async () => {
    natsDir = await mkdtemp(path.join(os.tmpdir(), "lotty-nats-"));
    const natsPort = await freePort();
    const t = await startTestApp({
      env: { NATS_URL: `nats://127.0.0.1:${natsPort}` },
      waitReady: false,
    });
    apps.push(t);
    const health = client(Health, t.baseUrl);

    await waitFor(
      async () => (await readyStatus(t.baseUrl)).checks.snapshot === true,
      20_000,
      "migrations",
    );
    let ready = await readyStatus(t.baseUrl);
    expect(ready.status).toBe(503);
    expect(ready.checks).toEqual({ database: true, migrations: true, nats: false, snapshot: true });
    expect((await fetch(`${t.baseUrl}/health`)).status).toBe(200);
    expect((await health.check({ service: "" })).status).toBe(
      HealthCheckResponse_ServingStatus.NOT_SERVING,
    );

    let nats = await startNats(natsPort, natsDir);
    children.push(nats);
    await waitFor(
      async () => (await readyStatus(t.baseUrl)).status === 200,
      20_000,
      "ready after NATS start",
    );
    expect((await health.check({ service: "" })).status).toBe(
      HealthCheckResponse_ServingStatus.SERVING,
    );
    expect((await health.check({ service: "lotty.access.v1.AccessService" })).status).toBe(
      HealthCheckResponse_ServingStatus.SERVING,
    );

    await stopNats(nats);
    await waitFor(
      async () => (await readyStatus(t.baseUrl)).status === 503,
      20_000,
      "503 after NATS stops",
    );
    ready = await readyStatus(t.baseUrl);
    expect(ready.checks.nats).toBe(false);

    nats = await startNats(natsPort, natsDir);
    children.push(nats);
    await waitFor(
      async () => (await readyStatus(t.baseUrl)).status === 200,
      20_000,
      "ready after NATS restart",
    );
  }, 90_000);

  it("provisions the streams idempotently", async () => {
    const t = await startTestApp();
    apps.push(t);
    const bus = t.app.bus!;
    const specs = lottyStreams(t.app.names);
    await bus.provision(specs);
    await bus.provision(specs);
    for (const spec of specs) {
      const info = await bus.jsm.streams.info(spec.config.name);
      expect(info.config.subjects).toEqual(spec.config.subjects);
      expect(info.config.max_age).toBe(spec.config.max_age);
    }
    expect(specs.map((s) => s.config.name)).toEqual(
      ["EVENTS", "DECISIONS", "LIFECYCLE", "COUNTED", "CONFIG", "DEADLETTER"].map(
        (n) => `${t.app.names.streamPrefix}_${n}`,
      ),
    );
    // A durable consumer in a spec is created once and kept on re-provisioning.
    const withConsumer = [
      { ...specs[0]!, consumers: [{ durable_name: "probe", ack_wait: 30_000_000_000 }] },
    ];
    await bus.provision(withConsumer);
    await bus.provision(withConsumer);
    const consumer = await bus.jsm.consumers.info(specs[0]!.config.name, "probe");
    expect(consumer.config.durable_name).toBe("probe");
  });

  it("asks for LOTTY_NATS_REPLICAS replicas and says clearly when NATS cannot hold them", async () => {
    const t = await startTestApp();
    apps.push(t);
    const bus = t.app.bus!;
    const specs = lottyStreams(t.app.names, 3);
    expect(specs.every((s) => s.config.num_replicas === 3)).toBe(true);
    // The test machine's NATS is a single server: an existing stream cannot
    // be scaled up and a new one cannot be created with three replicas.
    const existing = specs[0]!;
    await expect(bus.provision([existing])).rejects.toThrow(
      `stream ${existing.config.name} needs 3 replicas (LOTTY_NATS_REPLICAS)`,
    );
    const fresh = {
      ...existing,
      config: {
        ...existing.config,
        name: `${existing.config.name}_R3`,
        subjects: [`${t.app.names.subjectPrefix}.r3probe.>`],
      },
    };
    await expect(bus.provision([fresh])).rejects.toThrow(
      /use a NATS cluster with at least 3 JetStream servers/,
    );
  });
});

describe("migration gate", () => {
  it("is 503 and RPCs are UNAVAILABLE until migrations have run, then applies each once", async () => {
    const database = await createTestDatabase();
    const lock = new pg.Client({ connectionString: database.url });
    await lock.connect();
    try {
      await lock.query("select pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
      const t = await startTestApp({ database, waitReady: false });
      apps.push(t);
      await waitFor(
        async () => (await readyStatus(t.baseUrl)).checks.nats === true,
        20_000,
        "NATS",
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      const before = await readyStatus(t.baseUrl);
      expect(before.status).toBe(503);
      expect(before.checks).toEqual({
        database: false,
        migrations: false,
        nats: true,
        snapshot: false,
      });
      const access = client(AccessService, t.baseUrl, t.adminKey);
      const error = await access.getCurrentUser({}).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(error?.code).toBe(Code.Unavailable);

      await lock.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
      await waitFor(
        async () => (await readyStatus(t.baseUrl)).status === 200,
        20_000,
        "ready after unlock",
      );
      expect((await access.getCurrentUser({})).user?.email).toBe("admin@lotty.local");
      const applied = await lock.query("select name from mikro_orm_migrations order by id");
      expect(applied.rows.map((r: { name: string }) => r.name)).toEqual(
        migrationsList.map((m) => m.name),
      );
    } finally {
      await lock.end();
      await Promise.all(apps.splice(0).map((a) => a.stop()));
      await database.drop();
    }
  }, 60_000);
});
