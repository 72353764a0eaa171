/**
 * The Node client package (clients/node) against the real server: every
 * protocol, deadlines, retries of safe calls only, the EventSender (batches
 * by size and time, stable ids across retries, bounded memory, flush on
 * close) and decideAndExpose.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import {
  createLottyClient,
  decideAndExpose,
  EventSender,
  isRetrySafe,
  backoffDelayMs,
  type LottyProtocol,
  type QueuedEvent,
  type RejectedEvent,
} from "../../clients/node/src/index.js";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { DecisionReason } from "../../gen/lotty/decision/v1/decision_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import {
  countsOf,
  decisionFor,
  query,
  storedCount,
  storedEvent,
  untilStored,
} from "../events/support.js";
import { CatalogService } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { client as rpcClient } from "../support/clients.js";
import { waitFor } from "../support/app.js";
import { makeUser, makeTypedFlag, runningExperiment } from "../support/builders.js";

let t: TestApp;
let serviceKey: string;
let experiment: { flagKey: string; experimentId: string };
let plainFlag: string;

beforeAll(async () => {
  t = await startTestApp();
  serviceKey = (await makeUser(t, Role.SERVICE)).key;
  experiment = await runningExperiment(t);
  plainFlag = await makeTypedFlag(t, FlagType.STRING, "grey");
});

afterAll(async () => {
  await t.stop();
});

/** Counts calls per method name as they reach the wire (inside the retry interceptor). */
function callCounter(): { interceptor: Interceptor; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  return {
    calls,
    interceptor: (next) => (req) => {
      calls.set(req.method.name, (calls.get(req.method.name) ?? 0) + 1);
      return next(req);
    },
  };
}

/**
 * Lets the first `failures` calls reach the server and then reports them as
 * UNAVAILABLE, as when a connection drops after the request was sent: the
 * worst case for retries, since the server did the work.
 */
function lostAnswers(failures: number): Interceptor {
  let left = failures;
  return (next) => async (req) => {
    const response = await next(req);
    if (left > 0) {
      left--;
      throw new ConnectError("connection reset after the request was sent", Code.Unavailable);
    }
    return response;
  };
}

/** A TCP server that accepts connections and never answers. */
async function blackhole(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("createLottyClient", () => {
  const cases: { protocol: LottyProtocol; httpVersion?: "1.1" | "2"; binary?: boolean }[] = [
    { protocol: "connect" },
    { protocol: "connect", httpVersion: "2", binary: true },
    { protocol: "grpc" },
    { protocol: "grpc-web" },
  ];
  it.each(cases)("decides and manages flags over %o", async (options) => {
    const admin = createLottyClient({ baseUrl: t.baseUrl, apiKey: t.adminKey, ...options });
    const key = `client_${options.protocol.replace("-", "_")}_${options.httpVersion ?? "1"}`;
    const { flag } = await admin.flags.createFlag({
      key,
      type: FlagType.BOOL,
      defaultValue: { kind: { case: "boolValue", value: true } },
    });
    expect(flag?.key).toBe(key);
    expect((await admin.flags.getFlag({ key })).flag?.type).toBe(FlagType.BOOL);

    const service = createLottyClient({ baseUrl: t.baseUrl, apiKey: serviceKey, ...options });
    const { decisions } = await service.decision.decide({
      subjectId: "u-1",
      flagKeys: [experiment.flagKey],
    });
    expect(decisions).toHaveLength(1);
    expect(decisions[0]!.reason).toBe(DecisionReason.EXPERIMENT);
    expect(["control", "blue"]).toContain(decisions[0]!.variantKey);
    expect(decisions[0]!.decisionId).toBe(decisionFor(t, experiment.flagKey, "u-1").decisionId);
  });

  it("sends the API key: without one the server answers UNAUTHENTICATED, a viewer is denied", async () => {
    const anonymous = createLottyClient({ baseUrl: t.baseUrl });
    await expect(anonymous.flags.listFlags({})).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    const viewer = await makeUser(t, Role.VIEWER);
    const client = createLottyClient({ baseUrl: t.baseUrl, apiKey: viewer.key });
    await expect(
      client.flags.createFlag({ key: "viewer_flag", type: FlagType.BOOL }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
  });

  it("rejects an unknown protocol by name", () => {
    expect(() =>
      createLottyClient({ baseUrl: t.baseUrl, protocol: "soap" as LottyProtocol }),
    ).toThrow(/unknown protocol "soap"/);
  });
});

describe("deadlines and retries", () => {
  it("retries a safe call whose answer was lost and returns the server's answer", async () => {
    const counter = callCounter();
    const client = createLottyClient({
      baseUrl: t.baseUrl,
      apiKey: serviceKey,
      retry: { initialDelayMs: 1 },
      interceptors: [counter.interceptor, lostAnswers(2)],
    });
    const { decisions } = await client.decision.decide({
      subjectId: "u-2",
      flagKeys: [plainFlag],
    });
    expect(decisions[0]!.reason).toBe(DecisionReason.DEFAULT);
    expect(counter.calls.get("Decide")).toBe(3);
  });

  it("gives up after maxRetries with the last error", async () => {
    const counter = callCounter();
    const client = createLottyClient({
      baseUrl: t.baseUrl,
      apiKey: t.adminKey,
      retry: { initialDelayMs: 1, maxRetries: 1 },
      interceptors: [counter.interceptor, lostAnswers(5)],
    });
    await expect(client.flags.listFlags({})).rejects.toMatchObject({ code: Code.Unavailable });
    expect(counter.calls.get("ListFlags")).toBe(2);
  });

  it("never repeats a call that changes state", async () => {
    const counter = callCounter();
    const client = createLottyClient({
      baseUrl: t.baseUrl,
      apiKey: t.adminKey,
      retry: { initialDelayMs: 1 },
      interceptors: [counter.interceptor, lostAnswers(1)],
    });
    await expect(
      client.flags.createFlag({
        key: "created_once",
        type: FlagType.BOOL,
        defaultValue: { kind: { case: "boolValue", value: false } },
      }),
    ).rejects.toMatchObject({ code: Code.Unavailable });
    expect(counter.calls.get("CreateFlag")).toBe(1);
    // The server did create it: a retry would have failed with ALREADY_EXISTS.
    const admin = createLottyClient({ baseUrl: t.baseUrl, apiKey: t.adminKey });
    expect((await admin.flags.getFlag({ key: "created_once" })).flag?.key).toBe("created_once");
  });

  it("does not retry errors that another attempt cannot fix", async () => {
    const counter = callCounter();
    const client = createLottyClient({
      baseUrl: t.baseUrl,
      apiKey: serviceKey,
      retry: { initialDelayMs: 1 },
      interceptors: [counter.interceptor],
    });
    await expect(client.decision.decide({ subjectId: "", flagKeys: [] })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    expect(counter.calls.get("Decide")).toBe(1);
  });

  it("ends a call that gets no answer at its deadline, retries included", async () => {
    const silent = await blackhole();
    try {
      const client = createLottyClient({ baseUrl: silent.url, apiKey: serviceKey, timeoutMs: 300 });
      const started = Date.now();
      const failure = await client.decision
        .decide({ subjectId: "u", flagKeys: ["f"] })
        .then(() => undefined, ConnectError.from);
      const elapsed = Date.now() - started;
      expect(failure?.code).toBe(Code.DeadlineExceeded);
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(5_000);
    } finally {
      await silent.close();
    }
  });

  it("marks only reads, Decide and IngestEvents as safe; backoff grows, is capped and jittered", () => {
    for (const name of ["GetFlag", "ListExperiments", "Decide", "IngestEvents", "GetReport"]) {
      expect(isRetrySafe(name)).toBe(true);
    }
    for (const name of ["CreateFlag", "UpdateFlag", "StartExperiment", "Getaway", "Listen"]) {
      expect(isRetrySafe(name)).toBe(false);
    }
    expect(backoffDelayMs(0, 100, 2_000, () => 0)).toBe(50);
    expect(backoffDelayMs(0, 100, 2_000, () => 1)).toBe(100);
    expect(backoffDelayMs(3, 100, 2_000, () => 1)).toBe(800);
    expect(backoffDelayMs(10, 100, 2_000, () => 1)).toBe(2_000);
    expect(backoffDelayMs(10, 100, 2_000, () => 0)).toBe(1_000);
  });
});

describe("EventSender", () => {
  function exposures(n: number, subjectPrefix: string) {
    return Array.from({ length: n }, (_, i) => ({
      eventType: "exposure",
      decisionId: decisionFor(t, experiment.flagKey, `${subjectPrefix}-${i}`).decisionId,
    }));
  }

  it("sends full batches at once and the rest on flush, every event stored once", async () => {
    const counter = callCounter();
    const client = createLottyClient({
      baseUrl: t.baseUrl,
      apiKey: serviceKey,
      interceptors: [counter.interceptor],
    });
    const sender = new EventSender(client.events, { maxBatchSize: 100, flushIntervalMs: 60_000 });
    const ids = exposures(250, "batch").map((e) => sender.send(e)!);
    expect(new Set(ids).size).toBe(250);
    await sender.flush();
    expect(counter.calls.get("IngestEvents")).toBe(3);
    expect(sender.stats).toMatchObject({ accepted: 250, duplicates: 0, rejected: 0, buffered: 0 });
    await untilStored(t, ids);
    await sender.close();
  });

  it("sends a partial batch after flushIntervalMs without being asked", async () => {
    const client = createLottyClient({ baseUrl: t.baseUrl, apiKey: serviceKey });
    const sender = new EventSender(client.events, { flushIntervalMs: 100 });
    const ids = exposures(3, "timer").map((e) => sender.send(e)!);
    const deadline = Date.now() + 10_000;
    while (sender.stats.accepted < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(sender.stats.accepted).toBe(3);
    await untilStored(t, ids);
    await sender.close();
  });

  it("retries a batch whose answer was lost with the same event ids: counted once", async () => {
    const counter = callCounter();
    const client = createLottyClient({
      baseUrl: t.baseUrl,
      apiKey: serviceKey,
      interceptors: [counter.interceptor, lostAnswers(2)],
    });
    const sender = new EventSender(client.events, {
      initialRetryDelayMs: 5,
      flushIntervalMs: 60_000,
    });
    const before = await countsOf(t, experiment.experimentId);
    const ids = exposures(20, "retry").map((e) => sender.send(e)!);
    await sender.close();
    expect(counter.calls.get("IngestEvents")).toBe(3);
    // The first attempt stored them; the retries found duplicates.
    expect(sender.stats).toMatchObject({ accepted: 0, duplicates: 20, retries: 2, dropped: 0 });
    await untilStored(t, ids);
    expect(await storedCount(t, ids)).toBe(20);
    const after = await countsOf(t, experiment.experimentId);
    const exposed = (counts: Record<string, number>) =>
      (counts["control/exposure"] ?? 0) + (counts["blue/exposure"] ?? 0);
    expect(exposed(after) - exposed(before)).toBe(20);
  });

  it("reports events the server rejects and does not retry them", async () => {
    const rejected: RejectedEvent[] = [];
    const client = createLottyClient({ baseUrl: t.baseUrl, apiKey: serviceKey });
    const sender = new EventSender(client.events, {
      onRejected: (events) => rejected.push(...events),
    });
    const good = sender.send(exposures(1, "rejects")[0]!)!;
    const bad = sender.send({ eventType: "no_such_type", decisionId: "forged.id" })!;
    await sender.close();
    expect(sender.stats).toMatchObject({ accepted: 1, rejected: 1 });
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.event.eventId).toBe(bad);
    expect(rejected[0]!.error.message).not.toBe("");
    await untilStored(t, [good]);
    expect(await storedCount(t, [good, bad])).toBe(1);
  });

  it("holds at most maxBufferedEvents and drops what does not fit, saying why", async () => {
    const silent = await blackhole();
    const dropped: { events: QueuedEvent[]; reason: ConnectError }[] = [];
    try {
      const client = createLottyClient({ baseUrl: silent.url, apiKey: serviceKey });
      const sender = new EventSender(client.events, {
        maxBatchSize: 10,
        maxBufferedEvents: 20,
        flushIntervalMs: 60_000,
        callTimeoutMs: 200,
        maxAttempts: 1,
        onDropped: (events, reason) => dropped.push({ events, reason }),
      });
      const ids = Array.from({ length: 25 }, (_, i) =>
        sender.send({ eventType: "exposure", decisionId: `d-${i}` }),
      );
      expect(ids.slice(0, 20).every((id) => typeof id === "string")).toBe(true);
      expect(ids.slice(20)).toEqual([undefined, undefined, undefined, undefined, undefined]);
      expect(sender.stats.buffered).toBe(20);
      expect(dropped).toHaveLength(5);
      expect(dropped[0]!.reason.code).toBe(Code.ResourceExhausted);
      await sender.close();
      // Nothing answers: after its one attempt each batch is given up on.
      expect(sender.stats).toMatchObject({ dropped: 25, buffered: 0, accepted: 0 });
      expect(dropped.slice(5).map((d) => d.reason.code)).toEqual([
        Code.DeadlineExceeded,
        Code.DeadlineExceeded,
      ]);
      expect(sender.send({ eventType: "exposure", decisionId: "late" })).toBeUndefined();
    } finally {
      await silent.close();
    }
  });

  it("close with a timeout gives up on a server that does not answer", async () => {
    const silent = await blackhole();
    try {
      const dropped: QueuedEvent[] = [];
      const client = createLottyClient({ baseUrl: silent.url, apiKey: serviceKey });
      const sender = new EventSender(client.events, {
        callTimeoutMs: 60_000,
        onDropped: (events) => dropped.push(...events),
      });
      sender.send({ eventType: "exposure", decisionId: "d" });
      const started = Date.now();
      await sender.close({ timeoutMs: 200 });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(dropped).toHaveLength(1);
      expect(sender.stats.buffered).toBe(0);
    } finally {
      await silent.close();
    }
  });

  it("checks its options", () => {
    const client = createLottyClient({ baseUrl: t.baseUrl });
    expect(() => new EventSender(client.events, { maxBatchSize: 1_001 })).toThrow(/maxBatchSize/);
    expect(
      () => new EventSender(client.events, { maxBatchSize: 10, maxBufferedEvents: 5 }),
    ).toThrow(/maxBufferedEvents/);
    expect(() => new EventSender(client.events, { maxAttempts: 0 })).toThrow(/maxAttempts/);
  });
});

describe("decideAndExpose", () => {
  it("queues an exposure for a subject in an experiment and none otherwise", async () => {
    const client = createLottyClient({ baseUrl: t.baseUrl, apiKey: serviceKey });
    const sender = new EventSender(client.events, { flushIntervalMs: 60_000 });
    const inExperiment = await decideAndExpose(client.decision, sender, {
      subjectId: "expose-1",
      flagKey: experiment.flagKey,
    });
    expect(inExperiment.reason).toBe(DecisionReason.EXPERIMENT);
    expect(inExperiment.value).toBe(inExperiment.variantKey === "control" ? "grey" : "blue");
    expect(inExperiment.exposureEventId).toEqual(expect.any(String));

    const plain = await decideAndExpose(client.decision, sender, {
      subjectId: "expose-1",
      flagKey: plainFlag,
    });
    expect(plain).toMatchObject({ reason: DecisionReason.DEFAULT, value: "grey", variantKey: "" });
    expect(plain.exposureEventId).toBeUndefined();

    await expect(
      decideAndExpose(client.decision, sender, { subjectId: "expose-1", flagKey: "nope" }),
    ).rejects.toMatchObject({ code: Code.NotFound });

    await sender.close();
    expect(sender.stats.accepted).toBe(1);
    await untilStored(t, [inExperiment.exposureEventId!]);
  });

  it("carries the decide attributes to the exposure, and they record the subject's segment", async () => {
    await rpcClient(CatalogService, t.baseUrl, t.adminKey).createDimension({
      dimension: { key: "country", displayName: "Country" },
    });
    const client = createLottyClient({ baseUrl: t.baseUrl, apiKey: serviceKey });
    const sender = new EventSender(client.events, { flushIntervalMs: 60_000 });
    const exposed = await decideAndExpose(client.decision, sender, {
      subjectId: "expose-attributes",
      flagKey: experiment.flagKey,
      attributes: { country: "DE", tier: 3, beta: true, tags: ["a"], screen: "settings" },
      properties: { screen: "home" },
    });
    const narrowed = await decideAndExpose(client.decision, sender, {
      subjectId: "expose-narrowed",
      flagKey: experiment.flagKey,
      attributes: { country: "FR", tier: 1 },
      exposeAttributes: ["tier"],
    });
    await sender.close();
    await untilStored(t, [exposed.exposureEventId!, narrowed.exposureEventId!]);
    // Scalars only; explicit properties win over attributes of the same name.
    expect((await storedEvent(t, exposed.exposureEventId!))?.properties).toEqual({
      country: "DE",
      tier: 3,
      beta: true,
      screen: "home",
    });
    expect((await storedEvent(t, narrowed.exposureEventId!))?.properties).toEqual({ tier: 1 });
    const segmentOf = async (subject: string) =>
      (
        await query<{ value: string | null }>(
          t,
          `select value from subject_segments where subject_id = $1 and dimension = 'country'`,
          [subject],
        )
      )[0];
    await waitFor(
      async () => (await segmentOf("expose-narrowed")) !== undefined,
      15_000,
      "segments",
    );
    expect(await segmentOf("expose-attributes")).toEqual({ value: "DE" });
    expect(await segmentOf("expose-narrowed")).toEqual({ value: null });
  });
});
