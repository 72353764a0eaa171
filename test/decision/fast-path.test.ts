/**
 * The Decide fast path (src/decision/fast-path.ts) answers Connect unary
 * JSON over HTTP/1.1; the same request over HTTP/2 takes connect-node's
 * general path. Both must answer byte for byte alike: statuses, content
 * types, bodies (decisions and errors), compression.
 */
import http from "node:http";
import http2 from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { DECIDE_PATH, createFastDecide } from "../../src/decision/fast-path.js";
import { keyLookup } from "../../src/access/service.js";
import { Authenticator } from "../../src/platform/auth.js";
import { createLogger } from "../../src/platform/logging.js";
import { createMetrics } from "../../src/platform/metrics.js";
import { RPC_LIMITS } from "../../src/app.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { metricValue } from "./support.js";
import {
  makeUser,
  type Actor,
  greyBlue,
  makeTeam,
  makeTypedFlag,
  runExperiment,
  untilInSnapshot,
} from "../support/builders.js";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body, decompressed when it came compressed. */
  body: string;
}

function decoded(headers: Answer["headers"], raw: Buffer): string {
  return (headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8");
}

/** POST over HTTP/1.1: the fast path. */
function postH1(
  baseUrl: string,
  headers: Record<string, string>,
  body: string | Buffer,
  path = DECIDE_PATH,
): Promise<Answer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path, method: "POST", headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: decoded(res.headers, Buffer.concat(chunks)),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** POST over h2c: connect-node's general path. */
function postH2(
  baseUrl: string,
  headers: Record<string, string>,
  body: string | Buffer,
): Promise<Answer> {
  const session = http2.connect(baseUrl);
  return new Promise<Answer>((resolve, reject) => {
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": DECIDE_PATH, ...headers });
    const chunks: Buffer[] = [];
    let responseHeaders: Answer["headers"] = {};
    req.on("response", (h) => (responseHeaders = h as Answer["headers"]));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () =>
      resolve({
        status: Number(responseHeaders[":status"]),
        headers: responseHeaders,
        body: decoded(responseHeaders, Buffer.concat(chunks)),
      }),
    );
    req.on("error", reject);
    req.end(body);
  }).finally(() => session.close());
}

describe("Decide fast path", () => {
  let t: TestApp;
  let viewer: Actor;
  let flags: { experiment: string; json: string; number: string; targeted: string };

  const json = (key: string) => ({
    "content-type": "application/json",
    authorization: `Bearer ${key}`,
  });

  /** Sends the same request both ways and expects identical answers; returns the fast one. */
  async function expectSameAnswer(
    headers: Record<string, string>,
    body: string | Buffer,
  ): Promise<Answer> {
    const [fast, general] = await Promise.all([
      postH1(t.baseUrl, headers, body),
      postH2(t.baseUrl, headers, body),
    ]);
    expect({ status: fast.status, body: fast.body }).toEqual({
      status: general.status,
      body: general.body,
    });
    expect(fast.headers["content-type"]).toBe(general.headers["content-type"]);
    expect(fast.headers["content-encoding"]).toBe(general.headers["content-encoding"]);
    return fast;
  }

  beforeAll(async () => {
    t = await startTestApp();
    const team = await makeTeam(t);
    viewer = await makeUser(t, Role.VIEWER);
    flags = {
      experiment: await makeTypedFlag(t, FlagType.STRING, "grey"),
      json: await makeTypedFlag(t, FlagType.JSON, { layout: "list", columns: [1, 2.5], on: true }),
      number: await makeTypedFlag(t, FlagType.NUMBER, 0.25),
      targeted: await makeTypedFlag(t, FlagType.STRING, "grey"),
    };
    const plain = await runExperiment(t, team, flags.experiment, greyBlue());
    const targeted = await runExperiment(
      t,
      team,
      flags.targeted,
      greyBlue({ targetingRule: 'country == "KZ"' }),
    );
    await untilInSnapshot(t, flags.experiment, plain.id);
    await untilInSnapshot(t, flags.targeted, targeted.id);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("answers decisions exactly as the general path does", async () => {
    const requests = [
      {
        subjectId: "user-1",
        attributes: { country: "KZ" },
        flagKeys: [flags.experiment, flags.targeted, flags.json, flags.number],
      },
      { subjectId: "user-2", attributes: { country: "RU" }, flagKeys: [flags.targeted] },
      // Unknown keys, an empty key and a repeated key.
      { subjectId: "user-3", flagKeys: ["no_such_flag", "", flags.number, flags.number] },
      // Characters JSON must escape, in the subject and the decision id payload.
      { subjectId: 'us"er\\ü ✓', flagKeys: [flags.experiment] },
      // Field names as in the .proto file are valid protobuf JSON too.
      { subject_id: "user-4", flag_keys: [flags.experiment] },
    ];
    for (let i = 0; i < 40; i++) {
      requests.push({ subjectId: `subject-${i}`, flagKeys: [flags.experiment, flags.targeted] });
    }
    for (const request of requests) {
      const answer = await expectSameAnswer(json(viewer.key), JSON.stringify(request));
      expect(answer.status).toBe(200);
      expect(answer.headers["x-request-id"]).toMatch(/^[\w-]{36}$/);
    }
    // Bodies outside the common shape are read by protobuf's JSON reader on
    // both paths; whatever it answers, both answer the same.
    const odd = [
      `{"subjectId":"u","attributes":{"nested":{"a":1},"list":[1,"x"],"none":null},"flagKeys":["${flags.targeted}"]}`,
      '{"subjectId":"u","attributes":{"big":1e999}}',
      '{"subjectId":null,"flagKeys":null}',
      '{"subjectId":"a","subjectId":"b"}',
      '{"subjectId":"u","attributes":[]}',
      '{"subjectId":"u","flagKeys":[1]}',
      '["not an object"]',
      "null",
      "",
    ];
    for (const body of odd) await expectSameAnswer(json(viewer.key), body);
    const variants = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const answer = await postH1(
        t.baseUrl,
        json(viewer.key),
        JSON.stringify({ subjectId: `subject-${i}`, flagKeys: [flags.experiment] }),
      );
      const body = JSON.parse(answer.body) as { decisions: { variantKey: string }[] };
      variants.add(body.decisions[0]!.variantKey);
    }
    // The comparison above covered both variants, not one answer forty times.
    expect([...variants].sort()).toEqual(["blue", "control"]);
  });

  it("serves those requests itself rather than passing them on", async () => {
    const metrics = createMetrics();
    const fast = createFastDecide({
      decide: t.app.decide,
      authenticator: new Authenticator(keyLookup(t.app.db)),
      metrics,
      logger: createLogger("silent"),
      readMaxBytes: RPC_LIMITS.readMaxBytes,
      maxTimeoutMs: RPC_LIMITS.maxTimeoutMs,
      requestId: () => "fixed",
    });
    const server = http.createServer((req, res) => {
      if (!fast(req, res)) res.writeHead(418).end("passed on");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const own = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      for (const subjectId of ["user-1", "user-2", 'us"er'] as const) {
        const body = JSON.stringify({ subjectId, flagKeys: [flags.experiment, "nope"] });
        const [alone, app] = await Promise.all([
          postH1(own, json(viewer.key), body),
          postH1(t.baseUrl, json(viewer.key), body),
        ]);
        expect(alone.status).toBe(200);
        expect(alone.body).toBe(app.body);
      }
      const bad = await postH1(own, json(viewer.key), "{");
      expect(bad.status).toBe(400);
      expect(bad.headers["x-request-id"]).toBe("fixed");
      // Requests it does not serve: binary protobuf and another method.
      const proto = { ...json(viewer.key), "content-type": "application/proto" };
      expect((await postH1(own, proto, "")).status).toBe(418);
      const other = "/lotty.decision.v1.DecisionService/GetParticipationPolicy";
      expect((await postH1(own, json(viewer.key), "{}", other)).status).toBe(418);
    } finally {
      server.close();
      metrics.close();
    }
  });

  it("answers every active flag when none are named, compressed when asked", async () => {
    const headers = { ...json(viewer.key), "accept-encoding": "gzip" };
    const answer = await expectSameAnswer(headers, JSON.stringify({ subjectId: "all-flags" }));
    expect(answer.status).toBe(200);
    const body = JSON.parse(answer.body) as { decisions: { flagKey: string }[] };
    expect(body.decisions.map((d) => d.flagKey)).toEqual(
      expect.arrayContaining(Object.values(flags)),
    );
    if (Buffer.byteLength(answer.body) >= 1024) {
      expect(answer.headers["content-encoding"]).toBe("gzip");
    }
    // A compressed request body is read like the general path reads it.
    const gz = { ...json(viewer.key), "content-encoding": "gzip" };
    const compressed = gzipSync(JSON.stringify({ subjectId: "zip", flagKeys: [flags.number] }));
    expect((await expectSameAnswer(gz, compressed)).status).toBe(200);
  });

  it("answers bad input and bad credentials with the general path's errors", async () => {
    const cases: [string, Record<string, string>, string][] = [
      ["malformed JSON", json(viewer.key), "{"],
      ["an unknown field", json(viewer.key), JSON.stringify({ subjectId: "a", nope: 1 })],
      ["a wrongly typed field", json(viewer.key), JSON.stringify({ subjectId: 5 })],
      ["no subject", json(viewer.key), "{}"],
      ["a control character", json(viewer.key), JSON.stringify({ subjectId: "a\u0007b" })],
      ["no API key", { "content-type": "application/json" }, JSON.stringify({ subjectId: "a" })],
      ["an unknown API key", json("lotty_nope"), JSON.stringify({ subjectId: "a" })],
    ];
    const statuses: number[] = [];
    for (const [, headers, body] of cases) {
      const answer = await expectSameAnswer(headers, body);
      statuses.push(answer.status);
      expect((JSON.parse(answer.body) as { code: string }).code).toBeTruthy();
    }
    // Every role may call Decide, so PERMISSION_DENIED cannot happen here.
    expect(statuses).toEqual([400, 400, 400, 400, 400, 401, 401]);
  });

  it("refuses a body over the read limit as RESOURCE_EXHAUSTED", async () => {
    const big = JSON.stringify({ subjectId: "a", flagKeys: ["x".repeat(5 * 1024 * 1024)] });
    const answer = await postH1(t.baseUrl, json(viewer.key), big);
    expect(answer.status).toBe(429);
    expect(JSON.parse(answer.body)).toMatchObject({ code: "resource_exhausted" });
  });

  it("leaves other encodings and protocol details to the general path", async () => {
    const body = JSON.stringify({ subjectId: "a", flagKeys: [flags.number] });
    // A malformed timeout is the general path's protocol error.
    const timeout = await postH1(
      t.baseUrl,
      { ...json(viewer.key), "connect-timeout-ms": "x" },
      body,
    );
    expect(timeout.status).toBe(400);
    expect(timeout.body).toContain("invalid connect timeout");
    // An encoding the server does not know is UNIMPLEMENTED there.
    const unknown = await postH1(
      t.baseUrl,
      { ...json(viewer.key), "content-encoding": "zstd" },
      body,
    );
    expect(JSON.parse(unknown.body)).toMatchObject({ code: "unimplemented" });
    // A valid timeout stays on the fast path and is answered.
    const ok = await postH1(t.baseUrl, { ...json(viewer.key), "connect-timeout-ms": "500" }, body);
    expect(ok.status).toBe(200);
  });

  it("echoes a well-formed x-request-id and counts answers in the RPC metrics", async () => {
    const sample =
      'rpc_server_handled_total{service="lotty.decision.v1.DecisionService",method="Decide",code="OK"}';
    const before = await metricValue(t, sample);
    const answer = await postH1(
      t.baseUrl,
      { ...json(viewer.key), "x-request-id": "trace-42" },
      JSON.stringify({ subjectId: "a", flagKeys: [flags.number] }),
    );
    expect(answer.headers["x-request-id"]).toBe("trace-42");
    expect(await metricValue(t, sample)).toBe(before + 1);
    const denied =
      'rpc_server_handled_total{service="lotty.decision.v1.DecisionService",method="Decide",code="Unauthenticated"}';
    const deniedBefore = await metricValue(t, denied);
    await postH1(t.baseUrl, json("lotty_nope"), JSON.stringify({ subjectId: "a" }));
    expect(await metricValue(t, denied)).toBe(deniedBefore + 1);
  });
});

/**
 * LOTTY_DECIDE_RATE_LIMIT: a per-key token bucket shared by the Decide RPC
 * (HTTP/2 general path), the HTTP/1.1 fast path and OFREP. At 1 request per
 * second a key has a burst of 2; the third call is refused with
 * RESOURCE_EXHAUSTED naming the limit and a retry hint.
 */
describe("Decide rate limit per API key", () => {
  let t: TestApp;
  const body = JSON.stringify({ subjectId: "s-1" });
  const json = (key: string) => ({
    "content-type": "application/json",
    authorization: `Bearer ${key}`,
  });

  beforeAll(async () => {
    t = await startTestApp({ env: { LOTTY_DECIDE_RATE_LIMIT: "1" } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  function expectLimited(answer: Answer): void {
    expect(answer.status).toBe(429);
    expect(answer.headers["retry-after"]).toBe("1");
    const error = JSON.parse(answer.body) as { code: string; message: string };
    expect(error.code).toBe("resource_exhausted");
    expect(error.message).toContain("LOTTY_DECIDE_RATE_LIMIT=1 per second");
    expect(error.message).toContain("retry after 1 s");
  }

  it("refuses the Connect RPC over HTTP/2 past the burst; other keys are unaffected", async () => {
    const limited = await makeUser(t, Role.VIEWER);
    const other = await makeUser(t, Role.VIEWER);
    expect((await postH2(t.baseUrl, json(limited.key), body)).status).toBe(200);
    expect((await postH2(t.baseUrl, json(limited.key), body)).status).toBe(200);
    expectLimited(await postH2(t.baseUrl, json(limited.key), body));
    expect((await postH2(t.baseUrl, json(other.key), body)).status).toBe(200);
  });

  it("refuses on the HTTP/1.1 fast path with the general path's bytes", async () => {
    const limited = await makeUser(t, Role.VIEWER);
    const other = await makeUser(t, Role.VIEWER);
    // The first call caches the key; the second is answered synchronously.
    expect((await postH1(t.baseUrl, json(limited.key), body)).status).toBe(200);
    expect((await postH1(t.baseUrl, json(limited.key), body)).status).toBe(200);
    const [fast, general] = await Promise.all([
      postH1(t.baseUrl, json(limited.key), body),
      postH2(t.baseUrl, json(limited.key), body),
    ]);
    expectLimited(fast);
    expect({ status: fast.status, body: fast.body }).toEqual({
      status: general.status,
      body: general.body,
    });
    expect(fast.headers["content-type"]).toBe(general.headers["content-type"]);
    expect(fast.headers["retry-after"]).toBe(general.headers["retry-after"]);
    expect((await postH1(t.baseUrl, json(other.key), body)).status).toBe(200);
  });

  it("refuses OFREP with 429, Retry-After and OFREP's error JSON", async () => {
    const limited = await makeUser(t, Role.VIEWER);
    const other = await makeUser(t, Role.VIEWER);
    const context = JSON.stringify({ context: { targetingKey: "s-1" } });
    const ofrep = (key: string) =>
      postH1(t.baseUrl, json(key), context, "/ofrep/v1/evaluate/flags/some-flag");
    expect((await ofrep(limited.key)).status).toBe(404);
    expect((await ofrep(limited.key)).status).toBe(404);
    const refused = await ofrep(limited.key);
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("1");
    const error = JSON.parse(refused.body) as Record<string, string>;
    expect(error).toMatchObject({ key: "some-flag", errorCode: "GENERAL" });
    expect(error.errorDetails).toContain("LOTTY_DECIDE_RATE_LIMIT=1 per second");
    expect((await ofrep(other.key)).status).toBe(404);
  });
});
