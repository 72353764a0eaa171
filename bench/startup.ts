/**
 * Start to /ready (budget P9: ≤ 15 s on a warm machine). Runs the built
 * process (dist/src/main.js) with nothing configured but NATS, in a fresh
 * working directory: the first start initialises the embedded PostgreSQL,
 * the following ones are warm starts of the same directory.
 */
import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const NATS_URL = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";
const WARM_RUNS = 3;

async function startOnce(cwd: string): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.resolve("dist", "src", "main.js")], {
    cwd,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      PORT: "0",
      NATS_URL,
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Lotty is ready on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`lotty exited with ${code}: ${output}`)));
  });
  const ready = await fetch(`http://127.0.0.1:${port}/ready`);
  const elapsed = performance.now() - started;
  if (ready.status !== 200) throw new Error(`/ready answered ${ready.status}`);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
  return Math.round(elapsed);
}

export async function startup(): Promise<Record<string, number>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "lotty-bench-startup-"));
  await chmod(dir, 0o755);
  try {
    const first = await startOnce(dir);
    const warm: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) warm.push(await startOnce(dir));
    warm.sort((a, b) => a - b);
    return {
      first_start_to_ready_ms: first,
      warm_start_to_ready_median_ms: warm[Math.floor(warm.length / 2)] as number,
      warm_start_to_ready_max_ms: warm[warm.length - 1] as number,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
