/**
 * OpenFeature against the real server, two ways: the OpenFeature server SDK
 * with our provider (clients/openfeature, over the Node client), and the
 * published OFREP provider against Lotty's OFREP endpoints, plus those
 * endpoints over plain HTTP (status codes, error codes, ETag).
 */
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { OpenFeature, ErrorCode, type Client } from "@openfeature/server-sdk";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { LottyProvider } from "../../clients/openfeature/src/index.js";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { decisionFor, storedEvent } from "../events/support.js";
import {
  makeUser,
  greyBlue,
  makeTeam,
  makeTypedFlag,
  runExperiment,
  untilInSnapshot,
} from "../support/builders.js";

let t: TestApp;
let serviceKey: string;
const flags = { bool: "", text: "", num: "", json: "", split: "", targeted: "" };
let splitExperimentId = "";

beforeAll(async () => {
  t = await startTestApp();
  serviceKey = (await makeUser(t, Role.SERVICE)).key;
  flags.bool = await makeTypedFlag(t, FlagType.BOOL, true);
  flags.text = await makeTypedFlag(t, FlagType.STRING, "classic");
  flags.num = await makeTypedFlag(t, FlagType.NUMBER, 3);
  flags.json = await makeTypedFlag(t, FlagType.JSON, { rows: 2, title: "Summary" });
  flags.split = await makeTypedFlag(t, FlagType.STRING, "grey");
  flags.targeted = await makeTypedFlag(t, FlagType.STRING, "grey");
  const team = await makeTeam(t);
  splitExperimentId = (await runExperiment(t, team, flags.split, greyBlue())).id;
  const targeted = await runExperiment(
    t,
    team,
    flags.targeted,
    greyBlue({ targetingRule: 'country == "DE"' }),
  );
  await untilInSnapshot(t, flags.split, splitExperimentId);
  await untilInSnapshot(t, flags.targeted, targeted.id);
});

afterAll(async () => {
  await OpenFeature.close();
  await t.stop();
});

/** Checks shared by our provider and the OFREP provider: same answers, same error codes. */
function evaluationCases(client: () => Client) {
  it("evaluates flags of every type", async () => {
    const context = { targetingKey: "of-user-1" };
    expect(await client().getBooleanValue(flags.bool, false, context)).toBe(true);
    expect(await client().getStringValue(flags.text, "x", context)).toBe("classic");
    expect(await client().getNumberValue(flags.num, 0, context)).toBe(3);
    expect(await client().getObjectValue(flags.json, {}, context)).toEqual({
      rows: 2,
      title: "Summary",
    });
    const details = await client().getStringDetails(flags.text, "x", context);
    expect(details).toMatchObject({ reason: "STATIC", variant: "default" });
    expect(details.errorCode).toBeUndefined();
  });

  it("answers a split with the variant, SPLIT and the decision id in the metadata", async () => {
    const expected = decisionFor(t, flags.split, "of-user-2");
    const details = await client().getStringDetails(flags.split, "x", {
      targetingKey: "of-user-2",
    });
    expect(details).toMatchObject({
      value: expected.variantKey === "control" ? "grey" : "blue",
      reason: "SPLIT",
      variant: expected.variantKey,
    });
    expect(details.flagMetadata).toMatchObject({
      decisionId: expected.decisionId,
      experimentId: splitExperimentId,
      lottyReason: "experiment",
    });
  });

  it("reads attributes from the context: a targeting mismatch is DEFAULT", async () => {
    const outside = await client().getStringDetails(flags.targeted, "x", {
      targetingKey: "of-user-3",
      country: "FR",
    });
    expect(outside).toMatchObject({ value: "grey", reason: "DEFAULT", variant: "default" });
    expect(outside.flagMetadata.lottyReason).toBe("targeting_mismatch");
    const inside = await client().getStringDetails(flags.targeted, "x", {
      targetingKey: "of-user-3",
      country: "DE",
    });
    expect(inside.reason).toBe("SPLIT");
  });

  it("returns the caller's default with OpenFeature's error codes", async () => {
    const missing = await client().getStringDetails("no_such_flag", "fallback", {
      targetingKey: "u",
    });
    expect(missing).toMatchObject({ value: "fallback", errorCode: ErrorCode.FLAG_NOT_FOUND });
    const wrongType = await client().getNumberDetails(flags.text, 7, { targetingKey: "u" });
    expect(wrongType).toMatchObject({ value: 7, errorCode: ErrorCode.TYPE_MISMATCH });
    const noKey = await client().getBooleanDetails(flags.bool, false, {});
    expect(noKey).toMatchObject({ value: false, errorCode: ErrorCode.TARGETING_KEY_MISSING });
    const nested = await client().getBooleanDetails(flags.bool, false, {
      targetingKey: "u",
      device: { os: "ios" },
    });
    expect(nested).toMatchObject({ value: false, errorCode: ErrorCode.INVALID_CONTEXT });
    expect(nested.errorMessage).toContain("context.device");
  });
}

describe("our provider (@lotty/openfeature-provider)", () => {
  beforeAll(async () => {
    await OpenFeature.setProviderAndWait(
      "lotty",
      new LottyProvider({
        baseUrl: t.baseUrl,
        apiKey: serviceKey,
        events: { flushIntervalMs: 50 },
      }),
    );
  });
  evaluationCases(() => OpenFeature.getClient("lotty"));

  it("is GENERAL with the server's reason when the key is refused", async () => {
    await OpenFeature.setProviderAndWait(
      "lotty-bad-key",
      new LottyProvider({ baseUrl: t.baseUrl, apiKey: "lotty_unknown" }),
    );
    const details = await OpenFeature.getClient("lotty-bad-key").getBooleanDetails(
      flags.bool,
      false,
      { targetingKey: "u" },
    );
    expect(details).toMatchObject({ value: false, errorCode: ErrorCode.GENERAL });
    expect(details.errorMessage).toContain("Unauthenticated");
  });

  it("sends tracked events with the decision id from an evaluation", async () => {
    const client = OpenFeature.getClient("lotty");
    const context = { targetingKey: "of-tracker" };
    const details = await client.getStringDetails(flags.split, "x", context);
    const decisionId = String(details.flagMetadata.decisionId);
    client.track("exposure", context, { decisionId });
    client.track("exposure", context, {}); // no decision id: dropped with a warning
    await waitFor(
      async () => {
        const rows = await storedEventsFor(decisionId);
        return rows > 0;
      },
      10_000,
      "the tracked exposure stored",
    );
    expect(await storedEventsFor(decisionId)).toBe(1);
  });
});

async function storedEventsFor(decisionId: string): Promise<number> {
  const store = t.app.eventStore!;
  const { rows } = await store.pool.query<{ n: string }>(
    "select count(*)::text as n from events where decision_id = $1",
    [decisionId],
  );
  return Number(rows[0]!.n);
}

describe("the published OFREP provider against /ofrep/v1", () => {
  beforeAll(async () => {
    await OpenFeature.setProviderAndWait(
      "ofrep",
      new OFREPProvider({ baseUrl: t.baseUrl, headers: { authorization: `Bearer ${serviceKey}` } }),
    );
  });
  evaluationCases(() => OpenFeature.getClient("ofrep"));
});

describe("OFREP over HTTP", () => {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${t.baseUrl}/ofrep/v1/evaluate/flags${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${serviceKey}`,
        ...headers,
      },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  it("evaluates one flag: 200 with key, value, reason, variant and metadata", async () => {
    const res = await post(`/${flags.json}`, { context: { targetingKey: "h1" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      key: flags.json,
      value: { rows: 2, title: "Summary" },
      reason: "STATIC",
      variant: "default",
      metadata: { decisionId: decisionFor(t, flags.json, "h1").decisionId, lottyReason: "default" },
    });
  });

  it("answers errors with OFREP's status codes and error codes", async () => {
    const cases: [string, unknown, Record<string, string>, number, Record<string, unknown>][] = [
      [
        "/no_such_flag",
        { context: { targetingKey: "h" } },
        {},
        404,
        { key: "no_such_flag", errorCode: "FLAG_NOT_FOUND" },
      ],
      [`/${flags.bool}`, "{not json", {}, 400, { errorCode: "PARSE_ERROR" }],
      [`/${flags.bool}`, { context: {} }, {}, 400, { errorCode: "TARGETING_KEY_MISSING" }],
      [`/${flags.bool}`, {}, {}, 400, { errorCode: "TARGETING_KEY_MISSING" }],
      [
        `/${flags.bool}`,
        { context: { targetingKey: 42 } },
        {},
        400,
        { errorCode: "INVALID_CONTEXT" },
      ],
      [
        `/${flags.bool}`,
        { context: { targetingKey: "h", tags: ["a"] } },
        {},
        400,
        {
          errorCode: "INVALID_CONTEXT",
          errorDetails: "context.tags must be a string, number or boolean",
        },
      ],
      [
        `/${flags.bool}`,
        { context: { targetingKey: "x".repeat(300) } },
        {},
        400,
        { errorCode: "INVALID_CONTEXT" },
      ],
      [
        `/${flags.bool}`,
        { context: { targetingKey: "h" } },
        { authorization: "" },
        401,
        { errorCode: "GENERAL" },
      ],
      [
        `/${flags.bool}`,
        { context: { targetingKey: "h" } },
        { authorization: "Bearer lotty_nope" },
        401,
        { errorCode: "GENERAL" },
      ],
      ["", { context: [] }, {}, 400, { errorCode: "INVALID_CONTEXT" }],
    ];
    for (const [path, body, headers, status, expected] of cases) {
      const res = await post(path, body, headers);
      const answer = (await res.json()) as Record<string, unknown>;
      expect({ path, status: res.status, ...answer }).toMatchObject({ path, status, ...expected });
      expect(typeof answer.errorDetails).toBe("string");
      expect(JSON.stringify(answer)).not.toMatch(/at .*\.ts|select |stack/i);
    }
    const get = await fetch(`${t.baseUrl}/ofrep/v1/evaluate/flags/${flags.bool}`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
  });

  it("evaluates every flag in bulk with an ETag; If-None-Match answers 304 until something changes", async () => {
    const context = { context: { targetingKey: "bulk-1", country: "DE" } };
    const first = await post("", context);
    expect(first.status).toBe(200);
    const etag = first.headers.get("etag");
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const body = (await first.json()) as { flags: Record<string, unknown>[] };
    const byKey = new Map(body.flags.map((f) => [f.key, f]));
    for (const key of Object.values(flags)) expect(byKey.has(key)).toBe(true);
    expect(byKey.get(flags.num)).toMatchObject({ value: 3, reason: "STATIC" });
    expect(byKey.get(flags.targeted)).toMatchObject({ reason: "SPLIT" });

    const again = await post("", context, { "if-none-match": etag! });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
    expect(await again.text()).toBe("");
    expect((await post("", context, { "if-none-match": `W/${etag!}, "other"` })).status).toBe(304);
    // Another subject gets other answers, so another tag.
    const other = await post(
      "",
      { context: { targetingKey: "bulk-2" } },
      { "if-none-match": etag! },
    );
    expect(other.status).toBe(200);
    expect(other.headers.get("etag")).not.toBe(etag);

    // A configuration change shows up as a new tag for the same context.
    const added = await makeTypedFlag(t, FlagType.BOOL, false);
    await untilInSnapshot(t, added);
    const changed = await post("", context, { "if-none-match": etag! });
    expect(changed.status).toBe(200);
    const flagsNow = ((await changed.json()) as { flags: { key: string }[] }).flags;
    expect(flagsNow.map((f) => f.key)).toContain(added);
  });

  it("serves HTTP/2 without TLS (h2c) as well", async () => {
    const session = http2.connect(t.baseUrl);
    try {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({
          ":method": "POST",
          ":path": `/ofrep/v1/evaluate/flags/${flags.num}`,
          "content-type": "application/json",
          authorization: `Bearer ${serviceKey}`,
        });
        let status = 0;
        let body = "";
        req.on("response", (headers) => (status = Number(headers[":status"])));
        req.setEncoding("utf8");
        req.on("data", (chunk: string) => (body += chunk));
        req.on("end", () => resolve({ status, body }));
        req.on("error", reject);
        req.end(JSON.stringify({ context: { targetingKey: "h2" } }));
      });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ key: flags.num, value: 3, reason: "STATIC" });
    } finally {
      session.close();
    }
  });

  it("counts OFREP calls in the RPC metrics", async () => {
    await post(`/${flags.bool}`, { context: { targetingKey: "m" } });
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /rpc_server_handled_total\{service="ofrep\.v1",method="EvaluateFlag",code="OK"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /rpc_server_handled_total\{service="ofrep\.v1",method="EvaluateFlag",code="NotFound"\} [1-9]/,
    );
  });
});

describe("tracked events reach the store", () => {
  it("track sends the event with the decision id and its primitive details as properties", async () => {
    const provider = new LottyProvider({
      baseUrl: t.baseUrl,
      apiKey: serviceKey,
      events: { flushIntervalMs: 60_000 },
    });
    const decisionId = decisionFor(t, flags.split, "of-buyer").decisionId;
    provider.track(
      "exposure",
      // An exposure carries the context's primitives; details win.
      { targetingKey: "of-buyer", country: "DE", note: "context", beta: true, tags: ["a"] },
      { decisionId, value: 12.5, note: "x", nested: { dropped: true } },
    );
    await provider.onClose();
    await waitFor(async () => (await storedEventsFor(decisionId)) === 1, 10_000, "tracked event");
    const { rows } = await t.app.eventStore!.pool.query<{ event_id: string }>(
      "select event_id from events where decision_id = $1",
      [decisionId],
    );
    const stored = await storedEvent(t, rows[0]!.event_id);
    expect(stored).toMatchObject({
      event_type: "exposure",
      subject_id: "of-buyer",
    });
    expect(stored?.properties).toEqual({ value: 12.5, note: "x", country: "DE", beta: true });
  });
});
