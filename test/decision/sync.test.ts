/**
 * Configuration sync (docs/local-evaluation.md): GetConfiguration and
 * WatchConfiguration serve the decide node's configuration; a client that
 * compiles it decides as the server does; the stream sends each new
 * version and heartbeats in between; only services and admins may read it.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import {
  DecisionService,
  WatchConfigurationRequestSchema,
} from "../../gen/lotty/decision/v1/decision_pb.js";
import { ConfigurationSync } from "../../src/decision/sync.js";
import { FlagService, FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import {
  compileSnapshot,
  createDecider,
  SNAPSHOT_SOURCE_FORMAT,
  type SnapshotSource,
} from "../../src/decision/core/index.js";
import { createDecisionSigner } from "../../src/decision/decision-id.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { makeUser, runningExperiment, str, uniqueKey } from "../support/builders.js";

/** The claims a decision id carries (d1.<base64url JSON>.<tag>), without checking its tag. */
function payloadOf(id: string): unknown {
  return JSON.parse(Buffer.from(id.split(".")[1]!, "base64url").toString("utf8"));
}

describe("configuration sync", () => {
  let t: TestApp;
  let service: ReturnType<typeof client<typeof DecisionService>>;

  beforeAll(async () => {
    t = await startTestApp();
    service = client(DecisionService, t.baseUrl, (await makeUser(t, Role.SERVICE)).key);
  });
  afterAll(async () => {
    await t.stop();
  });

  it("serves the configuration the server decides with, and not_modified for the same version", async () => {
    const { flagKey } = await runningExperiment(t);
    const first = await service.getConfiguration({});
    expect(first.notModified).toBe(false);
    const configuration = first.configuration!;
    // Nothing ramps: format 1, which older clients still read (format 2 only
    // while an experiment ramps; test/autopilot/ramp.test.ts).
    expect(configuration.format).toBe(1);
    expect(SNAPSHOT_SOURCE_FORMAT).toBe(2);
    const source = JSON.parse(configuration.sourceJson) as SnapshotSource;
    expect(source.format).toBe(configuration.format);
    expect(source.version).toBe(configuration.version);
    expect(source.flags.map((f) => f.key)).toContain(flagKey);
    // Compiled by a client, it decides as the server (same payloads; the
    // signer here is a stand-in, so ids are compared by their claims).
    const signer = createDecisionSigner("client-side");
    const decider = createDecider(signer);
    const snapshot = compileSnapshot(source);
    for (let i = 0; i < 200; i++) {
      const request = { subjectId: `sync-${i}`, attributes: {}, flagKeys: [flagKey] };
      const local = decider.decide(snapshot, request)[0]!;
      const remote = (await service.decide(request)).decisions[0]!;
      expect([local.reason, local.variantKey ?? "", local.experimentId ?? ""]).toEqual([
        remote.reason,
        remote.variantKey,
        remote.experimentId,
      ]);
      expect(payloadOf(local.decisionId!)).toEqual(payloadOf(remote.decisionId));
    }
    const again = await service.getConfiguration({ ifNoneMatch: configuration.version });
    expect(again.notModified).toBe(true);
    expect(again.configuration).toBeUndefined();
  });

  it("sends heartbeats while nothing changes", async () => {
    const sync = new ConfigurationSync({
      snapshots: t.app.snapshots,
      signingKey: () => undefined,
      heartbeatMs: 200,
    });
    const ctx = createHandlerContext({
      service: DecisionService,
      method: DecisionService.method.watchConfiguration,
      protocolName: "connect",
      requestMethod: "POST",
      url: "http://localhost/",
    });
    const messages = sync.watchConfiguration(create(WatchConfigurationRequestSchema), ctx);
    const started = performance.now();
    expect((await messages.next()).value).toMatchObject({ heartbeat: false });
    expect((await messages.next()).value).toMatchObject({ heartbeat: true });
    expect((await messages.next()).value).toMatchObject({ heartbeat: true });
    expect(performance.now() - started).toBeGreaterThanOrEqual(350);
    ctx.abort();
    await messages.return(undefined);
  });

  it("streams the full configuration, then each new version", async () => {
    const abort = new AbortController();
    const stream = service.watchConfiguration({}, { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    const first = (await iterator.next()).value!;
    expect(first.heartbeat).toBe(false);
    const version = first.configuration!.version;
    const key = uniqueKey("sync");
    await client(FlagService, t.baseUrl, t.adminKey).createFlag({
      key,
      type: FlagType.STRING,
      defaultValue: str("grey"),
      description: "sync",
      tags: [],
    });
    let next = (await iterator.next()).value!;
    while (next.heartbeat) next = (await iterator.next()).value!;
    expect(next.configuration!.version).not.toBe(version);
    expect(
      JSON.parse(next.configuration!.sourceJson).flags.map((f: { key: string }) => f.key),
    ).toContain(key);
    abort.abort();
    await iterator.return?.(undefined);
  });

  it("starts with a heartbeat when the caller already holds the current version", async () => {
    const { configuration } = await service.getConfiguration({});
    const abort = new AbortController();
    const stream = service.watchConfiguration(
      { knownVersion: configuration!.version },
      { signal: abort.signal },
    );
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toMatchObject({ heartbeat: true });
    abort.abort();
    await iterator.return?.(undefined);
  });

  it("is for services and admins only", async () => {
    const viewer = client(DecisionService, t.baseUrl, (await makeUser(t, Role.VIEWER)).key);
    const error = await viewer.getConfiguration({}).catch((e: unknown) => ConnectError.from(e));
    expect((error as ConnectError).code).toBe(Code.PermissionDenied);
    await expect(
      client(DecisionService, t.baseUrl, t.adminKey).getConfiguration({}),
    ).resolves.toMatchObject({ notModified: false });
  });
});
