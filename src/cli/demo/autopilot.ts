/**
 * The autopilot's scenarios (ramps.ts has the plans): new members keep
 * arriving while the server's autopilot evaluates each step's gates.
 *
 * - H (a clean ramp): members arrive until the autopilot has taken it to its
 *   last step (mode DONE).
 * - I (stepped back): healthy members until the autopilot has advanced once,
 *   then the treatment fails, the error-share threshold fails and the
 *   autopilot runs the plan's safety action: one step down, mode HOLD. The
 *   demo waits for that SAFETY_ACTION entry, then stops the members.
 *
 * Idempotent: only an experiment still under the autopilot (RUNNING, mode
 * AUTO) gets members; one done, held, paused or stepped back already is left
 * as it is and only reported.
 */
import { timestampDate, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  ExperimentStatus,
  RampEventKind,
  RampMode,
  RampSafetyAction,
  type Experiment,
  type RampEvent,
} from "./proto.js";
import type { ExperimentPlan, RampLabel } from "./tenant.js";
import type {
  DemoRampExperiment,
  DemoSummary,
  RampHighlights,
  RampMoveHighlights,
} from "./summary.js";
import { type Run, poll, required, statusName } from "./helpers.js";
import { describeExperiment } from "./provisioning.js";
import {
  ARRIVALS,
  type Arrivals,
  type Behaviour,
  expressCheckoutBehaviour,
  shareCardBehaviour,
  startArrivals,
} from "./traffic.js";

export const modeName = (mode: RampMode) => `RAMP_MODE_${RampMode[mode] ?? mode}`;
const kindName = (kind: RampEventKind) => `RAMP_EVENT_KIND_${RampEventKind[kind] ?? kind}`;
const actionName = (action: RampSafetyAction) =>
  action === RampSafetyAction.UNSPECIFIED
    ? ""
    : `RAMP_SAFETY_ACTION_${RampSafetyAction[action] ?? action}`;

/** Still moved by the autopilot: running, with the ramp in mode AUTO. */
const underAutopilot = (e: Experiment) =>
  e.status === ExperimentStatus.RUNNING && e.ramp?.mode === RampMode.AUTO;

async function read(run: Run, id: string): Promise<Experiment> {
  return required((await run.admin.experiments.getExperiment({ id })).experiment, "an experiment");
}

async function rampEvents(run: Run, id: string): Promise<RampEvent[]> {
  return (await run.admin.experiments.listRampEvents({ id })).events;
}

/**
 * Runs `work` while the members arrive, then stops them and records what
 * they sent; fails as soon as `work` or the arrivals do.
 */
async function whileArriving<T>(
  arrivals: Arrivals,
  label: RampLabel,
  summary: DemoSummary,
  work: () => Promise<T>,
): Promise<T> {
  let result: T;
  try {
    // The arrivals end early only by failing: never resolves the race otherwise.
    const failed = arrivals.ended.then(() => new Promise<never>(() => {}));
    result = await Promise.race([work(), failed]);
  } catch (error) {
    await arrivals.stop().catch(() => {});
    throw error;
  }
  summary.traffic[label] = await arrivals.stop();
  return result;
}

async function arrive(run: Run, experiment: Experiment, behaviour: Behaviour): Promise<Arrivals> {
  const arrivals = await startArrivals(run, experiment, behaviour);
  const perSecond = Math.round((ARRIVALS.entering * 1000) / ARRIVALS.tickMs);
  run.log(
    `  new members keep arriving on ${experiment.flagKey} as the workout backend: about ` +
      `${perSecond} a second enter the experiment, wherever its ramp stands …`,
  );
  return arrivals;
}

function describeLeft(label: RampLabel, e: Experiment): string {
  return (
    `  ${label} is ${statusName(e.status)}` +
    (e.ramp === undefined ? "" : `, its ramp ${modeName(e.ramp.mode)} at ${e.ramp.stepPercent} %`) +
    ": left as it is, no traffic sent"
  );
}

/** H: members arrive until the autopilot has moved it to its last step. */
export async function runCleanRamp(
  run: Run,
  plan: ExperimentPlan<RampLabel>,
  ensured: { experiment: Experiment; created: boolean },
  timeoutMs: number,
  summary: DemoSummary,
): Promise<DemoRampExperiment> {
  let current = ensured.experiment;
  if (underAutopilot(current)) {
    const arrivals = await arrive(run, current, shareCardBehaviour);
    run.log(`  waiting up to ${Math.round(timeoutMs / 1000)} s for the autopilot to ramp it up …`);
    const settled = await whileArriving(arrivals, plan.label, summary, () =>
      poll(async () => {
        current = await read(run, current.id);
        return underAutopilot(current) ? undefined : current;
      }, timeoutMs),
    );
    if (settled === undefined) {
      run.log(
        `  still at ${current.ramp?.stepPercent ?? "?"} %: the autopilot may be behind; ` +
          "list its ramp events later",
      );
    }
  } else {
    run.log(describeLeft(plan.label, current));
  }
  return report(run, plan, current, ensured.created);
}

/**
 * I: healthy members until the autopilot has advanced once, then failing
 * ones until it runs the safety action (its SAFETY_ACTION entry).
 */
export async function runSteppedBack(
  run: Run,
  plan: ExperimentPlan<RampLabel>,
  ensured: { experiment: Experiment; created: boolean },
  timeoutMs: number,
  summary: DemoSummary,
): Promise<DemoRampExperiment> {
  let current = ensured.experiment;
  const history = underAutopilot(current) ? await rampEvents(run, current.id) : [];
  const safetyRan = history.some((e) => e.kind === RampEventKind.SAFETY_ACTION);
  if (underAutopilot(current) && !safetyRan) {
    // Once it has advanced (an earlier run got that far), the treatment fails at once.
    let failing = history.some((e) => e.kind === RampEventKind.ADVANCED);
    const arrivals = await arrive(
      run,
      current,
      expressCheckoutBehaviour(() => failing),
    );
    run.log(
      failing
        ? "  it advanced before: its payment provider fails from the start"
        : `  healthy until the autopilot advances (up to ${Math.round(timeoutMs / 1000)} s) …`,
    );
    // Until the autopilot leaves AUTO: then its history has the SAFETY_ACTION entry (or
    // the ramp ended, or somebody else steered it meanwhile).
    const events = await whileArriving(arrivals, plan.label, summary, () =>
      poll(
        async () => {
          current = await read(run, current.id);
          if (!underAutopilot(current)) return rampEvents(run, current.id);
          if (!failing && (current.ramp?.stepIndex ?? 0) > 0) {
            failing = true;
            run.log(
              `  the autopilot advanced to ${current.ramp?.stepPercent} %: now the express ` +
                "checkout's payment provider times out for most members who get it …",
            );
          }
          return undefined;
        },
        timeoutMs,
        200,
      ),
    );
    const safety = events?.find((e) => e.kind === RampEventKind.SAFETY_ACTION);
    if (safety === undefined) {
      run.log(
        `  no safety action (${failing ? "the threshold has not failed" : "it has not advanced"}` +
          `${events === undefined ? " yet" : `; it is ${statusName(current.status)}`}): ` +
          "the autopilot may be behind; list its ramp events later",
      );
    } else {
      current = await afterNextLook(run, current, safety, timeoutMs);
    }
  } else {
    run.log(describeLeft(plan.label, current));
  }
  return report(run, plan, current, ensured.created);
}

/**
 * The experiment once the autopilot has evaluated its held step again after
 * `safety` (it still watches a held ramp's safety gates), so the run reports
 * where the ramp settled. Paused already: the autopilot leaves it alone.
 */
async function afterNextLook(
  run: Run,
  experiment: Experiment,
  safety: RampEvent,
  timeoutMs: number,
): Promise<Experiment> {
  const since = safety.at === undefined ? Date.now() : timestampMs(safety.at);
  const looked = await poll(async () => {
    const e = await read(run, experiment.id);
    const seen = e.ramp?.lastEvaluatedAt;
    return e.status !== ExperimentStatus.RUNNING ||
      (seen !== undefined && timestampMs(seen) > since)
      ? e
      : undefined;
  }, timeoutMs);
  return looked ?? (await read(run, experiment.id));
}

/** The experiment as the summary has it, with its ramp's history; logs the moves. */
async function report(
  run: Run,
  plan: ExperimentPlan<RampLabel>,
  experiment: Experiment,
  created: boolean,
): Promise<DemoRampExperiment> {
  const described = describeExperiment(plan, experiment, created);
  const state = experiment.ramp;
  if (state === undefined) return described;
  const events = await rampEvents(run, experiment.id);
  const moves = (kind: RampEventKind) => events.filter((e) => e.kind === kind).map(moveOf);
  const ramp: RampHighlights = {
    steps: [...(experiment.rampPlan?.steps ?? [])],
    mode: modeName(state.mode),
    stepIndex: state.stepIndex,
    stepPercent: state.stepPercent,
    effectiveAudiencePercent: state.effectiveAudiencePercent,
    highestStep: Math.max(state.stepIndex, ...events.map((e) => Math.max(e.fromStep, e.toStep))),
    advanced: moves(RampEventKind.ADVANCED),
    safetyActions: moves(RampEventKind.SAFETY_ACTION),
  };
  for (const move of [...ramp.advanced, ...ramp.safetyActions].sort((a, b) =>
    a.at.localeCompare(b.at),
  )) {
    run.log(`  ${describeMove(move)}`);
  }
  run.log(`  ${statusName(experiment.status)}, ${describeRamp(ramp)}`);
  return { ...described, ramp };
}

function moveOf(e: RampEvent): RampMoveHighlights {
  return {
    kind: kindName(e.kind),
    at: e.at === undefined ? "" : timestampDate(e.at).toISOString(),
    fromPercent: e.fromPercent,
    toPercent: e.toPercent,
    mode: modeName(e.mode),
    safetyAction: actionName(e.safetyAction),
    gates: e.gates.map(({ gate, passed, observed, threshold, effect, detail }) => ({
      gate,
      passed,
      observed,
      threshold,
      effect,
      detail,
    })),
  };
}

const figure = (x: number) => String(Number(x.toPrecision(3)));

type Gate = RampMoveHighlights["gates"][number];

/**
 * A threshold gate in figures: "error_rate in share_card 0 ≤ 0.05" (its
 * detail names the metric and the worst variant before a colon, and says
 * "≥" for a decrease-is-bad threshold).
 */
function thresholdFigures(g: Gate): string {
  const [subject = g.gate] = g.detail.split(":");
  const increaseIsBad = !g.detail.includes("≥");
  const sign = g.passed ? (increaseIsBad ? "≤" : "≥") : increaseIsBad ? ">" : "<";
  return `${subject} ${figure(g.observed)} ${sign} ${g.threshold}`;
}

function describeGate(g: Gate): string {
  return g.gate === "threshold" ? `threshold ${thresholdFigures(g)}` : `${g.gate}: ${g.detail}`;
}

/**
 * "5 % → 25 %: every gate passed (…)", or "safety action …: threshold
 * error_rate in … 0.3 > 0.02; stepped back 25 % → 10 %, RAMP_MODE_HOLD".
 */
export function describeMove(m: RampMoveHighlights): string {
  const gate = (name: string) => m.gates.find((g) => g.gate === name);
  if (m.kind === "RAMP_EVENT_KIND_ADVANCED") {
    const time = gate("min_step_seconds");
    const exposures = gate("min_exposures_per_variant");
    const seen = [
      time === undefined ? "" : `${time.observed} s on the step`,
      exposures === undefined ? "" : `at least ${exposures.observed} exposures per variant`,
      ...m.gates.filter((g) => g.gate === "threshold").map(thresholdFigures),
    ].filter((x) => x !== "");
    return (
      `${m.fromPercent} % → ${m.toPercent} %: every gate passed` +
      (seen.length > 0 ? ` (${seen.join("; ")})` : "")
    );
  }
  // The safety gates that failed (sufficiency gates may wait at the same time: not the cause).
  const why = m.gates
    .filter((g) => !g.passed && g.effect === "safety")
    .map(describeGate)
    .join("; ");
  // Stepping back from the first step pauses instead; a rollback pauses and serves the control.
  const what =
    m.toPercent < m.fromPercent
      ? `stepped back ${m.fromPercent} % → ${m.toPercent} %`
      : m.safetyAction === "RAMP_SAFETY_ACTION_ROLLBACK"
        ? `rolled back to the control at ${m.toPercent} %`
        : `paused at ${m.toPercent} %`;
  return `safety action ${m.safetyAction}: ${why}; ${what}, ${m.mode} (${m.at})`;
}

/** "ramp RAMP_MODE_DONE at step 4 of 4 (100 % of its audience, …)". */
export function describeRamp(r: RampHighlights): string {
  return (
    `ramp ${r.mode} at step ${r.stepIndex + 1} of ${r.steps.length} ` +
    `(${r.stepPercent} % of its audience, ${r.effectiveAudiencePercent} % of all traffic); ` +
    `highest step reached ${r.highestStep + 1} (${r.steps[r.highestStep] ?? "?"} %)`
  );
}
