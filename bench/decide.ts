/**
 * P1/P2: Decide over Connect JSON on HTTP/1.1 (3 flags with targeting, a
 * distinct subject per request, the autocannon CLI in its own process with
 * 50 connections) against a bare
 * node:http server answering a JSON body of the same size, in the same run;
 * then the latency at half of Lotty's measured throughput from an
 * open-loop generator (bench/open-loop.ts), with the bare server's at the
 * same rate for reference.
 */
import http from "node:http";
import {
  loadAtFixedRate,
  loadWithAutocannon,
  seedRunningExperiments,
  withBenchApp,
  type BenchApp,
} from "./support.js";

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = 50;
export const FLAGS = ["checkout_button", "search_ranking", "onboarding_flow"];

/**
 * The decide scenario both P1 benchmarks load: three flags with running
 * experiments and targeting rules, in the snapshot; returns Decide's URL,
 * its headers and one sample answer (checked to come from an experiment).
 */
export async function seedDecideScenario({ app, baseUrl, adminKey }: BenchApp) {
  await seedRunningExperiments(
    baseUrl,
    adminKey,
    FLAGS.map((key, i) => ({
      key,
      targetingRule: ['country IN ["RU","KZ"]', 'app_version >= "1.6.0"', 'platform == "ios"'][
        i
      ] as string,
    })),
  );
  await app.snapshots.reload(true);
  const url = `${baseUrl}/lotty.decision.v1.DecisionService/Decide`;
  const headers = { "content-type": "application/json", authorization: `Bearer ${adminKey}` };
  const sample = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({
      subjectId: "user-3f2c8a10-5b7e-4d21-9c3a-0e8f6b1d2a47",
      attributes: { country: "RU", app_version: "1.7.2", platform: "ios" },
      flagKeys: FLAGS,
    }),
  });
  const answer = await sample.text();
  if (sample.status !== 200 || !answer.includes("DECISION_REASON_EXPERIMENT")) {
    throw new Error(`Decide answered ${sample.status}: ${answer}`);
  }
  return { url, headers, answer };
}

export async function decide(): Promise<Record<string, number>> {
  return withBenchApp(async (bench) => {
    const { url, headers, answer } = await seedDecideScenario(bench);
    const bare = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(answer);
    });
    await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
    const barePort = (bare.address() as { port: number }).port;
    const body = JSON.stringify({
      subjectId: "user-[<id>]",
      attributes: { country: "RU", app_version: "1.7.2", platform: "ios" },
      flagKeys: FLAGS,
    });
    const load = async (target: string, rate?: number) => {
      const cpuBefore = process.cpuUsage();
      const result = await loadWithAutocannon({
        url: target,
        method: "POST",
        headers,
        body,
        connections: CONNECTIONS,
        durationS: DURATION_S,
        ...(rate ? { rate } : {}),
      });
      const cpu = process.cpuUsage(cpuBefore);
      if (result.non2xx > 0 || result.errors > 0) {
        throw new Error(`${target}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
      }
      // Server CPU per answered request (this process serves both targets).
      const cpuUsPerRequest = Math.round((cpu.user + cpu.system) / (result.rps * DURATION_S));
      return { ...result, cpuUsPerRequest };
    };
    try {
      const baseline = await load(`http://127.0.0.1:${barePort}/`);
      const full = await load(url);
      // P2 with an open-loop generator (see bench/open-loop.ts), against
      // Decide and, as the reference, the bare server at the same rate.
      const atHalf = (target: string) =>
        loadAtFixedRate({
          url: target,
          method: "POST",
          headers,
          body,
          connections: CONNECTIONS,
          durationS: DURATION_S,
          rate: Math.max(1, Math.round(full.rps / 2)),
        });
      const half = await atHalf(url);
      const bareHalf = await atHalf(`http://127.0.0.1:${barePort}/`);
      if (half.non2xx > 0 || half.errors > 0) {
        throw new Error(`half load: ${half.non2xx} non-2xx answers, ${half.errors} errors`);
      }
      return {
        bare_node_http_rps: baseline.rps,
        bare_cpu_us_per_request: baseline.cpuUsPerRequest,
        decide_rps: full.rps,
        decide_cpu_us_per_request: full.cpuUsPerRequest,
        decide_vs_bare_ratio: Math.round((full.rps / baseline.rps) * 1000) / 1000,
        decide_p99_ms_at_full_load: full.p99,
        decide_rps_at_half_load: half.rps,
        decide_p50_ms_at_half_load: half.p50,
        decide_p99_ms_at_half_load: half.p99,
        decide_max_ms_at_half_load: half.max,
        bare_p99_ms_at_same_rate: bareHalf.p99,
        generator_send_lag_p99_ms: half.sendLagP99,
        response_bytes: Buffer.byteLength(answer),
      };
    } finally {
      bare.close();
    }
  });
}
