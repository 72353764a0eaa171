/**
 * What the benchmarks share: a throw-away database and the NATS address.
 * Users, flags and experiments are made with the tests' builders
 * (test/support/builders.ts), which bench therefore compiles with.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Role } from "../gen/lotty/access/v1/access_pb.js";
import { FlagType } from "../gen/lotty/flags/v1/flags_pb.js";
import type { GuardrailSchema } from "../gen/lotty/experiments/v1/experiments_pb.js";
import { App } from "../src/app.js";
import { loadConfig } from "../src/platform/config.js";
import { createLogger } from "../src/platform/logging.js";
import {
  layout,
  makeTeam,
  makeTypedFlag,
  makeUser,
  runExperiment,
} from "../test/support/builders.js";

export const BENCH_ADMIN_URL =
  process.env.BENCH_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const BENCH_NATS_URL = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";

/**
 * Runs `fn` with the URL of a fresh database that is dropped afterwards
 * (kept, and its name printed, with BENCH_KEEP_DATABASE=1: for prototyping
 * queries on a seeded benchmark database; drop it by hand).
 */
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
    if (process.env.BENCH_KEEP_DATABASE === "1") {
      process.stderr.write(`bench: kept database ${name}\n`);
    } else await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

export interface BenchApp {
  app: App;
  baseUrl: string;
  adminKey: string;
  databaseUrl: string;
}

/**
 * Runs `fn` against a Lotty app on a fresh database (dropped afterwards),
 * listening on a free port of 127.0.0.1, logging warnings only, with its
 * own stream names and a known admin key (`env` adds configuration); the
 * app is stopped afterwards (and its streams deleted with `deleteStreams`).
 */
export async function withBenchApp<T>(
  fn: (bench: BenchApp) => Promise<T>,
  options: { deleteStreams?: boolean; env?: Record<string, string> } = {},
): Promise<T> {
  return withBenchDatabase(async (databaseUrl) => {
    const adminKey = `lotty_${randomBytes(32).toString("base64url")}`;
    const parsed = loadConfig({
      PORT: "0",
      DATABASE_URL: databaseUrl,
      NATS_URL: BENCH_NATS_URL,
      LOTTY_BOOTSTRAP_ADMIN_KEY: adminKey,
      LOG_LEVEL: "warn",
      ...options.env,
    });
    if (!parsed.ok) throw new Error(parsed.problems.join("; "));
    const app = new App({
      config: parsed.config,
      logger: createLogger("warn"),
      busPrefix: `BENCH${randomBytes(3).toString("hex")}`,
      host: "127.0.0.1",
    });
    const port = await app.start();
    await app.started();
    try {
      return await fn({ app, baseUrl: `http://127.0.0.1:${port}`, adminKey, databaseUrl });
    } finally {
      await app.stop();
      if (options.deleteStreams === true) await deleteStreams(app.names.streamPrefix);
    }
  });
}

/** Deletes the NATS streams named `<prefix>_…` (a stopped bench app's). */
export async function deleteStreams(prefix: string): Promise<void> {
  const { connect } = await import("@nats-io/transport-node");
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const nc = await connect({ servers: BENCH_NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${prefix}_`)) names.push(name);
    }
    for (const name of names) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}

export interface LoadResult {
  rps: number;
  p99: number;
  non2xx: number;
  errors: number;
}

/**
 * Loads `url` with the autocannon CLI in its own process, so the load
 * generator does not share the event loop of the server it measures.
 * `[<id>]` in `body` is replaced by a fresh id per request (distinct
 * subjects). `rate` caps the overall requests per second.
 */
export async function loadWithAutocannon(options: {
  url: string;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  durationS: number;
  rate?: number;
}): Promise<LoadResult> {
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const args = ["-j", "-c", String(options.connections), "-d", String(options.durationS)];
  args.push("-m", options.method ?? "GET");
  for (const [name, value] of Object.entries(options.headers ?? {}))
    args.push("-H", `${name}=${value}`);
  if (options.body !== undefined) args.push("-b", options.body);
  if (options.body?.includes("[<id>]")) args.push("-I");
  if (options.rate !== undefined) args.push("-R", String(options.rate));
  args.push(options.url);
  const { stdout } = await promisify(execFile)("node_modules/.bin/autocannon", args, {
    maxBuffer: 64 * 1024 * 1024,
  });
  const result = JSON.parse(stdout.trim().split("\n").at(-1) as string) as {
    requests: { average: number };
    latency: { p99: number };
    non2xx: number;
    errors: number;
  };
  return {
    rps: Math.round(result.requests.average),
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

export interface FixedRateResult {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  /** p99 of how late the generator itself sent requests (its own stalls). */
  sendLagP99: number;
  non2xx: number;
  errors: number;
}

/**
 * Sends `rate` requests per second for `durationS` seconds from an
 * open-loop generator in its own process (bench/open-loop.ts) and returns
 * latencies in ms counted from when each request was due.
 */
export async function loadAtFixedRate(options: {
  url: string;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  durationS: number;
  rate: number;
}): Promise<FixedRateResult> {
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const script = new URL("./open-loop.js", import.meta.url).pathname;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      script,
      JSON.stringify({
        method: "GET",
        headers: {},
        body: "",
        ...options,
      }),
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout.trim()) as FixedRateResult;
}

/**
 * Through the public API (the builders of test/support/builders.ts): string
 * flags `"off"` with a running 50/50 experiment each (control "off",
 * treatment "on"; an owner and an approver are created to review them),
 * with the given targeting rules ("" = everyone), primary metric
 * `conversion_rate` and the given secondary metric keys and guardrail rules
 * (none when unset). Returns a function that creates further API keys, and
 * the experiment ids in the order of `flags`.
 */
export type GuardrailInit = MessageInitShape<typeof GuardrailSchema>;

export async function seedRunningExperiments(
  baseUrl: string,
  adminKey: string,
  flags: readonly {
    key: string;
    targetingRule: string;
    metricKeys?: readonly string[];
    guardrails?: readonly GuardrailInit[];
  }[],
): Promise<{ makeKey: (role: Role) => Promise<string>; experimentIds: string[] }> {
  const server = { baseUrl, adminKey };
  const makeKey = async (role: Role) => (await makeUser(server, role)).key;
  const team = await makeTeam(server);
  const experimentIds: string[] = [];
  for (const { key, targetingRule, metricKeys, guardrails } of flags) {
    await makeTypedFlag(server, FlagType.STRING, "off", key, "");
    const experiment = await runExperiment(
      server,
      team,
      key,
      layout(
        [
          { key: "control", value: "off", weight: 50, control: true },
          { key: "treatment", value: "on", weight: 50 },
        ],
        100,
        {
          name: `bench ${key}`,
          description: "",
          targetingRule,
          primaryMetricKey: "conversion_rate",
          metricKeys: [...(metricKeys ?? [])],
          guardrails: [...(guardrails ?? [])],
        },
      ),
    );
    experimentIds.push(experiment.id);
  }
  return { makeKey, experimentIds };
}
