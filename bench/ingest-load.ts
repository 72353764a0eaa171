/**
 * The load generator of the ingestion benchmark (bench/ingest.ts), run as
 * its own process so it does not share the server's event loop.
 *
 * It keeps `concurrency` IngestEvents calls (Connect JSON over HTTP/1.1,
 * undici keep-alive connections) of `batchSize` events in flight until
 * `durationS` has passed, then waits for the calls in flight. Every event
 * id is new. Subjects come in blocks of batchSize/2: the first call carries
 * the exposures of blocks 0 and 1; call b ≥ 1 carries the conversions of
 * block b-1 and the exposures of block b+1, so each conversion follows its
 * exposure by one or two calls — with several calls in flight some
 * overtake it and wait in pending attribution until it is stored. Subject
 * k of block i is decision id (i·half + k) mod N, so after N subjects the
 * decision ids repeat (new events of known subjects).
 *
 * A call that fails (transport error, non-200, fewer events acknowledged
 * than sent) is retried with the same body, so the events it carries are
 * eventually acknowledged exactly once; retries are counted.
 *
 * With `eventsPerSecond`, call b is not sent before b·batchSize/eventsPerSecond
 * seconds from the start (a paced background load, bench/guardrail.ts).
 *
 * Usage: node ingest-load.js <json options>; prints one JSON line of results.
 */
import { readFile } from "node:fs/promises";
import { Pool } from "undici";

interface Options {
  url: string;
  headers: Record<string, string>;
  /** A file with one decision id per line. */
  decisionIdsFile: string;
  durationS: number;
  concurrency: number;
  batchSize: number;
  /** Prefix of every event id, unique per run. */
  runId: string;
  /** Paces the calls to this many events per second; unset: as fast as the calls return. */
  eventsPerSecond?: number;
}

const options = JSON.parse(process.argv[2] as string) as Options;
const decisionIds = (await readFile(options.decisionIdsFile, "utf8")).split("\n").filter(Boolean);
const target = new URL(options.url);
const pool = new Pool(target.origin, { connections: options.concurrency, pipelining: 1 });
const half = Math.floor(options.batchSize / 2);
const headers = { ...options.headers, "content-type": "application/json" };

const latencies: number[] = [];
let accepted = 0;
let duplicates = 0;
let retries = 0;
let batches = 0;
let events = 0;
let exposures = 0;
let conversions = 0;
let nextBatch = 0;
let lastAnswerAt = 0;

function subject(block: number, k: number): string {
  return decisionIds[(block * half + k) % decisionIds.length] as string;
}

/** The JSON body of call `b` (see the file comment), built as a string. */
function body(b: number): { text: string; exposures: number; conversions: number } {
  const occurredAt = new Date().toISOString();
  const parts: string[] = [];
  const exposure = (block: number, k: number) =>
    parts.push(
      `{"eventId":"${options.runId}-x${block}-${k}","eventType":"exposure","decisionId":"${subject(block, k)}","occurredAt":"${occurredAt}","properties":{}}`,
    );
  const conversion = (block: number, k: number) =>
    parts.push(
      `{"eventId":"${options.runId}-c${block}-${k}","eventType":"conversion","decisionId":"${subject(block, k)}","occurredAt":"${occurredAt}","properties":{"value":${((block * 7 + k * 13) % 9000) / 100 + 5}}}`,
    );
  let x = 0;
  let c = 0;
  if (b === 0) {
    for (const block of [0, 1]) for (let k = 0; k < half; k++, x++) exposure(block, k);
  } else {
    for (let k = 0; k < half; k++, c++) conversion(b - 1, k);
    for (let k = 0; k < half; k++, x++) exposure(b + 1, k);
  }
  return { text: `{"events":[${parts.join(",")}]}`, exposures: x, conversions: c };
}

async function call(text: string, count: number): Promise<void> {
  for (;;) {
    const sent = performance.now();
    try {
      const res = await pool.request({
        path: target.pathname,
        method: "POST",
        headers,
        body: text,
      });
      const answer = await res.body.text();
      latencies.push(performance.now() - sent);
      if (res.statusCode === 200) {
        const r = JSON.parse(answer) as {
          accepted?: number;
          duplicates?: number;
          rejected?: number;
        };
        const ok = (r.accepted ?? 0) + (r.duplicates ?? 0);
        if ((r.rejected ?? 0) > 0) {
          throw new Error(`IngestEvents rejected ${r.rejected} events: ${answer.slice(0, 500)}`);
        }
        if (ok === count) {
          accepted += r.accepted ?? 0;
          duplicates += r.duplicates ?? 0;
          lastAnswerAt = Date.now();
          return;
        }
      } else if (res.statusCode !== 429 && res.statusCode !== 503) {
        throw new Error(`IngestEvents answered ${res.statusCode}: ${answer.slice(0, 500)}`);
      }
      const retryAfter = Number(res.headers["retry-after"] ?? 0);
      retries++;
      await sleep(Math.max(50, retryAfter * 1000));
    } catch (error) {
      if (error instanceof Error && error.message.startsWith("IngestEvents")) throw error;
      retries++;
      await sleep(100);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const startedAt = Date.now();
const deadline = startedAt + options.durationS * 1000;

async function worker(): Promise<void> {
  while (Date.now() < deadline) {
    const b = nextBatch++;
    if (options.eventsPerSecond !== undefined) {
      const due = startedAt + ((b * options.batchSize) / options.eventsPerSecond) * 1000;
      if (due >= deadline) break;
      await sleep(due - Date.now());
    }
    const { text, exposures: x, conversions: c } = body(b);
    await call(text, x + c);
    batches++;
    events += x + c;
    exposures += x;
    conversions += c;
  }
}

await Promise.all(Array.from({ length: options.concurrency }, worker));
await pool.close();
latencies.sort((a, b) => a - b);
const at = (q: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
const round = (ms: number) => Math.round(ms * 10) / 10;
process.stdout.write(
  JSON.stringify({
    startedAt,
    lastAnswerAt,
    batches,
    events,
    exposures,
    conversions,
    accepted,
    duplicates,
    retries,
    cpuMs: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1000),
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    max: round(latencies.at(-1) ?? 0),
  }) + "\n",
);
