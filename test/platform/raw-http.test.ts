/**
 * The raw-handler telemetry (src/platform/raw-http.ts) behind the Decide
 * fast path and OFREP writes answers together at the end of the event
 * loop's turn: answers given in one turn are not written until the turn
 * ends, then all are; pipelined requests on one connection are answered in
 * order; a client that goes away before its answer is written costs nothing
 * but its own answer; every answer is counted in the rpc_server_* metrics.
 * A plain node:http server with real sockets, no Lotty app.
 */
import http from "node:http";
import net from "node:net";
import { afterEach, describe, expect, it } from "@jest/globals";
import { Code, ConnectError } from "@connectrpc/connect";
import { createLogger } from "../../src/platform/logging.js";
import { createMetrics, type Metrics } from "../../src/platform/metrics.js";
import { rawCallTelemetry, type RawAnswer, type RawCall } from "../../src/platform/raw-http.js";

let server: http.Server | undefined;
let metrics: Metrics | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server?.closeAllConnections();
  metrics?.close();
  server = undefined;
  metrics = undefined;
});

function telemetry(): RawCall {
  metrics = createMetrics();
  let n = 0;
  return rawCallTelemetry({
    service: "test.v1.RawService",
    metrics,
    logger: createLogger("error"),
    requestId: () => `req-${++n}`,
  });
}

async function listen(handler: http.RequestListener): Promise<number> {
  server = http.createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}

function ok(body: string): RawAnswer {
  return { status: 200, headers: { "content-type": "text/plain" }, body };
}

function get(port: number, path: string): Promise<{ status: number; body: string; id: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            id: String(res.headers["x-request-id"]),
          }),
        );
      })
      .on("error", reject);
  });
}

async function handled(code: string): Promise<number> {
  const text = await metrics!.registry.metrics();
  const line = text
    .split("\n")
    .find(
      (l) =>
        l.startsWith("rpc_server_handled_total{") &&
        l.includes('service="test.v1.RawService"') &&
        l.includes(`code="${code}"`),
    );
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

describe("raw HTTP calls", () => {
  it("writes the answers given in one turn of the event loop together, at its end", async () => {
    const call = telemetry();
    const held: [http.IncomingMessage, http.ServerResponse][] = [];
    const seen: { ended: boolean[]; afterTurn: boolean[] } = { ended: [], afterTurn: [] };
    const port = await listen((req, res) => {
      held.push([req, res]);
      if (held.length < 5) return;
      // All five calls answered synchronously in this one turn.
      for (const [r, s] of held) call(r, s, "Get", () => ok(r.url!.slice(1)));
      seen.ended = held.map(([, s]) => s.writableEnded);
      setImmediate(() => (seen.afterTurn = held.map(([, s]) => s.writableEnded)));
    });
    const answers = await Promise.all([1, 2, 3, 4, 5].map((i) => get(port, `/${i}`)));
    expect(answers.map((a) => a.body)).toEqual(["1", "2", "3", "4", "5"]);
    expect(answers.every((a) => a.status === 200 && a.id.startsWith("req-"))).toBe(true);
    expect(seen.ended).toEqual([false, false, false, false, false]);
    expect(seen.afterTurn).toEqual([true, true, true, true, true]);
    expect(await handled("OK")).toBe(5);
  });

  it("answers pipelined requests on one connection in order, synchronous or not", async () => {
    const call = telemetry();
    const port = await listen((req, res) => {
      const n = Number(req.url!.slice(1));
      // Odd requests answer later than the even one after them would.
      call(req, res, "Get", () =>
        n % 2 === 1
          ? new Promise<RawAnswer>((resolve) => setTimeout(() => resolve(ok(`n${n}`)), 20))
          : ok(`n${n}`),
      );
    });
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (c: string) => (text += c));
    const requests = [1, 2, 3, 4]
      .map((n) => `GET /${n} HTTP/1.1\r\nhost: x\r\n${n === 4 ? "connection: close\r\n" : ""}\r\n`)
      .join("");
    socket.write(requests);
    await new Promise((resolve) => socket.on("end", resolve));
    const bodies = [...text.matchAll(/\r\n\r\n(n\d)/g)].map((m) => m[1]);
    expect(bodies).toEqual(["n1", "n2", "n3", "n4"]);
    expect(text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(4);
  });

  it("keeps serving when a client goes away before its answer is written", async () => {
    const call = telemetry();
    let gone: (() => void) | undefined;
    const port = await listen((req, res) => {
      if (req.url === "/leave") {
        // Answer only once the client has closed its end.
        req.socket.once("close", () => {
          call(req, res, "Get", () => ok("too late"));
          setImmediate(() => gone?.());
        });
        return;
      }
      call(req, res, "Get", () => ok("here"));
    });
    const left = new Promise<void>((resolve) => (gone = resolve));
    const socket = net.connect(port, "127.0.0.1", () =>
      socket.write("GET /leave HTTP/1.1\r\nhost: x\r\n\r\n", () =>
        setTimeout(() => socket.destroy(), 20),
      ),
    );
    socket.on("error", () => {});
    await left;
    expect((await get(port, "/after")).body).toBe("here");
  });

  it("counts a failed answer under its code", async () => {
    const call = telemetry();
    const port = await listen((req, res) =>
      call(req, res, "Get", () => ({
        status: 404,
        headers: { "content-type": "application/json" },
        body: '{"code":"not_found"}',
        error: new ConnectError("no such thing", Code.NotFound),
      })),
    );
    const answer = await get(port, "/x");
    expect(answer.status).toBe(404);
    expect(answer.body).toBe('{"code":"not_found"}');
    expect(await handled("OK")).toBe(0);
    expect(await handled("NotFound")).toBe(1);
  });
});
