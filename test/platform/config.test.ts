import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "@jest/globals";
import { DEFAULT_NATS_URL, loadConfig, nodeVersionProblem } from "../../src/platform/config.js";

function problems(env: Record<string, string>): string[] {
  const result = loadConfig(env);
  return result.ok ? [] : result.problems;
}

describe("loadConfig", () => {
  it("applies the documented defaults to an empty environment", () => {
    const result = loadConfig({});
    expect(result).toEqual({
      ok: true,
      config: {
        port: 8080,
        databaseUrl: undefined,
        natsUrls: [DEFAULT_NATS_URL],
        natsUrlDefaulted: true,
        bootstrapAdminKey: undefined,
        serverSecret: undefined,
        roles: "all",
        logLevel: "info",
        corsOrigins: [],
        ingestRateLimit: 50_000,
        decideRateLimit: 0,
        eventRetentionDays: 90,
        natsPrefix: "LOTTY",
        natsReplicas: 1,
        exportDir: path.join(os.tmpdir(), "lotty-exports"),
      },
    });
  });

  it("reads every variable of a good configuration", () => {
    const result = loadConfig({
      PORT: "9090",
      DATABASE_URL: "postgres://lotty:pw@db.internal:5432/lotty",
      NATS_URL: "nats://a:4222, nats://b:4222",
      LOTTY_BOOTSTRAP_ADMIN_KEY: "k".repeat(40),
      LOTTY_DECISION_SECRET: "s".repeat(32),
      LOTTY_ROLES: "workers",
      LOG_LEVEL: "debug",
      LOTTY_CORS_ORIGINS: "https://console.example.com, http://localhost:5173",
      LOTTY_INGEST_RATE_LIMIT: "0",
      LOTTY_DECIDE_RATE_LIMIT: "2000",
      LOTTY_EVENT_RETENTION_DAYS: "30",
      LOTTY_NATS_PREFIX: "staging2",
      LOTTY_NATS_REPLICAS: "3",
      LOTTY_EXPORT_DIR: "/var/lib/lotty/exports",
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config).toEqual({
      port: 9090,
      databaseUrl: "postgres://lotty:pw@db.internal:5432/lotty",
      natsUrls: ["nats://a:4222", "nats://b:4222"],
      natsUrlDefaulted: false,
      bootstrapAdminKey: "k".repeat(40),
      serverSecret: "s".repeat(32),
      roles: "workers",
      logLevel: "debug",
      corsOrigins: ["https://console.example.com", "http://localhost:5173"],
      ingestRateLimit: 0,
      decideRateLimit: 2000,
      eventRetentionDays: 30,
      natsPrefix: "STAGING2",
      natsReplicas: 3,
      exportDir: "/var/lib/lotty/exports",
    });
  });

  it("treats empty values as unset", () => {
    const result = loadConfig({ PORT: "", DATABASE_URL: " ", LOG_LEVEL: "" });
    expect(result.ok && result.config.port).toBe(8080);
    expect(result.ok && result.config.databaseUrl).toBeUndefined();
  });

  it.each([
    ["PORT", "eighty", "PORT: must be a whole number from 0 to 65535"],
    ["PORT", "70000", "PORT: must be a whole number from 0 to 65535"],
    ["PORT", "-1", "PORT: must be a whole number from 0 to 65535"],
    [
      "DATABASE_URL",
      "mysql://x@db/lotty",
      "DATABASE_URL: must use postgres:// or postgresql:// (got mysql)",
    ],
    ["DATABASE_URL", "not a url", "DATABASE_URL: is not a URL"],
    ["NATS_URL", "http://127.0.0.1:4222", "NATS_URL: must use nats:// or tls:// (got http)"],
    [
      "LOTTY_INGEST_RATE_LIMIT",
      "fast",
      "LOTTY_INGEST_RATE_LIMIT: must be a whole number of events per second (0 = unlimited)",
    ],
    [
      "LOTTY_EVENT_RETENTION_DAYS",
      "7",
      "LOTTY_EVENT_RETENTION_DAYS: must be a whole number of days from 8 to 36500",
    ],
    [
      "LOTTY_BOOTSTRAP_ADMIN_KEY",
      "short",
      "LOTTY_BOOTSTRAP_ADMIN_KEY: must be at least 32 characters",
    ],
    [
      "LOTTY_BOOTSTRAP_ADMIN_KEY",
      `${"a".repeat(20)} ${"b".repeat(20)}`,
      "LOTTY_BOOTSTRAP_ADMIN_KEY: must be printable ASCII without spaces",
    ],
    ["LOTTY_DECISION_SECRET", "tiny", "LOTTY_DECISION_SECRET: must be at least 32 characters"],
    ["LOTTY_ROLES", "everything", "LOTTY_ROLES: must be one of api, workers, all"],
    [
      "LOTTY_NATS_PREFIX",
      "lotty.prod",
      "LOTTY_NATS_PREFIX: must be a letter followed by up to 31 letters or digits",
    ],
    [
      "LOTTY_NATS_REPLICAS",
      "7",
      "LOTTY_NATS_REPLICAS: must be a whole number of replicas from 1 to 5",
    ],
    [
      "LOG_LEVEL",
      "loud",
      "LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent",
    ],
  ])("names %s when it is %j", (name, value, expected) => {
    const found = problems({ [name]: value });
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(expected);
  });

  it("reports every bad variable at once, one line each", () => {
    const found = problems({ PORT: "x", LOTTY_ROLES: "nope", LOG_LEVEL: "loud" });
    expect(found.map((line) => line.split(":")[0]).sort()).toEqual([
      "LOG_LEVEL",
      "LOTTY_ROLES",
      "PORT",
    ]);
  });
});

describe("nodeVersionProblem", () => {
  it("accepts Node 22 and later and explains what to do on older ones", () => {
    expect(nodeVersionProblem("22.0.0")).toBeUndefined();
    expect(nodeVersionProblem("24.21.0")).toBeUndefined();
    expect(nodeVersionProblem("20.20.2")).toBe(
      "Lotty needs Node.js 22 or later, this is 20.20.2. Start it with 'npm start': npm ci installs Node 24 and the npm scripts use it.",
    );
  });
});
