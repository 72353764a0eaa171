/**
 * The analytics features on the demo data (issue #21):
 *
 * - the dimensions `country` and `platform`, declared before any traffic so
 *   every exposure records them, and the saved segment `mobile` (J targets
 *   it; A's report is filtered by it);
 * - J, whose new mobile build loses half of the treatment's exposures: its
 *   report shows a sample ratio mismatch and the server's data-quality
 *   monitor raises a `data_quality.srm` alarm (its interval is 60 s by
 *   default, so the demo sends J's traffic before the ramps and waits for
 *   the alarm after them);
 * - K, measured by a strict funnel (workout → post-workout offer click →
 *   purchase) and a first-week retention (every member still maturing for a
 *   week), so its results page shows a funnel chart per variant;
 * - a raw event export of A (CSV), started by A's owner.
 *
 * Idempotent: dimensions and segments are found by key; J and K get traffic
 * only while RUNNING with an empty report; an earlier run's export of A that is
 * still downloadable (DONE, or on its way) is reused.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { eventExportV1, type LottyClient } from "../../../clients/node/src/index.js";
import { ExperimentStatus, type Experiment, type Report } from "./proto.js";
import {
  DIMENSIONS,
  FUNNEL_EXPERIMENT,
  REPORT_TIMEOUT_MS,
  SAVED_SEGMENTS,
  SRM_EXPERIMENT,
} from "./tenant.js";
import type {
  AlarmHighlights,
  DemoSummary,
  FunnelHighlights,
  SavedSegmentHighlights,
  Traffic,
} from "./summary.js";
import { DemoError } from "./summary.js";
import {
  type Run,
  findOrCreate,
  percent,
  poll,
  required,
  statusName,
  unlessNotFound,
} from "./helpers.js";
import { actAs, describeExperiment, ensureExperiment } from "./provisioning.js";
import {
  reminderBehaviour,
  reminderBuildLoses,
  sendTraffic,
  shoeOfferBehaviour,
} from "./traffic.js";

const { EventExportFormat, EventExportStatus } = eventExportV1;

/** How long the demo waits for A's export to be written. */
export const EXPORT_TIMEOUT_MS = 60_000;
/** How long the demo waits for A's report filtered by the saved segment. */
export const SAVED_SEGMENT_REPORT_TIMEOUT_MS = 60_000;
/** Members through J: at least this many (else half of A's). */
export const MIN_SRM_SUBJECTS = 600;
/** Members through K: at least this many (else half of A's). */
export const MIN_FUNNEL_SUBJECTS = 600;

// ---------------------------------------------------------------------------
// Dimensions and saved segments
// ---------------------------------------------------------------------------

/** Declares the dimensions (as the admin); an archived one is an error: reports refuse it. */
export async function ensureDimensions(run: Run): Promise<void> {
  run.log("Dimensions and saved segments");
  const catalog = run.admin.catalog;
  const listAll = async () => {
    const found = new Map<string, { archived: boolean }>();
    let pageToken = "";
    do {
      const page = await catalog.listDimensions({
        pageSize: 500,
        pageToken,
        includeArchived: true,
      });
      for (const d of page.dimensions) found.set(d.key, d);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return found;
  };
  let known = await listAll();
  for (const spec of DIMENSIONS) {
    const key = spec.key ?? "";
    const { value } = await findOrCreate(
      run,
      `dimension ${key}`,
      async () => known.get(key) ?? (known = await listAll()).get(key),
      async () =>
        required((await catalog.createDimension({ dimension: spec })).dimension, "a dimension"),
    );
    if (value.archived) throw new DemoError(`dimension ${key} is archived; the demo needs it`);
  }
}

/** The saved segments, each created by the growth PM (it targets J). */
export async function ensureSavedSegments(run: Run): Promise<void> {
  for (const spec of SAVED_SEGMENTS) {
    const key = spec.key ?? "";
    await findOrCreate(
      run,
      `saved segment ${key}`,
      async () => (await unlessNotFound(run.admin.catalog.getSavedSegment({ key })))?.savedSegment,
      async () => {
        const { catalog } = await actAs(run, "growthPm");
        const { savedSegment } = await catalog.createSavedSegment({ savedSegment: spec });
        return required(savedSegment, "a saved segment");
      },
    );
  }
}

/** The segment `mobile` and A's report, whole and filtered by it. */
export async function savedSegmentHighlights(
  run: Run,
  experimentId: string,
): Promise<SavedSegmentHighlights> {
  const key = SAVED_SEGMENTS[0]!.key ?? "";
  const segment = required(
    (await run.admin.catalog.getSavedSegment({ key })).savedSegment,
    "a saved segment",
  );
  const reports = run.admin.reports;
  const whole = required((await reports.getExperimentReport({ experimentId })).report, "a report");
  // The filtered report is much slower than the whole one (about 5–9 s for
  // A's 2,000 members on a development machine): more than the client's 5 s default.
  const filtered = required(
    (
      await reports.getExperimentReport(
        { experimentId, savedSegment: key },
        { timeoutMs: SAVED_SEGMENT_REPORT_TIMEOUT_MS },
      )
    ).report,
    "a report",
  );
  const highlights: SavedSegmentHighlights = {
    key,
    version: segment.version,
    rule: segment.rule,
    usedBy: segment.usedBy.map((u) => u.experimentId),
    wholeSubjects: whole.subjects,
    filteredSubjects: filtered.subjects,
  };
  run.log(
    `  A's report filtered by the saved segment ${key} (v${highlights.version}): ` +
      `${highlights.filteredSubjects} of ${highlights.wholeSubjects} members`,
  );
  return highlights;
}

// ---------------------------------------------------------------------------
// J: the sample ratio mismatch and its data-quality alarm
// ---------------------------------------------------------------------------

/** Takes J through review and, while it is RUNNING with an empty report, sends its traffic. */
export async function runSrm(
  run: Run,
  subjects: number,
  summary: DemoSummary,
): Promise<Experiment> {
  const plan = SRM_EXPERIMENT;
  run.log(`Experiment ${plan.label}: ${plan.spec.name}`);
  const ensured = await ensureExperiment(run, plan);
  const experiment = ensured.experiment;
  summary.dataQuality = { experiment: describeExperiment(plan, experiment, ensured.created) };
  if (experiment.status !== ExperimentStatus.RUNNING) {
    run.log(`  J is ${statusName(experiment.status)}: left as it is, no traffic sent`);
    return experiment;
  }
  const { report } = await run.admin.reports.getExperimentReport({ experimentId: experiment.id });
  if ((report?.subjects ?? 0) > 0) {
    run.log("  J already has members in its report: no new traffic (its mismatch is in)");
    return experiment;
  }
  run.log("  its new mobile build loses the exposure of half of the members who get the reminder");
  summary.traffic.J = await sendTraffic(
    run,
    experiment,
    Math.max(MIN_SRM_SUBJECTS, Math.ceil(subjects / 2)),
    reminderBehaviour,
    reminderBuildLoses,
  );
  return experiment;
}

function alarmHighlights(alarm: {
  id: string;
  kind: string;
  experimentId: string;
  summary: string;
  firedAt?: Parameters<typeof timestampDate>[0];
  figures: Record<string, number>;
}): AlarmHighlights {
  return {
    id: alarm.id,
    kind: alarm.kind,
    experimentId: alarm.experimentId,
    summary: alarm.summary,
    firedAt: alarm.firedAt === undefined ? "" : timestampDate(alarm.firedAt).toISOString(),
    figures: { ...alarm.figures },
  };
}

/** The newest SRM alarm on the experiment, if any (the newest 500 SRM alarms are looked at). */
async function srmAlarmOf(
  reader: LottyClient,
  experimentId: string,
): Promise<AlarmHighlights | undefined> {
  const { alarms } = await reader.notifications.listDataQualityAlarms({
    kind: "data_quality.srm",
    pageSize: 500,
  });
  const alarm = alarms.find((a) => a.experimentId === experimentId);
  return alarm === undefined ? undefined : alarmHighlights(alarm);
}

/** Waits (up to `timeoutMs`) for the monitor's SRM alarm on J, and records it. */
export async function awaitSrmAlarm(
  run: Run,
  experiment: Experiment,
  timeoutMs: number,
  summary: DemoSummary,
): Promise<void> {
  run.log(`Experiment J: the data-quality monitor's alarm`);
  let alarm = await srmAlarmOf(run.admin, experiment.id);
  if (alarm === undefined && experiment.status === ExperimentStatus.RUNNING) {
    run.log(
      `  waiting up to ${Math.round(timeoutMs / 1000)} s for the sample ratio mismatch alarm ` +
        "(the server's monitor looks every minute by default) …",
    );
    alarm = await poll(() => srmAlarmOf(run.admin, experiment.id), timeoutMs, 500);
  }
  if (alarm === undefined) {
    run.log(
      "  no alarm yet: look at the console's Data quality page, or ListDataQualityAlarms, later",
    );
    return;
  }
  if (summary.dataQuality !== undefined) summary.dataQuality.alarm = alarm;
  run.log(`  ${alarm.kind} at ${alarm.firedAt}: ${alarm.summary}`);
}

// ---------------------------------------------------------------------------
// K: a funnel and a retention
// ---------------------------------------------------------------------------

function funnelHighlights(
  experiment: FunnelHighlights["experiment"],
  report: Report,
): FunnelHighlights {
  const funnelKey = FUNNEL_EXPERIMENT.spec.primaryMetricKey ?? "";
  const retentionKey = FUNNEL_EXPERIMENT.spec.metricKeys?.[0] ?? "";
  return {
    experiment,
    funnelMetricKey: funnelKey,
    retentionMetricKey: retentionKey,
    variants: report.variants.map((v) => {
      const funnel = v.metrics.find((m) => m.metricKey === funnelKey)?.funnel;
      const retention = v.metrics.find((m) => m.metricKey === retentionKey)?.retention;
      return {
        variantKey: v.variantKey,
        control: v.control,
        subjects: v.subjects,
        steps: (funnel?.steps ?? []).map((step) => ({
          eventTypeKey: step.eventTypeKey,
          subjects: step.subjects,
          share: step.share,
        })),
        retention: {
          eligible: retention?.eligibleSubjects ?? 0,
          retained: retention?.retainedSubjects ?? 0,
          maturing: retention?.maturingSubjects ?? 0,
        },
      };
    }),
  };
}

/** Whether K's funnel counts every member the traffic took through its first step. */
function funnelShows(report: Report, traffic: Traffic): boolean {
  if ((report.dataHealth?.pendingAttributionEvents ?? 0) > 0) return false;
  const funnelKey = FUNNEL_EXPERIMENT.spec.primaryMetricKey ?? "";
  return Object.entries(traffic.exposed).every(([variantKey, exposed]) => {
    const v = report.variants.find((r) => r.variantKey === variantKey);
    const first = v?.metrics.find((m) => m.metricKey === funnelKey)?.funnel?.steps[0];
    return (
      v?.subjects === exposed &&
      first?.subjects === (traffic.members[variantKey]?.workout_completed ?? 0)
    );
  });
}

/** Takes K through review and, while it is RUNNING with an empty report, sends its traffic. */
export async function runFunnel(run: Run, subjects: number, summary: DemoSummary): Promise<void> {
  const plan = FUNNEL_EXPERIMENT;
  run.log(`Experiment ${plan.label}: ${plan.spec.name}`);
  const ensured = await ensureExperiment(run, plan);
  const experiment = ensured.experiment;
  const described = describeExperiment(plan, experiment, ensured.created);
  const reportOf = async () =>
    required(
      (await run.admin.reports.getExperimentReport({ experimentId: experiment.id })).report,
      "a report",
    );
  if (experiment.status !== ExperimentStatus.RUNNING) {
    run.log(`  K is ${statusName(experiment.status)}: left as it is, no traffic sent`);
  } else if ((await reportOf()).subjects > 0) {
    run.log("  K already has members in its report: no new traffic (its funnel is in)");
  } else {
    const traffic = await sendTraffic(
      run,
      experiment,
      Math.max(MIN_FUNNEL_SUBJECTS, Math.ceil(subjects / 2)),
      shoeOfferBehaviour,
    );
    summary.traffic.K = traffic;
    const shown = await poll(
      async () => (funnelShows(await reportOf(), traffic) ? true : undefined),
      REPORT_TIMEOUT_MS,
      500,
    );
    if (shown === undefined)
      run.log("  the funnel does not show every member yet; look again soon");
  }
  const highlights = funnelHighlights(described, await reportOf());
  summary.funnel = highlights;
  for (const v of highlights.variants) {
    run.log(
      `  ${v.variantKey}: ` +
        v.steps.map((s) => `${s.eventTypeKey} ${s.subjects} (${percent(s.share)})`).join(" → ") +
        `; first-week return: ${v.retention.maturing} of ${v.subjects} still maturing`,
    );
  }
}

// ---------------------------------------------------------------------------
// The raw event export of A
// ---------------------------------------------------------------------------

type ExportJob = eventExportV1.EventExport;

const exportStatusName = (status: eventExportV1.EventExportStatus) =>
  `EVENT_EXPORT_STATUS_${EventExportStatus[status] ?? status}`;

/** Still readable, or on its way to be. */
const usable = (job: ExportJob) =>
  job.format === EventExportFormat.CSV &&
  [EventExportStatus.QUEUED, EventExportStatus.RUNNING, EventExportStatus.DONE].includes(
    job.status,
  );

/**
 * Starts a CSV export of A's events as A's owner, unless an earlier one is
 * still downloadable or on its way; returns the job and whether it is new.
 */
export async function startExport(
  run: Run,
  experiment: Experiment,
): Promise<{ job: ExportJob; created: boolean } | undefined> {
  if (experiment.status === ExperimentStatus.DRAFT) return undefined;
  const { eventExports } = run.admin;
  const { eventExports: jobs } = await eventExports.listEventExports({
    experimentId: experiment.id,
    pageSize: 20,
  });
  const earlier = jobs.find(usable);
  if (earlier !== undefined) {
    run.reused.push(`event export of A ${earlier.id}`);
    return { job: earlier, created: false };
  }
  const owner = await actAs(run, "growthPm");
  const { eventExport: job } = await owner.eventExports.startEventExport({
    experimentId: experiment.id,
    format: EventExportFormat.CSV,
  });
  const started = required(job, "an event export");
  run.created.push(`event export of A ${started.id}`);
  run.log(`  started a CSV export of A's events: ${started.id}`);
  return { job: started, created: true };
}

/** Waits for the export to be written and records it. */
export async function awaitExport(
  run: Run,
  started: { job: ExportJob; created: boolean },
  summary: DemoSummary,
): Promise<void> {
  const { eventExports } = run.admin;
  const read = async () =>
    required((await eventExports.getEventExport({ id: started.job.id })).eventExport, "an export");
  const finished =
    (await poll(
      async () => {
        const job = await read();
        return [EventExportStatus.QUEUED, EventExportStatus.RUNNING].includes(job.status)
          ? undefined
          : job;
      },
      EXPORT_TIMEOUT_MS,
      250,
    )) ?? (await read());
  summary.eventExport = {
    id: finished.id,
    status: exportStatusName(finished.status),
    rows: Number(finished.rows),
    bytes: Number(finished.bytes),
    filename: finished.filename,
    created: started.created,
  };
  const e = summary.eventExport;
  run.log(
    `  A's event export ${e.id}: ${e.status}` +
      (finished.status === EventExportStatus.DONE ? `, ${e.rows} rows, ${e.bytes} bytes` : "") +
      (finished.error === "" ? "" : ` (${finished.error})`),
  );
}
