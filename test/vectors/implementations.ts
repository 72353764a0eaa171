/**
 * The implementations the decide vectors check, as `(configuration,
 * request) → decisions` for checkDecideVectors: the server's decide core
 * (whose answers are the expected ones) and the Node client's local decider
 * answering from a bootstrap file, with no server.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLocalDecider, type LocalDecider } from "../../clients/node/src/index.js";
import {
  REASON_NAMES,
  compileSnapshot,
  decide,
  type SnapshotSource,
} from "../../src/decision/core/index.js";
import { createDecisionSigner } from "../../src/decision/decision-id.js";
import type { VectorRequest } from "./decide-cases.js";
import { claimsOfDecisionId } from "./decide-runner.mjs";

const signer = createDecisionSigner("lotty decide vectors");

/** The server's decide core. */
export function coreDecide(configuration: SnapshotSource, request: VectorRequest) {
  return decide(compileSnapshot(configuration, { builtAt: 0 }), signer, request);
}

/** The expected decisions of a request, as decide.json writes them. */
export function expectedDecisions(configuration: SnapshotSource, request: VectorRequest) {
  return coreDecide(configuration, request).map((d) => ({
    flagKey: d.flagKey,
    value: d.hasValue ? d.value : null,
    reason: REASON_NAMES[d.reason],
    variantKey: d.variantKey,
    experimentId: d.experimentId,
    claims: claimsOfDecisionId(d.decisionId),
  }));
}

/**
 * The Node client's local decider, one per configuration version, each
 * loaded from a bootstrap file. Call close() when done.
 */
export function nodeLocalDeciders() {
  const dir = mkdtempSync(path.join(tmpdir(), "lotty-vectors-"));
  const signingKey = { keyId: randomUUID(), secret: new Uint8Array(randomBytes(32)) };
  const deciders = new Map<string, LocalDecider>();
  return {
    async decide(configuration: SnapshotSource, request: VectorRequest) {
      let d = deciders.get(configuration.version);
      if (d === undefined) {
        const file = path.join(dir, `${deciders.size}.json`);
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
        d = createLocalDecider({
          baseUrl: "http://127.0.0.1:1",
          bootstrapFile: file,
          signingKey,
          logger: { warn: () => {}, error: () => {} },
        });
        deciders.set(configuration.version, d);
        await d.ready();
      }
      return d.decide(request).map((x) => x.toJSON());
    },
    close: () => Promise.all([...deciders.values()].map((d) => d.close())),
  };
}
