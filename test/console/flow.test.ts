/**
 * The experiment flow through the console in a real browser: an
 * experimenter's draft with a negative weight is refused with the error at
 * the weight field; fixed, it is created and submitted for review; the
 * approver named by the owner's review policy approves it; the owner starts
 * it. Events are then ingested through the EventService and the results
 * page shows per variant exactly what GetExperimentReport says; a permalink
 * (window and metric in the URL) reopens the same view in a fresh browser
 * session; the CSV download is ExportExperimentReport's file. The
 * screenshots in docs/console/ are taken along the way.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { BrowserContext, Page } from "playwright-core";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AccessService } from "../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentStatus,
  type Experiment,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { ExportFormat, ReportService, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import { client } from "../support/clients.js";
import { waitFor } from "../support/app.js";
import {
  driveToRunning,
  clipboardText,
  ensureScreenshotDir,
  ingest,
  newPage,
  parseShown,
  reportOf,
  Role,
  rowFigures,
  SCREENSHOT_DIR,
  SCREENSHOTS,
  scrollToTop,
  settled,
  signIn,
  startConsole,
  untilHeading,
  statusOf,
  userOf,
  viewOf,
  type ConsoleEnv,
  type Ingested,
  untilCaption,
} from "./support.js";
import { makeFlag, str, type Actor } from "../support/builders.js";

const NAME = "Checkout button colour";
const SUBJECTS = 60;

let env: ConsoleEnv;
let owner: Actor;
let approver: Actor;
let flagKey: string;
let ownerContext: BrowserContext;
let ownerPage: Page;
/** Set once the console created the draft. */
let experimentId: string | undefined;
let ingested: Promise<Ingested> | undefined;

beforeAll(async () => {
  env = await startConsole();
  const { t } = env;
  [owner, approver] = await Promise.all([
    userOf(t, Role.EXPERIMENTER, "Erin Experimenter"),
    userOf(t, Role.APPROVER, "Aaron Approver"),
  ]);
  // Only this approver may review the owner's experiments.
  await client(AccessService, t.baseUrl, t.adminKey).setReviewPolicy({
    experimenterId: owner.id,
    approverIds: [approver.id],
    minApprovals: 1,
  });
  flagKey = await makeFlag(t);
  ({ context: ownerContext, page: ownerPage } = await newPage(env));
  ensureScreenshotDir();
}, 60_000);

afterAll(async () => {
  await ownerContext?.close().catch(() => {});
  await env?.stop();
});

async function untilStatus(id: string, status: ExperimentStatus): Promise<void> {
  await waitFor(
    async () => (await statusOf(owner, id)) === status,
    10_000,
    `experiment ${id} to be ${ExperimentStatus[status]}`,
  );
}

async function openExperiment(page: Page, id: string): Promise<void> {
  await page.goto(`${env.console}/experiments/${id}`);
  await untilHeading(page, NAME);
  await settled(page);
}

/** The experiment, running: made through the RPCs if an earlier UI step did not get there. */
async function runningExperiment(): Promise<string> {
  if (experimentId === undefined) {
    const { experiment } = await owner.experiments.createExperiment({
      experiment: {
        flagKey,
        name: NAME,
        audiencePercent: 100,
        variants: [
          { key: "control", value: str("grey"), weight: 50, control: true },
          { key: "blue", value: str("blue"), weight: 50 },
        ],
        primaryMetricKey: "conversion_rate",
        metricKeys: ["conversions"],
      },
    });
    experimentId = experiment!.id;
  }
  const { experiment } = await owner.experiments.getExperiment({ id: experimentId });
  await driveToRunning(owner, approver, experiment as Experiment);
  return experimentId;
}

/** Figures shown for every variant of the report, checked against the report. */
async function expectTableMatches(page: Page, report: Report, metricKey: string): Promise<void> {
  const table = page.getByTestId("results-table");
  await table.waitFor();
  for (const variant of report.variants) {
    const keys = report.variants.map((v) => v.variantKey);
    const shown = await rowFigures(table, variant.variantKey, keys);
    const metric = variant.metrics.find((m) => m.metricKey === metricKey);
    expect({
      variant: variant.variantKey,
      subjects: shown.subjects,
      exposures: shown.exposures,
    }).toEqual({
      variant: variant.variantKey,
      subjects: variant.subjects,
      exposures: variant.exposures,
    });
    // The value as shown, to the precision it is shown at.
    const value = parseShown(shown.value);
    expect(Number.isFinite(value.value)).toBe(true);
    const off = Math.abs(value.value - metric!.value);
    if (off > value.step / 2 + 1e-9) {
      throw new Error(
        `${variant.variantKey} ${metricKey}: shown "${shown.value}", the report says ${metric!.value}`,
      );
    }
  }
}

describe("the experiment flow in the console", () => {
  it("an experimenter's draft with a negative weight shows the error at the field; fixed, it is created and submitted", async () => {
    const page = ownerPage;
    await signIn(env, page, owner.key);
    await page.getByRole("button", { name: "New experiment" }).click();
    await page.waitForURL((url) => url.pathname === "/console/experiments/new");
    await untilHeading(page, "New experiment");

    await page.getByLabel("Name", { exact: true }).fill(NAME);
    await page.getByLabel("Flag", { exact: true }).selectOption(flagKey);
    await page.getByLabel("Variant 1 key").fill("control");
    await page.getByLabel("Variant 1 value").fill("grey");
    await page.getByLabel("Variant 1 weight").fill("50");
    await page.getByLabel("Variant 2 key").fill("blue");
    await page.getByLabel("Variant 2 value").fill("blue");
    const weight2 = page.getByLabel("Variant 2 weight");
    await weight2.fill("-10");
    await page.getByLabel("Primary metric").selectOption("conversion_rate");
    await page.getByRole("checkbox", { name: /\(conversions\)/ }).check();
    await page.getByRole("button", { name: "Create draft" }).click();

    // The server's answer: the weight field is marked and says why; a summary is announced.
    await page.locator('[aria-invalid="true"]').first().waitFor();
    expect(await weight2.getAttribute("aria-invalid")).toBe("true");
    const describedBy = (await weight2.getAttribute("aria-describedby")) ?? "";
    const described = await Promise.all(
      describedBy
        .split(/\s+/)
        .filter((id) => id !== "")
        .map((id) => page.locator(`[id="${id}"]`).innerText()),
    );
    expect(described.join(" ")).toMatch(/greater than 0/);
    const alert = page.getByRole("alert");
    await alert.first().waitFor();
    expect(await alert.first().innerText()).toContain("variants[1].weight");
    // Nothing was created, and what was typed is kept.
    expect(await page.getByLabel("Name", { exact: true }).inputValue()).toBe(NAME);
    const { experiments } = await owner.experiments.listExperiments({ pageSize: 10 });
    expect(experiments).toEqual([]);

    await weight2.fill("50");
    await page.getByRole("button", { name: "Create draft" }).click();
    await page.waitForURL((url) => /^\/console\/experiments\/[0-9a-f-]{36}$/.test(url.pathname));
    await untilHeading(page, NAME);
    const id = new URL(page.url()).pathname.split("/").pop()!;
    experimentId = id;
    const { experiment } = await owner.experiments.getExperiment({ id });
    expect(experiment).toMatchObject({
      name: NAME,
      flagKey,
      ownerId: owner.id,
      status: ExperimentStatus.DRAFT,
      primaryMetricKey: "conversion_rate",
      metricKeys: ["conversions"],
    });
    expect(experiment!.variants.map((v) => [v.key, v.weight, v.control])).toEqual([
      ["control", 50, true],
      ["blue", 50, false],
    ]);

    await page.getByRole("button", { name: "Submit for review" }).click();
    await untilStatus(id, ExperimentStatus.IN_REVIEW);
    await page.getByRole("button", { name: "Submit for review" }).waitFor({ state: "detached" });
  });

  it("the approver named by the review policy approves it with a comment", async () => {
    expect(experimentId).toBeDefined();
    const { context, page } = await newPage(env);
    try {
      await signIn(env, page, approver.key);
      await openExperiment(page, experimentId!);
      await page.getByRole("button", { name: "Approve" }).click();
      await page.getByLabel("Comment").fill("Looks right to me");
      // The form's confirm button repeats the action's name (the first button is replaced by the form).
      await page.getByRole("button", { name: "Approve" }).click();
      await untilStatus(experimentId!, ExperimentStatus.APPROVED);
      const { experiment } = await approver.experiments.getExperiment({ id: experimentId! });
      expect(experiment!.approvals.map((a) => [a.approverId, a.comment])).toEqual([
        [approver.id, "Looks right to me"],
      ]);
    } finally {
      await context.close();
    }
  });

  it("the owner starts it; the page offers its results", async () => {
    expect(experimentId).toBeDefined();
    await openExperiment(ownerPage, experimentId!);
    await ownerPage.getByRole("button", { name: "Start" }).click();
    await untilStatus(experimentId!, ExperimentStatus.RUNNING);
    await ownerPage.getByRole("link", { name: "View results" }).waitFor();
  });

  it("after ingestion the results page shows per variant what GetExperimentReport says; CSV is the export", async () => {
    const id = await runningExperiment();
    ingested ??= ingest(env.t, flagKey, id, SUBJECTS);
    const sent = await ingested;
    const page = ownerPage;

    await page.goto(`${env.console}/experiments`);
    await page.getByRole("link", { name: NAME }).waitFor();
    await settled(page);
    if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOT_DIR, "experiments.png") });

    await openExperiment(page, id);
    await page.getByRole("link", { name: "View results" }).click();
    await page.waitForURL((url) => url.pathname === `/console/experiments/${id}/results`);
    await untilHeading(page, NAME);
    const table = page.getByTestId("results-table");
    await table.waitFor();
    expect(await table.locator("caption").innerText()).toMatch(/Conversion rate/);
    await page.getByTestId("interval-chart").waitFor();
    await page.getByRole("heading", { name: "Data health" }).waitFor();
    await page.getByRole("heading", { name: "Guardrail triggers" }).waitFor();

    const report = await reportOf(env.t, id);
    expect(report.subjects).toBe(SUBJECTS);
    for (const [key, counts] of Object.entries(sent.byVariant)) {
      expect(report.variants.find((v) => v.variantKey === key)?.subjects).toBe(counts.subjects);
    }
    await expectTableMatches(page, report, "conversion_rate");
    // The totals above the table are the report's too.
    const summary = page.getByRole("definition");
    const terms = (await page.getByRole("term").allInnerTexts()).map((x) => x.trim());
    const totals = await summary.allInnerTexts();
    expect({
      subjects: parseShown(totals[terms.indexOf("Subjects")] ?? "").value,
      exposures: parseShown(totals[terms.indexOf("Exposures")] ?? "").value,
    }).toEqual({ subjects: report.subjects, exposures: report.exposures });

    if (SCREENSHOTS) {
      await scrollToTop(page);
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, "results.png") });
      await page
        .getByRole("region", { name: "Data health" })
        .screenshot({ path: path.join(SCREENSHOT_DIR, "data-health.png") });
    }

    // The CSV download is the server's export of the same window.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download CSV" }).click(),
    ]);
    const downloaded = readFileSync((await download.path())!, "utf8");
    const exported = await client(ReportService, env.t.baseUrl, owner.key).exportExperimentReport({
      experimentId: id,
      format: ExportFormat.CSV,
    });
    expect(download.suggestedFilename()).toMatch(new RegExp(`^report-${id}-.*\\.csv$`));
    expect(downloaded).toBe(new TextDecoder().decode(exported.data));
    expect(downloaded.split("\r\n")[0]).toMatch(/^variant_key,control,exposures,subjects,/);
  });

  it("a permalink with window and metric reopens the same view in a fresh session", async () => {
    const id = await runningExperiment();
    // Ingested once (by the test before unless it failed before getting there).
    ingested ??= ingest(env.t, flagKey, id, SUBJECTS);
    await ingested;
    const page = ownerPage;
    if (!new URL(page.url()).pathname.endsWith("/results")) {
      await page.goto(`${env.console}/experiments/${id}/results`);
    }
    await page.getByTestId("results-table").waitFor();
    await page.getByLabel("Window").selectOption("7d");
    await page.waitForURL((url) => url.searchParams.get("window") === "7d");
    await page.getByLabel("Metric").selectOption("conversions");
    await page.waitForURL((url) => url.searchParams.get("metric") === "conversions");
    const table = page.getByTestId("results-table");
    await untilCaption(page, /Conversions/);
    const report = await reportOf(env.t, id);
    await expectTableMatches(page, report, "conversions");
    const figures = async (p: Page) =>
      Promise.all(
        report.variants.map((v) =>
          rowFigures(
            p.getByTestId("results-table"),
            v.variantKey,
            report.variants.map((x) => x.variantKey),
          ),
        ),
      );
    const before = await figures(page);
    expect(await table.locator("caption").innerText()).toMatch(/Conversions/);

    // "Copy link" puts the address of this view on the clipboard.
    await ownerContext.grantPermissions(["clipboard-read", "clipboard-write"], {
      origin: env.t.baseUrl,
    });
    await page.getByRole("button", { name: "Copy link" }).click();
    await page.getByText(/^Link copied/).waitFor();
    const copied = await clipboardText(page);
    expect(copied).toBe(page.url());
    const link = viewOf(page);
    expect(new URL(copied).pathname + new URL(copied).search).toBe(`/console${link}`);
    expect(link).toMatch(/window=7d/);
    expect(link).toMatch(/metric=conversions/);
    const fresh = await newPage(env);
    try {
      // A fresh session: the link goes through sign-in and comes back to the same view.
      await signIn(env, fresh.page, owner.key, link, /\/results$/);
      expect(viewOf(fresh.page)).toBe(link);
      await untilHeading(fresh.page, NAME);
      await fresh.page.getByTestId("results-table").waitFor();
      expect(await fresh.page.getByLabel("Window").inputValue()).toBe("7d");
      expect(await fresh.page.getByLabel("Metric").inputValue()).toBe("conversions");
      expect(await fresh.page.getByTestId("results-table").locator("caption").innerText()).toMatch(
        /Conversions/,
      );
      expect(await figures(fresh.page)).toEqual(before);
      await expectTableMatches(fresh.page, report, "conversions");
    } finally {
      await fresh.context.close();
    }
  });
});

describe("an open window", () => {
  it("updates live on the page when more events arrive", async () => {
    const id = await runningExperiment();
    ingested ??= ingest(env.t, flagKey, id, SUBJECTS);
    const before = await ingested;
    const page = ownerPage;
    await page.goto(`${env.console}/experiments/${id}/results?window=all`);
    await page.getByTestId("results-table").waitFor();
    // The page says the window is followed live.
    await waitFor(
      async () =>
        (await page.getByRole("status").allInnerTexts()).some((x) => /^\s*Live\b/.test(x)),
      10_000,
      "the page to say it is live",
    ).catch(async (error: Error) => {
      const statuses = await page.getByRole("status").allInnerTexts();
      throw new Error(`${error.message}; the statuses say ${JSON.stringify(statuses)}`);
    });
    // More subjects arrive while the page is open; nobody reloads it.
    ingested = ingest(env.t, flagKey, id, 30, "later", before);
    const after = await ingested;
    const report = await reportOf(env.t, id);
    expect(report.subjects).toBe(SUBJECTS + 30);
    const keys = report.variants.map((v) => v.variantKey);
    await waitFor(
      async () => {
        for (const v of report.variants) {
          const shown = await rowFigures(page.getByTestId("results-table"), v.variantKey, keys);
          if (shown.subjects !== after.byVariant[v.variantKey]!.subjects) return false;
        }
        return true;
      },
      15_000,
      "the open results page to show the new subjects",
    );
    await expectTableMatches(page, report, "conversion_rate");
  });
});

describe("a custom window", () => {
  it("a permalink with from and to shows that window's report, and its CSV is that window's export", async () => {
    const id = await runningExperiment();
    ingested ??= ingest(env.t, flagKey, id, SUBJECTS);
    const { experiment } = await owner.experiments.getExperiment({ id });
    const minute = 60_000;
    const from = new Date(Math.floor(Number(experiment!.startedAt!.seconds) / 60) * minute);
    const to = new Date((Math.floor(Date.now() / minute) + 2) * minute);
    const iso = (d: Date) => `${d.toISOString().slice(0, 16)}Z`;
    const link = `/experiments/${id}/results?window=custom&from=${iso(from)}&to=${iso(to)}&metric=conversion_rate`;

    const fresh = await newPage(env);
    try {
      await signIn(env, fresh.page, owner.key, link, /\/results$/);
      const page = fresh.page;
      expect(new URL(page.url()).searchParams.get("from")).toBe(iso(from));
      expect(new URL(page.url()).searchParams.get("to")).toBe(iso(to));
      await page.getByTestId("results-table").waitFor();
      expect(await page.getByLabel("Window").inputValue()).toBe("custom");
      expect(await page.getByLabel("From (UTC)").inputValue()).toBe(iso(from).slice(0, 16));
      expect(await page.getByLabel("To (UTC)").inputValue()).toBe(iso(to).slice(0, 16));

      const reports = client(ReportService, env.t.baseUrl, owner.key);
      const window = { from: timestampFromDate(from), to: timestampFromDate(to) };
      const { report } = await reports.getExperimentReport({ experimentId: id, ...window });
      const sent = await ingested;
      expect(report!.subjects).toBe(
        Object.values(sent.byVariant).reduce((sum, v) => sum + v.subjects, 0),
      );
      await expectTableMatches(page, report!, "conversion_rate");

      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "Download CSV" }).click(),
      ]);
      const exported = await reports.exportExperimentReport({
        experimentId: id,
        ...window,
        format: ExportFormat.CSV,
      });
      expect(download.suggestedFilename()).toBe(exported.filename);
      expect(readFileSync((await download.path())!, "utf8")).toBe(
        new TextDecoder().decode(exported.data),
      );
    } finally {
      await fresh.context.close();
    }
  });
});
