/**
 * createLocalDecider against a real Lotty: the configuration from the
 * stream decides as the server does; stale after staleAfterMs without a
 * message and fresh again on the next one; polling when the stream keeps
 * failing and back to the stream; the bootstrap file (saved, then loaded
 * with the server unreachable; formats 1 and 2 read, from the stream and
 * from bootstrap files, ramp shares applied); an unknown format refused; exposures
 * deduplicated; the OpenFeature provider's in-process mode and its STALE
 * reason.
 */
import { mkdtempSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code, ConnectError, type Client, type Interceptor } from "@connectrpc/connect";
import { OpenFeature } from "@openfeature/server-sdk";
import {
  createLocalDecider,
  decisionV1,
  EventSender,
  type LocalDecider,
  type LocalDeciderOptions,
  type LocalDeciderStatus,
} from "../../clients/node/src/index.js";
import { LottyProvider } from "../../clients/openfeature/src/index.js";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import {
  compileSnapshot,
  decide as coreDecide,
  type SnapshotSource,
} from "../../src/decision/core/index.js";
import { createDecisionSigner } from "../../src/decision/decision-id.js";
import { EventService } from "../../gen/lotty/events/v1/events_pb.js";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { client } from "../support/clients.js";
import { untilStored } from "../events/support.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import {
  greyBlue,
  makeTeam,
  makeTypedFlag,
  makeUser,
  runExperiment,
  untilInSnapshot,
} from "../support/builders.js";

const { DecisionReason } = decisionV1;

let t: TestApp;
let serviceKey: string;
let split = "";
let targeted = "";
const silent = { warn: () => {}, error: () => {} };
const testKey = () => ({ keyId: randomUUID(), secret: new Uint8Array(randomBytes(32)) });
const open: LocalDecider[] = [];

function decider(options: Partial<LocalDeciderOptions> = {}): LocalDecider {
  const d = createLocalDecider({
    baseUrl: t.baseUrl,
    apiKey: serviceKey,
    logger: silent,
    ...options,
  } as LocalDeciderOptions);
  open.push(d);
  return d;
}

/** The payload of a d1 or d2 id, as its five claims (issuedAt of d2 left out). */
function claimsOf(id: string): unknown {
  const parts = id.split(".");
  const payload = parts[0] === "d2" ? parts[2]! : parts[1]!;
  return (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as unknown[]).slice(0, 5);
}

async function newFlag(): Promise<string> {
  return makeTypedFlag(t, FlagType.STRING, "grey");
}

beforeAll(async () => {
  t = await startTestApp();
  serviceKey = (await makeUser(t, Role.SERVICE)).key;
  const team = await makeTeam(t);
  split = await newFlag();
  targeted = await newFlag();
  const a = await runExperiment(t, team, split, greyBlue());
  const b = await runExperiment(t, team, targeted, greyBlue({ targetingRule: 'country == "DE"' }));
  await untilInSnapshot(t, split, a.id);
  await untilInSnapshot(t, targeted, b.id);
});

afterAll(async () => {
  await Promise.all(open.map((d) => d.close()));
  await OpenFeature.close();
  await t.stop();
});

describe("createLocalDecider", () => {
  it("decides from the streamed configuration as the server does", async () => {
    const d = decider({ signingKey: testKey() });
    await d.ready();
    expect(d.status()).toMatchObject({ state: "fresh", source: "stream", signing: true });
    for (let i = 0; i < 300; i++) {
      const request = {
        subjectId: `ld-${i}`,
        attributes: { country: i % 2 === 0 ? "DE" : "FR" },
        flagKeys: [split, targeted, "no-such-flag"],
      };
      const local = d.decide(request);
      const remote = t.app.decide(request);
      expect(local.map((x) => [x.flagKey, x.reason, x.variantKey, x.experimentId])).toEqual(
        remote.map((x) => [x.flagKey, x.reason, x.variantKey, x.experimentId]),
      );
      expect(local.map((x) => x.value)).toEqual(remote.map((x) => x.value));
      expect(local[2]).toMatchObject({ reason: DecisionReason.FLAG_NOT_FOUND, decisionId: "" });
      for (let k = 0; k < 2; k++) {
        expect(local[k]!.decisionId.startsWith("d2.")).toBe(true);
        expect(claimsOf(local[k]!.decisionId)).toEqual(claimsOf(remote[k]!.decisionId));
        expect(local[k]!.stale).toBe(false);
      }
    }
    // No flag keys: every active flag, sorted.
    const all = d.decide({ subjectId: "ld-all" }).map((x) => x.flagKey);
    expect(all).toEqual([...all].sort());
    expect(all).toEqual(expect.arrayContaining([split, targeted]));
  });

  it("turns stale after staleAfterMs without a message, and fresh on the next one", async () => {
    const statuses: LocalDeciderStatus[] = [];
    const d = decider({ staleAfterMs: 300, onStatus: (s) => statuses.push(s) });
    await d.ready();
    const version = d.status().version;
    await waitFor(() => d.status().state === "stale", 5_000, "stale");
    expect(d.decide({ subjectId: "s", flagKeys: [split] })[0]!.stale).toBe(true);
    expect(statuses.map((s) => s.state)).toEqual(expect.arrayContaining(["fresh", "stale"]));
    await newFlag(); // a new version reaches the stream
    await waitFor(() => d.status().state === "fresh", 5_000, "fresh again");
    expect(d.status().version).not.toBe(version);
    expect(d.decide({ subjectId: "s", flagKeys: [split] })[0]!.stale).toBe(false);
  });

  it("polls GetConfiguration when the stream keeps failing, and goes back to the stream", async () => {
    let streamsDown = true;
    const failStreams: Interceptor = (next) => async (req) => {
      if (req.stream && streamsDown) throw new ConnectError("no streams here", Code.Unavailable);
      return next(req);
    };
    const d = decider({
      interceptors: [failStreams],
      streamAttemptsBeforePolling: 2,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      pollIntervalMs: 100,
    });
    await d.ready();
    expect(d.status()).toMatchObject({ source: "poll", polling: true, state: "fresh" });
    const key = await newFlag();
    await waitFor(
      () => d.decide({ subjectId: "p", flagKeys: [key] })[0]!.reason === DecisionReason.DEFAULT,
      5_000,
      "the new flag by polling",
    );
    streamsDown = false;
    await waitFor(() => !d.status().polling, 5_000, "back to the stream");
    expect(d.status()).toMatchObject({ source: "stream", state: "fresh" });
  });

  it("saves the configuration to the bootstrap file and starts from it without the server", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "lotty-ld-")), "config.json");
    const first = decider({ bootstrapFile: file });
    await first.ready();
    await waitFor(() => existsSync(file), 5_000, "the bootstrap file");
    const saved = JSON.parse(readFileSync(file, "utf8")) as { version: string };
    expect(saved.version).toBe(first.status().version);
    await first.close();

    const offline = decider({
      baseUrl: "http://127.0.0.1:1",
      bootstrapFile: file,
      reconnect: { initialDelayMs: 50, maxDelayMs: 100 },
    });
    await offline.ready();
    expect(offline.status()).toMatchObject({ source: "bootstrap", version: saved.version });
    expect(offline.status().state).not.toBe("fresh");
    const request = { subjectId: "boot-1", attributes: { country: "DE" }, flagKeys: [targeted] };
    const [local] = offline.decide(request);
    const [remote] = t.app.decide(request);
    expect([local!.reason, local!.variantKey, local!.value]).toEqual([
      remote!.reason,
      remote!.variantKey,
      remote!.value,
    ]);
    // Without a signing key: right answer, no id.
    expect(local).toMatchObject({ signed: false, decisionId: "" });
  });

  it("reads bootstrap files of formats 1 and 2 (ramp shares applied) and ignores format 3", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "lotty-ld-formats-"));
    const source = (format: number, rampPercent?: number): SnapshotSource => ({
      format,
      version: `formats-${format}-${rampPercent ?? "none"}`,
      flags: [{ key: "f", type: "string", defaultValue: "base", archived: false }],
      experiments: [
        {
          id: "exp-formats",
          flagKey: "f",
          status: "running",
          version: 1,
          rolledBack: false,
          audiencePercent: 100,
          variants: [
            { key: "control", value: "grey", weight: 50, control: true },
            { key: "blue", value: "blue", weight: 50, control: false },
          ],
          ...(rampPercent === undefined ? {} : { rampPercent }),
          targetingRule: "",
          conflictDomains: [],
          priority: 0,
          startedAt: 0,
        },
      ],
      recentlyCompleted: [],
      policy: { maxConcurrentExperiments: 0, cooldownSeconds: 0 },
      knownExperimentIds: ["exp-formats"],
      eventTypes: [],
    });
    const fromFile = async (configuration: SnapshotSource, warnings: string[] = []) => {
      const file = path.join(dir, `${configuration.version}.json`);
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
      return decider({
        baseUrl: "http://127.0.0.1:1",
        bootstrapFile: file,
        reconnect: { initialDelayMs: 5_000, maxDelayMs: 5_000 },
        logger: { warn: (m) => warnings.push(m), error: () => {} },
      });
    };
    const subjects = Array.from({ length: 200 }, (_, i) => `format-${i}`);
    const signer = createDecisionSigner("formats");
    const answers = (d: LocalDecider) =>
      subjects.map((subjectId) => d.decide({ subjectId, flagKeys: ["f"] })[0]!.reason);
    const expected = (configuration: SnapshotSource) => {
      const snapshot = compileSnapshot(configuration, { builtAt: 0 });
      return subjects.map(
        (subjectId) => coreDecide(snapshot, signer, { subjectId, flagKeys: ["f"] })[0]!.reason,
      );
    };

    const one = await fromFile(source(1));
    await one.ready();
    expect(answers(one)).toEqual(expected(source(1)));
    expect(new Set(answers(one))).toEqual(new Set([DecisionReason.EXPERIMENT]));

    const two = await fromFile(source(2, 12.5));
    await two.ready();
    const ramped = answers(two);
    expect(ramped).toEqual(expected(source(2, 12.5)));
    // About 12.5 % in; the rest of the (full) audience is outside the ramp.
    const inside = ramped.filter((r) => r === DecisionReason.EXPERIMENT).length;
    expect(inside).toBeGreaterThan(5);
    expect(inside).toBeLessThan(50);
    expect(ramped.filter((r) => r === DecisionReason.OUTSIDE_AUDIENCE)).toHaveLength(200 - inside);

    const warnings: string[] = [];
    const three = await fromFile(source(3, 50), warnings);
    expect(() => three.decide({ subjectId: "x", flagKeys: ["f"] })).toThrow(/no configuration/);
    expect(warnings.join("\n")).toMatch(/ignored: Error: unknown format 3/);
  });

  it("accepts a streamed configuration of format 1", async () => {
    const errors: string[] = [];
    const formatOne: Interceptor = (next) => async (req) => {
      const res = await next(req);
      if (!res.stream) return res;
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          for await (const m of messages) {
            const message = m as decisionV1.WatchConfigurationResponse;
            if (message.configuration !== undefined) {
              const source = JSON.parse(message.configuration.sourceJson) as SnapshotSource;
              expect(source.format).toBe(2);
              message.configuration.format = 1;
              message.configuration.sourceJson = JSON.stringify({ ...source, format: 1 });
            }
            yield m;
          }
        })(),
      };
    };
    const d = decider({
      interceptors: [formatOne],
      logger: { warn: () => {}, error: (m) => errors.push(m) },
    });
    await d.ready();
    expect(errors).toEqual([]);
    const request = { subjectId: "format-one", flagKeys: [split] };
    expect(d.decide(request)[0]!.variantKey).toBe(t.app.decide(request)[0]!.variantKey);
  });

  it("refuses a configuration of an unknown format", async () => {
    const errors: string[] = [];
    const futureFormat: Interceptor = (next) => async (req) => {
      const res = await next(req);
      if (!res.stream) return res;
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          for await (const m of messages) {
            const message = m as decisionV1.WatchConfigurationResponse;
            if (message.configuration !== undefined) message.configuration.format = 99;
            yield m;
          }
        })(),
      };
    };
    const d = decider({
      interceptors: [futureFormat],
      logger: { warn: () => {}, error: (m) => errors.push(m) },
    });
    const outcome = await Promise.race([
      d.ready().then(() => "ready"),
      new Promise((resolve) => setTimeout(() => resolve("waiting"), 700)),
    ]);
    expect(outcome).toBe("waiting");
    expect(errors.join("\n")).toMatch(/refused: format 99/);
    expect(() => d.decide({ subjectId: "x", flagKeys: [split] })).toThrow(/no configuration/);
  });

  it("queues exposures once per subject, experiment, variant and version", async () => {
    const batches: number[] = [];
    const events = {
      ingestEvents: async (req: { events: unknown[] }) => {
        batches.push(req.events.length);
        return { accepted: req.events.length, duplicates: 0, rejected: 0, errors: [] };
      },
    } as unknown as Client<typeof EventService>;
    const sender = new EventSender(events, { flushIntervalMs: 20 });
    const d = decider({ signingKey: testKey(), events: sender, exposureDedupeSize: 2 });
    await d.ready();
    const expose = (subjectId: string) =>
      d.decideAndExpose({ subjectId, flagKey: split }).exposureEventId;
    expect(expose("e-1")).toEqual(expect.any(String));
    expect(expose("e-1")).toBeUndefined();
    expect(expose("e-2")).toEqual(expect.any(String));
    expect(expose("e-3")).toEqual(expect.any(String));
    // The LRU holds two: e-1 was evicted, so it is exposed again.
    expect(expose("e-1")).toEqual(expect.any(String));
    // Not in a variant: nothing to expose.
    const outside = d.decideAndExpose({
      subjectId: "e-4",
      flagKey: targeted,
      attributes: { country: "FR" },
    });
    expect(outside).toMatchObject({
      reason: DecisionReason.TARGETING_MISMATCH,
      exposureEventId: undefined,
    });
    expect(() => d.decideAndExpose({ subjectId: "e-5", flagKey: "missing" })).toThrow(
      /does not exist/,
    );
    await sender.flush();
    expect(batches.reduce((a, b) => a + b, 0)).toBe(4);
    await d.close();
    await sender.close();
  });
});

describe("a service's local decisions, end to end", () => {
  it("are signed with the key the stream delivers, and ingestion attributes their events", async () => {
    const events = new EventSender(client(EventService, t.baseUrl, serviceKey), {
      flushIntervalMs: 20,
    });
    const d = decider({ events });
    await d.ready();
    expect(d.status()).toMatchObject({ signing: true });
    const exposed = d.decideAndExpose({ subjectId: "e2e-1", flagKey: split });
    expect(exposed.decisionId.startsWith("d2.")).toBe(true);
    const conversion = {
      eventId: `e2e-conv-${randomUUID()}`,
      eventType: "conversion",
      decisionId: exposed.decisionId,
      occurredAt: timestampNow(),
    };
    const answer = await client(EventService, t.baseUrl, serviceKey).ingestEvents({
      events: [conversion],
    });
    expect(answer).toMatchObject({ accepted: 1, rejected: 0 });
    await events.flush();
    await untilStored(t, [exposed.exposureEventId!, conversion.eventId]);
    await events.close();
  });
});

describe("OpenFeature provider, in-process", () => {
  it("evaluates locally and answers STALE while the configuration is stale", async () => {
    const provider = new LottyProvider({
      baseUrl: t.baseUrl,
      apiKey: serviceKey,
      inProcess: { staleAfterMs: 400, logger: silent, signingKey: testKey() },
    });
    await OpenFeature.setProviderAndWait("in-process", provider);
    const client = OpenFeature.getClient("in-process");
    const details = await client.getStringDetails(split, "x", { targetingKey: "of-local-1" });
    const [expected] = t.app.decide({ subjectId: "of-local-1", flagKeys: [split] });
    expect(details).toMatchObject({
      value: expected!.value,
      reason: "SPLIT",
      variant: expected!.variantKey,
    });
    expect(details.flagMetadata).toMatchObject({ stale: false, lottyReason: "experiment" });
    expect(claimsOf(details.flagMetadata.decisionId as string)).toEqual(
      claimsOf(expected!.decisionId),
    );
    await new Promise((resolve) => setTimeout(resolve, 600));
    const stale = await client.getStringDetails(split, "x", { targetingKey: "of-local-1" });
    expect(stale).toMatchObject({ value: expected!.value, reason: "STALE" });
    expect(stale.flagMetadata).toMatchObject({ stale: true, lottyReason: "experiment" });
    const missing = await client.getStringDetails("no-such-flag", "x", { targetingKey: "u" });
    expect(missing.errorCode).toBe("FLAG_NOT_FOUND");
  });
});
