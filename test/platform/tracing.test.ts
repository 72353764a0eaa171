/**
 * Tracing (src/platform/tracing.ts) end to end: the OpenTelemetry Node SDK
 * started from OTEL_* variables exports OTLP (http/json) to a collector
 * this test runs; one trace follows a caller's `traceparent` from
 * IngestEvents through the event store, the guardrail monitor's pause, the
 * outbox relay and the notifier to the webhook request, and the log lines
 * of that work carry its trace id. Decide's fast path and OFREP continue
 * the caller's trace too. With tracing off nothing is carried.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { Event } from "../../gen/lotty/events/v1/events_pb.js";
import { loadConfig } from "../../src/platform/config.js";
import { createLogger } from "../../src/platform/logging.js";
import {
  startTracing,
  storedTraceHeaders,
  traceLogFields,
  traceMessageHeaders,
  tracingEnabled,
  tracingSettings,
  type Tracing,
} from "../../src/platform/tracing.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { event, eventClient } from "../events/support.js";
import { subjectsByVariant } from "../reports/support.js";
import { guardedExperiment, untilTriggered } from "../guardrails/support.js";
import { Receiver } from "../notifications/receiver.js";
import { makeFlag, makeUser, webhookRule } from "../support/builders.js";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status: { code: number };
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** SpanKind numbers of OTLP (SPAN_KIND_SERVER = 2, …). */
const OTLP_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

/** An OTLP/HTTP JSON receiver: keeps every span it is sent. */
class Collector {
  readonly spans: ExportedSpan[] = [];
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          resourceSpans: { scopeSpans: { spans: ExportedSpan[] }[] }[];
        };
        for (const r of body.resourceSpans)
          for (const s of r.scopeSpans) this.spans.push(...s.spans);
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  url = "";

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  of(traceId: string): ExportedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }
}

function newTraceparent() {
  const traceId = randomBytes(16).toString("hex");
  const parentId = randomBytes(8).toString("hex");
  return { traceId, parentId, header: `00-${traceId}-${parentId}-01` };
}

function attribute(span: ExportedSpan, key: string): unknown {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
}

describe("tracing settings from OTEL_* variables", () => {
  it("is off by default, with none, and when the SDK is disabled", () => {
    expect(tracingSettings({})).toBeUndefined();
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: "none" })).toBeUndefined();
    expect(
      tracingSettings({ OTEL_SDK_DISABLED: "true", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }),
    ).toBeUndefined();
    const defaults = loadConfig({});
    expect(defaults.ok && defaults.config.tracing).toBeUndefined();
  });

  it("is on with an OTLP endpoint or a named exporter, and says where it sends", () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" })).toEqual({
      exporters: ["otlp"],
      description: "otlp (http/protobuf) to http://collector:4318/v1/traces",
    });
    expect(
      tracingSettings({
        OTEL_TRACES_EXPORTER: "otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4317",
      }),
    ).toEqual({ exporters: ["otlp"], description: "otlp (grpc) to http://collector:4317" });
    expect(
      tracingSettings({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example/v1/traces",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      }),
    ).toEqual({
      exporters: ["otlp"],
      description: "otlp (http/json) to https://traces.example/v1/traces",
    });
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: "console" })).toEqual({
      exporters: ["console"],
      description: "console",
    });
  });

  it("refuses bad values, naming the variable", () => {
    const result = loadConfig({
      OTEL_TRACES_EXPORTER: "jaeger",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http",
      OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318",
      OTEL_SDK_DISABLED: "yes",
    });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems).toEqual([
      "OTEL_SDK_DISABLED: must be true or false",
      'OTEL_TRACES_EXPORTER: unknown exporter "jaeger" (use otlp, console, zipkin or none)',
      'OTEL_EXPORTER_OTLP_PROTOCOL: must be http/protobuf, http/json or grpc, got "http"',
      'OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:// or https:// URL, got "collector:4318"',
    ]);
  });

  it("carries nothing while off", () => {
    expect(tracingEnabled()).toBe(false);
    expect(storedTraceHeaders()).toBeNull();
    expect(traceMessageHeaders()).toBeUndefined();
    expect(traceLogFields()).toEqual({});
  });
});

describe("tracing on", () => {
  const OTEL_VARIABLES = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_NODE_RESOURCE_DETECTORS",
  ];
  const saved = new Map(OTEL_VARIABLES.map((name) => [name, process.env[name]]));
  const collector = new Collector();
  const receiver = new Receiver();
  const lines: Record<string, unknown>[] = [];
  let tracing: Tracing | undefined;
  let t: TestApp;

  beforeAll(async () => {
    await Promise.all([collector.start(), receiver.start()]);
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = collector.url;
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = "http/json";
    process.env.OTEL_BSP_SCHEDULE_DELAY = "100";
    process.env.OTEL_NODE_RESOURCE_DETECTORS = "none";
    tracing = await startTracing(process.env);
    const logger = createLogger("info", {
      write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
    });
    // No sweep during the test: the breach is found through its signal.
    t = await startTestApp({ logger, guardrailSweepMs: 600_000 });
  });

  afterAll(async () => {
    await t?.stop();
    await tracing?.shutdown();
    await Promise.all([collector.stop(), receiver.stop()]);
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  async function spansOf(traceId: string, names: string[]): Promise<ExportedSpan[]> {
    await waitFor(
      () => names.every((name) => collector.of(traceId).some((s) => s.name === name)),
      15_000,
      `spans ${names.join(", ")} of trace ${traceId}`,
    );
    return collector.of(traceId);
  }

  it("follows one trace from IngestEvents to the pause and the webhook, with its logs", async () => {
    const { flagKey, experimentId } = await guardedExperiment(t, [
      { metricKey: "error_rate", threshold: 0.2, minSampleSize: 20 },
    ]);
    await webhookRule(t, "traced", `${receiver.url}/traced`, ["guardrail.triggered"], experimentId);
    const picked = subjectsByVariant(t, flagKey, 15, "traced");
    const events: Event[] = [];
    for (const variant of ["control", "blue"] as const) {
      for (const { decisionId } of picked[variant]) {
        events.push(event("exposure", decisionId));
        if (variant === "blue") events.push(event("error", decisionId));
      }
    }
    const caller = newTraceparent();
    const ingest = await eventClient(t);
    const answer = await ingest.ingestEvents(
      { events },
      { headers: { traceparent: caller.header } },
    );
    expect(answer.accepted).toBe(events.length);

    await untilTriggered(t, experimentId);
    await waitFor(() => receiver.at("/traced").length === 1, 15_000, "the webhook");
    const webhook = receiver.at("/traced")[0]!;
    expect(webhook.headers.traceparent).toMatch(
      new RegExp(`^00-${caller.traceId}-[0-9a-f]{16}-01$`),
    );

    const prefix = t.app.names.subjectPrefix;
    const ingestSpan = "lotty.events.v1.EventService/IngestEvents";
    const published = `publish ${prefix}.events.batch`;
    const stored = `process ${prefix}.events.batch`;
    const evaluated = "guardrail evaluate";
    const relayed = `publish ${prefix}.lifecycle.guardrail.triggered`;
    const notified = `process ${prefix}.lifecycle.guardrail.triggered`;
    const sent = "notify webhook";
    const spans = await spansOf(caller.traceId, [
      ingestSpan,
      published,
      stored,
      evaluated,
      relayed,
      notified,
      sent,
    ]);
    const byName = (name: string) => spans.find((s) => s.name === name)!;
    // One chain, each hop the child of the one before.
    const chain = [ingestSpan, published, stored, evaluated, relayed, notified, sent];
    expect(byName(ingestSpan).parentSpanId).toBe(caller.parentId);
    for (let i = 1; i < chain.length; i++) {
      expect({ span: chain[i], parent: byName(chain[i]!).parentSpanId }).toEqual({
        span: chain[i],
        parent: byName(chain[i - 1]!).spanId,
      });
    }
    expect(webhook.headers.traceparent).toContain(byName(sent).spanId);
    expect(byName(ingestSpan).kind).toBe(OTLP_KIND.server);
    expect(byName(published).kind).toBe(OTLP_KIND.producer);
    expect(byName(stored).kind).toBe(OTLP_KIND.consumer);
    expect(byName(notified).kind).toBe(OTLP_KIND.consumer);
    expect(byName(sent).kind).toBe(OTLP_KIND.client);
    expect(attribute(byName(ingestSpan), "rpc.method")).toBe("IngestEvents");
    expect(attribute(byName(evaluated), "lotty.experiment_id")).toBe(experimentId);
    expect(attribute(byName(sent), "http.response.status_code")).toBe(200);

    // The log lines of that work carry its trace id.
    const traced = lines.filter((l) => l.trace_id === caller.traceId);
    expect(traced.find((l) => l.msg === "rpc" && l.method === "IngestEvents")).toBeDefined();
    expect(traced.find((l) => l.msg === "guardrail fired")).toMatchObject({
      experimentId,
      span_id: byName(evaluated).spanId,
    });
  });

  it("continues the caller's trace on Decide's fast path, OFREP and any RPC, or starts one", async () => {
    const flagKey = await makeFlag(t);
    const service = await makeUser(t, Role.SERVICE);
    const post = (path: string, body: unknown, traceparent?: string) =>
      fetch(`${t.baseUrl}${path}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${service.key}`,
          "content-type": "application/json",
          ...(traceparent === undefined ? {} : { traceparent }),
        },
        body: JSON.stringify(body),
      });
    const decideCaller = newTraceparent();
    const decided = await post(
      "/lotty.decision.v1.DecisionService/Decide",
      { subjectId: "s-1", flagKeys: [flagKey] },
      decideCaller.header,
    );
    expect(decided.status).toBe(200);
    const ofrepCaller = newTraceparent();
    const evaluated = await post(
      `/ofrep/v1/evaluate/flags/${flagKey}`,
      { context: { targetingKey: "s-1" } },
      ofrepCaller.header,
    );
    expect(evaluated.status).toBe(200);
    const listCaller = newTraceparent();
    const listed = await fetch(`${t.baseUrl}/lotty.flags.v1.FlagService/ListFlags`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${t.adminKey}`,
        "content-type": "application/json",
        traceparent: listCaller.header,
      },
      body: "{}",
    });
    expect(listed.status).toBe(200);
    const unsent = await post("/lotty.decision.v1.DecisionService/Decide", {
      subjectId: "s-2",
      flagKeys: [flagKey],
    });
    expect(unsent.status).toBe(200);
    const unsentId = unsent.headers.get("x-request-id");

    const [decide] = await spansOf(decideCaller.traceId, [
      "lotty.decision.v1.DecisionService/Decide",
    ]);
    expect(decide).toMatchObject({ parentSpanId: decideCaller.parentId, kind: OTLP_KIND.server });
    expect(attribute(decide!, "lotty.request_id")).toBe(decided.headers.get("x-request-id"));
    const [ofrep] = await spansOf(ofrepCaller.traceId, ["ofrep.v1/EvaluateFlag"]);
    expect(ofrep).toMatchObject({ parentSpanId: ofrepCaller.parentId });
    const [list] = await spansOf(listCaller.traceId, ["lotty.flags.v1.FlagService/ListFlags"]);
    expect(list).toMatchObject({ parentSpanId: listCaller.parentId, kind: OTLP_KIND.server });
    expect(
      lines.find(
        (l) => l.msg === "rpc" && l.method === "ListFlags" && l.trace_id === listCaller.traceId,
      ),
    ).toBeDefined();
    // Without a traceparent, a call starts a trace of its own.
    await waitFor(
      () => collector.spans.some((s) => attribute(s, "lotty.request_id") === unsentId),
      15_000,
      "the span of a call without traceparent",
    );
    const own = collector.spans.find((s) => attribute(s, "lotty.request_id") === unsentId)!;
    expect(own.parentSpanId ?? "").toBe("");
    expect([decideCaller.traceId, ofrepCaller.traceId]).not.toContain(own.traceId);
  });
});
