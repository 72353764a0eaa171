/**
 * One demo run: the tenant, then each experiment's scenario.
 */
import { createLottyClient } from "../../../clients/node/src/index.js";
import {
  DEFAULT_SUBJECTS,
  DEFAULT_GUARDRAIL_TIMEOUT_MS,
  EVENT_TYPES,
  METRICS,
  FLAGS,
  type Label,
  EXPERIMENTS,
} from "./tenant.js";
import type { DemoOptions, DemoExperiment, DemoSummary } from "./summary.js";
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
  try {
    const newApiKeys: DemoSummary["newApiKeys"] = [];
    const users = await ensureUsers(run, newApiKeys);
    await ensureReviewPolicies(run, users);
    await ensureCatalog(run);
    await ensureFlags(run);
    const summary: DemoSummary = {
      baseUrl: options.baseUrl,
      users,
      newApiKeys,
      eventTypes: EVENT_TYPES.map((e) => e.key ?? ""),
      metrics: METRICS.map((m) => m.key ?? ""),
      flags: FLAGS.map((f) => f.key),
      experiments: {} as Record<Label, DemoExperiment>,
      traffic: {},
      created: run.created,
      reused: run.reused,
    };
    for (const plan of Object.values(EXPERIMENTS)) {
      log(`Experiment ${plan.label}: ${plan.spec.name}`);
      const ensured = await ensureExperiment(run, plan);
      let experiment = ensured.experiment;
      if (plan.label === "A") await runWinner(run, experiment, subjects, summary);
      if (plan.label === "B") {
        experiment = await runGuardrail(
          run,
          experiment,
          Math.max(200, Math.ceil(subjects / 2)),
          options.guardrailTimeoutMs ?? DEFAULT_GUARDRAIL_TIMEOUT_MS,
          summary,
        );
      }
      summary.experiments[plan.label] = describeExperiment(plan, experiment, ensured.created);
    }
    return summary;
  } finally {
    await revokeRunKeys(run);
  }
}
