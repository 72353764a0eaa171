/**
 * `npm run demo`: loads a demo tenant into a running Lotty through its public
 * API (the Node client package only) and drives simulated members through it.
 *
 * The tenant is Stride, a fitness app's product team:
 *
 * - users in every role (admin, two experimenters, two approvers, a viewer and
 *   the workout backend as a service account), each with an API key printed
 *   once when the user is created, and a review policy per experimenter;
 * - event types `workout_completed`, `promo_click`, `purchase` (`amount`),
 *   `error` and `latency` (`ms`), and metrics over them;
 * - flags `workout_summary_layout`, `shoe_promo_banner`, `onboarding_checklist`
 *   and one per experiment below;
 * - experiment A (cards vs classic summary) with a clear winner, left RUNNING
 *   so its report stays live; experiment B (the promo banner) whose treatment
 *   is slow and fails, so its guardrail pauses it; experiment C waiting for
 *   its second approval (IN_REVIEW);
 * - four earlier experiments D–G (src/cli/demo/past.ts) completed with real
 *   traffic, their learnings written up by their owners except G's, so the
 *   learnings library, its search and "find similar" show something real;
 * - two experiments with a ramp plan (src/cli/demo/ramps.ts), moved by the
 *   server's autopilot while new members keep arriving: H (the workout share
 *   card) ramps cleanly 5 → 25 → 50 → 100 % (mode DONE); I (express
 *   checkout) advances once, then its treatment starts failing, its strict
 *   error-share threshold fails and the autopilot steps it back one level
 *   and holds it (its SAFETY_ACTION entry in ListRampEvents); the demo then
 *   reports where the ramp settled after the autopilot's next look. It waits
 *   for each (DemoOptions.rampTimeoutMs, default 120 s); the step time is
 *   DemoOptions.rampStepSeconds (default 10 s, for the server's default 5 s
 *   autopilot interval);
 * - the analytics of issue #21 (src/cli/demo/analytics.ts, notify.ts): the
 *   dimensions `country` and `platform`, declared before any traffic so every
 *   exposure records them; the saved segment `mobile` (`platform IN ["ios",
 *   "android"]`), which targets J and filters A's report (the guide prints
 *   A's results page with `?saved=mobile`); J (a weekly plan reminder in the
 *   mobile apps) whose new build loses half of the treatment's exposures, so
 *   the server's data-quality monitor raises a `data_quality.srm` alarm. J's
 *   traffic goes before H and I's ramps and the demo waits for the alarm
 *   after them (DemoOptions.dataQualityTimeoutMs, default 90 s: the monitor
 *   looks every 60 s by default);
 * - K (a shoe offer after a workout), whose primary metric is a strict
 *   funnel, workout_completed → promo_click (placement post_workout) →
 *   purchase within a day, with a first-week retention (days 1–7, every
 *   member still maturing for a week) as a secondary metric: its members'
 *   steps are sent a millisecond apart, so the results page shows a funnel
 *   chart per variant (docs/funnels.md);
 * - a webhook channel with two rules, made before any experiment moves: the
 *   alerts (guardrails, ramp safety actions and holds, data-quality alarms)
 *   and a daily digest at 08:00 UTC. The webhooks go to
 *   LOTTY_DEMO_WEBHOOK_URL when set; otherwise the demo receives them itself
 *   while it runs, on http://127.0.0.1:<LOTTY_DEMO_WEBHOOK_PORT, default
 *   8091>/stride-demo-webhook (so the server must run on the same machine),
 *   and at its end waits until the deliveries of its alerts are sent. After
 *   the run nothing listens there: later deliveries (the digest) end FAILED;
 * - a CSV export of A's raw events, started by A's owner and waited for; the
 *   guide prints how to download it.
 *
 * Every experiment goes through the real review flow with the right user's
 * key: the owner creates and submits, the approvers approve, the owner starts.
 *
 * Re-running is safe. Users are found by email, flags, event types and
 * metrics by key, experiments by flag and name, and reused. An experiment
 * already past its target stage (B paused, A completed, C approved …) is left
 * as it is; one short of it (a draft, a pending approval) is moved on. A
 * running A gets traffic only while its report has no subjects: the result is
 * already in, and more of the same simulation would only repeat it. B gets
 * traffic whenever it is RUNNING, since its guardrail looks at a trailing
 * window. H and I get members only while the autopilot still moves them
 * (RUNNING, ramp mode AUTO; I only until its safety action ran): a ramp that
 * is done, held, paused or steered by hand is left as it is and reported.
 * J and K get traffic only while RUNNING with an empty report, like A. Dimensions
 * and the saved segment are found by key; the channel by its name, which
 * carries a digest of its url (channels cannot be updated or deleted: the
 * same url reuses the channel and its rules, another url makes new ones);
 * the rules by name and channel. An export of A that is still downloadable
 * (or on its way) is reused; after 24 hours it has expired and a re-run
 * starts a new one.
 * Users created earlier act through a temporary key that is revoked at the
 * end of the run, so no keys pile up.
 *
 * This file is the entry point; the demo itself is in `demo/`: `tenant.ts`
 * (the tenant as data), `provisioning.ts` (users, keys, policies, catalog,
 * flags, experiments through review), `traffic.ts` (the simulated members),
 * `scenarios.ts` (A's winner, B's guardrail), `past.ts` and `learnings.ts`
 * (D–G and the library), `ramps.ts` and `autopilot.ts` (H and I's plans and
 * ramps), `analytics.ts` (dimensions, saved segment, J's alarm, K's funnel,
 * A's export),
 * `notify.ts` (the webhook channel, rules and receiver), `run.ts`
 * (`runDemo`), `guide.ts` (the printed guide), `summary.ts` (options and
 * results), `helpers.ts` and `proto.ts`.
 *
 * Environment: LOTTY_API_KEY (an admin's key, required), LOTTY_URL (default
 * http://127.0.0.1:8080), LOTTY_DEMO_WEBHOOK_URL (your receiver for the demo
 * channel; default the demo's own), LOTTY_DEMO_WEBHOOK_PORT (its own
 * receiver's port, default 8091).
 */
import { pathToFileURL } from "node:url";
import { Code, ConnectError } from "../../clients/node/src/index.js";
import { DEFAULT_URL } from "./demo/tenant.js";
import { DEFAULT_WEBHOOK_PORT } from "./demo/notify.js";
import { DemoError } from "./demo/summary.js";
import { runDemo } from "./demo/run.js";
import { guide } from "./demo/guide.js";

export { DEFAULT_WEBHOOK_PORT, ALERT_TRIGGERS, DIGEST_HOUR_UTC } from "./demo/notify.js";
export {
  DEFAULT_DATA_QUALITY_TIMEOUT_MS,
  DEFAULT_GUARDRAIL_TIMEOUT_MS,
  DEFAULT_RAMP_STEP_SECONDS,
  DEFAULT_RAMP_TIMEOUT_MS,
  DEFAULT_SUBJECTS,
  DEFAULT_URL,
  USERS,
} from "./demo/tenant.js";
export type { Handle, Label, RampLabel } from "./demo/tenant.js";
export { SAVED_SEGMENTS, DIMENSIONS } from "./demo/tenant.js";
export { DemoError } from "./demo/summary.js";
export type {
  DemoExperiment,
  DemoOptions,
  DemoRampExperiment,
  DemoSummary,
  DemoUser,
  RampHighlights,
  RampMoveHighlights,
  Traffic,
  TriggerHighlights,
  WinnerHighlights,
} from "./demo/summary.js";
export { runDemo } from "./demo/run.js";
export { guide } from "./demo/guide.js";

async function main(): Promise<number> {
  const apiKey = process.env.LOTTY_API_KEY?.trim() ?? "";
  if (apiKey === "") {
    console.error(
      "demo: LOTTY_API_KEY is not set. Set it to an admin's API key (the key printed at " +
        "Lotty's first start, or LOTTY_BOOTSTRAP_ADMIN_KEY), e.g. LOTTY_API_KEY=lotty_… npm run demo",
    );
    return 2;
  }
  const baseUrl = process.env.LOTTY_URL?.trim() || DEFAULT_URL;
  const webhookUrl = process.env.LOTTY_DEMO_WEBHOOK_URL?.trim() || undefined;
  const portText = process.env.LOTTY_DEMO_WEBHOOK_PORT?.trim() || String(DEFAULT_WEBHOOK_PORT);
  const webhookPort = Number(portText);
  if (!Number.isInteger(webhookPort) || webhookPort < 1 || webhookPort > 65_535) {
    console.error(
      `demo: LOTTY_DEMO_WEBHOOK_PORT must be a port number (1–65535), not "${portText}"`,
    );
    return 2;
  }
  try {
    const summary = await runDemo({ baseUrl, apiKey, webhookUrl, webhookPort });
    process.stdout.write(`${guide(summary).join("\n")}\n`);
    return 0;
  } catch (error) {
    if (error instanceof DemoError) {
      console.error(`demo: ${error.message}`);
      return 2;
    }
    const failure = ConnectError.from(error);
    console.error(`demo failed: ${failure.message}`);
    if (failure.code === Code.Unauthenticated) {
      console.error("Check LOTTY_API_KEY: the server does not know this key.");
    } else if (failure.code === Code.Unavailable || failure.code === Code.DeadlineExceeded) {
      console.error(`Is Lotty running at ${baseUrl}? Set LOTTY_URL to point elsewhere.`);
    }
    return 1;
  }
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
