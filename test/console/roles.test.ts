/**
 * The console per role, in a real browser: signing in with each role's key
 * shows who is signed in and with which roles; each role sees the actions it
 * may take and a viewer sees none anywhere. A bad key is refused with an
 * alert; signing out forgets the key, so a deep link reloaded afterwards
 * lands on sign-in; the key never appears in a URL.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { Page } from "playwright-core";
import type { Experiment } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { AccessService } from "../../gen/lotty/access/v1/access_pb.js";
import { client } from "../support/clients.js";
import {
  LIFECYCLE_BUTTONS,
  newPage,
  settled,
  storedText,
  Role,
  signIn,
  startConsole,
  untilHeading,
  userOf,
  type ConsoleEnv,
} from "./support.js";
import { experimentIn } from "../support/builders.js";

let env: ConsoleEnv;
let users: Record<"admin" | "experimenter" | "approver" | "viewer", { key: string; name: string }>;
let inReview: Experiment;
let running: Experiment;

beforeAll(async () => {
  env = await startConsole();
  const { t } = env;
  const [experimenter, approver, viewer] = await Promise.all([
    userOf(t, Role.EXPERIMENTER),
    userOf(t, Role.APPROVER),
    userOf(t, Role.VIEWER),
  ]);
  const { user: admin } = await client(AccessService, t.baseUrl, t.adminKey).getCurrentUser({});
  users = {
    admin: { key: t.adminKey, name: admin!.displayName },
    experimenter,
    approver,
    viewer,
  };
  const team = { owner: experimenter, approver };
  [inReview, running] = await Promise.all([
    experimentIn(t, team, "in_review", { overrides: { name: "Reviewed checkout" } }),
    experimentIn(t, team, "running", { overrides: { name: "Running checkout" } }),
  ]);
}, 60_000);

afterAll(async () => {
  await env?.stop();
});

/** Names of the visible buttons and links on the page whose name is in `names`. */
async function visibleActions(page: Page, names: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const name of names) {
    for (const role of ["button", "link"] as const) {
      const n = await page.getByRole(role, { name, exact: true }).count();
      if (n > 0) found.push(`${role} "${name}"`);
    }
  }
  return found;
}

/** Opens an experiment's page and waits for its heading (the experiment's name). */
async function openExperiment(page: Page, e: Experiment): Promise<void> {
  await page.goto(`${env.console}/experiments/${e.id}`);
  await untilHeading(page, e.name);
  // Let the page finish loading whatever decides its buttons.
  await settled(page);
}

async function openList(page: Page, path: string, heading: string): Promise<void> {
  await page.goto(`${env.console}${path}`);
  await untilHeading(page, heading);
  await settled(page);
}

describe("signing in", () => {
  it("refuses a bad key with an alert and stays on sign-in", async () => {
    const { context, page } = await newPage(env);
    try {
      await page.goto(`${env.console}/sign-in`);
      await page.getByLabel("API key").fill("lotty_not_a_real_key");
      await page.getByRole("button", { name: "Sign in" }).click();
      const alert = page.getByRole("alert");
      await alert.waitFor();
      expect((await alert.innerText()).trim()).not.toBe("");
      expect(new URL(page.url()).pathname).toBe("/console/sign-in");
      expect(page.url()).not.toContain("lotty_not_a_real_key");
    } finally {
      await context.close();
    }
  });

  it("after signing in, a next= that points outside the console goes to the experiments instead", async () => {
    const { context, page } = await newPage(env);
    const problems: string[] = [];
    try {
      // A backslash counts as a slash in browsers: "/\\host" is another origin too.
      for (const next of ["//example.com/x", "https://example.com/x", "/\\example.com/x"]) {
        await page.goto(`${env.console}/sign-in?next=${encodeURIComponent(next)}`);
        await page.getByLabel("API key").fill(users.viewer.key);
        await page.getByRole("button", { name: "Sign in" }).click();
        try {
          await page.waitForURL((url) => url.pathname === "/console/experiments", {
            waitUntil: "commit",
            timeout: 5_000,
          });
          expect(new URL(page.url()).origin).toBe(env.t.baseUrl);
        } catch {
          const alerts = await page.getByRole("alert").allInnerTexts();
          problems.push(`next=${next}: stayed at ${page.url()} showing ${JSON.stringify(alerts)}`);
          continue;
        }
        await page.getByRole("button", { name: "Sign out" }).click();
        await page.waitForURL((url) => url.pathname === "/console/sign-in");
      }
    } finally {
      await context.close();
    }
    expect(problems).toEqual([]);
  });

  const ROLE_NAMES = {
    admin: "admin",
    experimenter: "experimenter",
    approver: "approver",
    viewer: "viewer",
  };

  it.each(Object.keys(ROLE_NAMES) as (keyof typeof ROLE_NAMES)[])(
    "as %s: the header shows the name and roles; only allowed actions are offered",
    async (role) => {
      const { context, page } = await newPage(env);
      try {
        await signIn(env, page, users[role].key);
        const header = page.getByRole("banner");
        await header.getByText(users[role].name).waitFor();
        expect(await header.innerText()).toContain(ROLE_NAMES[role]);
        await header.getByRole("button", { name: "Sign out" }).waitFor();
        for (const link of [
          "Experiments",
          "Flags",
          "Catalog",
          "Guardrail triggers",
          "Notifications",
          "Data quality",
        ]) {
          expect(await page.getByRole("link", { name: link, exact: true }).count()).toBe(1);
        }

        await openList(page, "/experiments", "Experiments");
        const creates = await visibleActions(page, ["New experiment"]);
        expect(creates).toEqual(
          role === "admin" || role === "experimenter"
            ? [expect.stringContaining("New experiment")]
            : [],
        );

        await openExperiment(page, inReview);
        const reviewActions = await visibleActions(page, LIFECYCLE_BUTTONS);
        await openExperiment(page, running);
        const runningActions = await visibleActions(page, LIFECYCLE_BUTTONS);
        await openList(page, "/flags", "Flags");
        const flagActions = await visibleActions(page, ["New flag"]);
        await openList(page, "/catalog", "Catalog");
        const catalogButtons = await page
          .getByRole("button", { name: /^(New|Create|Add|Archive|Edit)\b/ })
          .allInnerTexts();
        const catalogLinks = await page
          .getByRole("link", { name: /^(New|Create|Add)\b/ })
          .allInnerTexts();

        if (role === "viewer") {
          expect({
            reviewActions,
            runningActions,
            flagActions,
            catalogButtons,
            catalogLinks,
          }).toEqual({
            reviewActions: [],
            runningActions: [],
            flagActions: [],
            catalogButtons: [],
            catalogLinks: [],
          });
        } else {
          const names = (found: string[]) => found.map((f) => f.replace(/^\w+ "(.*)"$/, "$1"));
          if (role === "approver") {
            expect(names(reviewActions)).toEqual(
              expect.arrayContaining(["Approve", "Request changes", "Reject"]),
            );
            expect(names(runningActions)).not.toEqual(expect.arrayContaining(["Pause"]));
            expect(flagActions).toEqual([]);
          } else {
            // The owner and admins manage a running experiment.
            expect(names(runningActions)).toEqual(expect.arrayContaining(["Pause", "Complete"]));
            expect(names(flagActions)).toEqual(["New flag"]);
          }
          if (role === "experimenter") {
            // Nobody reviews their own experiment.
            expect(names(reviewActions)).not.toContain("Approve");
          }
        }
      } finally {
        await context.close();
      }
    },
  );
});

describe("a viewer", () => {
  /** Names of controls that change something; a viewer may see none of them. */
  const ACTION =
    /^(New|Create|Add|Edit|Save|Archive|Unarchive|Restore|Delete|Remove|Submit|Approve|Request changes|Reject|Rework|Start|Pause|Resume|Complete|Retry|Resend|Send|Test|Acknowledge)\b/;

  it("sees no action button or link on any page", async () => {
    const { context, page } = await newPage(env);
    try {
      await signIn(env, page, users.viewer.key);
      const flagKey = running.flagKey;
      const pages: [string, string][] = [
        ["/experiments", "Experiments"],
        [`/experiments/${inReview.id}`, inReview.name],
        [`/experiments/${running.id}`, running.name],
        [`/experiments/${running.id}?tab=versions`, running.name],
        [`/experiments/${running.id}?tab=history`, running.name],
        [`/experiments/${running.id}/results`, running.name],
        ["/flags", "Flags"],
        [`/flags/${flagKey}`, `Flag ${flagKey}`],
        ["/catalog", "Catalog"],
        ["/catalog/metrics/conversion_rate", "Metric conversion_rate"],
        ["/catalog/event-types/conversion", "Event type conversion"],
        ["/triggers", "Guardrail triggers"],
        ["/notifications", "Notifications"],
        ["/data-quality", "Data quality"],
      ];
      const found: string[] = [];
      for (const [where, heading] of pages) {
        await openList(page, where, heading);
        for (const role of ["button", "link"] as const) {
          const controls = page.getByRole(role, { name: ACTION });
          for (const name of await controls.allInnerTexts())
            found.push(`${where}: ${role} "${name.trim()}"`);
        }
      }
      expect(found).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe("signing out", () => {
  it("forgets the key: a deep link reloaded afterwards lands on sign-in; the key is never in a URL", async () => {
    const { context, page } = await newPage(env);
    const urls: string[] = [];
    page.on("framenavigated", (frame) => urls.push(frame.url()));
    page.on("request", (request) => urls.push(request.url()));
    try {
      const key = users.experimenter.key;
      const deep = "/experiments?status=running&q=Running";
      // A deep link first goes to sign-in and comes back to the same view after it.
      await signIn(env, page, key, deep, /\/experiments$/);
      expect(new URL(page.url()).searchParams.get("status")).toBe("running");
      await page.reload();
      await page.getByRole("link", { name: running.name }).waitFor();
      expect(new URL(page.url()).search).toBe("?status=running&q=Running");

      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL((url) => url.pathname === "/console/sign-in");
      expect(await storedText(page)).not.toContain(key);
      await page.goto(`${env.console}${deep}`);
      await page.waitForURL((url) => url.pathname === "/console/sign-in");
      await page.getByLabel("API key").waitFor();
      expect(await page.getByLabel("API key").inputValue()).toBe("");
      await page.reload();
      await page.waitForURL((url) => url.pathname === "/console/sign-in");
      // Going back through the history shows nothing signed-in either.
      await page.goBack();
      await page.waitForURL((url) => url.pathname === "/console/sign-in");
      expect(await page.getByRole("button", { name: "Sign out" }).count()).toBe(0);
      // Nothing the page loaded or went to carried the key.
      expect(urls.length).toBeGreaterThan(3);
      expect(urls.filter((u) => u.includes(key) || u.includes(encodeURIComponent(key)))).toEqual(
        [],
      );
    } finally {
      await context.close();
    }
  });
});
