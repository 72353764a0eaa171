/**
 * An open-loop load generator for latency at a fixed rate (P2), run as its
 * own process by loadAtFixedRate in support.ts.
 *
 * autocannon's rate limit releases each connection's share of a second in
 * a burst, so at a fixed rate it reports the queueing of its own bursts:
 * a bare node:http server answering a constant body showed p99 ≈ 70 ms at
 * 3,500 req/s with 50 connections. Here request i is due at start + i/rate,
 * sent on one of `connections` keep-alive connections (queued when all are
 * busy), and its latency counts from when it was due, not from when a
 * connection took it, so a slow server cannot hide its backlog (no
 * coordinated omission). undici's Pool keeps the generator's own cost per
 * request low (node:http's client added tens of ms of tail latency of its
 * own at 3,000 req/s on these machines).
 *
 * Usage: node open-loop.js <json options>; prints one JSON line of results.
 */
import { Pool } from "undici";

interface Options {
  url: string;
  method: string;
  headers: Record<string, string>;
  /** `[<id>]` is replaced by the request number (distinct subjects). */
  body: string;
  rate: number;
  durationS: number;
  connections: number;
}

const options = JSON.parse(process.argv[2] as string) as Options;
const target = new URL(options.url);
const pool = new Pool(target.origin, { connections: options.connections, pipelining: 1 });
const total = Math.round(options.rate * options.durationS);
const latencies = new Float64Array(total);
/** How late the generator itself sent each request (its own stalls, not the server's). */
const sendLags = new Float64Array(total);
let completed = 0;
let non2xx = 0;
let errors = 0;

function send(i: number, due: number): void {
  pool
    .request({
      path: target.pathname,
      method: options.method as "GET" | "POST",
      headers: options.headers,
      body: options.body.replaceAll("[<id>]", String(i)),
    })
    .then(async (res) => {
      await res.body.dump();
      if (res.statusCode < 200 || res.statusCode > 299) non2xx++;
    })
    .catch(() => errors++)
    .finally(() => finish(i, due));
}

function finish(i: number, due: number): void {
  latencies[i] = performance.now() - due;
  if (++completed === total) report();
}

function report(): void {
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  const at = (q: number, values = sorted) =>
    values[Math.min(values.length - 1, Math.floor(q * values.length))] ?? 0;
  const lags = Array.from(sendLags).sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 100) / 100;
  process.stdout.write(
    JSON.stringify({
      requests: total,
      rps: Math.round(total / ((performance.now() - start) / 1000)),
      p50: round(at(0.5)),
      p99: round(at(0.99)),
      max: round(sorted.at(-1) ?? 0),
      sendLagP99: round(at(0.99, lags)),
      non2xx,
      errors,
    }) + "\n",
  );
  void pool.close();
}

const start = performance.now();
let next = 0;
// Every millisecond, send everything that has fallen due.
const timer = setInterval(() => {
  const now = performance.now();
  while (next < total && start + (next * 1000) / options.rate <= now) {
    const due = start + (next * 1000) / options.rate;
    sendLags[next] = now - due;
    send(next, due);
    next++;
  }
  if (next >= total) clearInterval(timer);
}, 1);
