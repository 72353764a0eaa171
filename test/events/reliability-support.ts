/**
 * Helpers for the ingestion reliability tests: a private nats-server that
 * can be killed and restarted, a TCP proxy in front of PostgreSQL that can
 * refuse and cut connections, a Lotty child process with a known admin key
 * and decision secret, and plain SQL against a test database.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import pg from "pg";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { Event, EventService } from "../../gen/lotty/events/v1/events_pb.js";
import { freePort } from "../../src/platform/embedded-postgres.js";
import { isListening } from "../../src/platform/local-nats.js";
import { EVENT_STORE_CONSUMER } from "../../src/events/consumer.js";
import { expect } from "@jest/globals";
import { DecisionService } from "../../gen/lotty/decision/v1/decision_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { greyBlue, makeTeam, makeTypedFlag, runExperiment } from "../support/builders.js";
import { spawnLotty, type LottyProcess } from "../support/process.js";
import { event } from "./support.js";

// ---------------------------------------------------------------- nats-server

export interface NatsServer {
  port: number;
  url: string;
  /** Starts (or restarts) the server on the same port and store directory. */
  start(): Promise<void>;
  /** kill -9, waiting for the process to exit. */
  kill(): Promise<void>;
}

/**
 * A nats-server with JetStream on `port`, storing in `dir` (not started yet);
 * `extraArgs` for cluster settings (natsCluster).
 */
export function natsServer(port: number, dir: string, extraArgs: string[] = []): NatsServer {
  let child: ChildProcess | undefined;
  const url = `nats://127.0.0.1:${port}`;
  const server: NatsServer = {
    port,
    url,
    async start() {
      if (child !== undefined) await server.kill();
      const started = spawn(
        "nats-server",
        ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir, ...extraArgs],
        { stdio: "ignore" },
      );
      child = started;
      await new Promise<void>((resolve, reject) => {
        started.once("error", reject);
        started.once("spawn", () => resolve());
      });
      await waitFor(
        async () => started.exitCode === null && (await isListening("127.0.0.1", port)),
        20_000,
        `nats-server listening on ${port}`,
      );
    },
    async kill() {
      const running = child;
      child = undefined;
      if (running === undefined || running.exitCode !== null || running.signalCode !== null) {
        return;
      }
      await new Promise<void>((resolve) => {
        running.once("exit", () => resolve());
        running.kill("SIGKILL");
      });
    },
  };
  return server;
}

export interface NatsClusterNode extends NatsServer {
  /** The server name, as JetStream reports a stream's leader and replicas. */
  name: string;
}

/**
 * `size` nats-servers on loopback forming one JetStream cluster (routes
 * between all of them), each storing under its own directory of `dirOf`.
 * Started together; ready once JetStream answers through every node.
 */
export async function natsCluster(
  size: number,
  dirOf: (i: number) => Promise<string>,
): Promise<NatsClusterNode[]> {
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(",");
  const nodes: NatsClusterNode[] = [];
  for (let i = 0; i < size; i++) {
    const name = `lotty-test-n${i}`;
    const server = natsServer(clientPorts[i]!, await dirOf(i), [
      "-n",
      name,
      "--cluster_name",
      "lotty-test",
      "--cluster",
      `nats://127.0.0.1:${routePorts[i]}`,
      "--routes",
      routes,
    ]);
    nodes.push({ ...server, name });
  }
  await Promise.all(nodes.map((n) => n.start()));
  for (const node of nodes) {
    await waitFor(
      async () => {
        const nc = await connect({ servers: node.url, timeout: 2_000 }).catch(() => undefined);
        if (nc === undefined) return false;
        try {
          const jsm = await jetstreamManager(nc, { timeout: 2_000 });
          await jsm.getAccountInfo();
          return true;
        } catch {
          return false;
        } finally {
          await nc.close();
        }
      },
      60_000,
      `JetStream of the cluster answering through ${node.name}`,
    );
  }
  return nodes;
}

/** The server name leading a stream (its cluster's view), or undefined when it has none. */
export async function streamLeader(natsUrl: string, stream: string): Promise<string | undefined> {
  const nc = await connect({ servers: natsUrl, timeout: 2_000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    return (await jsm.streams.info(stream)).cluster?.leader;
  } finally {
    await nc.close();
  }
}

export interface Backlog {
  /** Messages not delivered yet. */
  pending: number;
  /** Messages delivered and neither acked nor terminated. */
  ackPending: number;
  redelivered: number;
}

/** What the event store's durable consumer still has to do. */
export async function consumerBacklog(natsUrl: string, streamPrefix: string): Promise<Backlog> {
  const nc = await connect({ servers: natsUrl, timeout: 2_000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    const info = await jsm.consumers.info(`${streamPrefix}_EVENTS`, EVENT_STORE_CONSUMER);
    return {
      pending: info.num_pending,
      ackPending: info.num_ack_pending,
      redelivered: info.num_redelivered,
    };
  } finally {
    await nc.close();
  }
}

/**
 * Waits up to `timeoutMs` for the event-store consumer to have nothing left
 * to deliver or ack; returns the last backlog seen (for the assertion).
 */
export async function drainedBacklog(
  natsUrl: string,
  streamPrefix: string,
  timeoutMs: number,
): Promise<Backlog | undefined> {
  let last: Backlog | undefined;
  await waitFor(
    async () => {
      last = await consumerBacklog(natsUrl, streamPrefix).catch(() => last);
      return last !== undefined && last.pending === 0 && last.ackPending === 0;
    },
    timeoutMs,
    "the event-store consumer to drain",
  ).catch(() => {});
  return last;
}

// ---------------------------------------------------------------- TCP proxy

export interface TcpProxy {
  port: number;
  /** Stops accepting (new connections are refused) and cuts every open connection. */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 forwarding to `target`; lets a test take a dependency away. */
export async function tcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer((inbound) => {
        const outbound = net.connect(target.port, target.host);
        for (const socket of [inbound, outbound]) {
          sockets.add(socket);
          socket.on("error", () => {});
          socket.on("close", () => {
            sockets.delete(socket);
            inbound.destroy();
            outbound.destroy();
          });
        }
        inbound.pipe(outbound);
        outbound.pipe(inbound);
      });
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        server = s;
        resolve();
      });
    });
  const stop = async () => {
    const s = server;
    server = undefined;
    const closed =
      s === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve) => s.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await closed;
  };
  await listen();
  return { port, cut: stop, resume: listen, close: stop };
}

// ---------------------------------------------------------------- a Lotty child process

/** What the shared helpers (test/experiments, test/decision) read of a TestApp. */
export type RemoteApp = Pick<TestApp, "baseUrl" | "adminKey">;

/**
 * The helpers of test/experiments/support.ts and test/decision/support.ts
 * that only call RPCs read nothing of a TestApp but baseUrl and adminKey;
 * this lets them seed a child process. (Helpers that look at t.app, such as
 * untilInSnapshot or decisionFor, must not be given it.)
 */
export function asTestApp(remote: RemoteApp): TestApp {
  return remote as TestApp;
}

/** A bootstrap admin key as Lotty generates them: lotty_ + 43 base64url characters. */
export function adminKey(): string {
  return `lotty_${randomBytes(32).toString("base64url")}`;
}

export interface ChildLotty extends RemoteApp {
  env: Record<string, string>;
  process: LottyProcess | undefined;
  /** Spawns `dist/src/main.js` with the same environment and waits for "ready". */
  start(): Promise<void>;
  /** kill -9, waiting for the exit. */
  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, waiting for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>;
  /** Everything every incarnation printed, for failure messages. */
  output(): string;
}

export function childLotty(env: Record<string, string>, cwd: string): ChildLotty {
  const baseUrl = `http://127.0.0.1:${env.PORT}`;
  const key = env.LOTTY_BOOTSTRAP_ADMIN_KEY;
  if (env.PORT === undefined || key === undefined) {
    throw new Error("childLotty needs PORT and LOTTY_BOOTSTRAP_ADMIN_KEY");
  }
  let earlier = "";
  const child: ChildLotty = {
    env,
    baseUrl,
    adminKey: key,
    process: undefined,
    async start() {
      if (child.process !== undefined) earlier += child.process.output() + "\n--- restart ---\n";
      const p = spawnLotty(env, cwd);
      child.process = p;
      await p.waitFor(/Lotty is ready on /, 60_000);
    },
    async kill() {
      const p = child.process;
      if (p === undefined) throw new Error("not started");
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
      return p.exited;
    },
    async stop() {
      const p = child.process;
      if (p === undefined) return undefined;
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
      const timer = setTimeout(() => p.child.kill("SIGKILL"), 15_000);
      try {
        return await p.exited;
      } finally {
        clearTimeout(timer);
      }
    },
    output: () => earlier + (child.process?.output() ?? ""),
  };
  return child;
}

// ---------------------------------------------------------------- SQL

/** Runs one query on `databaseUrl` over a connection of its own. */
export async function sql<T extends Record<string, unknown>>(
  databaseUrl: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

export interface StoreState {
  /** Every stored event id, in no particular order. */
  ids: string[];
  rows: number;
  distinct: number;
  /** Stored events with counted = true and an experiment. */
  countedEvents: number;
  /** The same without exposures (subject_event_counts leaves exposures out). */
  countedNonExposures: number;
  /** The same, per "variant/type". */
  countedByKey: Record<string, number>;
  /** sum(event_counts.events) per "variant/type". */
  countsByKey: Record<string, number>;
  countsTotal: number;
  subjectCountsTotal: number;
  pending: number;
}

/** Everything the assertions about the event store need, read straight from PostgreSQL. */
export async function storeState(databaseUrl: string, experimentId: string): Promise<StoreState> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const ids = await c.query<{ event_id: string }>(`select event_id from events`);
    const totals = await c.query<{ rows: string; distinct: string }>(
      `select count(*)::text as rows, count(distinct event_id)::text as distinct from events`,
    );
    const counted = await c.query<{ key: string; n: string }>(
      `select variant_key || '/' || event_type as key, count(*)::text as n from events
       where counted and experiment_id = $1 group by 1`,
      [experimentId],
    );
    const countedAny = await c.query<{ n: string }>(
      `select count(*)::text as n from events where counted and experiment_id is not null`,
    );
    const countedNonExposures = await c.query<{ n: string }>(
      `select count(*)::text as n from events
       where counted and experiment_id is not null and event_type <> 'exposure'`,
    );
    const counts = await c.query<{ key: string; n: string }>(
      `select variant_key || '/' || event_type as key, sum(events)::text as n from event_counts
       where experiment_id = $1 group by 1`,
      [experimentId],
    );
    const countsTotal = await c.query<{ n: string | null }>(
      `select sum(events)::text as n from event_counts`,
    );
    const subjectTotal = await c.query<{ n: string | null }>(
      `select sum(events)::text as n from subject_event_counts`,
    );
    const pending = await c.query<{ n: string }>(
      `select count(*)::text as n from pending_attributions`,
    );
    const byKey = (rows: { key: string; n: string }[]) =>
      Object.fromEntries(rows.map((r) => [r.key, Number(r.n)]));
    return {
      ids: ids.rows.map((r) => r.event_id),
      rows: Number(totals.rows[0]!.rows),
      distinct: Number(totals.rows[0]!.distinct),
      countedEvents: Number(countedAny.rows[0]!.n),
      countedNonExposures: Number(countedNonExposures.rows[0]!.n),
      countedByKey: byKey(counted.rows),
      countsByKey: byKey(counts.rows),
      countsTotal: Number(countsTotal.rows[0]!.n ?? 0),
      subjectCountsTotal: Number(subjectTotal.rows[0]!.n ?? 0),
      pending: Number(pending.rows[0]!.n),
    };
  } finally {
    await c.end();
  }
}

/** How many of `ids` are stored (rows, so a duplicate would count twice). */
export async function storedRows(databaseUrl: string, ids: readonly string[]): Promise<number> {
  const rows = await sql<{ n: string }>(
    databaseUrl,
    `select count(*)::text as n from events where event_id = any($1::text[])`,
    [ids],
  );
  return Number(rows[0]!.n);
}

// ---------------------------------------------------------------- ingestion

export interface IngestAnswer {
  accepted: number;
  duplicates: number;
  rejected: number;
}

export type Ingester = Client<typeof EventService>;

/** The ConnectError a call fails with, or undefined when it succeeds. */
export async function failureOf(call: Promise<unknown>): Promise<ConnectError | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    return ConnectError.from(error);
  }
}

/**
 * Sends `events` until a call answers OK (same event ids every time) and
 * returns that answer; every failed attempt's code is passed to `onError`.
 */
export async function ingestUntilOk(
  events: Ingester,
  batch: Event[],
  {
    timeoutMs = 60_000,
    onError,
  }: { timeoutMs?: number; onError?: (error: ConnectError) => void } = {},
): Promise<IngestAnswer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await events.ingestEvents({ events: batch }, { timeoutMs: 10_000 });
    } catch (error) {
      const e = ConnectError.from(error);
      onError?.(e);
      if (Date.now() > deadline) {
        throw new Error(
          `IngestEvents never answered OK within ${timeoutMs} ms; last: ${e.message}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const NETWORK_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT"]);

/**
 * What a failed call ran into: the socket error when the call never got an
 * answer from the server (connect-node reports those as INTERNAL over
 * HTTP/1.1), else the name of the code the server answered with.
 */
export function failureKind(error: ConnectError): string {
  // Duck-typed: socket errors come from Node's realm, not the test's (instanceof fails under jest).
  for (
    let e: unknown = error.cause, depth = 0;
    typeof e === "object" && e !== null && depth < 5;
    depth++
  ) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_ERRORS.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return Code[error.code];
}

/** What a client may run into while a server crashes and restarts: all retryable. */
export const RETRYABLE_FAILURES: ReadonlySet<string> = new Set([
  ...NETWORK_ERRORS,
  Code[Code.Unavailable],
  Code[Code.DeadlineExceeded],
]);

// ---------------------------------------------------------------- seeding and checking a child

/**
 * Seeds `child` through its public API — a flag with a running 50/50
 * experiment — and decides `subjects` subjects (`subject-<i>`), each into a
 * variant; returns the experiment, the decisions and a way to decide more.
 */
export async function seedDecisions(child: RemoteApp, subjects: number) {
  const t = asTestApp(child);
  const team = await makeTeam(t);
  const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
  const experiment = await runExperiment(t, team, flagKey, greyBlue());
  const decide = client(DecisionService, child.baseUrl, child.adminKey);
  const decideOne = async (subjectId: string) =>
    (await decide.decide({ subjectId, flagKeys: [flagKey] })).decisions[0]!;
  await waitFor(
    async () => (await decideOne("subject-0")).experimentId === experiment.id,
    10_000,
    "the experiment in the child's snapshot",
  );
  const decisions: { decisionId: string; variantKey: string }[] = [];
  for (let i = 0; i < subjects; i++) {
    const d = await decideOne(`subject-${i}`);
    expect(d.experimentId).toBe(experiment.id);
    expect(d.variantKey).not.toBe("");
    decisions.push({ decisionId: d.decisionId, variantKey: d.variantKey });
  }
  return { t, experiment, decisions, decideOne };
}

/**
 * `batches` × `batchSize` events over `decisions` (event i for decision
 * i mod their number), each of the type `typeOf(i)` says, with ids
 * `<prefix>-<run>-<i>` (conversions carry a value); and how many of each
 * `<variant>/<event type>` there are (what expectStoredAndCountedOnce checks).
 */
export function eventBatches(
  decisions: readonly { decisionId: string; variantKey: string }[],
  prefix: string,
  batches: number,
  batchSize: number,
  typeOf: (i: number) => "exposure" | "conversion",
): { batches: Event[][]; expectedByKey: Record<string, number> } {
  const runId = randomBytes(4).toString("hex");
  const expectedByKey: Record<string, number> = {};
  const all: Event[][] = [];
  for (let b = 0; b < batches; b++) {
    const batch: Event[] = [];
    for (let j = 0; j < batchSize; j++) {
      const i = b * batchSize + j;
      const d = decisions[i % decisions.length]!;
      const type = typeOf(i);
      const key = `${d.variantKey}/${type}`;
      expectedByKey[key] = (expectedByKey[key] ?? 0) + 1;
      batch.push(
        event(type, d.decisionId, {
          eventId: `${prefix}-${runId}-${String(i).padStart(6, "0")}`,
          properties: type === "conversion" ? { value: i } : {},
        }),
      );
    }
    all.push(batch);
  }
  return { batches: all, expectedByKey };
}

/**
 * Waits until the store holds every acknowledged event, then checks that
 * exactly those were stored, each once, and counted once as `expectedByKey`
 * (`<variant>/<event type>` → events) says.
 */
export async function expectStoredAndCountedOnce(
  databaseUrl: string,
  experimentId: string,
  acked: ReadonlySet<string>,
  expectedByKey: Record<string, number>,
): Promise<void> {
  await waitFor(
    async () => (await storeState(databaseUrl, experimentId)).rows >= acked.size,
    30_000,
    "every acknowledged event stored",
  ).catch(() => {});
  const state = await storeState(databaseUrl, experimentId);
  const stored = new Set(state.ids);
  const missing = [...acked].filter((id) => !stored.has(id));
  const extra = [...stored].filter((id) => !acked.has(id));
  expect({ missing: missing.length, firstMissing: missing.slice(0, 5) }).toEqual({
    missing: 0,
    firstMissing: [],
  });
  expect({ extra: extra.length, firstExtra: extra.slice(0, 5) }).toEqual({
    extra: 0,
    firstExtra: [],
  });
  expect(state.rows).toBe(acked.size);
  expect(state.distinct).toBe(state.rows);

  // Counts: every stored event counted once, in event_counts and per subject.
  expect(state.pending).toBe(0);
  expect(state.countedEvents).toBe(acked.size);
  expect(state.countsTotal).toBe(state.countedEvents);
  expect(state.subjectCountsTotal).toBe(state.countedNonExposures);
  expect(state.countsByKey).toEqual(state.countedByKey);
  expect(state.countsByKey).toEqual(expectedByKey);
}
