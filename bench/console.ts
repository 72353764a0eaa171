/**
 * P11: the console's experiment results page over a 10,000,000-event
 * experiment, on loopback — how long until it is usable (results table and
 * interval chart drawn) after navigation, and how much JavaScript the first
 * page loads (gzip).
 *
 * The experiment is the one the report benchmark (P5) seeds, through the
 * same function (`seedReportExperiment`): BENCH_CONSOLE_EVENTS events
 * (default 10,000,000) of BENCH_CONSOLE_SUBJECTS subjects (default
 * 500,000), rollups rebuilt, tables vacuumed and analysed. The console is
 * built first if its inputs changed (`node clients/console/scripts/build.mjs`)
 * and a copy of dist/console (deleted afterwards) is served by the bench app
 * at /console/ like in production (LOTTY_CONSOLE_DIR), so a rebuild during
 * the run does not change what is measured.
 *
 * Headless Chromium (test/support/browser.ts: @sparticuz/chromium driven by
 * playwright-core). Each load is a fresh browser context (empty HTTP cache
 * and storage) whose init script puts the admin key in sessionStorage
 * (`lotty.apiKey`), as signing in does, then `page.goto` to
 * /console/experiments/<id>/results?window=all. Page-ready time runs from
 * just before `page.goto` until both `[data-testid=results-table] tbody tr`
 * and `[data-testid=interval-chart]` are visible (`page.waitForSelector`).
 * BENCH_CONSOLE_RUNS loads (default 10): the first, right after the server
 * started and before anything else read the report, is reported on its own
 * as the cold load; the others give p50 / p95 / max. A second init script
 * records milestones in the page's own clock (ms since the navigation
 * started, without playwright's round trips): the HTML, the main script,
 * the session check (GetCurrentUser), the results page's chunk (resource
 * timing), the first report request, the one whose answer came first and
 * that answer's first bytes, how many report requests the page made (fetch
 * wrapped for those requests only), and when both elements first exist (a
 * MutationObserver) — for the cold load and as medians of the warm ones.
 *
 * Baseline, same run: GetExperimentReport for the same window (the
 * experiment's start … now) from a Node Connect client (JSON, HTTP/1.1),
 * one call before each timed page load after a warm-up call. The page's
 * report comes from WatchExperimentReport (its first message), which builds
 * the same report.
 *
 * JavaScript: one more load (not timed) records every `.js` response until
 * the page is ready plus one second; each body is gzipped at level 9 (a
 * stable figure, whatever encoding the server chose) → first_page_js_gzip_kb
 * (1 kB = 1,000 bytes), and what went over the wire (brotli from Lotty)
 * → first_page_js_transfer_kb. all_js_gzip_kb: every dist/console/assets/*.js
 * gzipped the same way. Both are compared with the 350 kB budget.
 *
 * Needs PostgreSQL and NATS (BENCH_DATABASE_ADMIN_URL, BENCH_NATS_URL); the
 * database is dropped, the NATS streams deleted and the browser closed
 * afterwards.
 */
import { execFile } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Browser, Page } from "playwright-core";
import { ReportService } from "../gen/lotty/reports/v1/reports_pb.js";
import { launchBrowser } from "../test/support/browser.js";
import { seedReportExperiment } from "./report.js";
import { withBenchApp } from "./support.js";

const EVENTS = Number(process.env.BENCH_CONSOLE_EVENTS ?? 10_000_000);
const SUBJECTS = Number(process.env.BENCH_CONSOLE_SUBJECTS ?? 500_000);
const RUNS = Math.max(2, Number(process.env.BENCH_CONSOLE_RUNS ?? 10));
/** P11's budgets. */
const READY_BUDGET_MS = 1_500;
const JS_BUDGET_KB = 350;
const READY_TIMEOUT_MS = 60_000;
const TABLE_ROW = "[data-testid=results-table] tbody tr";
const CHART = "[data-testid=interval-chart]";

/**
 * In the page's own clock (ms since the navigation started): when the table's
 * rows and the chart first exist, and when the report request went out and
 * its first bytes came back (fetch is wrapped for that one request only).
 */
const PAGE_PROBE = `(() => {
  const marks = (window.__bench = {});
  const check = () => {
    if (marks.ready !== undefined) return;
    if (document.querySelector(${JSON.stringify(TABLE_ROW)}) && document.querySelector(${JSON.stringify(CHART)})) {
      marks.ready = performance.now();
    }
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true, attributes: true });
  marks.longTasks = [];
  try {
    new PerformanceObserver((list) => {
      for (const t of list.getEntries()) marks.longTasks.push(Math.round(t.startTime) + "+" + Math.round(t.duration));
    }).observe({ type: "longtask", buffered: true });
  } catch {}
  marks.reportRequests = 0;
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    const answer = fetch.call(this, input, init);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!/ExperimentReport$/.test(new URL(url, location.href).pathname)) return answer;
    const sent = performance.now();
    marks.reportRequests += 1;
    if (marks.reportRequest === undefined) marks.reportRequest = sent;
    return answer.then((response) => {
      if (response.body === null) return response;
      const body = response.body.pipeThrough(new TransformStream({
        transform(chunk, controller) {
          if (marks.reportFirstByte === undefined) {
            marks.reportFirstByte = performance.now();
            marks.reportAnswered = sent;
          }
          controller.enqueue(chunk);
        },
      }));
      return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    });
  };
})();`;

/** Where one load spent its time, ms since the navigation started (page clock). */
const MILESTONES = `(() => {
  const resources = performance.getEntriesByType("resource");
  const end = (pattern) => {
    const entry = resources.find((r) => pattern.test(new URL(r.name).pathname));
    return entry === undefined ? -1 : entry.responseEnd;
  };
  const marks = window.__bench;
  return {
    html: performance.getEntriesByType("navigation")[0].responseEnd,
    main_js: end(/\\/assets\\/index-[^/]*\\.js$/),
    session: end(/GetCurrentUser$/),
    results_chunk: end(/\\/assets\\/ResultsPage-[^/]*\\.js$/),
    report_request: marks.reportRequest ?? -1,
    answered_report_request: marks.reportAnswered ?? -1,
    report_first_byte: marks.reportFirstByte ?? -1,
    report_requests: marks.reportRequests,
    ready: marks.ready ?? -1,
  };
})()`;

type Milestones = Record<
  | "html"
  | "main_js"
  | "session"
  | "results_chunk"
  | "report_request"
  | "answered_report_request"
  | "report_first_byte"
  | "report_requests"
  | "ready",
  number
>;

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const gzipBytes = (body: Buffer) => zlib.gzipSync(body, { level: 9 }).length;

/** Builds the console unless dist/console is up to date with its inputs. */
async function buildConsole(): Promise<void> {
  const { stderr } = await promisify(execFile)(
    process.execPath,
    [path.resolve("clients/console/scripts/build.mjs")],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  process.stderr.write(stderr);
}

/** Sum of every built JavaScript file, gzipped at level 9, and how many there are. */
async function builtJs(consoleDir: string): Promise<{ gzipBytes: number; files: number }> {
  const dir = path.join(consoleDir, "assets");
  const names = (await readdir(dir)).filter((name) => name.endsWith(".js"));
  let total = 0;
  for (const name of names) total += gzipBytes(await readFile(path.join(dir, name)));
  return { gzipBytes: total, files: names.length };
}

async function waitReady(page: Page): Promise<void> {
  await Promise.all([
    page.waitForSelector(TABLE_ROW, { state: "visible", timeout: READY_TIMEOUT_MS }),
    page.waitForSelector(CHART, { state: "visible", timeout: READY_TIMEOUT_MS }),
  ]);
}

interface Load {
  ms: number;
  at: Milestones;
  js?: { files: number; gzipBytes: number; transferBytes: number };
}

/**
 * One load of `url` in a fresh context signed in with `apiKey`; with
 * `countJs`, also the JavaScript it fetched until ready + 1 s.
 */
async function load(browser: Browser, url: string, apiKey: string, countJs = false): Promise<Load> {
  const context = await browser.newContext();
  try {
    await context.addInitScript(
      `try { sessionStorage.setItem("lotty.apiKey", ${JSON.stringify(apiKey)}); } catch {}`,
    );
    await context.addInitScript(PAGE_PROBE);
    const page = await context.newPage();
    const scripts: Promise<{ gzip: number; transfer: number }>[] = [];
    if (countJs) {
      page.on("requestfinished", (request) => {
        if (!new URL(request.url()).pathname.endsWith(".js")) return;
        scripts.push(
          (async () => {
            const response = await request.response();
            const body = response === null ? Buffer.alloc(0) : await response.body();
            const sizes = await request.sizes();
            return { gzip: gzipBytes(body), transfer: sizes.responseBodySize };
          })(),
        );
      });
    }
    const started = performance.now();
    await page.goto(url, { waitUntil: "commit", timeout: READY_TIMEOUT_MS });
    await waitReady(page);
    const ms = performance.now() - started;
    const at = (await page.evaluate(MILESTONES)) as Milestones;
    if (at.ready < 0) throw new Error("the page did not record its ready time");
    const result: Load = { ms, at };
    if (countJs) {
      await page.waitForTimeout(1_000);
      const requests = await page.evaluate(`performance.getEntriesByType("resource").map((r) =>
        new URL(r.name).pathname.split("/").pop() + " " + Math.round(r.startTime) + "–" + Math.round(r.responseEnd) + " ms")`);
      process.stderr.write(`console: requests of one load: ${(requests as string[]).join(", ")}\n`);
      const longTasks = await page.evaluate("window.__bench.longTasks");
      process.stderr.write(
        `console: long tasks (start+duration ms) of that load: ${(longTasks as string[]).join(", ")}\n`,
      );
      const all = await Promise.all(scripts);
      result.js = {
        files: all.length,
        gzipBytes: all.reduce((sum, s) => sum + s.gzip, 0),
        transferBytes: all.reduce((sum, s) => sum + s.transfer, 0),
      };
    }
    return result;
  } finally {
    await context.close();
  }
}

export async function consoleBench(): Promise<Record<string, number>> {
  await buildConsole();
  // The console is being worked on: serve and weigh a copy of this build,
  // so a rebuild of dist/console during the run changes nothing.
  const consoleDir = await mkdtemp(path.join(tmpdir(), "lotty-bench-console-"));
  try {
    await cp(path.resolve("dist/console"), consoleDir, { recursive: true });
    return await measure(consoleDir);
  } finally {
    await rm(consoleDir, { recursive: true, force: true });
  }
}

async function measure(consoleDir: string): Promise<Record<string, number>> {
  const built = await builtJs(consoleDir);
  return withBenchApp(
    async (bench) => {
      const seeded = await seedReportExperiment(bench, {
        events: EVENTS,
        subjects: SUBJECTS,
        label: "console",
      });
      const { experimentId } = seeded;
      const url = `${bench.baseUrl}/console/experiments/${experimentId}/results?window=all`;
      const reports = createClient(
        ReportService,
        createConnectTransport({
          baseUrl: bench.baseUrl,
          httpVersion: "1.1",
          interceptors: [
            (next) => (req) => (
              req.header.set("authorization", `Bearer ${bench.adminKey}`),
              next(req)
            ),
          ],
        }),
      );
      const rpc = async () => {
        const started = performance.now();
        const { report } = await reports.getExperimentReport({ experimentId });
        const ms = performance.now() - started;
        if (report === undefined || report.variants.length !== 2 || report.subjects === 0) {
          throw new Error("GetExperimentReport: unexpected report");
        }
        return ms;
      };

      const browser = await launchBrowser();
      try {
        // Cold: the first load after the server started (static files not
        // yet read and compressed, report path not yet run).
        const cold = await load(browser, url, bench.adminKey);
        process.stderr.write(
          `console: cold load ${round(cold.ms)} ms ${JSON.stringify(cold.at)}\n`,
        );
        await rpc();
        const pageMs: number[] = [];
        const rpcMs: number[] = [];
        const at: Milestones[] = [];
        for (let i = 1; i < RUNS; i++) {
          rpcMs.push(await rpc());
          const warm = await load(browser, url, bench.adminKey);
          pageMs.push(warm.ms);
          at.push(warm.at);
          process.stderr.write(
            `console: run ${i}: page ready ${round(warm.ms)} ms ${JSON.stringify(warm.at)}, ` +
              `GetExperimentReport ${round(rpcMs.at(-1)!)} ms\n`,
          );
        }
        const counted = await load(browser, url, bench.adminKey, true);
        const js = counted.js!;
        pageMs.sort((a, b) => a - b);
        rpcMs.sort((a, b) => a - b);
        const pageP50 = percentile(pageMs, 0.5);
        const rpcP50 = percentile(rpcMs, 0.5);
        const firstPageKb = js.gzipBytes / 1000;
        const allKb = built.gzipBytes / 1000;
        const figures: Record<string, number> = {
          events: seeded.figures.events!,
          subjects: seeded.figures.subjects!,
          seed_s: round(
            seeded.figures.generate_s! +
              seeded.figures.rebuild_rollups_s! +
              seeded.figures.vacuum_analyze_s!,
          ),
          runs: pageMs.length,
          page_ready_cold_ms: round(cold.ms),
          page_ready_p50_ms: round(pageP50),
          page_ready_p95_ms: round(percentile(pageMs, 0.95)),
          page_ready_max_ms: round(pageMs.at(-1)!),
          rpc_report_p50_ms: round(rpcP50),
          rpc_report_p95_ms: round(percentile(rpcMs, 0.95)),
          page_ready_vs_rpc_p50: round(pageP50 / rpcP50, 2),
          page_ready_p50_vs_budget: round(pageP50 / READY_BUDGET_MS, 3),
          page_ready_cold_vs_budget: round(cold.ms / READY_BUDGET_MS, 3),
        };
        // Milestones in the page's clock: the cold load's, and the median of
        // each over the warm loads.
        for (const [name, value] of Object.entries(cold.at)) {
          figures[`cold_at_${name}${name === "report_requests" ? "" : "_ms"}`] = round(value);
        }
        for (const name of Object.keys(cold.at) as (keyof Milestones)[]) {
          const values = at.map((m) => m[name]).sort((a, b) => a - b);
          figures[`p50_at_${name}${name === "report_requests" ? "" : "_ms"}`] = round(
            percentile(values, 0.5),
          );
        }
        return {
          ...figures,
          first_page_js_files: js.files,
          first_page_js_gzip_kb: round(firstPageKb),
          first_page_js_transfer_kb: round(js.transferBytes / 1000),
          first_page_js_vs_budget: round(firstPageKb / JS_BUDGET_KB, 3),
          all_js_files: built.files,
          all_js_gzip_kb: round(allKb),
          all_js_vs_budget: round(allKb / JS_BUDGET_KB, 3),
        };
      } finally {
        await browser.close();
      }
    },
    { deleteStreams: true, env: { LOTTY_CONSOLE_DIR: consoleDir } },
  );
}
