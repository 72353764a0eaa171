/**
 * P4: ingestion end to end — IngestEvents calls of 500 events, acknowledged
 * by JetStream, stored in PostgreSQL by the event store consumer,
 * attributed to their exposure and counted — against a raw PostgreSQL COPY
 * of the same rows in the same run.
 *
 * One flag with a running 50/50 experiment; 20,000 subjects get real
 * decision ids from the in-process decide. The generator (bench/ingest-load.ts,
 * its own process) keeps 8 calls of 500 events in flight for
 * BENCH_DURATION_S (default 60), half exposures and half conversions of
 * subjects exposed one or two calls earlier (see that file). The clock runs
 * from its first request until every acknowledged event is stored and every
 * conversion counted (no pending attributions left); the sustained rate is
 * the stored events over that time.
 *
 * The baseline: the stored rows, exported to a CSV file in /tmp, are loaded
 * with psql's \copy into a table with the events table's columns, keys and
 * indexes (partitioned, one partition), in the same database after the
 * ingestion has finished.
 *
 * Needs PostgreSQL, psql and NATS (BENCH_DATABASE_ADMIN_URL, BENCH_NATS_URL).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Role } from "../gen/lotty/access/v1/access_pb.js";
import { EVENT_STORE_CONSUMER } from "../src/events/consumer.js";
import type { App } from "../src/app.js";
import { seedRunningExperiments, withBenchApp } from "./support.js";

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 60);
const SUBJECTS = 20_000;
const BATCH = 500;
const CONCURRENCY = 8;
/** How long the store may take to catch up after the load before the run fails. */
const DRAIN_LIMIT_MS = 10 * 60_000;
const FLAG_KEY = "checkout_redesign";
/** Linux's USER_HZ, the unit of /proc CPU times. */
const CLOCK_TICKS = 100;

const run = promisify(execFile);

interface LoadResult {
  startedAt: number;
  lastAnswerAt: number;
  batches: number;
  events: number;
  exposures: number;
  conversions: number;
  accepted: number;
  duplicates: number;
  retries: number;
  /** CPU time of the generator process, ms. */
  cpuMs: number;
  p50: number;
  p99: number;
  max: number;
}

/** A service key for ingestion, and a flag with a running 50/50 experiment. */
async function seed(baseUrl: string, adminKey: string): Promise<string> {
  const { makeKey } = await seedRunningExperiments(baseUrl, adminKey, [
    { key: FLAG_KEY, targetingRule: "" },
  ]);
  return makeKey(Role.SERVICE);
}

async function storedSoFar(app: App): Promise<number> {
  return (await app.eventMetrics.stored.get()).values[0]?.value ?? 0;
}

async function one(app: App, sql: string): Promise<number> {
  const { rows } = await app.eventStore!.pool.query<{ n: string }>(sql);
  return Number(rows[0]?.n ?? 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * CPU time of the PostgreSQL server processes on this machine (ms), from
 * /proc: utime + stime, plus the children's (the postmaster reaps ended
 * backends); undefined when PostgreSQL is elsewhere or /proc is unreadable.
 */
async function postgresCpuMs(): Promise<number | undefined> {
  let ticks = 0;
  let found = false;
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    const close = stat.lastIndexOf(")");
    if (stat.slice(stat.indexOf("(") + 1, close) !== "postgres") continue;
    // Fields after the command: state is field 3, utime..cstime are 14..17.
    const fields = stat.slice(close + 2).split(" ");
    for (const i of [11, 12, 13, 14]) ticks += Number(fields[i] ?? 0);
    found = true;
  }
  return found ? ticks * (1000 / CLOCK_TICKS) : undefined;
}

/**
 * CPU time (ms) of the PostgreSQL processes serving one database (its
 * backends and autovacuum workers, found by the database name in their
 * command line), summed over the processes' lifetimes as seen by repeated
 * calls of `sample()`: other databases on a shared server (other
 * benchmarks, test runs) are left out, unlike postgresCpuMs(). A backend
 * that ends between two samples loses what it used since the last one.
 */
function databaseCpu(database: string) {
  const seen = new Map<string, number>();
  let total = 0;
  let running: Promise<number> | undefined;
  const once = async (): Promise<number> => {
    for (const pid of await readdir("/proc").catch(() => [] as string[])) {
      if (!/^\d+$/.test(pid)) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (!cmdline.startsWith("postgres:") || !cmdline.includes(` ${database} `)) continue;
      const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
      total += ticks - (seen.get(pid) ?? 0);
      seen.set(pid, ticks);
    }
    return total * (1000 / CLOCK_TICKS);
  };
  return {
    /** Calls made while one runs share its result (each process is read once). */
    sample(): Promise<number> {
      running ??= once().finally(() => (running = undefined));
      return running;
    },
  };
}

/** Busy and total CPU time of the whole machine (all cores), in clock ticks. */
async function machineCpu(): Promise<{ busy: number; total: number }> {
  const line = (await readFile("/proc/stat", "utf8").catch(() => "")).split("\n")[0] ?? "";
  const [, ...values] = line.trim().split(/\s+/);
  const n = values.map(Number);
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - (n[3] ?? 0) - (n[4] ?? 0), total };
}

function psql(databaseUrl: string, command: string) {
  return run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", databaseUrl, "-c", command], {
    maxBuffer: 16 * 1024 * 1024,
  });
}

export async function ingest(): Promise<Record<string, number>> {
  const dir = await mkdtemp(path.join(tmpdir(), "lotty-ingest-"));
  try {
    return await withBenchApp(async ({ app, baseUrl, adminKey, databaseUrl }) => {
      const serviceKey = await seed(baseUrl, adminKey);
      await app.snapshots.reload(true);
      const ids: string[] = [];
      for (let i = 0; i < SUBJECTS; i++) {
        const [d] = app.decision.decide({
          subjectId: `user-${i.toString(16).padStart(8, "0")}-${(i * 2654435761) % 1e9}`,
          flagKeys: [FLAG_KEY],
        }).decisions;
        if (d?.decisionId === undefined || d.decisionId === "" || !d.experimentId) {
          throw new Error(`decide gave no experiment decision for subject ${i}`);
        }
        ids.push(d.decisionId);
      }
      const idsFile = path.join(dir, "decision-ids.txt");
      await writeFile(idsFile, ids.join("\n") + "\n");

      const store = app.eventStore!;
      const consumer = app.eventConsumer;
      const bus = app.bus;
      if (consumer === undefined || bus === undefined) throw new Error("no event consumer");
      const stream = `${app.names.streamPrefix}_EVENTS`;
      const storedBefore = await storedSoFar(app);
      let sampling = true;
      const ownCpu = databaseCpu(new URL(databaseUrl).pathname.slice(1));
      try {
        // Consumer lag (messages not yet acknowledged by the store) and the
        // stored count, once a second while the load runs.
        const samples: { at: number; stored: number; lag: number }[] = [];
        const sampler = (async () => {
          while (sampling) {
            const info = await bus.jsm.consumers
              .info(stream, EVENT_STORE_CONSUMER)
              .catch(() => undefined);
            if (info !== undefined) {
              samples.push({
                at: Date.now(),
                stored: (await storedSoFar(app)) - storedBefore,
                lag: info.num_pending + info.num_ack_pending,
              });
            }
            await ownCpu.sample();
            await sleep(1_000);
          }
        })();

        const cpuBefore = process.cpuUsage();
        const pgBefore = await postgresCpuMs();
        const ownBefore = await ownCpu.sample();
        const machineBefore = await machineCpu();
        const script = new URL("./ingest-load.js", import.meta.url).pathname;
        const { stdout } = await run(
          process.execPath,
          [
            script,
            JSON.stringify({
              url: `${baseUrl}/lotty.events.v1.EventService/IngestEvents`,
              headers: { authorization: `Bearer ${serviceKey}` },
              decisionIdsFile: idsFile,
              durationS: DURATION_S,
              concurrency: CONCURRENCY,
              batchSize: BATCH,
              runId: randomBytes(4).toString("hex"),
            }),
          ],
          { maxBuffer: 16 * 1024 * 1024 },
        );
        const load = JSON.parse(stdout.trim()) as LoadResult;
        const loadEndedAt = Date.now();
        if (load.accepted + load.duplicates !== load.events || load.duplicates !== 0) {
          throw new Error(`generator: ${JSON.stringify(load)}`);
        }

        // Until every acknowledged event is stored (the consumer's counter,
        // then the table) and no conversion waits for its exposure.
        const limit = Date.now() + DRAIN_LIMIT_MS;
        while ((await storedSoFar(app)) - storedBefore < load.events) {
          if (Date.now() > limit) throw new Error("the event store did not catch up");
          await sleep(20);
        }
        let doneAt = Date.now();
        for (;;) {
          const stored = await one(app, "select count(*) as n from events");
          const pending = await one(app, "select count(*) as n from pending_attributions");
          if (stored === load.events && pending === 0) break;
          if (stored > load.events) throw new Error(`${stored} events stored, ${load.events} sent`);
          if (Date.now() > limit) throw new Error(`${pending} events still wait for attribution`);
          await sleep(100);
          doneAt = Date.now();
        }
        const cpu = process.cpuUsage(cpuBefore);
        const pgAfter = await postgresCpuMs();
        const ownAfter = await ownCpu.sample();
        const machineAfter = await machineCpu();
        sampling = false;
        await sampler;

        // Attributed and counted: every conversion counted, and the rollups
        // hold every event.
        const uncounted = await one(app, "select count(*) as n from events where not counted");
        const counted = await one(
          app,
          "select coalesce(sum(events), 0) as n from event_counts where event_type in ('exposure', 'conversion')",
        );
        const conversions = await one(
          app,
          "select count(*) as n from events where event_type = 'conversion'",
        );
        if (uncounted !== 0 || counted !== load.events || conversions !== load.conversions) {
          throw new Error(
            `counts: ${uncounted} uncounted, ${counted} in event_counts, ${conversions} conversions; expected ${load.events} and ${load.conversions}`,
          );
        }

        // The stored rate once the load had settled: from 20 % of the load
        // duration to its end.
        const settleAt = load.startedAt + DURATION_S * 200;
        const first = samples.find((s) => s.at >= settleAt);
        const last = samples.filter((s) => s.at <= loadEndedAt).at(-1);
        const steady =
          first !== undefined && last !== undefined && last.at > first.at
            ? ((last.stored - first.stored) * 1000) / (last.at - first.at)
            : 0;
        const lagAtEnd = samples.filter((s) => s.at <= loadEndedAt).at(-1)?.lag ?? 0;

        // The baseline: COPY of the same rows into a table like events.
        const csv = path.join(dir, "events.csv");
        await psql(databaseUrl, `\\copy (select * from events) to '${csv}' with (format csv)`);
        await store.pool.query(
          `create table bench_copy (like events including all) partition by range (occurred_at)`,
        );
        await store.pool.query(`create table bench_copy_default partition of bench_copy default`);
        await store.pool.query("checkpoint");
        const pgBeforeCopy = await postgresCpuMs();
        const ownBeforeCopy = await ownCpu.sample();
        // psql's backend ends with the copy: sample it while it runs.
        const copySampler = setInterval(() => void ownCpu.sample(), 100);
        const copyStarted = performance.now();
        await psql(databaseUrl, `\\copy bench_copy from '${csv}' with (format csv)`);
        const copyMs = performance.now() - copyStarted;
        clearInterval(copySampler);
        const ownAfterCopy = await ownCpu.sample();
        // psql's backend ends with it; its CPU shows in the postmaster's
        // children's time once the postmaster has reaped it.
        await sleep(500);
        const pgAfterCopy = await postgresCpuMs();
        const copied = await one(app, "select count(*) as n from bench_copy");
        if (copied !== load.events) throw new Error(`COPY loaded ${copied} of ${load.events} rows`);

        const seconds = (doneAt - load.startedAt) / 1000;
        const ingestRate = load.events / seconds;
        const copyRate = (copied * 1000) / copyMs;
        const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;
        // CPU µs per event of PostgreSQL over a phase; -1 when not measurable.
        const perEvent = (before: number | undefined, after: number | undefined, n: number) =>
          before === undefined || after === undefined
            ? -1
            : round(((after - before) * 1000) / n, 1);
        return {
          events: load.events,
          load_s: round((load.lastAnswerAt - load.startedAt) / 1000, 1),
          end_to_end_s: round(seconds, 1),
          accepted_events_per_s: round((load.events * 1000) / (load.lastAnswerAt - load.startedAt)),
          stored_events_per_s_during_load: round(steady),
          sustained_events_per_s: round(ingestRate),
          drain_after_load_ms: Math.max(0, doneAt - load.lastAnswerAt),
          consumer_lag_max_messages: Math.max(0, ...samples.map((s) => s.lag)),
          consumer_lag_at_load_end_messages: lagAtEnd,
          ingest_p50_ms: load.p50,
          ingest_p99_ms: load.p99,
          ingest_max_ms: load.max,
          generator_retries: load.retries,
          generator_cpu_us_per_event: round((load.cpuMs * 1000) / load.events, 1),
          server_cpu_us_per_event: round((cpu.user + cpu.system) / load.events, 1),
          postgres_cpu_us_per_event: perEvent(pgBefore, pgAfter, load.events),
          // The benchmark database's own processes only (see databaseCpu).
          postgres_own_cpu_us_per_event: perEvent(ownBefore, ownAfter, load.events),
          machine_busy_percent: round(
            (100 * (machineAfter.busy - machineBefore.busy)) /
              Math.max(1, machineAfter.total - machineBefore.total),
          ),
          copy_rows_per_s: round(copyRate),
          copy_s: round(copyMs / 1000, 1),
          copy_postgres_cpu_us_per_row: perEvent(pgBeforeCopy, pgAfterCopy, copied),
          copy_postgres_own_cpu_us_per_row: perEvent(ownBeforeCopy, ownAfterCopy, copied),
          ingest_vs_copy_ratio: round(ingestRate / copyRate, 3),
        };
      } finally {
        sampling = false;
        // Leave nothing behind in NATS: the stream holds every event sent.
        await consumer.stop();
        await bus.jsm.streams.delete(stream).catch(() => false);
      }
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
