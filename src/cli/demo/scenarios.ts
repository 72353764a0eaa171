/**
 * Scenario A (traffic until the report shows a clear winner) and scenario B
 * (a slow, failing treatment until its guardrail pauses it).
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { LottyClient } from "../../../clients/node/src/index.js";
import { ExperimentStatus, type Experiment, type Report } from "./proto.js";
import { REPORT_TIMEOUT_MS } from "./tenant.js";
import type { Traffic, WinnerHighlights, TriggerHighlights, DemoSummary } from "./summary.js";
import { type Run, required, poll, percent, statusName } from "./helpers.js";
import { workoutBehaviour, bannerBehaviour, sendTraffic } from "./traffic.js";

async function reportOf(reader: LottyClient, experimentId: string): Promise<Report> {
  return required((await reader.reports.getExperimentReport({ experimentId })).report, "a report");
}

const metricOf = (report: Report, variantKey: string, metricKey: string) =>
  report.variants
    .find((v) => v.variantKey === variantKey)
    ?.metrics.find((m) => m.metricKey === metricKey);

/** Whether the report counts every exposure and workout sent. */
function reportShows(report: Report, traffic: Traffic): boolean {
  if ((report.dataHealth?.pendingAttributionEvents ?? 0) > 0) return false;
  return Object.entries(traffic.events).every(([variantKey, perType]) => {
    const v = report.variants.find((r) => r.variantKey === variantKey);
    const workouts = metricOf(report, variantKey, "workouts_per_member")?.value ?? 0;
    return (
      v !== undefined &&
      v.subjects === traffic.exposed[variantKey] &&
      v.exposures === perType.exposure &&
      workouts === (perType.workout_completed ?? 0)
    );
  });
}

function winnerOf(report: Report): WinnerHighlights | undefined {
  const control = report.variants.find((v) => v.control);
  const treatment = report.variants.find((v) => !v.control);
  if (control === undefined || treatment === undefined) return undefined;
  const key = report.primaryMetricKey;
  const c = metricOf(report, control.variantKey, key);
  const t = metricOf(report, treatment.variantKey, key);
  const comparison = t?.comparison;
  if (c === undefined || t === undefined || comparison === undefined) return undefined;
  return {
    metricKey: key,
    control: { key: control.variantKey, subjects: control.subjects, value: c.value },
    treatment: { key: treatment.variantKey, subjects: treatment.subjects, value: t.value },
    absoluteDiff: comparison.absoluteDiff,
    relativeDiff: comparison.relativeDiff,
    ciLow: comparison.ciLow,
    ciHigh: comparison.ciHigh,
    pValue: comparison.pValue,
    adjustedPValue: comparison.adjustedPValue,
    adjustedSignificant: comparison.adjustedSignificant,
    chanceToBeatControl: comparison.chanceToBeatControl,
    srmMismatch: report.srm?.mismatch ?? false,
  };
}

export async function runWinner(
  run: Run,
  experiment: Experiment,
  subjects: number,
  summary: DemoSummary,
): Promise<void> {
  const reader = run.admin;
  if (experiment.status !== ExperimentStatus.RUNNING) {
    run.log(`  A is ${statusName(experiment.status)}: left as it is, no traffic sent`);
  } else if ((await reportOf(reader, experiment.id)).subjects > 0) {
    run.log("  A already has members in its report: no new traffic (the result is in)");
  } else {
    const traffic = await sendTraffic(run, experiment, subjects, workoutBehaviour);
    summary.traffic.A = traffic;
    const shown = await poll(
      async () => (reportShows(await reportOf(reader, experiment.id), traffic) ? true : undefined),
      REPORT_TIMEOUT_MS,
      500,
    );
    if (shown === undefined) run.log("  the report does not show every event yet; look again soon");
  }
  summary.winner = winnerOf(await reportOf(reader, experiment.id));
  const w = summary.winner;
  if (w !== undefined) {
    run.log(
      `  ${w.metricKey}: ${w.treatment.key} ${percent(w.treatment.value)} vs ` +
        `${w.control.key} ${percent(w.control.value)} (p = ${w.pValue.toPrecision(2)}, ` +
        `adjusted significant: ${w.adjustedSignificant})`,
    );
  }
}

// ---------------------------------------------------------------------------
// Experiment B: the guardrail
// ---------------------------------------------------------------------------

export async function runGuardrail(
  run: Run,
  experiment: Experiment,
  subjects: number,
  timeoutMs: number,
  summary: DemoSummary,
): Promise<Experiment> {
  const reader = run.admin;
  let current = experiment;
  if (current.status === ExperimentStatus.RUNNING) {
    summary.traffic.B = await sendTraffic(run, current, subjects, bannerBehaviour);
    run.log(`  waiting up to ${Math.round(timeoutMs / 1000)} s for the guardrail …`);
    const paused = await poll(async () => {
      const { experiment: e } = await reader.experiments.getExperiment({ id: current.id });
      return e?.status === ExperimentStatus.PAUSED ? e : undefined;
    }, timeoutMs);
    if (paused === undefined) {
      run.log("  not paused yet: the guardrail monitor may be behind; list the triggers later");
    } else {
      current = paused;
    }
  } else {
    run.log(`  B is ${statusName(current.status)}: left as it is, no traffic sent`);
  }
  const { triggers } = await reader.guardrails.listGuardrailTriggers({
    experimentId: current.id,
  });
  const trigger = triggers[0];
  if (trigger !== undefined) {
    summary.trigger = {
      id: trigger.id,
      metricKey: trigger.metricKey,
      observedValue: trigger.observedValue,
      threshold: trigger.threshold,
      variantKey: trigger.variantKey,
      sampleSize: trigger.sampleSize,
      windowSeconds: trigger.windowSeconds,
      triggeredAt:
        trigger.triggeredAt === undefined ? "" : timestampDate(trigger.triggeredAt).toISOString(),
    };
    run.log(`  guardrail fired: ${describeTrigger(summary.trigger)}`);
  }
  return current;
}

export const describeTrigger = (t: TriggerHighlights) =>
  `${t.metricKey} ${Number(t.observedValue.toPrecision(3))} > ${t.threshold} in variant ` +
  `${t.variantKey} over the last ${t.windowSeconds} s (sample ${t.sampleSize}) at ${t.triggeredAt}`;
