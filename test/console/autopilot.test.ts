/**
 * The autopilot ramp in the console, in a real browser against a real
 * Lotty: an experiment with a ramp plan (10 → 50 → 100 %, step back on a
 * safety failure) is started through the API; its owner sees the plan at
 * 10 % under the autopilot, advances from the keyboard with a comment (50 %,
 * a history entry with the comment), steps back (10 %), gets the server's
 * refusal on a stale page and resumes the autopilot. Passes of the
 * autopilot are run from the test (the app's own timer runs once an hour
 * here): one waits for exposures (the failed gate in the last evaluation
 * and in the history), and after traffic one moves up ("Moved up" after a
 * reload). The results page marks the three step changes on the primary
 * metric's chart; a viewer sees the panel without commands; axe finds
 * nothing serious on the page with the panel, its comment form and the
 * results. docs/console/autopilot.png is taken along the way. The
 * experiment form creates a draft with a plan (the fieldset opened from the
 * keyboard): the server's refusal of steps 5, 5 appears at the steps field,
 * then the plan is stored exactly as typed (GetExperiment) and the edit form
 * opens it filled in; axe finds nothing serious on the form with the
 * fieldset open.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { BrowserContext, Page } from "playwright-core";
import { create } from "@bufbuild/protobuf";
import {
  Direction,
  RampControl,
  RampEventKind,
  RampPlanSchema,
  RampSafetyAction,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import type { Event } from "../../gen/lotty/events/v1/events_pb.js";
import { waitFor } from "../support/app.js";
import { greyBlue, makeFlag, runExperiment, untilInSnapshot } from "../support/builders.js";
import { decisionFor, event, eventClient, untilStored } from "../events/support.js";
import { untilNothingPending } from "../reports/support.js";
import {
  activeElement,
  ensureScreenshotDir,
  newPage,
  Role,
  SCREENSHOT_DIR,
  SCREENSHOTS,
  seriousAxeViolations,
  settled,
  signIn,
  startConsole,
  tabUntil,
  untilHeading,
  userOf,
  type ActiveElement,
  type ConsoleEnv,
} from "./support.js";

const NAME = "Checkout ramp";
const COMMANDS = ["Manual", "Resume autopilot", "Hold", "Advance", "Skip a step", "Step back"];

let env: ConsoleEnv;
let owner: Awaited<ReturnType<typeof userOf>>;
let viewer: Awaited<ReturnType<typeof userOf>>;
let flagKey: string;
let id: string;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  // The app's own autopilot timer stays out of the way: the test runs each pass.
  env = await startConsole({ rampIntervalMs: 3_600_000 });
  const { t } = env;
  const [o, approver, v] = await Promise.all([
    userOf(t, Role.EXPERIMENTER, "Olga Owner"),
    userOf(t, Role.APPROVER),
    userOf(t, Role.VIEWER),
  ]);
  owner = o;
  viewer = v;
  flagKey = await makeFlag(t);
  const experiment = await runExperiment(
    t,
    { owner, approver },
    flagKey,
    greyBlue({
      name: NAME,
      primaryMetricKey: "conversion_rate",
      metricKeys: ["conversions"],
      rampPlan: {
        steps: [10, 50, 100],
        gates: {
          minStepSeconds: 0,
          minExposures: 20,
          minExposuresPerVariant: 0,
          // The SRM gate is not under test here: 20 subjects could split unevenly by chance.
          allowSrm: true,
          thresholds: [
            { metricKey: "conversion_rate", threshold: 0, direction: Direction.DECREASE_IS_BAD },
          ],
        },
        safetyAction: RampSafetyAction.STEP_BACK,
      },
    }),
  );
  id = experiment.id;
  await untilInSnapshot(t, flagKey, id);
  ({ context, page } = await newPage(env));
  await signIn(env, page, owner.key);
  ensureScreenshotDir();
}, 60_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await env?.stop();
});

async function openExperiment(p: Page = page): Promise<void> {
  await p.goto(`${env.console}/experiments/${id}`);
  await untilHeading(p, NAME);
  await settled(p);
  await p.getByTestId("ramp-history").waitFor();
}

/** The step the stepper marks as current, without its mark. */
async function currentStep(p: Page = page): Promise<string> {
  const text = await p.locator('.ramp-steps [aria-current="step"] .ramp-step').innerText();
  return text.replace(/[●○✓]/g, "").trim();
}

async function untilCurrentStep(percent: string): Promise<void> {
  let shown = "";
  await waitFor(
    async () => (shown = await currentStep()) === percent,
    10_000,
    `the stepper to mark ${percent}`,
  ).catch((error: Error) => {
    throw new Error(`${error.message} (it marks ${shown})`);
  });
}

/** The history entries, newest first, as text. */
async function historyEntries(p: Page = page): Promise<string[]> {
  return (await p.getByTestId("ramp-history").locator(":scope > li").allInnerTexts()).map((x) =>
    x.replace(/\s+/g, " ").trim(),
  );
}

async function untilNewestEntry(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  let entries: string[] = [];
  await waitFor(
    async () => pattern.test((entries = await historyEntries())[0] ?? ""),
    timeoutMs,
    `the newest history entry to match ${pattern}`,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; the history shows ${JSON.stringify(entries)}`);
  });
  return entries[0]!;
}

async function expectNoSeriousViolations(what: string, p: Page = page): Promise<void> {
  const found = await seriousAxeViolations(p);
  if (found !== "") {
    throw new Error(`axe: serious or critical violations on ${what} (${p.url()}):\n${found}`);
  }
}

function expectVisibleFocus(el: ActiveElement): void {
  if (!el.focusVisible || !el.inViewport) {
    throw new Error(`focus is not visible on ${el.tag} "${el.name}" (outline: ${el.outline})`);
  }
}

/** The panel's label/value pairs ("Mode" → "Autopilot …"). */
async function panelTerms(p: Page = page): Promise<Record<string, string>> {
  const panel = p.getByRole("region", { name: "Autopilot ramp" });
  const terms = await panel.locator("dl.props > dt").allInnerTexts();
  const values = await panel.locator("dl.props > dd").allInnerTexts();
  return Object.fromEntries(terms.map((term, i) => [term.trim(), (values[i] ?? "").trim()]));
}

/** Exposures (and a conversion for every third) of `count` subjects in the experiment. */
async function traffic(count: number, prefix: string): Promise<void> {
  const { t } = env;
  const sent: Event[] = [];
  let inside = 0;
  for (let i = 0; inside < count && i < 10_000; i++) {
    const d = decisionFor(t, flagKey, `${prefix}-${i}`);
    // Outside the ramp's share (once decide applies it), a subject has no variant.
    if (d.experimentId !== id || d.variantKey === "") continue;
    inside++;
    sent.push(event("exposure", d.decisionId));
    if (inside % 3 === 0) sent.push(event("conversion", d.decisionId));
  }
  expect(inside).toBe(count);
  const answer = await (await eventClient(t)).ingestEvents({ events: sent });
  expect(answer.rejected).toBe(0);
  await untilStored(
    t,
    sent.map((e) => e.eventId),
  );
  await untilNothingPending(t, id);
}

describe("the autopilot panel on the experiment page", () => {
  it("shows the owner the plan at 10 % under the autopilot, its gates, safety action and history", async () => {
    await openExperiment();
    const panel = page.getByRole("region", { name: "Autopilot ramp" });
    expect(await currentStep()).toBe("10 %");
    const steps = (await panel.getByRole("list", { name: /Steps/ }).innerText())
      .replace(/[●○✓\s]/g, "")
      .trim();
    expect(steps).toBe("10%→50%→100%");
    const terms = await panelTerms();
    expect(terms["Mode"]).toMatch(/^Autopilot\b/);
    expect(terms["Current step"]).toBe("10 % of the audience (step 1 of 3)");
    expect(terms["Effective audience"]).toBe("10 % of all traffic (100 % audience × 10 %)");
    expect(terms["Step began"]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(terms["Safety action"]).toMatch(/^Step back one step and hold the ramp/);
    expect(terms["Exposures on each step"]).toBe("at least 20, all variants (waits)");
    expect(terms["Threshold on conversion_rate"]).toBe(
      "a treatment below 0 runs the safety action",
    );
    expect(terms["Sample ratio mismatch"]).toBe("allowed (not checked)");
    expect(terms["Traffic skew"]).toBe("not checked");
    await panel.getByText("No evaluation on this step yet.").waitFor();
    const entries = await historyEntries();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatch(/Started at 10 % by you \(/);
    // The commands the server accepts now: no autopilot to resume, no step below the first.
    for (const name of ["Manual", "Hold", "Advance", "Skip a step"]) {
      await panel.getByRole("button", { name, exact: true }).waitFor();
    }
    for (const name of ["Resume autopilot", "Step back"]) {
      expect([name, await panel.getByRole("button", { name, exact: true }).count()]).toEqual([
        name,
        0,
      ]);
    }
  });

  it("advances from the keyboard with a comment: 50 % and a history entry with the comment", async () => {
    await openExperiment();
    const advance = await tabUntil(
      page,
      (el) => el.tag === "button" && el.name === "Advance",
      "the Advance button",
    );
    expectVisibleFocus(advance);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Advance to 50 %" }).waitFor();
    // The form takes the focus; its comment is required.
    expect((await activeElement(page)).tag).toBe("textarea");
    await expectNoSeriousViolations("the ramp command form");
    await page.keyboard.press("Tab");
    const confirm = await activeElement(page);
    expect([confirm.tag, confirm.name]).toEqual(["button", "Advance"]);
    expectVisibleFocus(confirm);
    await page.keyboard.press("Enter");
    await page.getByText("Write a comment: it is required.").waitFor();
    expect((await activeElement(page)).tag).toBe("textarea");

    await page.keyboard.type("Checkout errors are flat; going to 50 %");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await untilCurrentStep("50 %");
    await page.getByText("The ramp is at 50 % (step 2 of 3), autopilot.").waitFor();
    const newest = await untilNewestEntry(/^\S+ \S+ UTC Manual: Advance 10 % → 50 % by you/);
    expect(newest).toContain("Checkout errors are flat; going to 50 %");
    expect((await panelTerms())["Effective audience"]).toBe(
      "50 % of all traffic (100 % audience × 50 %)",
    );

    const { events } = await owner.experiments.listRampEvents({ id });
    expect(events.at(-1)).toMatchObject({
      kind: RampEventKind.MANUAL,
      control: RampControl.ADVANCE,
      actorId: owner.id,
      fromPercent: 10,
      toPercent: 50,
      reason: "Checkout errors are flat; going to 50 %",
    });
  });

  it("steps back with a comment: 10 %", async () => {
    await openExperiment();
    const panel = page.getByRole("region", { name: "Autopilot ramp" });
    await panel.getByRole("button", { name: "Step back", exact: true }).click();
    await page.getByRole("heading", { name: "Step back to 10 %" }).waitFor();
    await page.getByLabel("Comment").fill("Support tickets went up");
    await panel.getByRole("button", { name: "Step back", exact: true }).click();
    await untilCurrentStep("10 %");
    const newest = await untilNewestEntry(/Manual: Step back 50 % → 10 % by you/);
    expect(newest).toContain("Support tickets went up");
    // Each step is a version with the same configuration and another share.
    await page.getByRole("link", { name: "Versions", exact: true }).click();
    await page.getByText("Ramp step: 50 % of the audience").waitFor();
    await page.getByText("Ramp step: 10 % of the audience").waitFor();
  });

  it("shows the server's refusal on a stale page, catches up, and resumes the autopilot", async () => {
    await openExperiment();
    const panel = page.getByRole("region", { name: "Autopilot ramp" });
    // Someone holds the ramp while the page is open.
    await owner.experiments.controlRamp({
      id,
      action: RampControl.HOLD,
      comment: "held from the API",
    });
    await panel.getByRole("button", { name: "Hold", exact: true }).click();
    await page.getByLabel("Comment").fill("hold it");
    await panel.getByRole("button", { name: "Hold", exact: true }).click();
    const alert = panel.getByRole("alert");
    await alert.waitFor();
    expect(await alert.innerText()).toMatch(/^The ramp command failed: .*the ramp is already held/);
    expect(await alert.getAttribute("class")).toBe("error");
    // The page read the experiment again: the ramp is shown held.
    await waitFor(
      async () => /^Held\b/.test((await panelTerms())["Mode"] ?? ""),
      10_000,
      "the panel to show the ramp held",
    );
    await panel.getByRole("button", { name: "Cancel" }).click();

    await panel.getByRole("button", { name: "Resume autopilot" }).click();
    await page.getByLabel("Comment").fill("tickets are back to normal");
    await panel.getByRole("button", { name: "Resume autopilot" }).click();
    await page.getByText("The ramp is at 10 % (step 1 of 3), autopilot.").waitFor();
    await untilNewestEntry(/Manual: Resume autopilot at 10 % by you/);
    expect((await panelTerms())["Mode"]).toMatch(/^Autopilot\b/);
  });

  it("an autopilot pass waiting for exposures: the failed gate in the last evaluation and the history", async () => {
    expect(await env.t.app.rampDriver!.evaluate(id)).toBe("blocked");
    await openExperiment();
    const newest = await untilNewestEntry(/Blocked at 10 % by autopilot/);
    expect(newest).toContain("Exposures: 0 observed, ≥ 20 needed (waits)");
    const table = page.getByRole("table", { name: "Last evaluation" });
    const rows = await table.locator("tbody tr").allInnerTexts();
    const exposures = rows.find((r) => r.startsWith("Exposures\t"));
    expect(exposures?.split("\t").slice(0, 5)).toEqual([
      "Exposures",
      "✗ Failed",
      "0",
      "≥ 20",
      "waits",
    ]);
    const threshold = rows.find((r) => r.startsWith("Threshold\t"));
    expect(threshold?.split("\t")[1]).toBe("✓ Passed");
    await page.getByText("1 of 5 gates failed").waitFor();
    await expectNoSeriousViolations("the experiment page with the autopilot panel");
    if (SCREENSHOTS) {
      await page
        .getByRole("region", { name: "Autopilot ramp" })
        .screenshot({ path: path.join(SCREENSHOT_DIR, "autopilot.png") });
    }
  });

  it("with enough exposures the next pass moves up, and the open page follows: 'Moved up' by the autopilot", async () => {
    await openExperiment();
    expect(await currentStep()).toBe("10 %");
    await traffic(24, "ramp");
    expect(await env.t.app.rampDriver!.evaluate(id)).toBe("advanced");
    // No reload: the page reads a ramp the autopilot drives again every 15 s.
    await waitFor(async () => (await currentStep()) === "50 %", 25_000, "the page to show 50 %");
    const newest = await untilNewestEntry(/Moved up 10 % → 50 % by autopilot/, 25_000);
    expect(newest).toMatch(/every gate passed on 10 %; moving to 50 %/);
    // The new step has not been evaluated yet.
    await page.getByText("No evaluation on this step yet.").waitFor();
  });
});

describe("the results page", () => {
  it("marks the three step changes on the primary metric over time, with a list for screen readers", async () => {
    await page.goto(`${env.console}/experiments/${id}/results`);
    await untilHeading(page, NAME);
    const chart = page.getByTestId("series-chart");
    await chart.waitFor();
    const list = page.getByTestId("ramp-marks");
    await list.waitFor();
    const items = (await list.locator("li").allInnerTexts()).map((x) => x.replace(/^.*UTC: /, ""));
    expect(items).toEqual([
      "10 % → 50 % (Manual: Advance, by you (" + owner.id.slice(0, 8) + "…))",
      "50 % → 10 % (Manual: Step back, by you (" + owner.id.slice(0, 8) + "…))",
      "10 % → 50 % (Moved up, by autopilot)",
    ]);
    expect(await page.getByTestId("ramp-mark").count()).toBe(3);
    expect(await chart.getAttribute("aria-label")).toMatch(
      /Dashed vertical lines mark 3 ramp step changes: to 50 % at .*, to 10 % at .*, to 50 % at/,
    );
    await page.getByText("Ramp 50 % (autopilot)").waitFor();
    await settled(page);
    await expectNoSeriousViolations("the results page with ramp step marks");
  });
});

describe("a viewer", () => {
  it("sees the panel and its history but no ramp command", async () => {
    const fresh = await newPage(env);
    try {
      await signIn(env, fresh.page, viewer.key);
      await openExperiment(fresh.page);
      expect(await currentStep(fresh.page)).toBe("50 %");
      expect((await historyEntries(fresh.page))[0]).toMatch(/Moved up 10 % → 50 % by autopilot/);
      const panel = fresh.page.getByRole("region", { name: "Autopilot ramp" });
      expect(await panel.getByRole("heading", { name: "Steer the ramp" }).count()).toBe(0);
      for (const name of COMMANDS) {
        expect([name, await fresh.page.getByRole("button", { name, exact: true }).count()]).toEqual(
          [name, 0],
        );
      }
    } finally {
      await fresh.context.close();
    }
  });
});

describe("the experiment form's ramp fieldset", () => {
  it("creates a draft with a plan: opened from the keyboard, 5, 5 refused at the steps field, then stored exactly", async () => {
    const formFlag = await makeFlag(env.t);
    const name = "Checkout ramp from the form";
    await page.goto(`${env.console}/experiments/new`);
    await untilHeading(page, "New experiment");
    await settled(page);
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel("Flag", { exact: true }).selectOption(formFlag);
    await page.getByLabel("Variant 1 value").fill("grey");
    await page.getByLabel("Variant 2 value").fill("blue");
    await page.getByLabel("Primary metric").selectOption("conversion_rate");
    await page.getByRole("checkbox", { name: "Error rate (error_rate)" }).check();

    // From the keyboard: the checkbox after the guardrails opens the fieldset, Tab enters it.
    expect(await page.getByLabel("Steps (% of the audience)").count()).toBe(0);
    await page.getByRole("button", { name: "Add guardrail" }).focus();
    await page.keyboard.press("Tab");
    const toggle = await activeElement(page);
    expect([toggle.tag, toggle.name]).toEqual(["input", "Ramp the audience step by step"]);
    expectVisibleFocus(toggle);
    await page.keyboard.press("Space");
    await page.keyboard.press("Tab");
    const stepsFocus = await activeElement(page);
    expect([stepsFocus.tag, stepsFocus.name]).toEqual(["input", "Steps (% of the audience)"]);
    expectVisibleFocus(stepsFocus);
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.type("5, 5");
    await page.keyboard.press("Tab");
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.type("20");
    expect(await page.getByLabel("Minimum time on each step (minutes)").inputValue()).toBe("20");
    await page.getByLabel("Minimum exposures on each step", { exact: true }).fill("100");
    const add = await tabUntil(
      page,
      (el) => el.tag === "button" && el.name === "Add ramp threshold",
      "the Add ramp threshold button",
    );
    expectVisibleFocus(add);
    await page.keyboard.press("Enter");
    await page.getByLabel("Ramp threshold 1 metric").selectOption("error_rate");
    await page.getByLabel("Ramp threshold 1 direction").selectOption({
      label: "increase is bad (fails above)",
    });
    await page.getByLabel("Ramp threshold 1 value").fill("0.02");
    expect(
      await page
        .getByRole("checkbox", { name: "A sample ratio mismatch holds the ramp" })
        .isChecked(),
    ).toBe(true);
    await page.getByLabel("Maximum traffic skew (%)").fill("10");
    await page.getByLabel("Safety action").selectOption({
      label: "Step back one step and hold the ramp there (pause at the first step)",
    });
    await settled(page);
    await expectNoSeriousViolations("the experiment form with the ramp fieldset open");

    // The server refuses a step that does not go up; its error is at the steps field.
    await page.getByRole("button", { name: "Create draft" }).click();
    const steps = page.getByLabel("Steps (% of the audience)");
    await page.locator('[aria-invalid="true"]').first().waitFor();
    expect(await steps.getAttribute("aria-invalid")).toBe("true");
    const describedBy = ((await steps.getAttribute("aria-describedby")) ?? "")
      .split(/\s+/)
      .filter((x) => x !== "");
    const described = await Promise.all(
      describedBy.map((x) => page.locator(`[id="${x}"]`).innerText()),
    );
    expect(described.join(" ")).toContain(
      "experiment.ramp_plan.steps[1]: must be greater than the step before it (5)",
    );
    expect(await page.getByRole("alert").first().innerText()).toContain("ramp_plan.steps[1]");
    const { experiments } = await owner.experiments.listExperiments({ pageSize: 50 });
    expect(experiments.map((e) => e.name)).not.toContain(name);
    await expectNoSeriousViolations("the experiment form with an error at the ramp steps");

    await steps.fill("5, 25, 100");
    await page.getByRole("button", { name: "Create draft" }).click();
    await page.waitForURL((url) => /^\/console\/experiments\/[0-9a-f-]{36}$/.test(url.pathname));
    await untilHeading(page, name);
    const created = new URL(page.url()).pathname.split("/").pop()!;
    const { experiment } = await owner.experiments.getExperiment({ id: created });
    expect(experiment?.rampPlan).toEqual(
      create(RampPlanSchema, {
        steps: [5, 25, 100],
        gates: {
          minStepSeconds: 1200,
          minExposures: 100,
          minExposuresPerVariant: 500,
          thresholds: [
            { metricKey: "error_rate", threshold: 0.02, direction: Direction.INCREASE_IS_BAD },
          ],
          allowSrm: false,
          maxTrafficSkew: 0.1,
        },
        safetyAction: RampSafetyAction.STEP_BACK,
      }),
    );

    // Editing the draft opens the fieldset filled in.
    await page.goto(`${env.console}/experiments/${created}/edit`);
    await untilHeading(page, `Edit ${name}`);
    await settled(page);
    expect(
      await page.getByRole("checkbox", { name: "Ramp the audience step by step" }).isChecked(),
    ).toBe(true);
    expect(await page.getByLabel("Steps (% of the audience)").inputValue()).toBe("5, 25, 100");
    expect(await page.getByLabel("Minimum time on each step (minutes)").inputValue()).toBe("20");
    expect(await page.getByLabel("Maximum traffic skew (%)").inputValue()).toBe("10");
  });
});
