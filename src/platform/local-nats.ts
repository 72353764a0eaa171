/**
 * When NATS_URL is unset and nothing listens on 127.0.0.1:4222, Lotty starts
 * `nats-server -js` itself, with its data under <dataDir>/nats, and stops it
 * on shutdown.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { accessSync, constants } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Logger } from "./logging.js";
import { sleep } from "./timing.js";

export const HOW_TO_GET_NATS =
  "nats-server was not found on the PATH and nothing listens on 127.0.0.1:4222. " +
  "Install it (apt-get install nats-server), run `docker compose up nats`, " +
  "or set NATS_URL to a NATS server with JetStream enabled.";

export function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

export interface LocalNats {
  stop(): Promise<void>;
}

/** Starts nats-server on 127.0.0.1:<port>; resolves once it accepts connections. */
export async function startLocalNats(
  dataDir: string,
  logger: Logger,
  port = 4222,
): Promise<LocalNats> {
  const binary = findOnPath("nats-server");
  if (binary === undefined) throw new Error(HOW_TO_GET_NATS);
  const storeDir = path.join(dataDir, "nats");
  await mkdir(storeDir, { recursive: true });
  const child: ChildProcess = spawn(
    binary,
    ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let exited = false;
  let stopping = false;
  child.once("exit", (code, signal) => {
    exited = true;
    if (stopping) logger.info("local nats-server stopped");
    else logger.warn({ code, signal }, "local nats-server exited unexpectedly");
  });
  child.stderr?.on("data", (chunk: Buffer) =>
    logger.debug({ nats: chunk.toString().trim() }, "local nats-server"),
  );
  for (let i = 0; i < 100 && !exited; i++) {
    if (await isListening("127.0.0.1", port)) {
      logger.info({ port, dir: storeDir }, "started local nats-server");
      return {
        stop: () =>
          new Promise<void>((resolve) => {
            if (exited) return resolve();
            stopping = true;
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      };
    }
    await sleep(100);
  }
  child.kill("SIGKILL");
  throw new Error(`local nats-server did not start on 127.0.0.1:${port}`);
}
