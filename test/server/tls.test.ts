/**
 * TLS on the one port (LOTTY_TLS_CERT_FILE / LOTTY_TLS_KEY_FILE): ALPN
 * offers h2 and http/1.1; Connect over HTTP/1.1, gRPC over HTTP/2, the Node
 * client, buf curl, the Decide fast path and the console all work over
 * https://; a reload serves new connections with new files and keeps the old
 * certificate when the new files are bad; bad files stop the configuration.
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { AccessService } from "../../gen/lotty/access/v1/access_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { createLottyClient } from "../../clients/node/src/index.js";
import { DECIDE_PATH } from "../../src/decision/fast-path.js";
import { loadConfig } from "../../src/platform/config.js";
import { deleteStreams, startTestApp, type TestApp } from "../support/app.js";
import { bearer } from "../support/clients.js";
import { createTestDatabase } from "../support/database.js";
import { TEST_NATS_URL } from "../support/env.js";
import { spawnLotty } from "../support/process.js";
import { makeCertificate, type TestCertificate } from "../support/certificates.js";

const run = promisify(execFile);
const BUF = path.resolve("node_modules", ".bin", "buf");

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request over TLS on a fresh connection. */
function httpsRequest(
  baseUrl: string,
  ca: Buffer,
  urlPath: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        hostname,
        port,
        path: urlPath,
        method: init.method ?? "GET",
        headers: init.headers ?? {},
        ca,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

/** The ALPN protocol and certificate fingerprint a new TLS connection gets. */
function handshake(
  port: number,
  ca: Buffer,
  ALPNProtocols?: string[],
): Promise<{ alpn: string | false; fingerprint256: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: "127.0.0.1", port, ca, servername: "localhost", ALPNProtocols },
      () => {
        const result = {
          alpn: socket.alpnProtocol ?? false,
          fingerprint256: socket.getPeerCertificate().fingerprint256,
        };
        socket.end();
        resolve(result);
      },
    );
    socket.on("error", reject);
  });
}

describe("TLS on the one port", () => {
  let dir: string;
  let first: TestCertificate;
  let second: TestCertificate;
  let certFile: string;
  let keyFile: string;
  let t: TestApp;

  const serve = (certificate: TestCertificate) => {
    copyFileSync(certificate.certFile, certFile);
    copyFileSync(certificate.keyFile, keyFile);
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "lotty-tls-"));
    [first, second] = await Promise.all([
      makeCertificate(dir, "first"),
      makeCertificate(dir, "second"),
    ]);
    certFile = path.join(dir, "served.cert.pem");
    keyFile = path.join(dir, "served.key.pem");
    serve(first);
    t = await startTestApp({ env: { LOTTY_TLS_CERT_FILE: certFile, LOTTY_TLS_KEY_FILE: keyFile } });
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const port = () => Number(new URL(t.baseUrl).port);

  it("serves https:// and offers h2 and http/1.1 by ALPN", async () => {
    expect(t.baseUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await handshake(port(), first.cert, ["h2", "http/1.1"])).alpn).toBe("h2");
    expect((await handshake(port(), first.cert, ["http/1.1"])).alpn).toBe("http/1.1");
    expect((await handshake(port(), first.cert)).alpn).toBe(false);
  });

  it("answers HTTP/1.1 without ALPN and refuses plain-text HTTP", async () => {
    const health = await httpsRequest(t.baseUrl, first.cert, "/health");
    expect(health.status).toBe(200);
    const plain = await new Promise<string>((resolve) => {
      http
        .get(`http://127.0.0.1:${port()}/health`, (res) => resolve(`status ${res.statusCode}`))
        .on("error", (error) => resolve(`error ${error.message}`));
    });
    expect(plain).toMatch(/^error /);
  });

  it("serves Connect over HTTP/1.1 and gRPC over HTTP/2", async () => {
    for (const transport of [
      createConnectTransport({
        baseUrl: t.baseUrl,
        httpVersion: "1.1",
        nodeOptions: { ca: first.cert },
        interceptors: [bearer(t.adminKey)],
      }),
      createGrpcTransport({
        baseUrl: t.baseUrl,
        nodeOptions: { ca: first.cert },
        interceptors: [bearer(t.adminKey)],
      }),
    ]) {
      const { user } = await createClient(AccessService, transport).getCurrentUser({});
      expect(user?.email).toBe("admin@lotty.local");
    }
  });

  it("answers Decide on the fast path over https HTTP/1.1 as the general path does over HTTP/2", async () => {
    const lotty = createLottyClient({ baseUrl: t.baseUrl, apiKey: t.adminKey, ca: first.cert });
    const key = `tls-${Date.now()}`;
    await lotty.flags.createFlag({
      key,
      type: FlagType.NUMBER,
      defaultValue: { kind: { case: "numberValue", value: 0.25 } },
      description: "tls test flag",
      tags: [],
    });
    const body = JSON.stringify({ subjectId: "s-1", flagKeys: [key] });
    const headers = { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` };
    const fast = await httpsRequest(t.baseUrl, first.cert, DECIDE_PATH, {
      method: "POST",
      headers,
      body,
    });
    expect(fast.status).toBe(200);
    expect(JSON.parse(fast.body)).toMatchObject({
      decisions: [{ flagKey: key, value: 0.25 }],
    });
    // The same request over HTTP/2 (connect-node's general path) answers alike.
    const general = await createLottyClient({
      baseUrl: t.baseUrl,
      apiKey: t.adminKey,
      ca: first.cert,
      httpVersion: "2",
    }).decision.decide({ subjectId: "s-1", flagKeys: [key] });
    expect(general.decisions.map((d) => [d.flagKey, d.value?.kind.value])).toEqual([[key, 0.25]]);
  });

  it("serves the console over https", async () => {
    const page = await httpsRequest(t.baseUrl, first.cert, "/console/");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.body).toContain("<div id=");
  });

  it("works with buf curl over https (gRPC and Connect)", async () => {
    const caFile = first.certFile;
    const { stdout } = await run(BUF, [
      "curl",
      "--cacert",
      caFile,
      "--protocol",
      "grpc",
      "--list-services",
      t.baseUrl,
    ]);
    expect(stdout).toContain("lotty.access.v1.AccessService");
    const health = await run(BUF, [
      "curl",
      "--cacert",
      caFile,
      "--protocol",
      "connect",
      "-d",
      "{}",
      `${t.baseUrl}/grpc.health.v1.Health/Check`,
    ]);
    expect(JSON.parse(health.stdout)).toEqual({ status: "SERVING" });
  });

  it("serves new connections with reloaded files and keeps the old certificate when they are bad", async () => {
    expect((await handshake(port(), first.cert)).fingerprint256).toBe(first.fingerprint256);
    serve(second);
    expect(t.app.reloadTls()).toBe(true);
    expect((await handshake(port(), second.cert)).fingerprint256).toBe(second.fingerprint256);
    // A key that does not match: the reload fails, the second certificate stays.
    copyFileSync(first.keyFile, keyFile);
    expect(t.app.reloadTls()).toBe(false);
    writeFileSync(certFile, "not a certificate");
    expect(t.app.reloadTls()).toBe(false);
    expect((await handshake(port(), second.cert)).fingerprint256).toBe(second.fingerprint256);
    serve(first);
    expect(t.app.reloadTls()).toBe(true);
    expect((await handshake(port(), first.cert)).fingerprint256).toBe(first.fingerprint256);
  });
});

describe("TLS configuration", () => {
  let dir: string;
  let good: TestCertificate;
  let other: TestCertificate;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "lotty-tls-config-"));
    [good, other] = await Promise.all([
      makeCertificate(dir, "good"),
      makeCertificate(dir, "other"),
    ]);
    writeFileSync(path.join(dir, "garbage.pem"), "hello\n");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const problems = (env: Record<string, string>) => {
    const result = loadConfig(env);
    return result.ok ? [] : result.problems;
  };

  it("accepts a certificate and its key", () => {
    const result = loadConfig({
      LOTTY_TLS_CERT_FILE: good.certFile,
      LOTTY_TLS_KEY_FILE: good.keyFile,
    });
    expect(result.ok && result.config.tls).toEqual({
      certFile: good.certFile,
      keyFile: good.keyFile,
    });
    expect(loadConfig({}).ok && loadConfig({}).ok).toBe(true);
  });

  it("names the variable of every problem", () => {
    expect(problems({ LOTTY_TLS_CERT_FILE: good.certFile })).toEqual([
      "LOTTY_TLS_CERT_FILE: is set but LOTTY_TLS_KEY_FILE is not (set both to serve HTTPS, or neither)",
    ]);
    expect(problems({ LOTTY_TLS_KEY_FILE: good.keyFile })).toEqual([
      "LOTTY_TLS_KEY_FILE: is set but LOTTY_TLS_CERT_FILE is not (set both to serve HTTPS, or neither)",
    ]);
    const missing = path.join(dir, "missing.pem");
    expect(problems({ LOTTY_TLS_CERT_FILE: missing, LOTTY_TLS_KEY_FILE: good.keyFile })).toEqual([
      expect.stringMatching(/^LOTTY_TLS_CERT_FILE: cannot read .*missing\.pem \(ENOENT/),
    ]);
    expect(problems({ LOTTY_TLS_CERT_FILE: good.certFile, LOTTY_TLS_KEY_FILE: missing })).toEqual([
      expect.stringMatching(/^LOTTY_TLS_KEY_FILE: cannot read .*missing\.pem \(ENOENT/),
    ]);
    const garbage = path.join(dir, "garbage.pem");
    expect(problems({ LOTTY_TLS_CERT_FILE: garbage, LOTTY_TLS_KEY_FILE: good.keyFile })).toEqual([
      expect.stringMatching(/^LOTTY_TLS_CERT_FILE: .*garbage\.pem is not a PEM certificate/),
    ]);
    expect(problems({ LOTTY_TLS_CERT_FILE: good.certFile, LOTTY_TLS_KEY_FILE: garbage })).toEqual([
      expect.stringMatching(/^LOTTY_TLS_KEY_FILE: .*garbage\.pem is not a PEM private key/),
    ]);
    // The certificate given as the key, and a key of another certificate.
    expect(
      problems({ LOTTY_TLS_CERT_FILE: good.certFile, LOTTY_TLS_KEY_FILE: good.certFile }),
    ).toEqual([expect.stringMatching(/^LOTTY_TLS_KEY_FILE: .* is not a PEM private key/)]);
    expect(
      problems({ LOTTY_TLS_CERT_FILE: good.certFile, LOTTY_TLS_KEY_FILE: other.keyFile }),
    ).toEqual([
      `LOTTY_TLS_KEY_FILE: the key in ${other.keyFile} does not match the certificate in ${good.certFile}`,
    ]);
  });
});

describe("the lotty process with TLS", () => {
  it("says https:// when ready and reloads the certificate on SIGHUP", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "lotty-tls-process-"));
    const database = await createTestDatabase();
    const prefix = `T${Date.now().toString(36).toUpperCase()}`;
    try {
      const [first, second] = await Promise.all([
        makeCertificate(dir, "first"),
        makeCertificate(dir, "second"),
      ]);
      const certFile = path.join(dir, "served.cert.pem");
      const keyFile = path.join(dir, "served.key.pem");
      copyFileSync(first.certFile, certFile);
      copyFileSync(first.keyFile, keyFile);
      const lotty = spawnLotty({
        PORT: "0",
        DATABASE_URL: database.url,
        NATS_URL: TEST_NATS_URL,
        LOTTY_NATS_PREFIX: prefix,
        LOG_LEVEL: "info",
        LOTTY_TLS_CERT_FILE: certFile,
        LOTTY_TLS_KEY_FILE: keyFile,
      });
      try {
        const [, port] = await lotty.waitFor(/Lotty is ready on https:\/\/127\.0\.0\.1:(\d+)/);
        expect((await handshake(Number(port), first.cert)).fingerprint256).toBe(
          first.fingerprint256,
        );
        copyFileSync(second.certFile, certFile);
        copyFileSync(second.keyFile, keyFile);
        lotty.child.kill("SIGHUP");
        await lotty.waitFor(/TLS certificate reloaded/);
        expect((await handshake(Number(port), second.cert)).fingerprint256).toBe(
          second.fingerprint256,
        );
        writeFileSync(keyFile, "not a key");
        lotty.child.kill("SIGHUP");
        await lotty.waitFor(
          /TLS reload failed, still serving the previous certificate: LOTTY_TLS_KEY_FILE/,
        );
        expect((await handshake(Number(port), second.cert)).fingerprint256).toBe(
          second.fingerprint256,
        );
      } finally {
        lotty.child.kill("SIGTERM");
        expect((await lotty.exited).code).toBe(0);
      }
    } finally {
      await database.drop();
      await deleteStreams(prefix).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("exits 2 before listening when only one TLS variable is set", async () => {
    const lotty = spawnLotty({ PORT: "0", LOTTY_TLS_KEY_FILE: "/nowhere/key.pem" });
    expect((await lotty.exited).code).toBe(2);
    expect(lotty.output()).toContain(
      "config: LOTTY_TLS_KEY_FILE: is set but LOTTY_TLS_CERT_FILE is not (set both to serve HTTPS, or neither)",
    );
  });
});
