/**
 * Accessibility of the console in a real browser: axe finds no serious or
 * critical violation on any page (sign-in, experiments, an experiment, the
 * form with and without server errors, results, flags, catalog, guardrail
 * triggers, notifications), and the results page works from the keyboard
 * alone: Tab reaches the skip link, the Window and Metric selects and the
 * download buttons with a visible focus ring, the arrow keys change the
 * window, and Enter downloads the CSV.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { BrowserContext, Page } from "playwright-core";
import type { Experiment } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { waitFor } from "../support/app.js";
import {
  activeElement,
  ingest,
  newPage,
  Role,
  seriousAxeViolations,
  settled,
  signIn,
  startConsole,
  untilHeading,
  tabUntil,
  userOf,
  type ActiveElement,
  type ConsoleEnv,
} from "./support.js";
import { experimentIn, makeFlag } from "../support/builders.js";

let env: ConsoleEnv;
let context: BrowserContext;
let page: Page;
let running: Experiment;
let inReview: Experiment;

beforeAll(async () => {
  env = await startConsole();
  const { t } = env;
  const [owner, approver] = await Promise.all([
    userOf(t, Role.EXPERIMENTER),
    userOf(t, Role.APPROVER),
  ]);
  const flagKey = await makeFlag(t);
  running = await experimentIn(t, { owner, approver }, "running", {
    flagKey,
    overrides: { name: "Accessible checkout", targetingRule: "" },
  });
  inReview = await experimentIn(t, { owner, approver }, "in_review", {
    overrides: { name: "Checkout in review" },
  });
  await ingest(t, flagKey, running.id, 40, "a11y");
  ({ context, page } = await newPage(env));
}, 60_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await env?.stop();
});

async function expectNoSeriousViolations(what: string): Promise<void> {
  const found = await seriousAxeViolations(page);
  if (found !== "") {
    throw new Error(`axe: serious or critical violations on ${what} (${page.url()}):\n${found}`);
  }
}

describe("axe on every page", () => {
  it("sign-in", async () => {
    await page.goto(`${env.console}/sign-in`);
    await page.getByLabel("API key").waitFor();
    await expectNoSeriousViolations("the sign-in page");
    // Signed in as admin for the pages after this one (they share the tab).
    await signIn(env, page, env.t.adminKey);
  });

  const PAGES: [string, () => string, () => string][] = [
    ["experiments list", () => "/experiments", () => "Experiments"],
    ["experiment page", () => `/experiments/${running.id}`, () => running.name],
    ["experiment form", () => "/experiments/new", () => "New experiment"],
    ["results", () => `/experiments/${running.id}/results?window=all`, () => running.name],
    ["flags", () => "/flags", () => "Flags"],
    ["catalog", () => "/catalog", () => "Catalog"],
    ["guardrail triggers", () => "/triggers", () => "Guardrail triggers"],
    ["notifications", () => "/notifications", () => "Notifications"],
    ["data quality", () => "/data-quality", () => "Data quality"],
  ];

  it.each(PAGES)("%s", async (what, where, heading) => {
    await page.goto(`${env.console}${where()}`);
    await untilHeading(page, heading());
    await settled(page);
    if (what === "results") {
      await page.getByTestId("results-table").waitFor();
      await page.getByTestId("interval-chart").waitFor();
    }
    await expectNoSeriousViolations(what);
  });

  it("experiment form showing the server's field errors", async () => {
    await page.goto(`${env.console}/experiments/new`);
    await untilHeading(page, "New experiment");
    await page.getByRole("button", { name: "Create draft" }).click();
    await page.getByRole("alert").first().waitFor();
    await expectNoSeriousViolations("the experiment form with errors");
  });
});

describe("axe on the experiment page's action forms", () => {
  it("the Complete form (outcome, winner, justification)", async () => {
    await page.goto(`${env.console}/experiments/${running.id}`);
    await untilHeading(page, running.name);
    await page.getByRole("button", { name: "Complete" }).click();
    await page.getByLabel("Outcome").selectOption({ label: "Roll out the winner" });
    await page.getByLabel("Winner").waitFor();
    await page.getByLabel("Justification").waitFor();
    await expectNoSeriousViolations("the Complete form");
    await page.getByRole("button", { name: "Cancel" }).click();
    // Cancelling returns focus to the button that opened the form.
    await page.getByRole("button", { name: "Complete" }).waitFor();
    expect((await activeElement(page)).name).toBe("Complete");
  });

  it("the Approve form (comment)", async () => {
    await page.goto(`${env.console}/experiments/${inReview.id}`);
    await untilHeading(page, inReview.name);
    await page.getByRole("button", { name: "Approve" }).click();
    await page.getByLabel("Comment").waitFor();
    // Opening the form moves focus into it.
    expect((await activeElement(page)).tag).toBe("textarea");
    await expectNoSeriousViolations("the Approve form");
  });
});

describe("the results page from the keyboard", () => {
  const describeFocus = (el: ActiveElement) =>
    `${el.tag}${el.id ? `#${el.id}` : ""} "${el.name}" (outline: ${el.outline})`;
  const expectVisibleFocus = (el: ActiveElement) => {
    if (!el.focusVisible || !el.inViewport) {
      throw new Error(`focus is not visible on ${describeFocus(el)}`);
    }
  };
  const isNamed = (tag: string, name: RegExp) => (el: ActiveElement) =>
    el.tag === tag && name.test(el.name);

  it("Tab reaches the skip link, Window, Metric and the downloads; arrows change the window; Enter downloads", async () => {
    await page.goto(`${env.console}/experiments/${running.id}/results?window=all`);
    await page.getByTestId("results-table").waitFor();
    await settled(page);

    // The first Tab lands on the skip link, which shows itself; Enter moves to the content.
    await page.keyboard.press("Tab");
    const skip = await activeElement(page);
    expect(skip).toMatchObject({ tag: "a", name: "Skip to content" });
    expectVisibleFocus(skip);
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => {
      const el = (globalThis as unknown as { document: { activeElement: { id: string } | null } })
        .document.activeElement;
      return el?.id === "main";
    });

    // From the content, Tab reaches the Window select (not the navigation again).
    const windowSelect = await tabUntil(page, isNamed("select", /^Window\b/), "the Window select");
    expectVisibleFocus(windowSelect);
    await page.keyboard.press("ArrowDown");
    await page.waitForURL((url) => url.searchParams.get("window") === "24h");
    await waitFor(
      async () => (await page.getByLabel("Window").inputValue()) === "24h",
      5_000,
      "the Window select to show the last 24 hours",
    );
    // Focus stays where it was after the view changed.
    const still = await activeElement(page);
    expect(describeFocus(still)).toBe(describeFocus({ ...windowSelect, outline: still.outline }));
    expectVisibleFocus(still);
    await page.getByTestId("results-table").waitFor();

    const metric = await tabUntil(page, isNamed("select", /^Metric\b/), "the Metric select", 5);
    expectVisibleFocus(metric);

    const order: string[] = [];
    for (const name of [
      "Download CSV",
      "Download JSON",
      "Download chart (SVG)",
      "Download chart (PNG)",
      "Copy link",
    ]) {
      const el = await tabUntil(
        page,
        isNamed("button", new RegExp(`^${name.replace(/[()]/g, "\\$&")}$`)),
        name,
        8,
      );
      expectVisibleFocus(el);
      order.push(el.name);
    }
    expect(order).toEqual([
      "Download CSV",
      "Download JSON",
      "Download chart (SVG)",
      "Download chart (PNG)",
      "Copy link",
    ]);

    // Shift+Tab goes back the same way; Enter on "Download CSV" brings the file.
    for (let i = 0; i < 4; i++) await page.keyboard.press("Shift+Tab");
    const back = await activeElement(page);
    expect(back.name).toBe("Download CSV");
    expectVisibleFocus(back);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.keyboard.press("Enter"),
    ]);
    expect(download.suggestedFilename()).toMatch(/\.csv$/);
  });
});
