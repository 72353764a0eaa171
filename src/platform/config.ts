/**
 * Process configuration, read once from environment variables and validated
 * before anything starts. Every problem is reported as one line naming the
 * variable; the process exits instead of starting half-configured.
 */
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import {
  TLS_CERT_VARIABLE,
  TLS_KEY_VARIABLE,
  TlsFileError,
  readTlsFiles,
  type TlsFiles,
} from "./tls.js";
import { tracingSettings, type TracingSettings } from "./tracing.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export const PROCESS_ROLES = ["api", "workers", "all"] as const;

export type ProcessRole = (typeof PROCESS_ROLES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  /** The one port for RPCs and HTTP endpoints; 0 picks a free port. */
  port: number;
  /** PostgreSQL URL; undefined means "run an embedded PostgreSQL". */
  databaseUrl: string | undefined;
  /** NATS server URL(s), comma-separated in the environment. */
  natsUrls: string[];
  /** True when NATS_URL was not set, so a local nats-server may be started. */
  natsUrlDefaulted: boolean;
  bootstrapAdminKey: string | undefined;
  /** LOTTY_DECISION_SECRET: signs decision ids and seals notification channel secrets. */
  serverSecret: string | undefined;
  roles: ProcessRole;
  logLevel: LogLevel;
  /** Origins allowed to call from browsers (Connect-Web); empty disables CORS. */
  corsOrigins: string[];
  /** Events per second each API key may ingest (per process); 0 = unlimited. */
  ingestRateLimit: number;
  /**
   * Decide and OFREP requests per second each API key may make (per
   * process, with a burst of two seconds' worth); 0 = unlimited.
   */
  decideRateLimit: number;
  /** Days of events kept; older daily partitions are dropped. */
  eventRetentionDays: number;
  /**
   * Prefix of this deployment's NATS streams (upper case) and subjects
   * (lower case), so several deployments can share one NATS server.
   */
  natsPrefix: string;
  /**
   * Replicas of each JetStream stream (LOTTY_NATS_REPLICAS, 1–5): 3 on a
   * three-node NATS cluster, so losing a node loses no acknowledged event.
   */
  natsReplicas: number;
  /**
   * Directory of the built console (index.html and assets/); undefined means
   * dist/console under the package root.
   */
  consoleDir: string | undefined;
  /**
   * LOTTY_EXPORT_DIR: where raw event export files are written (by the
   * workers) and read from (by the API); default <os tmpdir>/lotty-exports.
   * API and workers processes must see the same directory.
   */
  exportDir: string;
  /**
   * LOTTY_TLS_CERT_FILE and LOTTY_TLS_KEY_FILE (PEM): when set, the one port
   * serves only TLS (HTTP/1.1 and HTTP/2 by ALPN). Checked when loaded.
   */
  tls: TlsFiles | undefined;
  /**
   * Tracing, from the standard OTEL_* variables (tracing.ts): undefined
   * (the default) means off.
   */
  tracing: TracingSettings | undefined;
}

export const DEFAULT_INGEST_RATE_LIMIT = 50_000;
/**
 * Off by default: one process answers Decide for any one key faster than a
 * fixed default could sensibly allow (P1), and a limit that bites must be
 * sized against the fleet's capacity, which only the operator knows.
 */
export const DEFAULT_DECIDE_RATE_LIMIT = 0;
export const DEFAULT_EVENT_RETENTION_DAYS = 90;

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

function urlWithScheme(schemes: string[], example: string) {
  return (value: string, ctx: z.RefinementCtx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: "custom", message: `is not a URL (expected e.g. ${example})` });
      return;
    }
    if (!schemes.includes(url.protocol)) {
      ctx.addIssue({
        code: "custom",
        message: `must use ${schemes.map((s) => s.replace(":", "://")).join(" or ")} (got ${url.protocol.replace(":", "")})`,
      });
    } else if (url.hostname === "") {
      ctx.addIssue({ code: "custom", message: `has no host (expected e.g. ${example})` });
    }
  };
}

const envSchema = z.object({
  PORT: optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,5}$/, "must be a whole number from 0 to 65535")
      .transform(Number)
      .refine((n) => n <= 65535, "must be a whole number from 0 to 65535")
      .optional(),
  ),
  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .superRefine(
        urlWithScheme(["postgres:", "postgresql:"], "postgres://user@127.0.0.1:5432/lotty"),
      )
      .optional(),
  ),
  NATS_URL: optionalString.pipe(
    z
      .string()
      .superRefine((value, ctx) => {
        for (const part of value.split(",")) {
          urlWithScheme(["nats:", "tls:"], DEFAULT_NATS_URL)(part.trim(), ctx);
        }
      })
      .optional(),
  ),
  LOTTY_BOOTSTRAP_ADMIN_KEY: optionalString.pipe(
    z
      .string()
      .min(32, "must be at least 32 characters")
      .max(200, "must be at most 200 characters")
      .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces")
      .optional(),
  ),
  LOTTY_DECISION_SECRET: optionalString.pipe(
    z.string().min(32, "must be at least 32 characters").optional(),
  ),
  LOTTY_ROLES: optionalString.pipe(
    z.enum(PROCESS_ROLES, { message: `must be one of ${PROCESS_ROLES.join(", ")}` }).optional(),
  ),
  LOG_LEVEL: optionalString.pipe(
    z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(", ")}` }).optional(),
  ),
  LOTTY_CORS_ORIGINS: optionalString,
  LOTTY_INGEST_RATE_LIMIT: optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,9}$/, "must be a whole number of events per second (0 = unlimited)")
      .transform(Number)
      .optional(),
  ),
  LOTTY_DECIDE_RATE_LIMIT: optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,9}$/, "must be a whole number of requests per second (0 = unlimited)")
      .transform(Number)
      .optional(),
  ),
  LOTTY_NATS_PREFIX: optionalString.pipe(
    z
      .string()
      .regex(
        /^[A-Za-z][A-Za-z0-9]{0,31}$/,
        "must be a letter followed by up to 31 letters or digits",
      )
      .optional(),
  ),
  LOTTY_NATS_REPLICAS: optionalString.pipe(
    z
      .string()
      .regex(/^[1-5]$/, "must be a whole number of replicas from 1 to 5")
      .transform(Number)
      .optional(),
  ),
  LOTTY_CONSOLE_DIR: optionalString,
  LOTTY_EXPORT_DIR: optionalString,
  LOTTY_TLS_CERT_FILE: optionalString,
  LOTTY_TLS_KEY_FILE: optionalString,
  LOTTY_EVENT_RETENTION_DAYS: optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,5}$/, "must be a whole number of days from 8 to 36500")
      .transform(Number)
      .refine((n) => n >= 8 && n <= 36_500, "must be a whole number of days from 8 to 36500")
      .optional(),
  ),
});

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

/** Reads and validates the configuration; never throws. */
export function loadConfig(env: NodeJS.ProcessEnv): ConfigResult {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${String(issue.path[0] ?? "environment")}: ${issue.message}`,
    );
    return { ok: false, problems };
  }
  const e = parsed.data;
  const tlsFiles = checkTls(e.LOTTY_TLS_CERT_FILE, e.LOTTY_TLS_KEY_FILE);
  if (typeof tlsFiles === "string") return { ok: false, problems: [tlsFiles] };
  const tracing = tracingSettings(env);
  if (tracing !== undefined && "problems" in tracing)
    return { ok: false, problems: tracing.problems };
  return {
    ok: true,
    config: {
      port: e.PORT ?? 8080,
      databaseUrl: e.DATABASE_URL,
      natsUrls: (e.NATS_URL ?? DEFAULT_NATS_URL).split(",").map((s) => s.trim()),
      natsUrlDefaulted: e.NATS_URL === undefined,
      bootstrapAdminKey: e.LOTTY_BOOTSTRAP_ADMIN_KEY,
      serverSecret: e.LOTTY_DECISION_SECRET,
      roles: e.LOTTY_ROLES ?? "all",
      logLevel: e.LOG_LEVEL ?? "info",
      corsOrigins: (e.LOTTY_CORS_ORIGINS ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== ""),
      ingestRateLimit: e.LOTTY_INGEST_RATE_LIMIT ?? DEFAULT_INGEST_RATE_LIMIT,
      decideRateLimit: e.LOTTY_DECIDE_RATE_LIMIT ?? DEFAULT_DECIDE_RATE_LIMIT,
      eventRetentionDays: e.LOTTY_EVENT_RETENTION_DAYS ?? DEFAULT_EVENT_RETENTION_DAYS,
      natsPrefix: (e.LOTTY_NATS_PREFIX ?? "LOTTY").toUpperCase(),
      natsReplicas: e.LOTTY_NATS_REPLICAS ?? 1,
      consoleDir: e.LOTTY_CONSOLE_DIR,
      exportDir: path.resolve(e.LOTTY_EXPORT_DIR ?? path.join(os.tmpdir(), "lotty-exports")),
      tls: tlsFiles,
      tracing,
    },
  };
}

/** Both TLS files or neither; when both, they must be a readable PEM certificate and its key. */
function checkTls(
  certFile: string | undefined,
  keyFile: string | undefined,
): TlsFiles | undefined | string {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    const [set, unset] =
      certFile === undefined
        ? [TLS_KEY_VARIABLE, TLS_CERT_VARIABLE]
        : [TLS_CERT_VARIABLE, TLS_KEY_VARIABLE];
    return `${set}: is set but ${unset} is not (set both to serve HTTPS, or neither)`;
  }
  try {
    readTlsFiles({ certFile, keyFile });
  } catch (error) {
    if (error instanceof TlsFileError) return error.message;
    return `${TLS_CERT_VARIABLE}: ${error instanceof Error ? error.message : String(error)}`;
  }
  return { certFile, keyFile };
}

/** The oldest Node.js major version Lotty runs on (connect-node 2 and MikroORM 7 need it). */
export const MIN_NODE_MAJOR = 22;

/** Why this Node.js version cannot run Lotty, or undefined when it can. */
export function nodeVersionProblem(version: string): string | undefined {
  const major = Number(version.split(".")[0]);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return undefined;
  return (
    `Lotty needs Node.js ${MIN_NODE_MAJOR} or later, this is ${version}. ` +
    "Start it with 'npm start': npm ci installs Node 24 and the npm scripts use it."
  );
}
