/**
 * C9: FindSimilar and SearchLearnings over 10,000 completed experiments
 * (BENCH_LEARNINGS, default 10,000), through the RPCs of a running Lotty.
 *
 * Seeding writes 200 flags (each with 1–3 of 40 product-area tags),
 * the completed experiments (5 per cent have three variants; targeting on
 * country among 20 values, platform among 3 and app_version; a primary
 * metric among 30, 0–3 secondary metrics, 0–2 guardrails) straight into
 * `experiments`, and their learnings with the library's own
 * `newLearning` and insert (notes drawn from a 300-word vocabulary). The
 * tables are analysed.
 *
 * Timed, each over 60 calls after 5 warm-up calls: FindSimilar for stored
 * experiments (random ones), FindSimilar for drafts (random flag, rule,
 * metrics), SearchLearnings with two words and a filter, and as the
 * baseline GetLearning (one row by key, the floor of an RPC that returns a
 * learning). Budget (issue #18): FindSimilar ≤ 100 ms p50.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { create } from "@bufbuild/protobuf";
import { ExperimentSchema } from "../gen/lotty/experiments/v1/experiments_pb.js";
import { LearningService } from "../gen/lotty/learnings/v1/learnings_pb.js";
import { newLearning } from "../src/learnings/entry.js";
import { insertLearning } from "../src/learnings/store.js";
import type { ExperimentConfig } from "../src/experiments/lookup.js";
import { client } from "../test/support/clients.js";
import { withBenchApp } from "./support.js";

const LEARNINGS = Number(process.env.BENCH_LEARNINGS ?? 10_000);
const FLAGS = 200;
const RUNS = 60;
const WARMUP = 5;

/** A small deterministic generator (mulberry32), so every run seeds the same data. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = rng(18);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
const some = <T>(xs: readonly T[], n: number): T[] => [
  ...new Set(Array.from({ length: n }, () => pick(xs))),
];

const TAGS = Array.from({ length: 40 }, (_, i) => `area${i}`);
const METRICS = Array.from({ length: 30 }, (_, i) => `metric_${i}`);
const COUNTRIES = Array.from({ length: 20 }, (_, i) => `C${String.fromCharCode(65 + i)}`);
const PLATFORMS = ["ios", "android", "web"];
const WORDS = Array.from({ length: 300 }, (_, i) => `word${i}`);

function rule(): string {
  const parts: string[] = [];
  if (random() < 0.6)
    parts.push(
      `country IN [${some(COUNTRIES, 3)
        .map((c) => `"${c}"`)
        .join(", ")}]`,
    );
  if (random() < 0.5) parts.push(`platform == "${pick(PLATFORMS)}"`);
  if (random() < 0.3) parts.push(`app_version >= "2.${Math.floor(random() * 10)}.0"`);
  return parts.join(" AND ");
}

function config(i: number): ExperimentConfig {
  const three = random() < 0.05;
  return {
    name: `Experiment ${i} ${some(WORDS, 3).join(" ")}`,
    description: `We believe ${some(WORDS, 12).join(" ")}`,
    audiencePercent: pick([10, 20, 50, 100]),
    variants: three
      ? [
          { key: "control", value: "a", weight: 34, control: true },
          { key: "b", value: "b", weight: 33, control: false },
          { key: "c", value: "c", weight: 33, control: false },
        ]
      : [
          { key: "control", value: "a", weight: 50, control: true },
          { key: "b", value: "b", weight: 50, control: false },
        ],
    targetingRule: rule(),
    primaryMetricKey: pick(METRICS),
    metricKeys: some(METRICS, Math.floor(random() * 4)),
    guardrails: some(METRICS, Math.floor(random() * 3)).map((metricKey) => ({
      metricKey,
      threshold: 1,
      direction: "increase_is_bad" as const,
      windowSeconds: 600,
      minSampleSize: 100,
      action: "pause" as const,
    })),
    conflictDomains: [],
    priority: 0,
  };
}

async function seed(url: string, ownerId: string): Promise<{ ids: string[]; flags: string[] }> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  try {
    const flags = Array.from({ length: FLAGS }, (_, i) => `bench_flag_${i}`);
    const flagTags = new Map(flags.map((f) => [f, some(TAGS, 1 + Math.floor(random() * 3))]));
    await pool.query(
      `insert into flags (key, type, default_value, description, tags, created_by, created_at, updated_at)
       select key, 'string', '"a"'::jsonb, 'bench', array(select jsonb_array_elements_text(tags)), $2, now(), now()
       from jsonb_to_recordset($1::jsonb) as x(key text, tags jsonb)`,
      [JSON.stringify(flags.map((key) => ({ key, tags: flagTags.get(key) }))), ownerId],
    );
    const ids: string[] = [];
    const now = Date.now();
    const rows = Array.from({ length: LEARNINGS }, (_, i) => {
      const id = randomUUID();
      ids.push(id);
      const completedAt = new Date(now - (LEARNINGS - i) * 3_600_000);
      const startedAt = new Date(
        completedAt.getTime() - (7 + Math.floor(random() * 21)) * 86_400_000,
      );
      const outcome = pick(["rollout", "rollback", "no_effect"]);
      return {
        id,
        flagKey: pick(flags),
        config: config(i),
        outcome,
        winnerVariantKey: outcome === "rollout" ? "b" : null,
        startedAt,
        completedAt,
      };
    });
    for (let i = 0; i < rows.length; i += 1_000) {
      await pool.query(
        `insert into experiments (id, flag_key, owner_id, status, version, config, outcome,
           winner_variant_key, justification, started_at, completed_at, created_at, updated_at)
         select id, flag_key, $2, 'completed', 1, config, outcome, winner, 'bench', started_at,
                completed_at, started_at, completed_at
         from jsonb_to_recordset($1::jsonb) as x(id uuid, flag_key text, config jsonb, outcome text,
           winner text, started_at timestamptz, completed_at timestamptz)`,
        [
          JSON.stringify(
            rows.slice(i, i + 1_000).map((r) => ({
              id: r.id,
              flag_key: r.flagKey,
              config: r.config,
              outcome: r.outcome,
              winner: r.winnerVariantKey,
              started_at: r.startedAt,
              completed_at: r.completedAt,
            })),
          ),
          ownerId,
        ],
      );
    }
    const inserts = rows.map((r) => async () => {
      const row = newLearning(
        {
          id: r.id,
          flagKey: r.flagKey,
          ownerId,
          config: r.config,
          outcome: r.outcome,
          winnerVariantKey: r.winnerVariantKey,
          justification: "bench",
          startedAt: r.startedAt,
          completedAt: r.completedAt,
        },
        {
          flagTags: flagTags.get(r.flagKey) ?? [],
          reportJson: null,
          firedGuardrailMetricKeys:
            random() < 0.1 ? r.config.guardrails.map((g) => g.metricKey) : [],
          segmentValues: new Map(),
          now: r.completedAt,
        },
      );
      row.notes = some(WORDS, 40).join(" ");
      row.action = "shipped";
      await insertLearning(pool, row);
    });
    for (let i = 0; i < inserts.length; i += 8) {
      await Promise.all(inserts.slice(i, i + 8).map((f) => f()));
    }
    await pool.query(
      `analyze flags; analyze experiments; analyze learnings; analyze learning_edits`,
    );
    return { ids, flags };
  } finally {
    await pool.end();
  }
}

async function timed(call: () => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < WARMUP; i++) await call();
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    await call();
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(ms.length / 2)]!, p95: ms[Math.floor(ms.length * 0.95)]! };
}

export async function learnings(): Promise<Record<string, number>> {
  return withBenchApp(async (bench) => {
    const users = new pg.Pool({ connectionString: bench.databaseUrl, max: 1 });
    const ownerId = await users
      .query<{ id: string }>(`select id::text as id from users limit 1`)
      .then((r) => r.rows[0]!.id)
      .finally(() => users.end());
    const seedStart = performance.now();
    const { ids, flags } = await seed(bench.databaseUrl, ownerId);
    const seedSeconds = (performance.now() - seedStart) / 1000;
    process.stderr.write(`learnings: seeded ${ids.length} in ${seedSeconds.toFixed(1)} s\n`);
    const rpc = client(LearningService, bench.baseUrl, bench.adminKey);
    const get = await timed(() => rpc.getLearning({ experimentId: pick(ids) }));
    const similar = await timed(() => rpc.findSimilar({ experimentId: pick(ids) }));
    const draft = await timed(() =>
      rpc.findSimilar({
        draft: create(ExperimentSchema, {
          flagKey: pick(flags),
          targetingRule: rule(),
          primaryMetricKey: pick(METRICS),
          metricKeys: some(METRICS, 2),
          variants: [
            { key: "control", weight: 50, control: true },
            { key: "b", weight: 50 },
          ],
        }),
      }),
    );
    const search = await timed(() =>
      rpc.searchLearnings({ query: `${pick(WORDS)} ${pick(WORDS)}`, tags: [pick(TAGS)] }),
    );
    const searchOneWord = await timed(() => rpc.searchLearnings({ query: pick(WORDS) }));
    return {
      learnings: ids.length,
      seed_s: Number(seedSeconds.toFixed(1)),
      get_learning_p50_ms: Number(get.p50.toFixed(2)),
      find_similar_p50_ms: Number(similar.p50.toFixed(2)),
      find_similar_p95_ms: Number(similar.p95.toFixed(2)),
      find_similar_draft_p50_ms: Number(draft.p50.toFixed(2)),
      find_similar_draft_p95_ms: Number(draft.p95.toFixed(2)),
      search_tag_p50_ms: Number(search.p50.toFixed(2)),
      search_one_word_p50_ms: Number(searchOneWord.p50.toFixed(2)),
      search_one_word_p95_ms: Number(searchOneWord.p95.toFixed(2)),
      find_similar_vs_get: Number((similar.p50 / get.p50).toFixed(1)),
    };
  });
}
