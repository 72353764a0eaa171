/**
 * `npm run bench`: runs every benchmark in this folder (or the ones named on
 * the command line), each writing bench/results/<name>.json and one line
 * per figure to stdout. The benchmarks (docs/benchmarks.md): rpc-overhead,
 * startup, evaluation (P3), decide (P1, P2), memory (P8), ingest (P4),
 * report (P5), funnel (funnel, retention and session reports over the P5
 * data), guardrail (P6), console (P11), learnings (C9 find similar),
 * propagation (P7 across two processes), decide-wrk (P1 with wrk),
 * decide-tracing (what tracing costs Decide, off and on).
 */
import { writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { rpcOverhead } from "./rpc-overhead.js";
import { startup } from "./startup.js";
import { evaluation } from "./evaluation.js";
import { decide } from "./decide.js";
import { memory } from "./memory.js";
import { ingest } from "./ingest.js";
import { report } from "./report.js";
import { funnel } from "./funnel.js";
import { guardrail } from "./guardrail.js";
import { consoleBench } from "./console.js";
import { learnings } from "./learnings.js";
import { decideWrk } from "./decide-wrk.js";
import { propagation } from "./propagation.js";
import { decideTracing } from "./decide-tracing.js";

export interface BenchResult {
  name: string;
  command: string;
  node: string;
  at: string;
  figures: Record<string, number>;
}

const BENCHMARKS: Record<string, () => Promise<Record<string, number>>> = {
  "rpc-overhead": rpcOverhead,
  startup,
  evaluation,
  decide,
  memory,
  ingest,
  report,
  funnel,
  guardrail,
  console: consoleBench,
  learnings,
  "decide-wrk": decideWrk,
  propagation,
  "decide-tracing": decideTracing,
};

const selected = process.argv.slice(2);
const names = selected.length > 0 ? selected : Object.keys(BENCHMARKS);
const resultsDir = path.resolve("bench", "results");
await mkdir(resultsDir, { recursive: true });
for (const name of names) {
  const run = BENCHMARKS[name];
  if (run === undefined) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(BENCHMARKS).join(", ")}`);
    process.exit(2);
  }
  const figures = await run();
  const result: BenchResult = {
    name,
    command: `npm run bench -- ${name}`,
    node: process.version,
    at: new Date().toISOString(),
    figures,
  };
  for (const [key, value] of Object.entries(figures)) {
    process.stdout.write(`${name} ${key} ${value}\n`);
  }
  await writeFile(path.join(resultsDir, `${name}.json`), JSON.stringify(result, null, 2) + "\n");
}
process.exit(0);
