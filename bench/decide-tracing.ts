/**
 * What tracing costs Decide (issue #22: "no cost on the decide path when
 * off"): the decide-wrk scenario (Debian's `wrk -t1 -c50`, three flags
 * with running experiments, 100,000 subjects, every request with a sampled
 * W3C `traceparent`) against Lotty with tracing off, Lotty with tracing on
 * (the OpenTelemetry Node SDK exporting OTLP http/protobuf to a collector
 * stand-in in this process that reads and drops each export), and the bare
 * node:http server of decide-wrk, in alternating rounds of the same run.
 * Tracing is started before and shut down after each "on" round, so the
 * "off" rounds run exactly as a process without OTEL_* variables.
 *
 * Figures: requests per second of each (medians) and the medians of the
 * per-round ratios off/bare (P1's ratio), on/bare and on/off.
 * BENCH_WRK_SECONDS, BENCH_WRK_WARMUP and BENCH_WRK_ROUNDS as for decide-wrk.
 */
import http from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startTracing } from "../src/platform/tracing.js";
import { withBenchApp } from "./support.js";
import { seedDecideScenario } from "./decide.js";
import { bareServer, luaScript, needWrk, ROUNDS, WARMUP_SECONDS, wrk } from "./decide-wrk.js";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/** Reads and drops OTLP exports; counts the bytes it was sent. */
async function collectorStandIn(): Promise<{
  url: string;
  server: http.Server;
  bytes: () => number;
}> {
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => res.writeHead(200, { "content-type": "application/x-protobuf" }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    server,
    bytes: () => bytes,
  };
}

export async function decideTracing(): Promise<Record<string, number>> {
  await needWrk("decide-tracing");
  const collector = await collectorStandIn();
  const env: Record<string, string> = {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    OTEL_NODE_RESOURCE_DETECTORS: "none",
    // A queue that holds a second of spans at this rate, exported often.
    OTEL_BSP_MAX_QUEUE_SIZE: "32768",
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "4096",
    OTEL_BSP_SCHEDULE_DELAY: "250",
  };
  const saved = Object.keys(env).map((name) => [name, process.env[name]] as const);
  Object.assign(process.env, env);
  try {
    return await withBenchApp(async (bench) => {
      const { url, answer } = await seedDecideScenario(bench);
      const { url: bareUrl, server: bare } = await bareServer(answer);
      const dir = await mkdtemp(path.join(os.tmpdir(), "lotty-wrk-"));
      const script = path.join(dir, "decide.lua");
      await writeFile(script, luaScript(bench.adminKey, { traceparent: TRACEPARENT }));
      const traced = async <T>(work: () => Promise<T>): Promise<T> => {
        const tracing = await startTracing(process.env);
        try {
          return await work();
        } finally {
          await tracing.shutdown();
        }
      };
      try {
        if (WARMUP_SECONDS > 0) {
          await wrk(url, script, WARMUP_SECONDS);
          await traced(() => wrk(url, script, WARMUP_SECONDS));
          await wrk(bareUrl, script, WARMUP_SECONDS);
        }
        const off: number[] = [];
        const on: number[] = [];
        const bareRps: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          off.push(await wrk(url, script));
          on.push(await traced(() => wrk(url, script)));
          bareRps.push(await wrk(bareUrl, script));
          process.stderr.write(
            `decide-tracing round ${round + 1}: off ${off[round]}, on ${on[round]}, bare ${bareRps[round]} req/s\n`,
          );
        }
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        const ratio = (a: number[], b: number[]) =>
          Number(median(a.map((x, i) => x / b[i]!)).toFixed(3));
        return {
          off_rps_median: Math.round(median(off)),
          on_rps_median: Math.round(median(on)),
          bare_rps_median: Math.round(median(bareRps)),
          off_over_bare: ratio(off, bareRps),
          on_over_bare: ratio(on, bareRps),
          on_over_off: ratio(on, off),
          exported_mib: Number((collector.bytes() / 2 ** 20).toFixed(1)),
        };
      } finally {
        bare.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  } finally {
    collector.server.close();
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
