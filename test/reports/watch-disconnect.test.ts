/**
 * A client that goes away during WatchExperimentReport (a browser leaving
 * the report page, a closed stream) ends the stream normally: nothing about
 * it is logged at warn or above, and the RPC is counted as CANCELED, not as
 * an internal error. The client leaves at several moments: before the first
 * report is written, right after it, and while the server waits to poll.
 */
import http from "node:http";
import http2 from "node:http2";
import { Writable } from "node:stream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { ReportService } from "../../gen/lotty/reports/v1/reports_pb.js";
import { createLogger } from "../../src/platform/logging.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client, type TransportKind } from "../support/clients.js";
import { reportExperiment } from "./support.js";

interface Line {
  level: number;
  msg: string;
  code?: string;
  err?: { message?: string };
}

const WARN = 40;
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("WatchExperimentReport when the client goes away", () => {
  const lines: Line[] = [];
  let t: TestApp;
  let experimentId: string;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const text of chunk.toString("utf8").split("\n")) {
          if (text.trim() !== "") lines.push(JSON.parse(text) as Line);
        }
        done();
      },
    });
    t = await startTestApp({ logger: createLogger("debug", sink) });
    experimentId = (await reportExperiment(t)).experimentId;
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
  });

  let start = 0;
  beforeEach(() => {
    start = lines.length;
  });

  /** What this test made the server log at warn or above. */
  function loud(): Line[] {
    return lines.slice(start).filter((l) => l.level >= WARN);
  }

  function watchBody(): Buffer {
    return Buffer.from(JSON.stringify({ experimentId }));
  }

  it.each<TransportKind>(["connect-json-h1", "connect-binary-h2", "grpc", "grpc-web"])(
    "is quiet when the client aborts after the first report (%s)",
    async (kind) => {
      const controller = new AbortController();
      const stream = client(ReportService, t.baseUrl, t.adminKey, kind).watchExperimentReport(
        { experimentId },
        { signal: controller.signal },
      );
      const iterator = stream[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.done).toBe(false);
      controller.abort();
      await iterator.return?.().catch(() => {});
      await settle(1_500);
      expect(loud()).toEqual([]);
    },
    20_000,
  );

  it("is quiet when an HTTP/1.1 client leaves before the first report is written", async () => {
    const body = watchBody();
    const url = new URL("/lotty.reports.v1.ReportService/WatchExperimentReport", t.baseUrl);
    for (let i = 0; i < 5; i++) {
      const req = http.request(url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${t.adminKey}`,
          "content-type": "application/connect+json",
          "connect-protocol-version": "1",
        },
      });
      req.on("error", () => {});
      req.end(envelope(body));
      // Gone while the server plans and builds the first report.
      await settle(5 + i * 5);
      req.destroy();
    }
    await settle(1_500);
    expect(loud()).toEqual([]);
    // The server saw the calls (so the test exercised the handler).
    expect(lines.slice(start).some((l) => l.msg === "rpc")).toBe(true);
  }, 20_000);

  it("is quiet when an HTTP/2 client resets the stream mid-call", async () => {
    const session = http2.connect(t.baseUrl);
    session.on("error", () => {});
    try {
      for (let i = 0; i < 5; i++) {
        const stream = session.request({
          ":method": "POST",
          ":path": "/lotty.reports.v1.ReportService/WatchExperimentReport",
          authorization: `Bearer ${t.adminKey}`,
          "content-type": "application/grpc+json",
          te: "trailers",
        });
        stream.on("error", () => {});
        stream.end(envelope(watchBody()));
        await settle(5 + i * 5);
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
      await settle(1_500);
    } finally {
      session.close();
    }
    expect(loud()).toEqual([]);
  }, 20_000);

  it("still logs a real failure at error level", async () => {
    const { toClientError } = await import("../../src/platform/errors.js");
    const captured: Line[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        captured.push(JSON.parse(chunk.toString("utf8")) as Line);
        done();
      },
    });
    toClientError(new Error("serialisation failed"), "req-1", createLogger("debug", sink));
    expect(captured.map((l) => [l.level, l.msg])).toEqual([[50, "unexpected error"]]);
  });
});

/** One enveloped message (flags 0, 4-byte big-endian length). */
function envelope(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}
