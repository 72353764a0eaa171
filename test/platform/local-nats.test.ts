/** The nats-server Lotty starts for itself when NATS_URL is unset. */
import { describe, expect, it } from "@jest/globals";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { HOW_TO_GET_NATS, isListening, startLocalNats } from "../../src/platform/local-nats.js";
import { freePort } from "../../src/platform/embedded-postgres.js";
import { createLogger } from "../../src/platform/logging.js";

const logger = createLogger("silent");

describe("local nats-server", () => {
  it("starts nats-server with JetStream under <dataDir>/nats and stops it", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "lotty-local-nats-"));
    const port = await freePort();
    const nats = await startLocalNats(dir, logger, port);
    try {
      const nc = await connect({ servers: `nats://127.0.0.1:${port}` });
      const jsm = await jetstreamManager(nc);
      const info = await jsm.getAccountInfo();
      expect(info.streams).toBe(0);
      await nc.close();
    } finally {
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    }
    expect(await isListening("127.0.0.1", port)).toBe(false);
  });

  it("explains how to get nats-server when it is not on the PATH", async () => {
    const saved = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      await expect(startLocalNats(os.tmpdir(), logger, await freePort())).rejects.toThrow(
        HOW_TO_GET_NATS,
      );
    } finally {
      process.env.PATH = saved;
    }
    expect(HOW_TO_GET_NATS).toContain("apt-get install nats-server");
    expect(HOW_TO_GET_NATS).toContain("docker compose");
  });
});
