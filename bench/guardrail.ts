/**
 * P6: guardrail reaction — from the IngestEvents answer that acknowledges
 * the first breaching event to the moment decide serves the experiment's
 * action — under a background load of 5,000 events/s.
 *
 * Setup: one flag with a running 50/50 experiment for the background load
 * (exposures and conversions of 20,000 subjects, paced by
 * bench/ingest-load.ts in its own process), and TRIALS more flags, each
 * with a running experiment guarded by `errors > 0` (COUNT, window 600 s,
 * minimum sample 1, action pause). Once the background load has run for
 * WARMUP_S, each trial sends one call with the exposure and one error of
 * a treatment subject, then polls the in-process decide (the same
 * snapshot the server answers from) every 5 ms until the flag answers its
 * default. Trials run one after another, a second apart.
 *
 * Needs PostgreSQL and NATS (BENCH_DATABASE_ADMIN_URL, BENCH_NATS_URL).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Role } from "../gen/lotty/access/v1/access_pb.js";
import { DecisionReason } from "../gen/lotty/decision/v1/decision_pb.js";
import { EventService } from "../gen/lotty/events/v1/events_pb.js";
import { Direction, GuardrailAction } from "../gen/lotty/experiments/v1/experiments_pb.js";
import { seedRunningExperiments, withBenchApp } from "./support.js";

const BACKGROUND_EVENTS_PER_S = Number(process.env.BENCH_BACKGROUND_RATE ?? 5_000);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 20);
const WARMUP_S = 5;
const SUBJECTS = 20_000;
const BATCH = 500;
const BACKGROUND_FLAG = "workout_summary_layout";

const run = promisify(execFile);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

export async function guardrail(): Promise<Record<string, number>> {
  const dir = await mkdtemp(path.join(tmpdir(), "lotty-guardrail-"));
  try {
    return await withBenchApp(async ({ app, baseUrl, adminKey }) => {
      const trialFlags = Array.from({ length: TRIALS }, (_, i) => `guarded_flag_${i}`);
      const rule = {
        metricKey: "errors",
        threshold: 0,
        direction: Direction.INCREASE_IS_BAD,
        windowSeconds: 600,
        minSampleSize: 1,
        action: GuardrailAction.PAUSE,
      };
      const { makeKey, experimentIds } = await seedRunningExperiments(baseUrl, adminKey, [
        { key: BACKGROUND_FLAG, targetingRule: "" },
        ...trialFlags.map((key) => ({ key, targetingRule: "", guardrails: [rule] })),
      ]);
      const guarded = trialFlags.map((flagKey, i) => ({ flagKey, id: experimentIds[i + 1]! }));
      const serviceKey = await makeKey(Role.SERVICE);
      const transport = (key: string) =>
        createConnectTransport({
          baseUrl,
          httpVersion: "1.1",
          interceptors: [
            (next) => (req) => (req.header.set("authorization", `Bearer ${key}`), next(req)),
          ],
        });
      await app.snapshots.reload(true);

      const ids: string[] = [];
      for (let i = 0; i < SUBJECTS; i++) {
        const [d] = app.decision.decide({
          subjectId: `bg-${i}`,
          flagKeys: [BACKGROUND_FLAG],
        }).decisions;
        if (!d?.experimentId) throw new Error("no background decision");
        ids.push(d.decisionId as string);
      }
      const idsFile = path.join(dir, "decision-ids.txt");
      await writeFile(idsFile, ids.join("\n") + "\n");

      const durationS = WARMUP_S + TRIALS * 2 + 10;
      const script = new URL("./ingest-load.js", import.meta.url).pathname;
      const background = run(
        process.execPath,
        [
          script,
          JSON.stringify({
            url: `${baseUrl}/lotty.events.v1.EventService/IngestEvents`,
            headers: { authorization: `Bearer ${serviceKey}` },
            decisionIdsFile: idsFile,
            durationS,
            concurrency: 4,
            batchSize: BATCH,
            runId: randomBytes(4).toString("hex"),
            eventsPerSecond: BACKGROUND_EVENTS_PER_S,
          }),
        ],
        { maxBuffer: 16 * 1024 * 1024 },
      );
      await sleep(WARMUP_S * 1000);

      const events = createClient(EventService, transport(serviceKey));
      const reactions: number[] = [];
      for (const [i, { flagKey, id }] of guarded.entries()) {
        let subject = "";
        let decisionId = "";
        for (let k = 0; decisionId === ""; k++) {
          const [d] = app.decision.decide({
            subjectId: `t${i}-${k}`,
            flagKeys: [flagKey],
          }).decisions;
          if (d?.experimentId === id && d.variantKey === "treatment") {
            subject = `t${i}-${k}`;
            decisionId = d.decisionId as string;
          }
        }
        const now = Date.now();
        const answer = await events.ingestEvents({
          events: [
            {
              eventId: `p6-x-${i}-${now}`,
              eventType: "exposure",
              decisionId,
              occurredAt: timestampFromMs(now),
            },
            {
              eventId: `p6-e-${i}-${now}`,
              eventType: "error",
              decisionId,
              occurredAt: timestampFromMs(now),
            },
          ],
        });
        const ackedAt = performance.now();
        if (answer.accepted !== 2) throw new Error(`trial ${i}: ${JSON.stringify(answer)}`);
        for (;;) {
          const [d] = app.decision.decide({ subjectId: subject, flagKeys: [flagKey] }).decisions;
          if (d?.reason === DecisionReason.DEFAULT) break;
          if (performance.now() - ackedAt > 60_000) throw new Error(`trial ${i}: no pause`);
          await sleep(5);
        }
        reactions.push(performance.now() - ackedAt);
        await sleep(1_000);
      }
      const { stdout } = await background;
      const load = JSON.parse(stdout.trim()) as {
        startedAt: number;
        lastAnswerAt: number;
        accepted: number;
      };
      const sorted = [...reactions].sort((a, b) => a - b);
      const triggers = (await app.guardrailMetrics.triggers.get()).values.reduce(
        (sum, v) => sum + v.value,
        0,
      );
      if (triggers !== TRIALS) throw new Error(`${triggers} triggers for ${TRIALS} trials`);
      return {
        trials: TRIALS,
        reaction_p50_ms: Math.round(quantile(sorted, 0.5)),
        reaction_p95_ms: Math.round(quantile(sorted, 0.95)),
        reaction_max_ms: Math.round(sorted.at(-1) ?? Number.NaN),
        background_events_per_s: Math.round(
          load.accepted / ((load.lastAnswerAt - load.startedAt) / 1000),
        ),
      };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
