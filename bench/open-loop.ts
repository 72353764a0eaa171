/**
 * An open-loop load generator for latency at a fixed rate (P2), run as its
 * own process by loadAtFixedRate in support.ts.
 *
 * autocannon's rate limit releases each connection's share of a second in
 * a burst, so at a fixed rate it reports the queueing of its own bursts:
 * a bare node:http server answering a constant body showed p99 ≈ 70 ms at
 * 3,500 req/s with 50 connections. Here request i is due at start + i/rate,
 * sent on one of `connections` keep-alive sockets (queued in the agent when
 * all are busy), and its latency counts from when it was due, not from when
 * a socket took it, so a slow server cannot hide its backlog (no
 * coordinated omission).
 *
 * Usage: node open-loop.js <json options>; prints one JSON line of results.
 */
import http from "node:http";

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
const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
const total = Math.round(options.rate * options.durationS);
const latencies = new Float64Array(total);
let completed = 0;
let non2xx = 0;
let errors = 0;

function send(i: number, due: number): void {
  const body = options.body.replaceAll("[<id>]", String(i));
  const req = http.request(
    {
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: options.method,
      headers: { ...options.headers, "content-length": Buffer.byteLength(body) },
      agent,
    },
    (res) => {
      res.resume();
      res.once("end", () => {
        if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) non2xx++;
        finish(i, due);
      });
    },
  );
  req.once("error", () => {
    errors++;
    finish(i, due);
  });
  req.end(body);
}

function finish(i: number, due: number): void {
  latencies[i] = performance.now() - due;
  if (++completed === total) report();
}

function report(): void {
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const round = (ms: number) => Math.round(ms * 100) / 100;
  process.stdout.write(
    JSON.stringify({
      requests: total,
      rps: Math.round(total / ((performance.now() - start) / 1000)),
      p50: round(at(0.5)),
      p99: round(at(0.99)),
      max: round(sorted.at(-1) ?? 0),
      non2xx,
      errors,
    }) + "\n",
  );
  agent.destroy();
}

const start = performance.now();
let next = 0;
// Every millisecond, send everything that has fallen due.
const timer = setInterval(() => {
  const now = performance.now();
  while (next < total && start + (next * 1000) / options.rate <= now) {
    send(next, start + (next * 1000) / options.rate);
    next++;
  }
  if (next >= total) clearInterval(timer);
}, 1);
