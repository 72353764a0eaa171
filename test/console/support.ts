/**
 * Helpers for the console's end-to-end tests: one Lotty and one headless
 * Chromium per file, signing in through the page, axe checks, ingesting
 * events for an experiment and reading figures off the results page.
 */
import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { AxeBuilder } from "@axe-core/playwright";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentService,
  ExperimentStatus,
  type Experiment,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { ReportService, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import { AccessService } from "../../gen/lotty/access/v1/access_pb.js";
import { client } from "../support/clients.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { launchBrowser } from "../support/browser.js";
import { decisionFor, event, eventClient } from "../events/support.js";
import { act, makeUser, type Actor, untilInSnapshot } from "../support/builders.js";

/*
 * Functions passed to page.evaluate / waitForFunction run in the page, where
 * these are the browser's globals (the tests' tsconfig has no DOM library).
 * A string would not do: the console's CSP forbids eval.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const getComputedStyle: any;
declare const innerWidth: number;
declare const sessionStorage: any;
declare const localStorage: any;
declare const navigator: any;
declare const innerHeight: number;
declare const scrollTo: (x: number, y: number) => void;
/* eslint-enable @typescript-eslint/no-explicit-any */

export const VIEWPORT = { width: 1280, height: 900 };
export const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS !== "0";
export const SCREENSHOT_DIR = path.resolve("docs", "console");

/** Every lifecycle button an experiment page may show. */
export const LIFECYCLE_BUTTONS = [
  "Edit",
  "Submit for review",
  "Approve",
  "Request changes",
  "Reject",
  "Rework",
  "Start",
  "Pause",
  "Resume",
  "Complete",
  "Archive",
] as const;

export interface ConsoleEnv {
  t: TestApp;
  browser: Browser;
  /** `${baseUrl}/console` */
  console: string;
  stop(): Promise<void>;
}

/**
 * A private copy of the console build (dist/console, made by the global
 * setup): other test runs on the machine rebuild dist/console in place, and
 * a rebuild replaces the hashed chunks a page is about to load lazily.
 * Copies again until every asset index.html and the chunks name is there.
 */
function copyConsoleBuild(): string {
  const source = path.resolve("dist", "console");
  for (let attempt = 1; ; attempt++) {
    const target = mkdtempSync(path.join(os.tmpdir(), "lotty-console-e2e-"));
    try {
      cpSync(source, target, { recursive: true });
      const assets = new Set(readdirSync(path.join(target, "assets")));
      const texts = [...assets]
        .filter((f) => f.endsWith(".js"))
        .map((f) => readFileSync(path.join(target, "assets", f), "utf8"));
      texts.push(readFileSync(path.join(target, "index.html"), "utf8"));
      const named = texts.flatMap((text) =>
        [...text.matchAll(/assets\/([\w.-]+\.(?:js|css))/g)].map((m) => m[1]!),
      );
      const missing = named.filter((f) => !assets.has(f));
      if (missing.length === 0) return target;
      if (attempt >= 5) throw new Error(`dist/console is incomplete: ${missing.join(", ")}`);
    } catch (error) {
      if (attempt >= 5) throw error;
    }
    rmSync(target, { recursive: true, force: true });
  }
}

export async function startConsole(options: { rampIntervalMs?: number } = {}): Promise<ConsoleEnv> {
  const dir = copyConsoleBuild();
  const [t, browser] = await Promise.all([
    startTestApp({ env: { LOTTY_CONSOLE_DIR: dir }, rampIntervalMs: options.rampIntervalMs }),
    launchBrowser(),
  ]);
  return {
    t,
    browser,
    console: `${t.baseUrl}/console`,
    stop: async () => {
      await browser.close().catch(() => {});
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh context (its own sessionStorage) at 1280×900 with downloads allowed. */
export async function newPage(env: ConsoleEnv): Promise<{ context: BrowserContext; page: Page }> {
  const context = await env.browser.newContext({
    viewport: VIEWPORT,
    acceptDownloads: true,
    locale: "en-US",
    timezoneId: "UTC",
    reducedMotion: "reduce",
  });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  return { context, page };
}

/**
 * Signs in through the sign-in page (optionally reached through a deep link,
 * which the console sends to sign-in with ?next=) and waits to land on
 * `expectPath` (a regexp of the pathname).
 */
export async function signIn(
  env: ConsoleEnv,
  page: Page,
  key: string,
  deepLink = "/sign-in",
  expectPath: RegExp = /\/console\/experiments$/,
): Promise<void> {
  await page.goto(`${env.console}${deepLink}`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  try {
    await page.waitForURL((url) => expectPath.test(url.pathname), { waitUntil: "commit" });
  } catch (error) {
    const alerts = await page.getByRole("alert").allInnerTexts();
    throw new Error(
      `signing in from ${deepLink} did not reach ${expectPath}: at ${page.url()}, ` +
        `alerts ${JSON.stringify(alerts)} (${(error as Error).message.split("\n")[0]})`,
    );
  }
}

/** The pathname + search of the page's URL, without the /console prefix. */
export function viewOf(page: Page): string {
  const url = new URL(page.url());
  return url.pathname.replace(/^\/console/, "") + url.search;
}

interface AxeViolation {
  id: string;
  impact?: string | null;
  help: string;
  nodes: { target: unknown; failureSummary?: string }[];
}

/** axe violations with impact serious or critical, as readable lines ("" when none). */
export async function seriousAxeViolations(page: Page): Promise<string> {
  const result = await new AxeBuilder({ page }).analyze();
  if (result.passes.length === 0) throw new Error(`axe checked nothing on ${page.url()}`);
  if (process.env.CONSOLE_AXE_LOG === "1") {
    for (const v of result.violations as AxeViolation[]) {
      console.error(`axe ${page.url()}: [${v.impact}] ${v.id} ×${v.nodes.length}: ${v.help}`);
    }
  }
  const serious = (result.violations as AxeViolation[]).filter(
    (v) => v.impact === "serious" || v.impact === "critical",
  );
  return serious
    .map(
      (v) =>
        `[${v.impact}] ${v.id}: ${v.help}\n` +
        v.nodes
          .slice(0, 5)
          .map((n) => `    at ${JSON.stringify(n.target)}: ${n.failureSummary ?? ""}`)
          .join("\n"),
    )
    .join("\n");
}

export interface ActiveElement {
  tag: string;
  name: string;
  text: string;
  id: string;
  focusVisible: boolean;
  outline: string;
  inViewport: boolean;
}

/** What has focus: its tag, accessible-ish name, and whether the focus ring is visible. */
export async function activeElement(page: Page): Promise<ActiveElement> {
  return page.evaluate((): ActiveElement => {
    const el = document.activeElement;
    if (!el || el === document.body) {
      return {
        tag: el ? "body" : "",
        name: "",
        text: "",
        id: "",
        focusVisible: false,
        outline: "",
        inViewport: false,
      };
    }
    const labels: string = el.labels
      ? Array.from(el.labels as ArrayLike<{ textContent: string }>)
          .map((l) => l.textContent.trim())
          .join(" ")
      : "";
    const name = String(el.getAttribute("aria-label") || labels || el.textContent || "")
      .trim()
      .replace(/\s+/g, " ");
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    const outlined = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
    const shadowed = style.boxShadow !== "none";
    return {
      tag: String(el.tagName).toLowerCase(),
      name,
      text: String(el.textContent || "")
        .trim()
        .slice(0, 80),
      id: String(el.id),
      focusVisible: Boolean(el.matches(":focus-visible")) && (outlined || shadowed),
      outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
      inViewport:
        rect.width > 0 &&
        rect.height > 0 &&
        rect.right > 0 &&
        rect.bottom > 0 &&
        rect.left < innerWidth &&
        rect.top < innerHeight,
    };
  });
}

/** The text on the clipboard (the context needs the clipboard-read permission). */
export async function clipboardText(page: Page): Promise<string> {
  return page.evaluate(() => navigator.clipboard.readText() as Promise<string>);
}

/** Everything the page keeps in sessionStorage and localStorage, as one text. */
export async function storedText(page: Page): Promise<string> {
  return page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }));
}

/**
 * Waits for the page's h1 to be `name`; on timeout says what the page shows
 * instead (its h1s and alerts), which is what a failure report needs.
 */
export async function untilHeading(page: Page, name: string, timeout = 15_000): Promise<void> {
  try {
    await page.getByRole("heading", { level: 1, name, exact: true }).waitFor({ timeout });
  } catch (error) {
    const h1 = await page.locator("h1").allInnerTexts();
    const alerts = await page.getByRole("alert").allInnerTexts();
    const body = (await page.locator("body").innerText()).slice(0, 400);
    throw new Error(
      `no h1 "${name}" at ${page.url()}: h1 ${JSON.stringify(h1)}, alerts ${JSON.stringify(alerts)}, ` +
        `page text: ${JSON.stringify(body)} (${(error as Error).message.split("\n")[0]})`,
    );
  }
}

/** Scrolls the page back to its top. */
export async function scrollToTop(page: Page): Promise<void> {
  await page.evaluate(() => scrollTo(0, 0));
}

/** Waits until the results table's caption matches `pattern`. */
export async function untilCaption(page: Page, pattern: RegExp): Promise<void> {
  await page.waitForFunction(
    (source) =>
      new RegExp(source).test(
        String(document.querySelector('[data-testid="results-table"] caption')?.textContent ?? ""),
      ),
    pattern.source,
  );
}

/** Waits until no "Loading …" status is shown. */
export async function settled(page: Page): Promise<void> {
  await page.waitForFunction(
    () =>
      !Array.from(
        document.querySelectorAll("[role=status]") as ArrayLike<{ textContent: string }>,
      ).some((s) => /^Loading/.test(s.textContent.trim())),
  );
}

/**
 * Presses Tab until `accept` holds for the focused element (at most
 * `limit` presses); returns it. Fails naming the elements passed through.
 */
export async function tabUntil(
  page: Page,
  accept: (el: ActiveElement) => boolean,
  what: string,
  limit = 60,
): Promise<ActiveElement> {
  const seen: string[] = [];
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press("Tab");
    const el = await activeElement(page);
    if (accept(el)) return el;
    seen.push(`${el.tag}${el.id ? `#${el.id}` : ""} "${el.name.slice(0, 40)}"`);
  }
  throw new Error(`Tab never reached ${what}; focus went through:\n  ${seen.join("\n  ")}`);
}

export function ensureScreenshotDir(): void {
  if (SCREENSHOTS) mkdirSync(SCREENSHOT_DIR, { recursive: true });
}

/**
 * A user with `roles` and an API key, and the display name the header
 * shows: `displayName` if given (made unique), else makeUser's.
 */
export async function userOf(
  t: TestApp,
  role: Role,
  displayName?: string,
): Promise<Actor & { name: string }> {
  if (displayName === undefined) {
    const actor = await makeUser(t, role);
    const { user } = await client(AccessService, t.baseUrl, actor.key).getCurrentUser({});
    if (user === undefined) throw new Error("GetCurrentUser returned no user");
    return { ...actor, name: user.displayName };
  }
  const access = client(AccessService, t.baseUrl, t.adminKey);
  const suffix = randomBytes(3).toString("hex");
  const { user } = await access.createUser({
    email: `${displayName.toLowerCase().replace(/\W+/g, ".")}.${suffix}@example.com`,
    displayName,
    roles: [role],
  });
  const { secret } = await access.createApiKey({ userId: user!.id, name: "console e2e" });
  return {
    id: user!.id,
    key: secret,
    experiments: client(ExperimentService, t.baseUrl, secret),
    name: displayName,
  };
}

/** Drives an experiment through the RPCs to running (from wherever it is now). */
export async function driveToRunning(
  owner: Actor,
  approver: Actor,
  experiment: Experiment,
): Promise<Experiment> {
  let current = experiment;
  const step: Partial<Record<ExperimentStatus, () => Promise<Experiment>>> = {
    [ExperimentStatus.DRAFT]: () => act(owner, "submit", current.id),
    [ExperimentStatus.IN_REVIEW]: () => act(approver, "approve", current.id),
    [ExperimentStatus.APPROVED]: () => act(owner, "start", current.id),
  };
  for (let i = 0; i < 4 && current.status !== ExperimentStatus.RUNNING; i++) {
    const next = step[current.status];
    if (next === undefined) throw new Error(`cannot drive ${ExperimentStatus[current.status]}`);
    current = await next();
  }
  return current;
}

export interface Ingested {
  /** Per variant: exposed subjects, subjects with a conversion, conversions. */
  byVariant: Record<string, { subjects: number; converters: number; conversions: number }>;
  sent: number;
}

/**
 * Decides `subjects` subjects on `flagKey` (in process, as Decide answers),
 * named `${prefix}-1`…,
 * sends an exposure for each and conversions for some (fixed by the subject
 * number), and waits until GetExperimentReport shows every one of them.
 */
export async function ingest(
  t: TestApp,
  flagKey: string,
  experimentId: string,
  subjects: number,
  prefix = "subject",
  /** What was ingested before (other subjects): the report must show both. */
  previous?: Ingested,
): Promise<Ingested> {
  await untilInSnapshot(t, flagKey, experimentId);
  const events = await eventClient(t);
  const byVariant: Ingested["byVariant"] = structuredClone(previous?.byVariant ?? {});
  const batch = [];
  // After the experiment's start (the report's default window begins there).
  const start = Date.now();
  for (let s = 1; s <= subjects; s++) {
    const d = decisionFor(t, flagKey, `${prefix}-${s}`);
    if (d.experimentId !== experimentId) throw new Error(`subject ${s} is not in the experiment`);
    const row = (byVariant[d.variantKey] ??= { subjects: 0, converters: 0, conversions: 0 });
    row.subjects++;
    batch.push(event("exposure", d.decisionId, { occurredAt: start + s }));
    // Control converts every fourth subject, the others every third; every
    // tenth converter converts twice.
    const converts = d.variantKey === "control" ? s % 4 === 0 : s % 3 === 0;
    if (converts) {
      row.converters++;
      const n = s % 10 === 0 ? 2 : 1;
      row.conversions += n;
      for (let i = 0; i < n; i++) {
        batch.push(event("conversion", d.decisionId, { occurredAt: start + s + 1 + i }));
      }
    }
  }
  for (let i = 0; i < batch.length; i += 200) {
    const answer = await events.ingestEvents({ events: batch.slice(i, i + 200) });
    if (answer.accepted !== Math.min(200, batch.length - i)) {
      throw new Error(`events were not all accepted: ${JSON.stringify(answer.rejected)}`);
    }
  }
  const reports = client(ReportService, t.baseUrl, t.adminKey);
  let last: Report | undefined;
  await waitFor(
    async () => {
      const { report } = await reports.getExperimentReport({ experimentId });
      last = report;
      return Object.entries(byVariant).every(([key, expected]) => {
        const v = report?.variants.find((x) => x.variantKey === key);
        const conversions = v?.metrics.find((m) => m.metricKey === "conversions")?.value;
        return v?.subjects === expected.subjects && conversions === expected.conversions;
      });
    },
    20_000,
    "the report to show every ingested event",
  ).catch((error: Error) => {
    const shown = last?.variants.map((v) => ({
      variant: v.variantKey,
      subjects: v.subjects,
      conversions: v.metrics.find((m) => m.metricKey === "conversions")?.value,
    }));
    throw new Error(
      `${error.message}: sent ${JSON.stringify(byVariant)}, the report shows ${JSON.stringify(shown)}`,
    );
  });
  return { byVariant, sent: (previous?.sent ?? 0) + batch.length };
}

/** The current report of an experiment (admin). */
export async function reportOf(t: TestApp, experimentId: string): Promise<Report> {
  const { report } = await client(ReportService, t.baseUrl, t.adminKey).getExperimentReport({
    experimentId,
  });
  if (report === undefined) throw new Error("GetExperimentReport returned no report");
  return report;
}

/** "1,234" → 1234; NaN when the text holds no number. */
export function parseCount(text: string): number {
  const m = /[−-]?[\d,]+(\.\d+)?/.exec(text);
  return m === null ? Number.NaN : Number(m[0].replace(/,/g, "").replace("−", "-"));
}

/**
 * The first number shown in `text` ("41.18 %", "0.0512", "1,234") with the
 * precision it is shown at: { value, step, percent } where a percent is
 * returned as a fraction (41.18 % → 0.4118, step 0.0001).
 */
export function parseShown(text: string): { value: number; step: number; percent: boolean } {
  const m = /([−-]?)([\d,]+)(?:\.(\d+))?\s*(%)?/.exec(text);
  if (m === null) return { value: Number.NaN, step: 0, percent: false };
  const decimals = m[3]?.length ?? 0;
  const sign = m[1] === "" ? 1 : -1;
  const magnitude = Number(`${m[2]!.replace(/,/g, "")}.${m[3] ?? "0"}`);
  const percent = m[4] === "%";
  const scale = percent ? 100 : 1;
  return { value: (sign * magnitude) / scale, step: 10 ** -decimals / scale, percent };
}

/**
 * The figures of one variant's row in the results table: subjects and
 * exposures (columns named so in the header) and the shown metric value.
 */
export async function rowFigures(
  table: Locator,
  variantKey: string,
  allKeys: readonly string[] = [variantKey],
): Promise<{ subjects: number; exposures: number; value: string }> {
  const headers = (await table.locator("thead th").allInnerTexts()).map((h) =>
    h.trim().toLowerCase(),
  );
  const col = (name: string) => headers.findIndex((h) => h.startsWith(name));
  const rows = table.locator("tbody tr");
  const shown = (await rows.locator("th").allInnerTexts()).map((k) => k.trim());
  // The row header starts with the variant key (a badge or the weight may follow it).
  const starts = (text: string, key: string) => text.startsWith(key);
  const index = shown.findIndex(
    (text) =>
      starts(text, variantKey) &&
      !allKeys.some((other) => other.length > variantKey.length && starts(text, other)),
  );
  if (index < 0) throw new Error(`no row for variant ${variantKey} (rows: ${shown.join(" | ")})`);
  const row = rows.nth(index);
  const cells = row.locator("th, td");
  const text = async (i: number) => (i < 0 ? "" : (await cells.nth(i).innerText()).trim());
  // The value cell may carry a second line ("n = 40"): keep the first.
  const value = (await text(col("value"))).split("\n")[0]!.trim();
  return {
    subjects: parseCount(await text(col("subjects"))),
    exposures: parseCount(await text(col("exposures"))),
    value,
  };
}

/** The status of an experiment, for polling after a UI action. */
export async function statusOf(actor: Actor, id: string): Promise<ExperimentStatus> {
  const { experiment } = await actor.experiments.getExperiment({ id });
  return experiment?.status ?? ExperimentStatus.UNSPECIFIED;
}

export { Role };
