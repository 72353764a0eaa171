#!/usr/bin/env node
/**
 * The decide-runner adapter of @lotty/client (built: `npm run clients:build`):
 * each configuration is handed to createLocalDecider as a bootstrap file,
 * with no server, and every request is answered by its decide().
 *
 *   npm run clients:build
 *   node test/vectors/decide-runner.mjs -- node test/vectors/adapters/node-client.mjs
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { createLocalDecider } from "../../../clients/node/dist/clients/node/src/index.js";

const dir = mkdtempSync(path.join(tmpdir(), "lotty-vectors-"));
const signingKey = { keyId: randomUUID(), secret: new Uint8Array(randomBytes(32)) };
const silent = { warn: () => {}, error: () => {} };
let current = { version: undefined, decider: undefined };

for await (const line of createInterface({ input: process.stdin })) {
  const { configuration, request } = JSON.parse(line);
  if (configuration.version !== current.version) {
    await current.decider?.close();
    const file = path.join(dir, `${current.version ?? "first"}.json`.replace(/[^\w.-]/g, "_"));
    writeFileSync(
      file,
      JSON.stringify({
        lottyLocalConfiguration: 1,
        savedAt: Date.now(),
        version: configuration.version,
        format: configuration.format,
        source: configuration,
      }),
    );
    const decider = createLocalDecider({
      baseUrl: "http://127.0.0.1:1",
      bootstrapFile: file,
      signingKey,
      logger: silent,
    });
    await decider.ready();
    current = { version: configuration.version, decider };
  }
  process.stdout.write(JSON.stringify(current.decider.decide(request)) + "\n");
}
await current.decider?.close();
