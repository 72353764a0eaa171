/**
 * P1 as issue #20 measures it: Debian's `wrk -t1 -c50 -d8s` against Decide
 * (Connect JSON over HTTP/1.1; three flags, each with a running experiment
 * and a targeting rule) and against a bare `node:http` server answering a
 * body of the same size, three alternating rounds in the same run. A Lua
 * script gives each request one of 100,000 subjects (a counter per
 * thread). The figure is the median of the three rounds' ratios. Before
 * the rounds each server gets a short warm-up run (not counted), so the
 * first round does not pay for compiling the hot path.
 *
 * Needs `wrk` on the PATH (Debian: apt-get install wrk); the run stops with
 * a clear message otherwise. BENCH_WRK_SECONDS overrides the 8 s;
 * BENCH_WRK_WARMUP the 2 s warm-up;
 * BENCH_WRK_ROUNDS the three rounds; BENCH_WRK_LOTTY_ONLY=1 skips the bare
 * server (for profiling Lotty alone, e.g. with node --cpu-prof).
 */
import { execFile } from "node:child_process";
import http from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { withBenchApp } from "./support.js";
import { FLAGS, seedDecideScenario } from "./decide.js";

const run = promisify(execFile);
export const SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? 8);
export const WARMUP_SECONDS = Number(process.env.BENCH_WRK_WARMUP ?? 2);
export const ROUNDS = Number(process.env.BENCH_WRK_ROUNDS ?? 3);
const LOTTY_ONLY = process.env.BENCH_WRK_LOTTY_ONLY === "1";

/** The Lua script: one of 100,000 subjects per request; `headers` are sent as they are. */
export function luaScript(adminKey: string, headers: Record<string, string> = {}): string {
  const extra = Object.entries(headers)
    .map(([name, value]) => `wrk.headers["${name}"] = "${value}"\n`)
    .join("");
  return `
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer ${adminKey}"
${extra}local i = 0
request = function()
  i = (i + 1) % 100000
  local body = '{"subjectId":"user-' .. i .. '","attributes":{"country":"RU","app_version":"1.7.2","platform":"ios"},"flagKeys":["${FLAGS.join('","')}"]}'
  return wrk.format(nil, nil, nil, body)
end
`;
}

/** Requests per second `wrk -t1 -c50` reaches in `seconds`. */
export async function wrk(url: string, script: string, seconds = SECONDS): Promise<number> {
  const { stdout } = await run("wrk", ["-t1", "-c50", `-d${seconds}s`, "-s", script, url], {
    maxBuffer: 1 << 20,
  });
  const match = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  if (match === null) throw new Error(`wrk printed no rate:\n${stdout}`);
  if (errors !== null) throw new Error(`${url}: ${errors[1]} non-2xx answers`);
  return Number(match[1]);
}

/** Stops with a clear message when wrk is not on the PATH. */
export async function needWrk(bench: string): Promise<void> {
  try {
    await run("wrk", ["--version"]).catch((e: { stdout?: string }) => {
      if (!String(e.stdout ?? "").includes("wrk")) throw e;
    });
  } catch {
    throw new Error(`bench ${bench} needs wrk on the PATH (Debian: apt-get install wrk)`);
  }
}

/** The baseline: a bare node:http server answering `answer` to every request. */
export async function bareServer(answer: string): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, server };
}

export async function decideWrk(): Promise<Record<string, number>> {
  await needWrk("decide-wrk");
  return withBenchApp(async (bench) => {
    const { url, answer } = await seedDecideScenario(bench);
    const adminKey = bench.adminKey;
    const { url: bareUrl, server: bare } = await bareServer(answer);
    const dir = await mkdtemp(path.join(os.tmpdir(), "lotty-wrk-"));
    const script = path.join(dir, "decide.lua");
    await writeFile(script, luaScript(adminKey));
    try {
      if (WARMUP_SECONDS > 0) {
        await wrk(url, script, WARMUP_SECONDS);
        if (!LOTTY_ONLY) await wrk(bareUrl, script, WARMUP_SECONDS);
      }
      const lotty: number[] = [];
      const baseline: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        lotty.push(await wrk(url, script));
        baseline.push(LOTTY_ONLY ? Number.NaN : await wrk(bareUrl, script));
        process.stderr.write(
          `decide-wrk round ${round + 1}: lotty ${lotty[round]} req/s, bare ${baseline[round]} req/s\n`,
        );
      }
      const ratios = lotty.map((r, i) => r / baseline[i]!).sort((a, b) => a - b);
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      return {
        lotty_rps_median: Math.round(median(lotty)),
        bare_rps_median: Math.round(median(baseline)),
        ratio_median: Number(ratios[Math.floor(ratios.length / 2)]!.toFixed(3)),
        ratio_min: Number(ratios[0]!.toFixed(3)),
        ratio_max: Number(ratios.at(-1)!.toFixed(3)),
      };
    } finally {
      bare.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
}
