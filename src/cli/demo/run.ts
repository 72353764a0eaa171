/**
 * One demo run: the tenant (with its dimensions, saved segment, webhook
 * channel and rules), the earlier experiments D–G completed for the
 * learnings library, each of A, B and C's scenario, J's lost exposures and
 * K's funnel, then H and I ramped by the autopilot side by side; then J's
 * data-quality alarm, A's event export and saved-segment view, and the
 * deliveries.
 */
import { createLottyClient } from "../../../clients/node/src/index.js";
import {
  DEFAULT_SUBJECTS,
  DEFAULT_GUARDRAIL_TIMEOUT_MS,
  DEFAULT_RAMP_STEP_SECONDS,
  DEFAULT_RAMP_TIMEOUT_MS,
  DEFAULT_DATA_QUALITY_TIMEOUT_MS,
  EVENT_TYPES,
  METRICS,
  FLAGS,
  type Label,
  type PastLabel,
  type RampLabel,
  EXPERIMENTS,
} from "./tenant.js";
import type {
  DemoOptions,
  DemoExperiment,
  DemoPastExperiment,
  DemoRampExperiment,
  DemoSummary,
} from "./summary.js";
import type { Run } from "./helpers.js";
import {
  checkAdmin,
  ensureUsers,
  revokeRunKeys,
  ensureReviewPolicies,
  ensureCatalog,
  ensureFlags,
  ensureExperiment,
  describeExperiment,
} from "./provisioning.js";
import { runWinner, runGuardrail } from "./scenarios.js";
import { PAST_EXPERIMENTS } from "./past.js";
import { finishPast, libraryHighlights } from "./learnings.js";
import { rampExperiments } from "./ramps.js";
import { runCleanRamp, runSteppedBack } from "./autopilot.js";
import {
  awaitExport,
  awaitSrmAlarm,
  ensureDimensions,
  ensureSavedSegments,
  runFunnel,
  runSrm,
  savedSegmentHighlights,
  startExport,
} from "./analytics.js";
import {
  DEFAULT_WEBHOOK_PORT,
  finishNotifications,
  startNotifications,
  type Notifications,
} from "./notify.js";

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const log = options.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const subjects = options.subjects ?? DEFAULT_SUBJECTS;
  const run: Run = {
    baseUrl: options.baseUrl,
    admin: createLottyClient({ baseUrl: options.baseUrl, apiKey: options.apiKey }),
    log,
    created: [],
    reused: [],
    userIds: new Map(),
    personalKeys: new Map(),
    clients: new Map(),
    runKeys: [],
  };
  await checkAdmin(run.admin);
  log(`Loading the Stride demo tenant into ${options.baseUrl}`);
  let notifications: Notifications | undefined;
  try {
    const newApiKeys: DemoSummary["newApiKeys"] = [];
    const users = await ensureUsers(run, newApiKeys);
    await ensureReviewPolicies(run, users);
    await ensureCatalog(run);
    await ensureDimensions(run);
    await ensureSavedSegments(run);
    await ensureFlags(run);
    // Before any experiment moves, so that the demo's own alerts are delivered.
    notifications = await startNotifications(
      run,
      options.webhookUrl,
      options.webhookPort ?? DEFAULT_WEBHOOK_PORT,
    );
    const summary: DemoSummary = {
      baseUrl: options.baseUrl,
      users,
      newApiKeys,
      eventTypes: EVENT_TYPES.map((e) => e.key ?? ""),
      metrics: METRICS.map((m) => m.key ?? ""),
      flags: FLAGS.map((f) => f.key),
      experiments: {} as Record<Label, DemoExperiment>,
      past: {} as Record<PastLabel, DemoPastExperiment>,
      ramps: {} as Record<RampLabel, DemoRampExperiment>,
      traffic: {},
      created: run.created,
      reused: run.reused,
    };
    const guardrailTimeoutMs = options.guardrailTimeoutMs ?? DEFAULT_GUARDRAIL_TIMEOUT_MS;
    // The team's earlier experiments first: started through review one by one, then
    // simulated, completed and (but for G) written up side by side, each logging in turn.
    const past = [];
    for (const plan of Object.values(PAST_EXPERIMENTS)) {
      log(`Earlier experiment ${plan.label}: ${plan.spec.name}`);
      past.push({ plan, ensured: await ensureExperiment(run, plan), lines: [] as string[] });
    }
    log("Earlier experiments D–G: traffic, completion and write-up, side by side");
    const settled = await Promise.allSettled(
      past.map(async ({ plan, ensured, lines }) => {
        const own: Run = { ...run, log: (line) => lines.push(line) };
        summary.past[plan.label] = await finishPast(
          own,
          plan,
          ensured,
          Math.max(300, Math.ceil(subjects / 4)),
          guardrailTimeoutMs,
          summary,
        );
      }),
    );
    for (const { plan, lines } of past) {
      log(`${plan.label}: ${plan.spec.name}`);
      lines.forEach((line) => log(line));
    }
    const failed = settled.find((r) => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    let exportOfA: Awaited<ReturnType<typeof startExport>>;
    for (const plan of Object.values(EXPERIMENTS)) {
      log(`Experiment ${plan.label}: ${plan.spec.name}`);
      const ensured = await ensureExperiment(run, plan);
      let experiment = ensured.experiment;
      if (plan.label === "A") {
        await runWinner(run, experiment, subjects, summary);
        // Written by the server's workers while the demo goes on.
        exportOfA = await startExport(run, experiment);
      }
      if (plan.label === "B") {
        experiment = await runGuardrail(
          run,
          experiment,
          Math.max(200, Math.ceil(subjects / 2)),
          guardrailTimeoutMs,
          summary,
        );
      }
      summary.experiments[plan.label] = describeExperiment(plan, experiment, ensured.created);
    }
    // J's traffic before the ramps: the data-quality monitor (every 60 s by
    // default) finds its mismatch while H and I ramp.
    const j = await runSrm(run, subjects, summary);
    await runFunnel(run, subjects, summary);
    // H and I: started through review one by one, then ramped by the server's autopilot
    // side by side while their members arrive, each logging in turn.
    const rampTimeoutMs = options.rampTimeoutMs ?? DEFAULT_RAMP_TIMEOUT_MS;
    const ramps = [];
    for (const plan of Object.values(
      rampExperiments(options.rampStepSeconds ?? DEFAULT_RAMP_STEP_SECONDS),
    )) {
      log(`Experiment ${plan.label}: ${plan.spec.name}`);
      ramps.push({ plan, ensured: await ensureExperiment(run, plan), lines: [] as string[] });
    }
    log(
      "Experiments H and I: the autopilot ramps them, side by side (up to " +
        `${Math.round(rampTimeoutMs / 1000)} s; what happened follows when both are through)`,
    );
    const ramped = await Promise.allSettled(
      ramps.map(async ({ plan, ensured, lines }) => {
        const own: Run = { ...run, log: (line) => lines.push(line) };
        const scenario = plan.label === "H" ? runCleanRamp : runSteppedBack;
        summary.ramps[plan.label] = await scenario(own, plan, ensured, rampTimeoutMs, summary);
      }),
    );
    for (const { plan, lines } of ramps) {
      log(`${plan.label}: ${plan.spec.name}`);
      lines.forEach((line) => log(line));
    }
    const rampFailed = ramped.find((r) => r.status === "rejected");
    if (rampFailed !== undefined) throw rampFailed.reason;
    await awaitSrmAlarm(
      run,
      j,
      options.dataQualityTimeoutMs ?? DEFAULT_DATA_QUALITY_TIMEOUT_MS,
      summary,
    );
    log("Experiment A: its saved-segment view and its raw events");
    summary.savedSegment = await savedSegmentHighlights(run, summary.experiments.A.id);
    if (exportOfA !== undefined) await awaitExport(run, exportOfA, summary);
    log("Notifications: the deliveries of this run's alerts");
    await finishNotifications(run, notifications, summary);
    summary.library = await libraryHighlights(run, summary.experiments.C.id);
    return summary;
  } finally {
    await notifications?.close();
    await revokeRunKeys(run);
  }
}
