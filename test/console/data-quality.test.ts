/**
 * The Data quality page in a real browser against a real Lotty: a volume
 * drop crafted in the event store and an attribution backlog raise alarms
 * through the monitor's pass; a viewer follows the nav link, sees both
 * with their figures, filters by kind, and axe finds no serious violation.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { BrowserContext, Page } from "playwright-core";
import { DataQualityMonitor } from "../../src/dataquality/monitor.js";
import { query } from "../events/support.js";
import { DAY, HOUR, insertEvents } from "../dataquality/support.js";
import {
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

const TYPE = `checkout_${randomBytes(3).toString("hex")}`;

let env: ConsoleEnv;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  env = await startConsole();
  const { t } = env;
  const hour = Math.floor(Date.now() / HOUR) * HOUR - 3 * DAY;
  for (const [i, n] of [980, 1000, 1020, 990, 1010, 1040, 960].entries()) {
    await insertEvents(t, TYPE, hour - (7 - i) * DAY, n);
  }
  await insertEvents(t, TYPE, hour, 300);
  await query(
    t,
    `insert into pending_attributions (event_id, decision_id, experiment_id, occurred_at, expires_at)
     select 'ui-' || g, 'ui', gen_random_uuid(), now(), now() + interval '1 day'
     from generate_series(1, 30) g`,
  );
  const monitor = new DataQualityMonitor({
    pool: t.app.pool(),
    changes: t.app.changes,
    reports: t.app.reports.builder,
    logger: t.app.logger,
    settings: { backlog: { maxPending: 25, growthFactor: 2, minGrowthPending: 1_000 } },
  });
  const raised = await monitor.evaluate(hour + HOUR + 10 * 60_000);
  expect(raised.map((a) => a.kind).sort()).toEqual([
    "data_quality.attribution_backlog",
    "data_quality.volume_drop",
  ]);
  ({ context, page } = await newPage(env));
});

afterAll(async () => {
  await context?.close();
  await env?.stop();
});

describe("data quality page", () => {
  it("lists the alarms with their figures for a viewer, filters by kind, and passes axe", async () => {
    const viewer = await userOf(env.t, Role.VIEWER);
    await signIn(env, page, viewer.key);
    await page.getByRole("navigation").getByRole("link", { name: "Data quality" }).click();
    await untilHeading(page, "Data quality");
    expect(viewOf(page)).toBe("/data-quality");
    await settled(page);

    const table = page.getByRole("table", { name: "Data-quality alarms, newest first" });
    const drop = table.getByRole("row").filter({ hasText: TYPE });
    await expect(drop.getByText("Volume drop", { exact: true }).count()).resolves.toBe(1);
    const figures = await drop.locator("dl.figures").innerText();
    expect(figures).toContain("events this hour\n300");
    expect(figures).toContain("baseline median\n1,000");
    expect(figures).toContain("MAD\n20");
    expect(figures).toContain("change\n-70.0 %");
    const backlog = table.getByRole("row").filter({ hasText: "Attribution backlog" });
    expect(await backlog.getByRole("cell").nth(2).innerText()).toBe("All events");
    expect(await backlog.locator("dl.figures").innerText()).toContain("pending\n30");

    expect(await seriousAxeViolations(page)).toBe("");

    await page.getByLabel("Kind").selectOption({ label: "Attribution backlog" });
    await settled(page);
    await page.getByRole("row").filter({ hasText: TYPE }).waitFor({ state: "detached" });
    expect(await table.getByRole("row").filter({ hasText: "Attribution backlog" }).count()).toBe(1);
  });
});
