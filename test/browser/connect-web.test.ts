/**
 * Connect-Web from a real browser: headless Chromium (from the npm package
 * @sparticuz/chromium, driven by playwright-core) loads a tiny page from
 * another origin that calls Decide through @connectrpc/connect-web over
 * Connect and gRPC-Web. With the page's origin in LOTTY_CORS_ORIGINS both
 * work; from an origin not listed the browser blocks the calls.
 */
import http from "node:http";
import type net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { build } from "esbuild";
import type { Browser } from "playwright-core";
import { Code } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { decisionFor } from "../events/support.js";
import { launchBrowser } from "../support/browser.js";
import { makeUser, runningExperiment } from "../support/builders.js";

const here = path.dirname(fileURLToPath(import.meta.url));

let t: TestApp;
let pages: http.Server;
let pagePort = 0;
let browser: Browser;
let serviceKey: string;
let flagKey: string;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [path.join(here, "page.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const script = bundle.outputFiles[0]!.text;
  pages = http.createServer((req, res) => {
    if (req.url?.startsWith("/page.js")) {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(script);
    } else {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(
        '<!doctype html><title>decide</title><body><script type="module" src="/page.js"></script>',
      );
    }
  });
  await new Promise<void>((resolve) => pages.listen(0, "127.0.0.1", resolve));
  pagePort = (pages.address() as net.AddressInfo).port;
  // Only the 127.0.0.1 origin is allowed; the same page from localhost is another origin.
  t = await startTestApp({ env: { LOTTY_CORS_ORIGINS: `http://127.0.0.1:${pagePort}` } });
  serviceKey = (await makeUser(t, Role.SERVICE)).key;
  flagKey = (await runningExperiment(t)).flagKey;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => pages?.close(resolve));
  await t?.stop();
});

interface Outcome {
  ok: boolean;
  response?: { decisions: Record<string, unknown>[] };
  code?: Code;
  message?: string;
}

async function decideFromPage(host: string, subject: string) {
  const page = await browser.newPage();
  try {
    const query = new URLSearchParams({
      baseUrl: t.baseUrl,
      apiKey: serviceKey,
      flag: flagKey,
      subject,
    });
    await page.goto(`http://${host}:${pagePort}/?${query.toString()}`);
    await page.waitForFunction(() => "lottyResult" in window, undefined, { timeout: 15_000 });
    return (await page.evaluate(
      () => (window as unknown as { lottyResult: unknown }).lottyResult,
    )) as {
      connect: Outcome;
      grpcWeb: Outcome;
    };
  } finally {
    await page.close();
  }
}

describe("Connect-Web in Chromium", () => {
  it("decides over Connect and gRPC-Web from an allowed origin", async () => {
    const expected = decisionFor(t, flagKey, "browser-user");
    const result = await decideFromPage("127.0.0.1", "browser-user");
    for (const outcome of [result.connect, result.grpcWeb]) {
      expect(outcome).toMatchObject({ ok: true });
      expect(outcome.response!.decisions).toEqual([
        {
          flagKey,
          value: expected.variantKey === "control" ? "grey" : "blue",
          decisionId: expected.decisionId,
          reason: "DECISION_REASON_EXPERIMENT",
          experimentId: expected.experimentId,
          variantKey: expected.variantKey,
        },
      ]);
    }
  });

  it("is blocked by the browser from an origin not in LOTTY_CORS_ORIGINS", async () => {
    const result = await decideFromPage("localhost", "browser-user");
    for (const outcome of [result.connect, result.grpcWeb]) {
      expect(outcome.ok).toBe(false);
      expect(outcome.message).toMatch(/fetch/i);
    }
  });

  it("answers the preflight for allowed origins only", async () => {
    const preflight = (origin: string) =>
      fetch(`${t.baseUrl}/lotty.decision.v1.DecisionService/Decide`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization,content-type,connect-protocol-version",
        },
      });
    const allowed = await preflight(`http://127.0.0.1:${pagePort}`);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(`http://127.0.0.1:${pagePort}`);
    expect(allowed.headers.get("access-control-allow-headers")).toMatch(/authorization/i);
    const refused = await preflight(`http://localhost:${pagePort}`);
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
  });
});
