/**
 * "Export events" on the results page, in a real browser against a real
 * Lotty (docs/event-export.md): an experimenter chooses JSON Lines, starts
 * the export of the page's window from the keyboard, waits for the job to
 * be done, asks for the one-time link and downloads the file, whose rows
 * are the experiment's attributed events as the store holds them. axe
 * finds no serious violation with the panel idle and with the link shown.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { makeFlag, str, type Actor } from "../support/builders.js";
import { query } from "../events/support.js";
import {
  driveToRunning,
  ingest,
  newPage,
  Role,
  seriousAxeViolations,
  settled,
  signIn,
  startConsole,
  userOf,
  type ConsoleEnv,
} from "./support.js";

let env: ConsoleEnv;
let owner: Actor;
let experimentId: string;

beforeAll(async () => {
  env = await startConsole();
  const { t } = env;
  let approver: Actor;
  [owner, approver] = await Promise.all([
    userOf(t, Role.EXPERIMENTER, "Erin Exporter"),
    userOf(t, Role.APPROVER, "Abe Approver"),
  ]);
  const flagKey = await makeFlag(t);
  const { experiment } = await owner.experiments.createExperiment({
    experiment: {
      flagKey,
      name: "Export me",
      description: "Events to export",
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
  await ingest(t, flagKey, experimentId, 30);
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

describe("exporting events from the results page", () => {
  it("starts a JSON Lines export from the keyboard, waits for it and downloads it through its link", async () => {
    const { context, page } = await newPage(env);
    try {
      await signIn(
        env,
        page,
        owner.key,
        `/experiments/${experimentId}/results?window=all`,
        /\/results$/,
      );
      await page.getByTestId("results-table").waitFor();
      await settled(page);
      const panel = page.getByRole("region", { name: "Export events" });
      await panel.waitFor();
      expect(await seriousAxeViolations(page)).toBe("");

      await panel.getByLabel("Format").selectOption({ label: "JSON Lines" });
      await panel.getByRole("button", { name: "Export events" }).focus();
      await page.keyboard.press("Enter");
      const status = panel.getByRole("status");
      await status.getByText(/^Export done: \d+ events/).waitFor({ timeout: 60_000 });

      await panel.getByRole("button", { name: "Get download link" }).focus();
      await page.keyboard.press("Enter");
      const link = panel.getByRole("link", { name: /^Download events-.*\.jsonl$/ });
      await link.waitFor();
      expect(await seriousAxeViolations(page)).toBe("");

      await link.focus();
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.keyboard.press("Enter"),
      ]);
      expect(download.suggestedFilename()).toMatch(
        new RegExp(`^events-${experimentId}-\\d{8}T\\d{6}Z-\\d{8}T\\d{6}Z\\.jsonl$`),
      );
      const text = await readFile((await download.path())!, "utf8");
      const rows = text
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const stored = await query<{ event_id: string; subject_id: string; variant_key: string }>(
        env.t,
        `select event_id, subject_id, variant_key from events
         where experiment_id = $1 and counted order by occurred_at, event_id`,
        [experimentId],
      );
      expect(stored.length).toBeGreaterThanOrEqual(30);
      expect(rows.map((r) => [r.event_id, r.subject_id, r.variant_key])).toEqual(
        stored.map((r) => [r.event_id, r.subject_id, r.variant_key]),
      );
      const shown = (await status.innerText()).match(/^Export done: (\d+) events/)?.[1];
      expect(Number(shown)).toBe(rows.length);
    } finally {
      await context.close();
    }
  }, 120_000);
});
