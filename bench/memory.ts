/**
 * P8: resident memory of a decide node holding 10k flags and 1k running
 * experiments (each with a targeting rule and two variants). The rows are
 * written straight into a fresh database, the snapshot is built, and the
 * process RSS is read after a garbage collection, next to the RSS of the
 * same process with an empty snapshot, and again after serving Decide
 * under load.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { loadWithAutocannon, withBenchApp } from "./support.js";

const FLAG_COUNT = 10_000;
const EXPERIMENT_COUNT = 1_000;

function usage(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  return { rss: mb(rss), heap: mb(heapUsed) };
}

async function seed(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const owner = randomUUID();
    await client.query(
      `insert into flags (key, type, default_value, description, tags, created_by, created_at, updated_at)
       select 'flag_' || g, 'string', '"off"', '', '{}', $1, now(), now() from generate_series(1, $2) g`,
      [owner, FLAG_COUNT],
    );
    const config = (i: number) =>
      JSON.stringify({
        name: `experiment ${i}`,
        description: "",
        audiencePercent: 100,
        variants: [
          { key: "control", value: "off", weight: 50, control: true },
          { key: "treatment", value: "on", weight: 50, control: false },
        ],
        targetingRule: `country IN ["RU","KZ","AM"] AND app_version >= "1.${i % 9}.0"`,
        primaryMetricKey: "conversion_rate",
        metricKeys: [],
        guardrails: [],
        conflictDomains: [],
        priority: 0,
      });
    for (let i = 1; i <= EXPERIMENT_COUNT; i++) {
      await client.query(
        `insert into experiments (id, flag_key, owner_id, status, version, config, rolled_back, started_at, created_at, updated_at)
         values ($1, $2, $3, 'running', 1, $4, false, now(), now(), now())`,
        [randomUUID(), `flag_${i}`, owner, config(i)],
      );
    }
  } finally {
    await client.end();
  }
}

export async function memory(): Promise<Record<string, number>> {
  return withBenchApp(async ({ app, databaseUrl, baseUrl, adminKey }) => {
    const empty = usage();
    await seed(databaseUrl);
    await app.snapshots.reload(true);
    const snapshot = app.snapshots.current!;
    if (snapshot.flags.size !== FLAG_COUNT || snapshot.live.length !== EXPERIMENT_COUNT) {
      throw new Error(
        `snapshot holds ${snapshot.flags.size} flags and ${snapshot.live.length} experiments`,
      );
    }
    const loaded = usage();
    // Then serve Decide for a while (ten experiment flags per request, a
    // new subject each time) and read RSS again, without and with a GC.
    const traffic = await loadWithAutocannon({
      url: `${baseUrl}/lotty.decision.v1.DecisionService/Decide`,
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` },
      body: JSON.stringify({
        subjectId: "user-[<id>]",
        attributes: { country: "RU", app_version: "1.7.2" },
        flagKeys: Array.from({ length: 10 }, (_, i) => `flag_${i * 97 + 1}`),
      }),
      connections: 50,
      durationS: Number(process.env.BENCH_DURATION_S ?? 10),
    });
    if (traffic.non2xx > 0 || traffic.errors > 0) throw new Error("decide failed under load");
    const serving = process.memoryUsage().rss;

    const served = usage();
    return {
      flags: FLAG_COUNT,
      running_experiments: EXPERIMENT_COUNT,
      rss_empty_mb: empty.rss,
      rss_loaded_mb: loaded.rss,
      heap_used_empty_mb: empty.heap,
      heap_used_loaded_mb: loaded.heap,
      heap_growth_mb: Math.round((loaded.heap - empty.heap) * 10) / 10,
      decide_rps_during: traffic.rps,
      rss_after_load_mb: Math.round((serving / 1024 / 1024) * 10) / 10,
      rss_after_load_gc_mb: served.rss,
    };
  });
}
