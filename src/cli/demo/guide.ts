/**
 * The guide printed after a run: what each experiment shows and the commands
 * to look at it, then the analytics around them (saved segment, data-quality
 * alarm, notifications, raw export).
 */
import { Role, ExperimentStatus } from "./proto.js";
import { USERS } from "./tenant.js";
import type {
  DemoExperiment,
  DemoRampExperiment,
  WinnerHighlights,
  TriggerHighlights,
  DemoSummary,
} from "./summary.js";
import { percent } from "./helpers.js";
import { describeTrigger } from "./scenarios.js";
import { describeMove, describeRamp } from "./autopilot.js";
import { WEBHOOK_PATH } from "./notify.js";

type Command = (method: string, body: object) => string[];

function guideA(a: DemoExperiment, w: WinnerHighlights | undefined, cmd: Command): string[] {
  const lines = [`A · "${a.name}" (${a.id}) is ${a.statusName}.`];
  if (w !== undefined) {
    const points = (x: number) => (x * 100).toFixed(1);
    lines.push(
      `  ${w.metricKey}: ${w.treatment.key} ${percent(w.treatment.value)} of ` +
        `${w.treatment.subjects} members vs ${w.control.key} ${percent(w.control.value)} of ` +
        `${w.control.subjects}: ${w.absoluteDiff >= 0 ? "+" : ""}${points(w.absoluteDiff)} ` +
        `points (95 % CI ${points(w.ciLow)} to ${points(w.ciHigh)}), p = ` +
        `${w.pValue.toPrecision(2)}, chance to beat control ${percent(w.chanceToBeatControl)}.`,
    );
  }
  lines.push(
    "  The report:",
    ...cmd("lotty.reports.v1.ReportService/GetExperimentReport", { experimentId: a.id }),
    '  Look for: the "cards" variant\'s first metric (workout_completion_rate): comparison with',
    "  adjustedSignificant true and ciLow above 0; srm without mismatch (the 50/50 split held).",
  );
  if (a.status === ExperimentStatus.RUNNING) {
    lines.push(
      "  Left RUNNING on purpose, so the report stays live (Ctrl-C stops the stream):",
      ...cmd("lotty.reports.v1.ReportService/WatchExperimentReport", { experimentId: a.id }),
      '  Ship the winner when convinced (as the owner or an admin), then make "cards" the default:',
      ...cmd("lotty.experiments.v1.ExperimentService/CompleteExperiment", {
        id: a.id,
        outcome: "OUTCOME_ROLLOUT",
        winnerVariantKey: "cards",
        justification: "Cards raise the workout completion rate",
      }),
    );
  } else if (a.status === ExperimentStatus.COMPLETED) {
    lines.push(
      "  The report it was completed on:",
      ...cmd("lotty.reports.v1.ReportService/GetOutcomeReport", { experimentId: a.id }),
    );
  }
  return lines;
}

function guideB(b: DemoExperiment, t: TriggerHighlights | undefined, cmd: Command): string[] {
  const lines = [`B · "${b.name}" (${b.id}) is ${b.statusName}.`];
  lines.push(
    t === undefined
      ? "  No guardrail trigger yet: list the triggers again in a minute."
      : `  Its guardrail fired: ${describeTrigger(t)}.`,
    "  The trigger record:",
    ...cmd("lotty.guardrails.v1.GuardrailService/ListGuardrailTriggers", { experimentId: b.id }),
    '  Look for: observedValue above threshold, variantKey "banner", action GUARDRAIL_ACTION_PAUSE.',
    "  Its history: the last entry is EXPERIMENT_ACTION_GUARDRAIL_PAUSED, without an actor.",
    ...cmd("lotty.experiments.v1.ExperimentService/GetExperimentHistory", { id: b.id }),
    "  Its report: more promo clicks, but error_rate and latency_p95 far above the control's.",
    ...cmd("lotty.reports.v1.ReportService/GetExperimentReport", { experimentId: b.id }),
  );
  if (b.status === ExperimentStatus.PAUSED) {
    lines.push(
      "  Decide serves every member the flag's default (false, DECISION_REASON_DEFAULT):",
      ...cmd("lotty.decision.v1.DecisionService/Decide", {
        subjectId: "member-00001",
        flagKeys: [b.flagKey],
        attributes: { platform: "ios" },
      }),
    );
  }
  return lines;
}

function guideC(c: DemoExperiment, cmd: Command): string[] {
  const lines = [
    `C · "${c.name}" (${c.id}) is ${c.statusName} with ${c.approvals} of ` +
      `${c.requiredApprovals} approvals.`,
  ];
  if (c.status === ExperimentStatus.IN_REVIEW) {
    lines.push(
      "  Experiments waiting for review:",
      ...cmd("lotty.experiments.v1.ExperimentService/ListExperiments", {
        status: "EXPERIMENT_STATUS_IN_REVIEW",
      }),
      `  Look for: "${c.name}" with one approval (${USERS.headOfProduct.email})`,
      `  and requiredApprovals 2. ${USERS.dataLead.email} gives the second one with his own key:`,
      "  ExperimentService/ApproveExperiment with the same -d '" +
        JSON.stringify({ id: c.id }) +
        "'.",
    );
  }
  return lines;
}

/** H and I: where each ramp stands, its moves, and the ramp's state and history to look at. */
function guideRamp(r: DemoRampExperiment, cmd: Command): string[] {
  const lines = [`${r.label} · "${r.name}" (${r.id}) is ${r.statusName}.`];
  const ramp = r.ramp;
  if (ramp === undefined) {
    lines.push("  Its ramp has not begun (it has not started).");
    return lines;
  }
  lines.push(`  Plan: ${ramp.steps.join(" → ")} % of its audience. Now ${describeRamp(ramp)}.`);
  for (const move of [...ramp.advanced, ...ramp.safetyActions].sort((a, b) =>
    a.at.localeCompare(b.at),
  )) {
    lines.push(`    ${describeMove(move)}`);
  }
  lines.push(
    r.label === "H"
      ? '  In the console, its page\'s "Autopilot ramp" panel: the steps, the last evaluation and the history (a "Moved up" entry for each move'
      : '  In the console, its page\'s "Autopilot ramp" panel: the steps, the last evaluation and the history ("Moved up", then "Safety action"',
    "  by the autopilot, with the gates it saw); its History tab has the audited moves. Through the API, where the ramp stands (its",
    "  ramp field: mode, step, effective audience, the gates of the last evaluation):",
    ...cmd("lotty.experiments.v1.ExperimentService/GetExperiment", { id: r.id }),
    "  Its ramp history, every move with the gates the autopilot saw:",
    ...cmd("lotty.experiments.v1.ExperimentService/ListRampEvents", { id: r.id }),
  );
  if (r.label === "H") {
    lines.push(
      "  Look for: RAMP_EVENT_KIND_STARTED, then one RAMP_EVENT_KIND_ADVANCED a step, each with",
      "  every gate passed (min_step_seconds, min_exposures_per_variant, the error_rate threshold);",
      "  the last one with mode RAMP_MODE_DONE. Each step is a new configuration version:",
      ...cmd("lotty.experiments.v1.ExperimentService/ListExperimentVersions", { id: r.id }),
    );
  } else {
    lines.push(
      "  Look for: a RAMP_EVENT_KIND_ADVANCED, then RAMP_EVENT_KIND_SAFETY_ACTION with safetyAction",
      "  RAMP_SAFETY_ACTION_STEP_BACK, the threshold gate failed (error_rate in express_checkout",
      "  above 0.02), one step down and mode RAMP_MODE_HOLD. Its history has",
      "  EXPERIMENT_ACTION_RAMP_SAFETY_ACTION, without an actor:",
      ...cmd("lotty.experiments.v1.ExperimentService/GetExperimentHistory", { id: r.id }),
    );
    if (ramp.mode === "RAMP_MODE_HOLD") {
      lines.push(
        "  Held until somebody decides. Once the payment provider is fixed, the owner (or an admin)",
        ...(r.status === ExperimentStatus.PAUSED
          ? [
              "  resumes it (ExperimentService/ResumeExperiment with -d '" +
                JSON.stringify({ id: r.id }) +
                "') and",
            ]
          : []),
        "  hands the ramp back to the autopilot:",
        ...cmd("lotty.experiments.v1.ExperimentService/ControlRamp", {
          id: r.id,
          action: "RAMP_CONTROL_RESUME_AUTOPILOT",
          comment: "Payment provider fixed",
        }),
      );
    }
  }
  return lines;
}

/** The learnings library: the earlier experiments D–G, searches and FindSimilar for C. */
function guideLearnings(summary: DemoSummary, cmd: Command): string[] {
  const search = "lotty.learnings.v1.LearningService/SearchLearnings";
  const lines = [
    "The team's earlier experiments, completed, each with its learning:",
    ...Object.values(summary.past).map(
      (p) =>
        `  ${p.label} · "${p.name}" (${p.id}): ${p.outcome || p.statusName}` +
        (p.firedGuardrails.length > 0
          ? `, guardrail fired (${p.firedGuardrails.join(", ")})`
          : "") +
        (p.writtenUp ? `, written up by ${p.ownerEmail}` : ", not written up yet"),
    ),
  ];
  const l = summary.library;
  if (l !== undefined) {
    lines.push(
      `  The library holds ${l.writtenUp} written-up learning(s), ${l.needsWritingUp} waiting ` +
        `for a write-up, ${l.guardrailFired} with a guardrail that fired.`,
    );
  }
  const { C } = summary.experiments;
  lines.push(
    '  A newcomer browses by tag (or by flag: {"flagKey": "onboarding_goal_picker"}):',
    ...cmd(search, { tags: ["onboarding"] }),
    "  A post-mortem: every experiment whose p95 latency guardrail fired (F):",
    ...cmd(search, { guardrailFired: true, metricKey: "latency_p95" }),
    "  Full-text search, with highlighted snippets:",
    ...cmd(search, { query: "home screen latency" }),
    "  Waiting for their owner's write-up (G):",
    ...cmd(search, { needsWritingUp: true }),
    `  The PM planning C ("${C.name}") sees similar past experiments, with the reasons:`,
    ...cmd("lotty.learnings.v1.LearningService/FindSimilar", { experimentId: C.id }),
  );
  if (l !== undefined && l.similarToC.length > 0) {
    lines.push(
      "  Look for: " +
        l.similarToC
          .map((s) => `"${s.name}" (${s.reasons.join(", ")}, score ${s.score.toFixed(2)})`)
          .join("; ") +
        ".",
    );
  }
  return lines;
}

/** The saved segment `mobile`: J's targeting and A's report filtered by it. */
function guideSegment(summary: DemoSummary, url: string, cmd: Command): string[] {
  const seg = summary.savedSegment;
  const { A } = summary.experiments;
  if (seg === undefined) return [];
  const j = summary.dataQuality?.experiment;
  return [
    `The saved segment "${seg.key}" (version ${seg.version}): ${seg.rule}.`,
    ...(j === undefined ? [] : [`  J targets it: its targeting rule is segment("${seg.key}").`]),
    `  A's report filtered by it: ${seg.filteredSubjects} of A's ${seg.wholeSubjects} members ` +
      "(the web app's members are left out). In the console:",
    `    ${url}/console/experiments/${A.id}/results?saved=${encodeURIComponent(seg.key)}`,
    "  Through the API (the report echoes savedSegment and savedSegmentVersion):",
    ...cmd("lotty.reports.v1.ReportService/GetExperimentReport", {
      experimentId: A.id,
      savedSegment: seg.key,
    }),
    "  Or by a declared dimension (country, platform): a breakdown of A by platform:",
    ...cmd("lotty.reports.v1.ReportService/GetExperimentReport", {
      experimentId: A.id,
      breakdownDimension: "platform",
    }),
    "  The segment, with the experiments using it (it cannot be deleted while J runs):",
    ...cmd("lotty.catalog.v1.CatalogService/GetSavedSegment", { key: seg.key }),
  ];
}

/** J: the exposures its client lost, and the data-quality alarm. */
function guideDataQuality(summary: DemoSummary, url: string, cmd: Command): string[] {
  const dq = summary.dataQuality;
  if (dq === undefined) return [];
  const j = dq.experiment;
  const lines = [
    `J · "${j.name}" (${j.id}) is ${j.statusName}. Its new mobile build loses the exposure of`,
    "  half of the members who get the reminder, so its report shows a sample ratio mismatch.",
    dq.alarm === undefined
      ? "  The data-quality monitor has not raised its alarm yet (it looks every minute): look again soon."
      : `  The data-quality monitor raised ${dq.alarm.kind} at ${dq.alarm.firedAt}: ${dq.alarm.summary}.`,
    `  In the console: ${url}/console/data-quality (the alarm), and J's results page`,
    `  ${url}/console/experiments/${j.id}/results (Data health: sample ratio mismatch).`,
    "  The alarms through the API:",
    ...cmd("lotty.notifications.v1.NotificationService/ListDataQualityAlarms", {
      kind: "data_quality.srm",
    }),
    `  Look for: experimentId ${j.id}, figures p_value (below 0.001), chi_square, exposures.`,
  ];
  return lines;
}

/** K: its funnel and retention. */
function guideFunnel(summary: DemoSummary, url: string, cmd: Command): string[] {
  const f = summary.funnel;
  if (f === undefined) return [];
  const k = f.experiment;
  return [
    `K · "${k.name}" (${k.id}) is ${k.statusName}. Its primary metric ${f.funnelMetricKey} is a strict`,
    "  funnel (workout_completed → promo_click with placement post_workout → purchase, within a day):",
    ...f.variants.map(
      (v) =>
        `    ${v.variantKey}: ` +
        v.steps.map((s) => `${s.subjects} (${percent(s.share)})`).join(" → ") +
        ` of ${v.subjects} members`,
    ),
    `  ${f.retentionMetricKey} (a workout on days 1–7 after the first exposure) has every member`,
    "  still maturing until a week has passed: the report counts them (maturingSubjects).",
    `  In the console, the funnel chart per variant: ${url}/console/experiments/${k.id}/results`,
    "  Through the API (each funnel step's subjects, share, step conversion and drop-off):",
    ...cmd("lotty.reports.v1.ReportService/GetExperimentReport", { experimentId: k.id }),
  ];
}

/** The webhook channel, its rules and the deliveries of the demo's alerts. */
function guideNotifications(summary: DemoSummary, url: string, cmd: Command): string[] {
  const n = summary.notifications;
  if (n === undefined) return [];
  const sent = n.deliveries.filter((d) => d.status === "DELIVERY_STATUS_SENT");
  const triggers = [...new Set(sent.map((d) => d.trigger))];
  return [
    `Notifications: the webhook channel "${n.channelName}" (${n.maskedUrl}) and two rules:`,
    `  "alerts" (${n.triggers.join(", ")})`,
    `  and a daily digest of every demo experiment at ${String(n.digestHourUtc).padStart(2, "0")}:00 UTC.`,
    `  ${sent.length} of ${n.deliveries.length} deliveries sent` +
      (triggers.length > 0 ? ` (${triggers.join(", ")})` : "") +
      ".",
    ...(n.ownReceiver
      ? [
          `  The demo received them itself on 127.0.0.1 (${WEBHOOK_PATH}) while it ran; nothing listens`,
          "  there now, so later ones (the digest, a new alert) end FAILED. Set LOTTY_DEMO_WEBHOOK_URL to",
          "  your own receiver and run the demo again for a channel and rules of your own.",
        ]
      : ["  They went to LOTTY_DEMO_WEBHOOK_URL."]),
    `  In the console: ${url}/console/notifications. Through the API:`,
    ...cmd("lotty.notifications.v1.NotificationService/ListDeliveries", { channelId: n.channelId }),
    "  The rules, the digest's schedule among them:",
    ...cmd("lotty.notifications.v1.NotificationService/ListRules", {}),
  ];
}

/** A's raw events, exported as CSV. */
function guideExport(summary: DemoSummary, url: string, cmd: Command): string[] {
  const e = summary.eventExport;
  const { A } = summary.experiments;
  if (e === undefined) return [];
  return [
    `A's raw events, exported as CSV: job ${e.id} is ${e.status}` +
      (e.status === "EVENT_EXPORT_STATUS_DONE" ? ` (${e.rows} rows, ${e.bytes} bytes).` : "."),
    `  In the console, A's results page's "Export events" starts another one and offers a one-time`,
    `  download link: ${url}/console/experiments/${A.id}/results`,
    "  Download it by pages (data is base64; read on from nextOffset until eof):",
    ...cmd("lotty.reports.v1.EventExportService/ReadEventExport", {
      id: e.id,
      maxBytes: 1_048_576,
    }),
    "  or once through a signed link (GET it on the same server, no key needed):",
    ...cmd("lotty.reports.v1.EventExportService/CreateEventExportLink", { id: e.id }),
    "  The file is kept for 24 hours; then run the demo again or start a new export.",
  ];
}

/** The console links of the analytics part. */
function consoleAnalytics(summary: DemoSummary, url: string): string[] {
  const lines: string[] = [];
  const { A } = summary.experiments;
  const seg = summary.savedSegment;
  if (seg !== undefined) {
    lines.push(
      `  A, ${seg.key} members only: ${url}/console/experiments/${A.id}/results?saved=${encodeURIComponent(seg.key)}`,
    );
  }
  const j = summary.dataQuality?.experiment;
  if (j !== undefined) {
    lines.push(
      `  J, ratio mismatch:      ${url}/console/experiments/${j.id}/results`,
      `  Data-quality alarms:    ${url}/console/data-quality`,
    );
  }
  const k = summary.funnel?.experiment;
  if (k !== undefined) {
    lines.push(`  K, a funnel:            ${url}/console/experiments/${k.id}/results`);
  }
  if (summary.notifications !== undefined) {
    lines.push(`  Notifications sent:     ${url}/console/notifications`);
  }
  return lines;
}

/** The guide printed after a run: what each experiment shows and the commands to look. */
export function guide(summary: DemoSummary): string[] {
  const url = summary.baseUrl.replace(/\/+$/, "");
  const cmd: Command = (method, body) => [
    "    npx buf curl --protocol grpc --http2-prior-knowledge \\",
    `      -H "Authorization: Bearer $LOTTY_API_KEY" -d '${JSON.stringify(body)}' \\`,
    `      ${url}/${method}`,
  ];
  const { A, B, C } = summary.experiments;
  const { H, I } = summary.ramps;
  const users = Object.values(summary.users).map(
    (u) => `${u.email} (${u.roles.map((r) => Role[r]?.toLowerCase()).join(", ")})`,
  );
  return [
    "",
    "=== In the console ===",
    `Open ${url}/console/ and sign in with your admin key (or a demo user's key).`,
    `  A, the winner:          ${url}/console/experiments/${A.id}/results`,
    `  B, paused by guardrail: ${url}/console/experiments/${B.id}/results`,
    `  C, waiting for review:  ${url}/console/experiments/${C.id}`,
    `  H, a clean ramp:        ${url}/console/experiments/${H.id}`,
    `  I, stepped back:        ${url}/console/experiments/${I.id}`,
    `  The learnings library:  ${url}/console/learnings`,
    ...consoleAnalytics(summary, url),
    "",
    "=== What to open ===",
    "Every command uses your admin key: export LOTTY_API_KEY=… first.",
    "",
    ...guideA(A, summary.winner, cmd),
    "",
    ...guideB(B, summary.trigger, cmd),
    "",
    ...guideC(C, cmd),
    "",
    "The autopilot ramps H and I step by step while their gates pass:",
    ...guideRamp(H, cmd),
    "",
    ...guideRamp(I, cmd),
    "",
    ...guideLearnings(summary, cmd),
    "",
    ...[
      guideSegment(summary, url, cmd),
      guideDataQuality(summary, url, cmd),
      guideFunnel(summary, url, cmd),
      guideNotifications(summary, url, cmd),
      guideExport(summary, url, cmd),
    ].flatMap((part) => (part.length === 0 ? [] : [...part, ""])),
    "Plain curl works as well (Connect JSON over HTTP/1.1), e.g.",
    `    curl -sS ${url}/lotty.reports.v1.ReportService/GetExperimentReport \\`,
    `      -H 'Content-Type: application/json' -H "Authorization: Bearer $LOTTY_API_KEY" \\`,
    `      -d '${JSON.stringify({ experimentId: A.id })}'`,
    "",
    `Users: ${users.join(", ")}.`,
    summary.newApiKeys.length > 0
      ? "Their API keys are printed above, once: keep them."
      : "Their API keys were printed by the run that created them.",
    `This run created ${summary.created.length} and reused ${summary.reused.length} object(s); ` +
      "running it again reuses everything.",
  ];
}
