/**
 * Segments on the results page in a real browser (docs/segments.md): the
 * segment filter, chosen with the keyboard-usable controls, shows what
 * GetExperimentReport says for the same filter and lands in the URL; the
 * permalink reopens the filtered view in a fresh session; a breakdown
 * shows one table per segment with GetExperimentReport's figures, and the
 * page has no serious accessibility violations.
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

/** ios for every third subject, android for the others but every tenth, which has none. */
function platformOf(s: number): string | undefined {
  if (s % 10 === 0) return undefined;
  return s % 3 === 0 ? "ios" : "android";
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
    const d = decisionFor(t, setup.flagKey, `seg-${s}`);
    const platform = platformOf(s);
    batch.push(
      event("exposure", d.decisionId, {
        occurredAt: start + s,
        properties: platform === undefined ? {} : { platform },
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

async function reportFor(segment: { dimension: string; values: string[] }[], breakdown = "") {
  const { report } = await client(ReportService, env.t.baseUrl, env.t.adminKey).getExperimentReport(
    { experimentId, segment, breakdownDimension: breakdown },
  );
  return report as Report;
}

describe("segments on the results page", () => {
  it("filters by a segment and keeps it in a permalink", async () => {
    const { context, page } = await newPage(env);
    await signIn(env, page, env.t.adminKey, `/experiments/${experimentId}/results`, /\/results$/);
    await page.getByTestId("results-table").waitFor();
    // Keyboard: focus the segment select and choose the dimension.
    await page.getByLabel("Segment").focus();
    await page.getByLabel("Segment").selectOption("platform");
    const ios = page.getByRole("checkbox", { name: /^ios/ });
    await ios.waitFor();
    await ios.focus();
    await page.keyboard.press("Space");
    await page.waitForURL((url) => url.searchParams.getAll("segment").includes("platform=ios"));
    await page.getByTestId("segment-banner").waitFor();
    const expected = await reportFor([{ dimension: "platform", values: ["ios"] }]);
    const keys = expected.variants.map((v) => v.variantKey);
    const shown = async (p: typeof page) => {
      await p.getByTestId("segment-banner").waitFor();
      return Promise.all(keys.map((k) => rowFigures(p.getByTestId("results-table"), k, keys)));
    };
    const want = JSON.stringify(expected.variants.map((v) => v.subjects));
    await waitFor(
      async () => JSON.stringify((await shown(page)).map((r) => r.subjects)) === want,
      15_000,
      "the filtered figures",
    );
    const iosSubjects = Array.from({ length: SUBJECTS }, (_, i) => i + 1).filter(
      (s) => platformOf(s) === "ios",
    ).length;
    expect(expected.subjects).toBe(iosSubjects);
    const link = page.url();
    await context.close();

    const fresh = await newPage(env);
    const path = new URL(link).pathname.replace(/^\/console/, "") + new URL(link).search;
    await signIn(env, fresh.page, env.t.adminKey, path, /\/results$/);
    expect(new URL(fresh.page.url()).searchParams.getAll("segment")).toEqual(["platform=ios"]);
    await fresh.page.getByRole("checkbox", { name: /^ios/ }).waitFor();
    expect(await fresh.page.getByRole("checkbox", { name: /^ios/ }).isChecked()).toBe(true);
    expect((await shown(fresh.page)).map((r) => r.subjects)).toEqual(
      expected.variants.map((v) => v.subjects),
    );
    await fresh.context.close();
  }, 90_000);

  it("breaks down by a dimension, one table per segment", async () => {
    const { context, page } = await newPage(env);
    await signIn(
      env,
      page,
      env.t.adminKey,
      `/experiments/${experimentId}/results?window=all&breakdown=platform`,
      /\/results$/,
    );
    const breakdown = page.getByTestId("breakdown");
    await breakdown.waitFor();
    const expected = await reportFor([], "platform");
    expect(expected.segments.map((s) => s.value)).toEqual(["android", "ios", "(none)"]);
    for (const segment of expected.segments) {
      const table = page.getByTestId(`breakdown-table-${segment.value}`);
      await table.waitFor();
      const keys = segment.variants.map((v) => v.variantKey);
      for (const v of segment.variants) {
        expect((await rowFigures(table, v.variantKey, keys)).subjects).toBe(v.subjects);
      }
    }
    await breakdown.getByText(/3 segments compared/).waitFor();
    expect(await page.getByLabel("Break down by").inputValue()).toBe("platform");
    expect(await seriousAxeViolations(page)).toBe("");
    await context.close();
  }, 90_000);
});
