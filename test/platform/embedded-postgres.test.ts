/**
 * The embedded PostgreSQL with real processes: as root from a directory the
 * postgres user cannot enter (data moves to /var/lib/lotty/<name>-<hash>),
 * and as an ordinary user (data stays in the checkout, owned by that user).
 */
import { describe, expect, it } from "@jest/globals";
import { execFileSync, spawn } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { RELOCATION_ROOT, startEmbeddedPostgres } from "../../src/platform/embedded-postgres.js";
import { createLogger } from "../../src/platform/logging.js";

const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
const rootOnly = asRoot ? it : it.skip;
if (!asRoot) {
  process.stderr.write(
    "embedded-postgres tests: skipped, they need root (to act as other users)\n",
  );
}

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

describe("embedded PostgreSQL data directory", () => {
  rootOnly(
    "as root, runs from a 0700 directory with a space in its path, keeping data in /var/lib/lotty",
    async () => {
      const closed = await mkdtemp(path.join(os.tmpdir(), "lotty closed "));
      await chmod(closed, 0o700);
      const dataDir = path.join(closed, "my checkout", ".lotty");
      let relocated: string | undefined;
      try {
        const first = await startEmbeddedPostgres(dataDir, createLogger("silent"));
        relocated = path.dirname(first.dataDir);
        try {
          expect(path.dirname(relocated)).toBe(RELOCATION_ROOT);
          expect(path.basename(relocated)).toMatch(/^my_checkout-[0-9a-f]{16}$/);
          expect((await stat(first.dataDir)).uid).toBe(
            Number(execFileSync("id", ["-u", "postgres"]).toString()),
          );
          expect(existsSync(path.join(dataDir, "postgres"))).toBe(false);
          await query(first.url, "create table kept (id int)");
        } finally {
          await first.stop();
        }
        expect(existsSync(path.join(first.dataDir, "postmaster.pid"))).toBe(false);

        // The same checkout finds its data again.
        const second = await startEmbeddedPostgres(dataDir, createLogger("silent"));
        try {
          expect(second.dataDir).toBe(first.dataDir);
          const rows = await query(second.url, "select count(*)::int as n from kept");
          expect(rows.rows[0]).toEqual({ n: 0 });
        } finally {
          await second.stop();
        }
      } finally {
        await rm(closed, { recursive: true, force: true });
        if (relocated !== undefined) await rm(relocated, { recursive: true, force: true });
        await rmdir(RELOCATION_ROOT).catch(() => undefined); // only when nothing else is there
      }
    },
    60_000,
  );

  rootOnly("as root, says clearly when the data cannot be kept elsewhere either", async () => {
    const closed = await mkdtemp(path.join(os.tmpdir(), "lotty-closed-"));
    await chmod(closed, 0o700);
    const dataDir = path.join(closed, "project", ".lotty");
    const blocker = path.join(closed, "not-a-directory");
    await mkdir(path.dirname(dataDir), { recursive: true });
    await writeFile(blocker, "");
    try {
      const started = startEmbeddedPostgres(dataDir, createLogger("silent"), {
        relocationRoot: path.join(blocker, "lotty"),
      });
      await expect(started).rejects.toThrow(
        new RegExp(
          `^the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${closed}, ` +
            `and its data could not be kept in ${blocker}/lotty/project-[0-9a-f]{16} instead \\(.*ENOTDIR.*\\); ` +
            `run Lotty from a directory others can reach \\(or chmod o\\+x ${closed}\\), or set DATABASE_URL$`,
        ),
      );
      expect(existsSync(path.join(dataDir, "postgres", "PG_VERSION"))).toBe(false);
    } finally {
      await rm(closed, { recursive: true, force: true });
    }
  });

  rootOnly(
    "as an ordinary user, keeps the data in a directory that user owns",
    async () => {
      try {
        execFileSync("id", ["-u", "lottytest"], { stdio: "pipe" });
      } catch {
        execFileSync("useradd", ["--system", "--user-group", "--no-create-home", "lottytest"]);
      }
      const uid = Number(execFileSync("id", ["-u", "lottytest"]).toString());
      const gid = Number(execFileSync("id", ["-g", "lottytest"]).toString());
      const home = await mkdtemp(path.join(os.tmpdir(), "lotty user "));
      await chown(home, uid, gid);
      await chmod(home, 0o700);
      const dataDir = path.join(home, ".lotty");
      const script = [
        "const [, moduleUrl, loggingUrl, dataDir] = process.argv;",
        "const { startEmbeddedPostgres } = await import(moduleUrl);",
        "const { createLogger } = await import(loggingUrl);",
        'const db = await startEmbeddedPostgres(dataDir, createLogger("silent"));',
        "console.log(JSON.stringify({ url: db.url, dataDir: db.dataDir }));",
        "process.stdin.resume();",
        'process.stdin.on("end", () => db.stop().then(() => process.exit(0)));',
      ].join("\n");
      const dist = (file: string) =>
        pathToFileURL(path.resolve("dist", "src", "platform", file)).href;
      const child = spawn(
        "runuser",
        [
          "-u",
          "lottytest",
          "--",
          process.execPath,
          "--input-type=module",
          "-e",
          script,
          dist("embedded-postgres.js"),
          dist("logging.js"),
          dataDir,
        ],
        { cwd: home, env: { PATH: process.env.PATH ?? "", HOME: home }, stdio: "pipe" },
      );
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      try {
        const started = await new Promise<{ url: string; dataDir: string }>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`no start within 45 s:\n${output}`)),
            45_000,
          );
          child.stdout.on("data", () => {
            const line = output.split("\n").find((text) => text.startsWith("{"));
            if (line !== undefined) {
              clearTimeout(timer);
              resolve(JSON.parse(line) as { url: string; dataDir: string });
            }
          });
          void exited.then((code) => reject(new Error(`exited (${code}):\n${output}`)));
        });
        expect(started.dataDir).toBe(path.join(dataDir, "postgres"));
        expect((await stat(started.dataDir)).uid).toBe(uid);
        const rows = await query(started.url, "select current_user as who");
        expect(rows.rows[0]).toEqual({ who: "postgres" });
        child.stdin.end();
        expect(await exited).toBe(0);
        expect(existsSync(path.join(started.dataDir, "postmaster.pid"))).toBe(false);
      } finally {
        if (child.exitCode === null) child.kill("SIGINT");
        await exited;
        await rm(home, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
