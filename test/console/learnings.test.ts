/**
 * The learnings library in the console, in a real browser against a real
 * Lotty: an experiment is run and completed through the RPCs; its owner
 * opens its learning page, writes notes and an action, saves, and sees the
 * edit in the history. A new draft on the same flag shows the completed
 * experiment in its "similar experiments" panel with the reason "same flag";
 * the library finds the learning by a word of the notes, with the word
 * marked. axe finds no serious violation on the library, the learning page
 * and the meta-analysis view.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { BrowserContext, Page } from "playwright-core";
import { AccessService } from "../../gen/lotty/access/v1/access_pb.js";
import { LearningService } from "../../gen/lotty/learnings/v1/learnings_pb.js";
import { client } from "../support/clients.js";
import { waitFor } from "../support/app.js";
import { act, makeFlag, str, type Actor } from "../support/builders.js";
import {
  driveToRunning,
  ingest,
  newPage,
  Role,
  seriousAxeViolations,
  settled,
  signIn,
  startConsole,
  untilHeading,
  userOf,
  viewOf,
  type ConsoleEnv,
} from "./support.js";

const NAME = "Blue checkout button";
/** A word only this run's notes contain (letters only, so search sees one word). */
const WORD = `wombat${[...randomBytes(5)].map((b) => String.fromCharCode(97 + (b % 26))).join("")}`;
const NOTES = `Blue won on every platform; the ${WORD} segment moved first.`;
const ACTION = "Rolled out blue to 100 %";

let env: ConsoleEnv;
let owner: Actor;
let flagKey: string;
let experimentId: string;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  env = await startConsole();
  const { t } = env;
  let approver: Actor;
  [owner, approver] = await Promise.all([
    userOf(t, Role.EXPERIMENTER, "Lena Learner"),
    userOf(t, Role.APPROVER, "Arno Approver"),
  ]);
  await client(AccessService, t.baseUrl, t.adminKey).setReviewPolicy({
    experimenterId: owner.id,
    approverIds: [approver.id],
    minApprovals: 1,
  });
  flagKey = await makeFlag(t);
  const { experiment } = await owner.experiments.createExperiment({
    experiment: {
      flagKey,
      name: NAME,
      description: "Blue makes the checkout button easier to find",
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
  await driveToRunning(owner, approver, experiment!);
  await ingest(t, flagKey, experimentId, 40);
  await act(owner, "complete", experimentId);
  // The learning is recorded with the completion.
  const learnings = client(LearningService, t.baseUrl, owner.key);
  await waitFor(
    async () =>
      (await learnings.getLearning({ experimentId }).then(
        () => true,
        () => false,
      )) === true,
    10_000,
    "the learning to be recorded",
  );
  ({ context, page } = await newPage(env));
  await signIn(env, page, owner.key);
}, 120_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await env?.stop();
});

describe("the learnings library in the console", () => {
  it("the completed experiment's page links to its learning, which needs writing up", async () => {
    await page.goto(`${env.console}/experiments/${experimentId}`);
    await untilHeading(page, NAME);
    const link = page.getByRole("link", { name: "Learning", exact: true });
    await link.waitFor();
    await page.locator(".learn-link").getByText("needs writing up").waitFor();
    await link.click();
    await page.waitForURL((url) => url.pathname === `/console/learnings/${experimentId}`);
    await untilHeading(page, `Learning: ${NAME}`);
  });

  it("the owner writes up the learning; the history shows the edit", async () => {
    await page.goto(`${env.console}/learnings/${experimentId}`);
    await untilHeading(page, `Learning: ${NAME}`);
    await settled(page);
    await page.getByText(/^Needs writing up: missing /).waitFor();
    // The report permalink and the experiment are linked.
    expect(await page.getByRole("link", { name: "Final report" }).getAttribute("href")).toBe(
      `/console/experiments/${experimentId}/results`,
    );
    expect(
      await page.getByRole("link", { name: "Experiment", exact: true }).getAttribute("href"),
    ).toBe(`/console/experiments/${experimentId}`);
    expect(await seriousAxeViolations(page)).toBe("");

    await page.getByRole("button", { name: "Edit learning" }).click();
    await page.getByLabel("Notes", { exact: true }).fill(NOTES);
    await page.getByLabel("Action", { exact: true }).fill(ACTION);
    expect(await seriousAxeViolations(page)).toBe("");
    await page.getByRole("button", { name: "Save learning" }).click();
    await page.getByText("Saved: this is version 2.").waitFor();
    await page.getByTestId("learning-notes").getByText(NOTES).waitFor();

    const history = page.getByTestId("learning-history");
    await history.getByText(NOTES).waitFor();
    const newest = history.locator("tbody tr").first();
    const cells = await newest.locator("td").allInnerTexts();
    expect(cells[0]?.trim()).toBe("2");
    expect(cells[2]).toMatch(/^you \(/);
    expect(cells[3]).toMatch(/notes:/);
    expect(cells[3]).toMatch(/action:/);
    expect(cells[3]).toContain(ACTION);

    const { learning } = await client(LearningService, env.t.baseUrl, owner.key).getLearning({
      experimentId,
    });
    expect(learning).toMatchObject({ version: 2, notes: NOTES, action: ACTION, filled: true });
    await page.getByText(/^Needs writing up/).waitFor({ state: "detached" });
  });

  it("a new draft on the same flag shows it among similar experiments, because of the same flag", async () => {
    await page.goto(`${env.console}/experiments/new`);
    await untilHeading(page, "New experiment");
    await page.getByLabel("Flag", { exact: true }).selectOption(flagKey);
    const panel = page.getByTestId("similar");
    const hit = panel.getByRole("link", { name: NAME, exact: true });
    await hit.waitFor();
    const item = panel
      .locator("li.similar-hit")
      .filter({ has: page.getByRole("link", { name: NAME, exact: true }) });
    await item.getByText("Same flag").waitFor();
    expect(await item.innerText()).toContain(flagKey);
    expect(await item.getByRole("link", { name: `Results of ${NAME}` }).getAttribute("href")).toBe(
      `/console/experiments/${experimentId}/results`,
    );
    expect(await hit.getAttribute("href")).toBe(`/console/learnings/${experimentId}`);
    expect(await seriousAxeViolations(page)).toBe("");
  });

  it("the library finds the learning by a word of its notes, with the word marked", async () => {
    await page.goto(`${env.console}/learnings`);
    await untilHeading(page, "Learnings");
    await settled(page);
    expect(await seriousAxeViolations(page)).toBe("");
    const search = page.getByLabel("Search learnings", { exact: true });
    await search.fill(WORD);
    await search.press("Enter");
    await page.waitForURL((url) => url.searchParams.get("q") === WORD);
    await page.getByRole("status").getByText("1 learning matches these filters.").waitFor();
    const hit = page.getByRole("link", { name: NAME, exact: true });
    await hit.waitFor();
    expect(await page.locator(".learn-result mark").first().innerText()).toMatch(
      new RegExp(WORD, "i"),
    );
    expect(await seriousAxeViolations(page)).toBe("");

    // The view is a permalink: a filter on the flag and a reload keep it.
    await page.getByLabel("Flag key", { exact: true }).fill(flagKey);
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.waitForURL((url) => url.searchParams.get("flag") === flagKey);
    const link = viewOf(page);
    await page.reload();
    await page.getByRole("link", { name: NAME, exact: true }).waitFor();
    expect(viewOf(page)).toBe(link);
    expect(await page.getByLabel("Search learnings", { exact: true }).inputValue()).toBe(WORD);

    await hit.click();
    await untilHeading(page, `Learning: ${NAME}`);
  });

  it("the meta-analysis view counts it and passes axe", async () => {
    await page.goto(`${env.console}/learnings/meta?flag=${flagKey}&impact_metric=conversion_rate`);
    await untilHeading(page, "Meta-analysis of learnings");
    await settled(page);
    const cards = page.getByRole("definition");
    await cards.first().waitFor();
    const terms = (await page.getByRole("term").allInnerTexts()).map((x) => x.trim());
    const values = await cards.allInnerTexts();
    expect(values[terms.indexOf("Experiments")]?.trim()).toBe("1");
    expect(values[terms.indexOf("Win rate (rolled out)")]?.trim()).toBe("100.0 %");
    expect(await seriousAxeViolations(page)).toBe("");
  });
});
