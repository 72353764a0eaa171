/**
 * The learnings library's scenario: the team's earlier experiments D–G
 * (past.ts), started through review by run.ts, are run with simulated
 * members, completed by their owners (the server records each learning
 * then), and written up with UpsertLearning — all but G, left for "needs
 * writing up". Afterwards the library is queried for the guide.
 */
import type { LottyClient } from "../../../clients/node/src/index.js";
import { ExperimentStatus, Outcome, type Experiment, type Learning, type Report } from "./proto.js";
import { REPORT_TIMEOUT_MS, USERS } from "./tenant.js";
import type { DemoPastExperiment, DemoSummary, LibraryHighlights, Traffic } from "./summary.js";
import { type Run, required, poll, statusName } from "./helpers.js";
import { actAs, describeExperiment } from "./provisioning.js";
import { sendTraffic } from "./traffic.js";
import type { PastPlan } from "./past.js";

async function reportOf(reader: LottyClient, experimentId: string): Promise<Report> {
  return required((await reader.reports.getExperimentReport({ experimentId })).report, "a report");
}

/** Whether the report counts every exposure and every member with the primary event. */
function reportShows(report: Report, traffic: Traffic, primaryEvent: string): boolean {
  if ((report.dataHealth?.pendingAttributionEvents ?? 0) > 0) return false;
  return Object.entries(traffic.exposed).every(([variantKey, exposed]) => {
    const v = report.variants.find((r) => r.variantKey === variantKey);
    const primary = v?.metrics.find((m) => m.metricKey === report.primaryMetricKey);
    const converted = traffic.members[variantKey]?.[primaryEvent] ?? 0;
    return (
      v !== undefined &&
      primary !== undefined &&
      v.subjects === exposed &&
      v.exposures === traffic.events[variantKey]?.exposure &&
      Math.round(primary.value * v.subjects) === converted
    );
  });
}

/** Sends the plan's members through a running experiment and waits until its report has them. */
async function simulate(
  run: Run,
  plan: PastPlan,
  experiment: Experiment,
  subjects: number,
  summary: DemoSummary,
): Promise<void> {
  if ((await reportOf(run.admin, experiment.id)).subjects > 0) {
    run.log(`  ${plan.label} already has members in its report: no new traffic`);
    return;
  }
  const traffic = await sendTraffic(run, experiment, subjects, plan.behaviour);
  summary.traffic[plan.label] = traffic;
  const shown = await poll(
    async () =>
      reportShows(await reportOf(run.admin, experiment.id), traffic, plan.primaryEvent)
        ? true
        : undefined,
    REPORT_TIMEOUT_MS,
    250,
  );
  if (shown === undefined) run.log("  the report does not show every event yet");
}

/** Waits for the guardrail monitor to pause a guarded experiment. */
async function untilPaused(
  run: Run,
  experiment: Experiment,
  timeoutMs: number,
): Promise<Experiment> {
  run.log(`  waiting up to ${Math.round(timeoutMs / 1000)} s for the guardrail …`);
  const paused = await poll(async () => {
    const { experiment: e } = await run.admin.experiments.getExperiment({ id: experiment.id });
    return e?.status === ExperimentStatus.PAUSED ? e : undefined;
  }, timeoutMs);
  if (paused === undefined) run.log("  not paused: its learning will show no guardrail fired");
  else run.log("  paused by its guardrail");
  return paused ?? experiment;
}

/** The owner's write-up of a completed experiment's learning, unless it is written up already. */
async function writeUp(run: Run, plan: PastPlan, experiment: Experiment): Promise<Learning> {
  const label = `learning of experiment ${plan.label}`;
  const current = required(
    (await run.admin.learnings.getLearning({ experimentId: experiment.id })).learning,
    "a learning",
  );
  const w = plan.writeUp;
  if (w === undefined || current.filled) {
    if (current.filled) run.reused.push(label);
    return current;
  }
  const { learnings } = await actAs(run, plan.owner);
  const { learning } = await learnings.upsertLearning({
    learning: {
      experimentId: experiment.id,
      // Kept as recorded: the hypothesis, the result (the outcome report's figures) and context.
      hypothesis: current.hypothesis,
      result: current.result,
      countries: current.countries,
      versions: current.versions,
      notes: w.notes.join("\n"),
      action: w.action,
      tags: w.tags,
      plannedDays: w.plannedDays,
      platforms: w.platforms,
      links: w.links,
    },
    expectedVersion: current.version,
  });
  run.created.push(label);
  run.log(`  ${label} written up by ${USERS[plan.owner].email}`);
  return required(learning, "a learning");
}

/**
 * Takes one earlier experiment to COMPLETED (traffic, and its guardrail when
 * it has one) once ensureExperiment has started it, and writes its learning
 * up. Idempotent: a completed experiment gets no traffic, a written-up
 * learning no edit.
 */
export async function finishPast(
  run: Run,
  plan: PastPlan,
  ensured: { experiment: Experiment; created: boolean },
  subjects: number,
  guardrailTimeoutMs: number,
  summary: DemoSummary,
): Promise<DemoPastExperiment> {
  let experiment = ensured.experiment;
  if (experiment.status === ExperimentStatus.RUNNING) {
    await simulate(run, plan, experiment, subjects, summary);
    if (plan.guarded) experiment = await untilPaused(run, experiment, guardrailTimeoutMs);
  }
  if (
    experiment.status === ExperimentStatus.RUNNING ||
    experiment.status === ExperimentStatus.PAUSED
  ) {
    const { experiments } = await actAs(run, plan.owner);
    const answer = await experiments.completeExperiment({ id: experiment.id, ...plan.completion });
    experiment = required(answer.experiment, "an experiment");
    run.log(
      `  experiment ${plan.label} completed by ${USERS[plan.owner].email}: ` +
        `${Outcome[experiment.outcome] ?? experiment.outcome}`,
    );
  }
  const completed =
    experiment.status === ExperimentStatus.COMPLETED ||
    experiment.status === ExperimentStatus.ARCHIVED;
  if (!completed) run.log(`  ${plan.label} is ${statusName(experiment.status)}: left as it is`);
  const learning = completed ? await writeUp(run, plan, experiment) : undefined;
  return {
    ...describeExperiment(plan, experiment, ensured.created),
    outcome: completed ? `OUTCOME_${Outcome[experiment.outcome]}` : "",
    writtenUp: learning?.filled ?? false,
    firedGuardrails: [...(learning?.firedGuardrailMetricKeys ?? [])],
  };
}

/** Counts of the library after the run, and the learnings similar to experiment C. */
export async function libraryHighlights(run: Run, experimentC: string): Promise<LibraryHighlights> {
  const { learnings } = run.admin;
  const count = async (filter: { needsWritingUp?: boolean; guardrailFired?: boolean }) =>
    (await learnings.searchLearnings({ ...filter, pageSize: 1 })).totalSize;
  const [writtenUp, needsWritingUp, guardrailFired, similar] = await Promise.all([
    count({ needsWritingUp: false }),
    count({ needsWritingUp: true }),
    count({ guardrailFired: true }),
    learnings.findSimilar({ experimentId: experimentC, limit: 3 }),
  ]);
  return {
    writtenUp,
    needsWritingUp,
    guardrailFired,
    similarToC: similar.similar.map((m) => ({
      experimentId: m.learning?.experimentId ?? "",
      name: m.learning?.experimentName ?? "",
      score: m.score,
      reasons: [...m.reasons],
    })),
  };
}
