/**
 * OnePortServer with a certificate: HTTP/1.1 (ALPN http/1.1 or none) reaches
 * the handler as node:http's own IncomingMessage/ServerResponse, which the
 * Decide fast path relies on; HTTP/2 (ALPN h2) as http2 compat objects; a
 * graceful close lets an in-flight HTTP/2 request finish.
 */
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import tls from "node:tls";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { DEFAULT_LIMITS, OnePortServer } from "../../src/platform/http-server.js";
import { readTlsFiles } from "../../src/platform/tls.js";
import { makeCertificate, type TestCertificate } from "../support/certificates.js";

describe("OnePortServer with TLS", () => {
  let dir: string;
  let certificate: TestCertificate;
  let server: OnePortServer;
  let port: number;
  const seen: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "lotty-one-port-tls-"));
    certificate = await makeCertificate(dir, "server");
    server = new OnePortServer(
      (req, res) => {
        const kind =
          req instanceof http.IncomingMessage && res instanceof http.ServerResponse
            ? "node:http"
            : req instanceof http2.Http2ServerRequest
              ? "node:http2"
              : "other";
        seen.push(`${req.httpVersion} ${kind}`);
        const delay = req.url === "/slow" ? 300 : 0;
        setTimeout(() => res.end(`${req.httpVersion}`), delay);
      },
      DEFAULT_LIMITS,
      readTlsFiles(certificate),
    );
    port = await server.listen(0, "127.0.0.1");
  });
  afterAll(async () => {
    await server.close(0);
    rmSync(dir, { recursive: true, force: true });
  });

  function getH1(ALPNProtocols?: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      https
        .get(
          {
            host: "127.0.0.1",
            port,
            path: "/",
            agent: false,
            ca: certificate.cert,
            createConnection: () =>
              tls.connect({ host: "127.0.0.1", port, ca: certificate.cert, ALPNProtocols }),
          },
          (res) => {
            let body = "";
            res.on("data", (c: Buffer) => (body += c.toString()));
            res.on("end", () => resolve(body));
          },
        )
        .on("error", reject);
    });
  }

  it("hands HTTP/1.1 over TLS to node:http and h2 to node:http2", async () => {
    expect(server.tls).toBe(true);
    expect(await getH1(["http/1.1"])).toBe("1.1");
    expect(await getH1()).toBe("1.1");
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: certificate.cert });
    const body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ":path": "/" });
      let text = "";
      stream.on("data", (c: Buffer) => (text += c.toString()));
      stream.on("end", () => resolve(text));
      stream.on("error", reject);
    });
    session.close();
    expect(body).toBe("2.0");
    expect(seen).toEqual(["1.1 node:http", "1.1 node:http", "2.0 node:http2"]);
  });

  it("lets an in-flight HTTP/2 request finish on close", async () => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: certificate.cert });
    session.on("error", () => {});
    const answer = new Promise<string>((resolve, reject) => {
      const stream = session.request({ ":path": "/slow" });
      let text = "";
      stream.on("data", (c: Buffer) => (text += c.toString()));
      stream.on("end", () => resolve(text));
      stream.on("error", reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.activeRequests).toBe(1);
    await server.close(5_000);
    expect(await answer).toBe("2.0");
    session.destroy();
  });
});
