/**
 * Funnel and retention metrics in the console, in a real browser: the
 * catalog's metric form creates a funnel from one line per step, and the
 * results page of an experiment whose primary metric is that funnel shows
 * a funnel chart per variant with the same numbers as an accessible table
 * (and the API's report), then a retention display with the maturing
 * subjects. axe finds no serious or critical violation on either.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { BrowserContext, Page } from "playwright-core";
import { CatalogService, FunnelOrder, MetricKind } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { client } from "../support/clients.js";
import {
  greyBlue,
  makeTeam,
  makeTypedFlag,
  runExperiment,
  uniqueKey,
} from "../support/builders.js";
import {
  ingest,
  newPage,
  reportOf,
  seriousAxeViolations,
  settled,
  signIn,
  startConsole,
  untilHeading,
  type ConsoleEnv,
} from "./support.js";

let env: ConsoleEnv;
let context: BrowserContext;
let page: Page;
const funnelKey = uniqueKey("funnel").replaceAll("-", "_");
const retentionKey = uniqueKey("retention").replaceAll("-", "_");

beforeAll(async () => {
  env = await startConsole();
  ({ context, page } = await newPage(env));
  await signIn(env, page, env.t.adminKey);
}, 60_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await env?.stop();
});

async function expectNoSeriousViolations(what: string): Promise<void> {
  const found = await seriousAxeViolations(page);
  if (found !== "") throw new Error(`axe: serious or critical violations on ${what}:\n${found}`);
}

describe("funnels in the console", () => {
  it("creates a funnel metric from one line per step", async () => {
    await page.goto(`${env.console}/catalog/metrics/new`);
    await page.getByLabel("Key").fill(funnelKey);
    await page.getByLabel("Name").fill("Exposure to conversion");
    await page.getByLabel("Kind").selectOption({ label: "funnel" });
    await page.getByLabel("Steps").fill("exposure\nconversion");
    await page.getByLabel("Conversion window (hours)").fill("2");
    await page.getByLabel("Order").selectOption({ label: "Strict" });
    await expectNoSeriousViolations("the funnel metric form");
    await page.getByRole("button", { name: "Create metric" }).click();
    await page.waitForURL((url) => url.pathname.endsWith(`/catalog/metrics/${funnelKey}`));
    const { metric } = await client(CatalogService, env.t.baseUrl, env.t.adminKey).getMetric({
      key: funnelKey,
    });
    expect(metric!.kind).toBe(MetricKind.FUNNEL);
    expect(metric!.funnel!.steps.map((s) => s.eventTypeKey)).toEqual(["exposure", "conversion"]);
    expect(metric!.funnel!.conversionWindowSeconds).toBe(7200n);
    expect(metric!.funnel!.order).toBe(FunnelOrder.STRICT);
  });

  it("shows the funnel per variant with an accessible table, and retention", async () => {
    const { t } = env;
    await client(CatalogService, t.baseUrl, t.adminKey).createMetric({
      metric: {
        key: retentionKey,
        name: "Day-0 return",
        kind: MetricKind.RETENTION,
        eventTypeKey: "conversion",
        retention: { dayFrom: 0, dayTo: 0 },
      },
    });
    const team = await makeTeam(t);
    const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
    const experiment = await runExperiment(
      t,
      team,
      flagKey,
      greyBlue({
        name: "Funnel checkout",
        primaryMetricKey: funnelKey,
        metricKeys: ["conversions", retentionKey],
      }),
    );
    await ingest(t, flagKey, experiment.id, 40, "funnel");
    const report = await reportOf(t, experiment.id);

    await page.goto(`${env.console}/experiments/${experiment.id}/results?window=all`);
    await untilHeading(page, "Funnel checkout");
    const table = page.getByTestId("funnel-table");
    await table.waitFor();
    await settled(page);
    for (const variant of report.variants) {
      await page.getByTestId(`funnel-chart-${variant.variantKey}`).waitFor();
      const funnel = variant.metrics.find((m) => m.metricKey === funnelKey)!.funnel!;
      const label =
        (await page.getByTestId(`funnel-chart-${variant.variantKey}`).getAttribute("aria-label")) ??
        "";
      expect(label).toContain(`${funnel.subjects} exposed subjects`);
      // The table's row of the last step carries the API's count.
      const rows = table.locator("tbody tr", { hasText: "2. conversion" });
      const texts = await rows.allInnerTexts();
      expect(texts.some((text) => text.includes(String(funnel.steps[1]!.subjects)))).toBe(true);
    }
    expect(await table.locator("tbody tr").count()).toBe(report.variants.length * 2);
    await expectNoSeriousViolations("the results page with a funnel");

    await page.getByLabel("Metric").selectOption({ value: retentionKey });
    const retention = page.getByTestId("retention-table");
    await retention.waitFor();
    await page.getByTestId("retention-chart").waitFor();
    // Exposed just now: every subject's day 0 is still running.
    const maturing = report.variants.map(
      (v) => v.metrics.find((m) => m.metricKey === retentionKey)!.retention!.maturingSubjects,
    );
    expect(maturing.reduce((a, b) => a + b, 0)).toBe(40);
    expect(await retention.innerText()).toContain("Maturing");
    await expectNoSeriousViolations("the results page with retention");
  });
});
