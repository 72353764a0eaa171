/**
 * Starts a real Lotty app in the test process: its own database on the
 * machine's PostgreSQL, its own stream names on the machine's NATS, a free
 * port on 127.0.0.1 and a known bootstrap admin key.
 */
import { randomBytes } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { App } from "../../src/app.js";
import { loadConfig, type Config } from "../../src/platform/config.js";
import { createLogger, type Logger } from "../../src/platform/logging.js";
import { createTestDatabase, type TestDatabase } from "./database.js";
import { TEST_NATS_URL } from "./env.js";

export interface TestApp {
  app: App;
  baseUrl: string;
  adminKey: string;
  database: TestDatabase;
  config: Config;
  stop(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** Wait for /ready before returning (default true). */
  waitReady?: boolean;
  database?: TestDatabase;
  /**
   * Share another instance's stream/subject prefix (a second replica). The
   * streams then belong to that instance: this one does not delete them.
   */
  busPrefix?: string;
  /** The app's logger (default: a pino logger at TEST_LOG_LEVEL, silent when unset). */
  logger?: Logger;
  /** The guardrail monitor's sweep period (AppOptions.guardrailSweepMs). */
  guardrailSweepMs?: number;
  /** The ramp autopilot's period (AppOptions.rampIntervalMs). */
  rampIntervalMs?: number;
  /** The data-quality monitor's period (AppOptions.dataQualityIntervalMs). */
  dataQualityIntervalMs?: number;
  /** The digest scheduler's period (AppOptions.digestIntervalMs). */
  digestIntervalMs?: number;
}

export function testBusPrefix(): string {
  return `T${randomBytes(5).toString("hex").toUpperCase()}`;
}

/** Deletes every stream whose name starts with `prefix_`. */
export async function deleteStreams(prefix: string, natsUrl = TEST_NATS_URL): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${prefix}_`)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}

export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase());
  const adminKey = `lotty_test_${randomBytes(24).toString("base64url")}`;
  const result = loadConfig({
    PORT: "0",
    DATABASE_URL: database.url,
    NATS_URL: TEST_NATS_URL,
    LOTTY_BOOTSTRAP_ADMIN_KEY: adminKey,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ...options.env,
  });
  if (!result.ok) throw new Error(result.problems.join("; "));
  // LOTTY_NATS_PREFIX in `env` is used as is (the app reads it from its configuration).
  const prefixFromEnv = options.busPrefix === undefined && options.env?.LOTTY_NATS_PREFIX;
  const busPrefix =
    options.busPrefix ?? (prefixFromEnv ? result.config.natsPrefix : testBusPrefix());
  const app = new App({
    config: result.config,
    logger: options.logger ?? createLogger(result.config.logLevel),
    ...(prefixFromEnv ? {} : { busPrefix }),
    host: "127.0.0.1",
    shutdownGraceMs: 5_000,
    guardrailSweepMs: options.guardrailSweepMs,
    rampIntervalMs: options.rampIntervalMs,
    dataQualityIntervalMs: options.dataQualityIntervalMs,
    digestIntervalMs: options.digestIntervalMs,
  });
  const port = await app.start();
  const baseUrl = `${app.scheme}://127.0.0.1:${port}`;
  if (options.waitReady !== false) {
    await waitFor(() => app.readiness.isReady(), 30_000, "app readiness");
  }
  return {
    app,
    baseUrl,
    adminKey,
    database,
    config: result.config,
    stop: async () => {
      await app.stop();
      if (options.busPrefix === undefined) {
        await deleteStreams(busPrefix, result.config.natsUrls[0]).catch(() => {});
      }
      if (options.database === undefined) await database.drop();
    },
  };
}
