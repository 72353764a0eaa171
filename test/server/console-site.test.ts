/**
 * The console is served by Lotty itself at /console/ on the RPC port: the
 * app shell with a strict Content-Security-Policy, hashed assets cached as
 * immutable (compressed when the client accepts it), deep links answered
 * with the app, and clear answers for what is not there. The build in
 * dist/console is made by the test run's global setup, as `npm start` does.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestApp, type TestApp } from "../support/app.js";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function get(
  base: string,
  urlPath: string,
  init: { method?: string; headers?: Record<string, string> } = {},
) {
  return new Promise<Answer>((resolve, reject) => {
    // The raw path goes on the wire as written (a URL string would be normalised first).
    const { hostname, port } = new URL(base);
    const req = http.request(
      { hostname, port, path: urlPath, method: init.method ?? "GET", headers: init.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const built = path.resolve("dist", "console");
let t: TestApp;
let scriptPath: string;

beforeAll(async () => {
  t = await startTestApp();
  const script = readdirSync(path.join(built, "assets")).find((f) => /^index-.*\.js$/.test(f));
  if (script === undefined) throw new Error("no index-*.js in dist/console/assets");
  scriptPath = `/console/assets/${script}`;
});

afterAll(async () => {
  await t?.stop();
});

describe("the console at /console/", () => {
  it("serves the app shell with a strict CSP and no long-term caching", async () => {
    const a = await get(t.baseUrl, "/console/");
    expect(a.status).toBe(200);
    expect(a.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(a.headers["cache-control"]).toBe("no-cache");
    const csp = String(a.headers["content-security-policy"]);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("unsafe-eval");
    expect(a.headers["x-content-type-options"]).toBe("nosniff");
    const html = a.body.toString("utf8");
    expect(html).toBe(readFileSync(path.join(built, "index.html"), "utf8"));
    // The page loads its code from hashed files, never inline.
    expect(html).toContain(scriptPath);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it("answers deep links with the app so a reload keeps the view", async () => {
    for (const deep of [
      "/console/experiments",
      "/console/experiments/0b5c6f4e-3d55-4a52-9f5b-2b9e0a8e2c11/results?window=7d&metric=conversion",
      "/console/flags/new",
    ]) {
      const a = await get(t.baseUrl, deep);
      expect(a.status).toBe(200);
      expect(a.body.toString("utf8")).toContain(scriptPath);
    }
  });

  it("caches hashed assets for a year and compresses them on request", async () => {
    const plain = await get(t.baseUrl, scriptPath);
    expect(plain.status).toBe(200);
    expect(plain.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(plain.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(
      plain.body.equals(readFileSync(path.join(built, scriptPath.replace("/console/", "")))),
    ).toBe(true);
    const br = await get(t.baseUrl, scriptPath, { headers: { "accept-encoding": "gzip, br" } });
    expect(br.headers["content-encoding"]).toBe("br");
    expect(zlib.brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
    const gz = await get(t.baseUrl, scriptPath, { headers: { "accept-encoding": "gzip" } });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(zlib.gunzipSync(gz.body).equals(plain.body)).toBe(true);
    expect(gz.body.length).toBeLessThan(plain.body.length);
  });

  it("revalidates with the ETag", async () => {
    const first = await get(t.baseUrl, "/console/");
    const etag = String(first.headers.etag);
    const again = await get(t.baseUrl, "/console/", { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
  });

  it("says not found for a missing asset instead of sending the app as code", async () => {
    const a = await get(t.baseUrl, "/console/assets/index-doesnotexist.js");
    expect(a.status).toBe(404);
    expect(a.headers["content-type"]).toBe("text/plain");
  });

  it("redirects the bare path, refuses other methods and path tricks", async () => {
    const bare = await get(t.baseUrl, "/console?x=1");
    expect(bare.status).toBe(308);
    expect(bare.headers.location).toBe("/console/?x=1");
    const post = await get(t.baseUrl, "/console/", { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
    for (const tricky of [
      "/console/%2e%2e/package.json",
      "/console/assets/%2E%2E/%2E%2E/package.json",
    ]) {
      const a = await get(t.baseUrl, tricky);
      expect(a.status).toBe(400);
      expect(a.body.toString()).not.toContain("lotty");
    }
    const badEscape = await get(t.baseUrl, "/console/%E0%A4%A");
    expect(badEscape.status).toBe(400);
  });

  it("answers HEAD without a body", async () => {
    const a = await get(t.baseUrl, scriptPath, { method: "HEAD" });
    expect(a.status).toBe(200);
    expect(a.body.length).toBe(0);
  });

  it("is served over HTTP/2 (h2c) on the same port", async () => {
    const session = http2.connect(t.baseUrl);
    try {
      const { status, body } = await new Promise<{ status: number; body: string }>(
        (resolve, reject) => {
          const req = session.request({ ":path": "/console/experiments" });
          let status = 0;
          let body = "";
          req.on("response", (h) => (status = Number(h[":status"])));
          req.setEncoding("utf8");
          req.on("data", (c: string) => (body += c));
          req.on("end", () => resolve({ status, body }));
          req.on("error", reject);
          req.end();
        },
      );
      expect(status).toBe(200);
      expect(body).toContain(scriptPath);
    } finally {
      session.close();
    }
  });

  it("leaves the RPC paths and the other endpoints alone", async () => {
    const health = await get(t.baseUrl, "/health");
    expect(health.status).toBe(200);
    expect(health.headers["content-security-policy"]).toBeUndefined();
    const elsewhere = await get(t.baseUrl, "/consolex/");
    expect(elsewhere.status).toBe(404);
  });
});

describe("when the console is not built or not served", () => {
  it("says how to build it", async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), "lotty-console-"));
    const other = await startTestApp({ env: { LOTTY_CONSOLE_DIR: empty } });
    try {
      const a = await get(other.baseUrl, "/console/experiments");
      expect(a.status).toBe(503);
      expect(a.body.toString()).toContain("npm run console:build");
    } finally {
      await other.stop();
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("a workers-only process serves no console", async () => {
    const workers = await startTestApp({ env: { LOTTY_ROLES: "workers" }, waitReady: false });
    try {
      const a = await get(workers.baseUrl, "/console/");
      expect(a.status).toBe(404);
    } finally {
      await workers.stop();
    }
  });
});
