/**
 * Saved segments in a real browser (docs/saved-segments.md): a segment is
 * created from the console, the server's refusal of a rule shows at the
 * Rule field (tied to it for assistive technology), the corrected segment
 * is saved, and the results page filtered by it shows what
 * GetExperimentReport says for the same filter. Both pages have no serious
 * accessibility violations.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { CatalogService } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { ReportService, type Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import { client } from "../support/clients.js";
import { runningExperiment } from "../support/builders.js";
import { waitFor } from "../support/app.js";
import { decisionFor, event, eventClient, untilStored } from "../events/support.js";
import {
  newPage,
  rowFigures,
  seriousAxeViolations,
  signIn,
  startConsole,
  type ConsoleEnv,
} from "./support.js";

const SUBJECTS = 40;

let env: ConsoleEnv;
let experimentId: string;

/** ios for every third subject, web for every fifth of the others, android otherwise. */
function platformOf(s: number): string {
  if (s % 3 === 0) return "ios";
  return s % 5 === 0 ? "web" : "android";
}

beforeAll(async () => {
  env = await startConsole();
  const { t } = env;
  await client(CatalogService, t.baseUrl, t.adminKey).createDimension({
    dimension: { key: "platform", displayName: "Platform" },
  });
  const setup = await runningExperiment(t);
  experimentId = setup.experimentId;
  const start = Date.now();
  const batch = [];
  for (let s = 1; s <= SUBJECTS; s++) {
    const d = decisionFor(t, setup.flagKey, `saved-${s}`);
    batch.push(
      event("exposure", d.decisionId, {
        occurredAt: start + s,
        properties: { platform: platformOf(s) },
      }),
    );
    if (s % 4 === 0) batch.push(event("conversion", d.decisionId, { occurredAt: start + s + 1 }));
  }
  const answer = await (await eventClient(t)).ingestEvents({ events: batch });
  expect(answer.accepted).toBe(batch.length);
  await untilStored(
    t,
    batch.map((e) => e.eventId),
    30_000,
  );
}, 90_000);

afterAll(async () => {
  await env?.stop();
});

describe("saved segments in the console", () => {
  it("creates a segment, shows the server's rule error at the field, and filters a report by it", async () => {
    const { context, page } = await newPage(env);
    await signIn(env, page, env.t.adminKey, "/saved-segments", /\/saved-segments$/);
    await page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", {
        name: "Saved segments",
      })
      .waitFor();
    await page.getByRole("link", { name: "New saved segment" }).click();
    await page.getByRole("heading", { name: "New saved segment" }).waitFor();
    await page.getByLabel("Key").fill("mobile_apps");
    await page.getByLabel("Name").fill("Mobile apps");
    // A single '=': the server refuses it and names the field and the position.
    await page.getByLabel("Rule").fill('platform = "ios" OR platform == "android"');
    await page.getByRole("button", { name: "Create saved segment" }).click();
    const rule = page.getByLabel("Rule");
    await waitFor(
      async () => (await rule.getAttribute("aria-invalid")) === "true",
      15_000,
      "the rule field marked invalid",
    );
    const describedBy = (await rule.getAttribute("aria-describedby")) ?? "";
    const fieldError = page.locator(`[id="${describedBy.split(" ").at(-1)}"]`);
    expect(await fieldError.innerText()).toMatch(
      /^saved_segment\.rule: at 9: expected a comparison operator .*use == to compare/,
    );
    await page.getByRole("alert").getByText("saved_segment.rule").waitFor();
    expect(await seriousAxeViolations(page)).toBe("");

    await rule.fill('platform IN ["ios", "android"]');
    await page.getByRole("button", { name: "Create saved segment" }).click();
    await page.waitForURL((url) => url.pathname.endsWith("/saved-segments/mobile_apps"));
    await page.getByRole("status").getByText("Saved segment mobile_apps created.").waitFor();
    await page.getByRole("heading", { name: "Versions" }).waitFor();
    expect(await seriousAxeViolations(page)).toBe("");

    // The results page, filtered by the saved segment from its selector.
    await page.goto(`${env.console}/experiments/${experimentId}/results`);
    await page.getByTestId("results-table").waitFor();
    const picker = page.getByLabel("Saved segment");
    await picker.focus();
    await picker.selectOption("mobile_apps");
    await page.waitForURL((url) => url.searchParams.get("saved") === "mobile_apps");
    await page.getByTestId("saved-segment-banner").waitFor();
    const { report } = await client(
      ReportService,
      env.t.baseUrl,
      env.t.adminKey,
    ).getExperimentReport({ experimentId, savedSegment: "mobile_apps" });
    const expected = report as Report;
    const mobile = Array.from({ length: SUBJECTS }, (_, i) => i + 1).filter(
      (s) => platformOf(s) !== "web",
    ).length;
    expect(expected.subjects).toBe(mobile);
    const keys = expected.variants.map((v) => v.variantKey);
    const want = JSON.stringify(expected.variants.map((v) => v.subjects));
    await waitFor(
      async () =>
        JSON.stringify(
          await Promise.all(
            keys.map(
              async (k) => (await rowFigures(page.getByTestId("results-table"), k, keys)).subjects,
            ),
          ),
        ) === want,
      15_000,
      "the figures filtered by the saved segment",
    );
    expect(await seriousAxeViolations(page)).toBe("");
    await context.close();
  }, 120_000);
});
