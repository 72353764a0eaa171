/**
 * Scheduled digests (workers role; docs/notifications.md#digests). A rule
 * with a digest schedule gets, once per period, one message listing the
 * experiments its source filters select that are running, paused or
 * completed within the period: status, the primary metric's effect per
 * variant against the control (relative difference, the 95 % interval of
 * the difference, p-value, significance) and health warnings (sample ratio
 * mismatch, rejected share), all from the report builder.
 *
 * Once per period even with several processes: the `digests` lease keeps
 * one scheduler at work, and the row (rule id, period start) in
 * notification_digests, inserted in the transaction that records the
 * deliveries, makes a second one (or a retried pass) record nothing.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { Report } from "../../gen/lotty/reports/v1/reports_pb.js";
import { experimentsSelected, type ExperimentHeadline } from "../experiments/lookup.js";
import type { ReportBuilder } from "../reports/lookup.js";
import type { Logger } from "../platform/logging.js";
import { withTransaction } from "../platform/transaction.js";
import { LeasedJob } from "../platform/lease.js";
import type { Notice } from "./channels.js";
import { recordDelivery } from "./notifier.js";
import { DIGEST_TRIGGERS, renderSummary } from "./text.js";

export const DIGEST_INTERVAL_MS = 60_000;
const LEASE_NAME = "digests";
const LEASE_SECONDS = 120;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** A rejected share above this is a warning (the data-quality alarm's default bound). */
const REJECTED_SHARE_WARNING = 0.05;

export type DigestPeriodName = "daily" | "weekly";

export interface DigestSchedule {
  period: DigestPeriodName;
  /** 0–23, UTC. */
  hour: number;
  /** ISO weekday 1 (Monday) – 7 (Sunday), weekly only. */
  weekday: number;
}

/**
 * The latest digest due at or before `now`: it is sent at `end` and covers
 * [start, end), one day or one week. Pure.
 */
export function latestPeriod(
  schedule: DigestSchedule,
  now: number,
): { start: number; end: number } {
  let end = Math.floor(now / DAY_MS) * DAY_MS + schedule.hour * HOUR_MS;
  if (end > now) end -= DAY_MS;
  if (schedule.period === "daily") return { start: end - DAY_MS, end };
  // 1970-01-01 was a Thursday (ISO 4).
  const weekday = ((Math.floor(end / DAY_MS) + 3) % 7) + 1;
  end -= ((weekday - schedule.weekday + 7) % 7) * DAY_MS;
  return { start: end - 7 * DAY_MS, end };
}

/** One variant's primary-metric effect in a digest. */
export interface DigestVariant {
  variantKey: string;
  control: boolean;
  value: number;
  sampleSize: number;
  /** Against the control (absent for the control itself). */
  relativeDiff?: number;
  absoluteDiff?: number;
  ciLow?: number;
  ciHigh?: number;
  pValue?: number;
  significant?: boolean;
}

export interface DigestExperiment {
  experimentId: string;
  name: string;
  flagKey: string;
  status: string;
  primaryMetricKey: string;
  exposures: number;
  variants: DigestVariant[];
  srm: { pValue: number; mismatch: boolean };
  rejectedShare: number;
  warnings: string[];
}

export interface DigestDetails {
  ruleId: string;
  ruleName: string;
  period: DigestPeriodName;
  periodStart: string;
  periodEnd: string;
  experiments: DigestExperiment[];
}

/** The digest entry of one experiment from its report. Pure. */
export function digestEntry(experiment: ExperimentHeadline, report: Report): DigestExperiment {
  const key = report.primaryMetricKey || experiment.primaryMetricKey;
  const variants: DigestVariant[] = report.variants.map((v) => {
    const metric = v.metrics.find((m) => m.metricKey === key);
    const c = metric?.comparison;
    const entry: DigestVariant = {
      variantKey: v.variantKey,
      control: v.control,
      value: metric?.value ?? 0,
      sampleSize: metric?.sampleSize ?? 0,
    };
    if (!v.control && c !== undefined) {
      Object.assign(entry, {
        relativeDiff: c.relativeDiff,
        absoluteDiff: c.absoluteDiff,
        ciLow: c.ciLow,
        ciHigh: c.ciHigh,
        pValue: c.pValue,
        significant: c.significant,
      });
    }
    return entry;
  });
  const srm = { pValue: report.srm?.pValue ?? 1, mismatch: report.srm?.mismatch ?? false };
  const rejectedShare = report.dataHealth?.rejectedShare ?? 0;
  const warnings: string[] = [];
  if (srm.mismatch) warnings.push(`sample ratio mismatch (p = ${srm.pValue.toPrecision(2)})`);
  if (rejectedShare > REJECTED_SHARE_WARNING) {
    warnings.push(`${pct(rejectedShare)} of its events were rejected`);
  }
  return {
    experimentId: experiment.id,
    name: experiment.name,
    flagKey: experiment.flagKey,
    status: experiment.status,
    primaryMetricKey: key,
    exposures: report.exposures,
    variants,
    srm,
    rejectedShare,
    warnings,
  };
}

/** The digest as readable text (Slack, Telegram, the webhook's summary). Pure. */
export function digestText(details: DigestDetails): string {
  const title =
    `${details.period === "daily" ? "Daily" : "Weekly"} digest "${details.ruleName}", ` +
    `${details.periodStart.slice(0, 16).replace("T", " ")} – ` +
    `${details.periodEnd.slice(0, 16).replace("T", " ")} UTC: ` +
    `${details.experiments.length} experiment${details.experiments.length === 1 ? "" : "s"}`;
  const lines = [title];
  for (const e of details.experiments) {
    lines.push(`• "${e.name}" (flag ${e.flagKey}), ${e.status}, ${e.exposures} exposures`);
    for (const v of e.variants) {
      if (v.control || v.relativeDiff === undefined) continue;
      lines.push(
        `  ${e.primaryMetricKey} ${v.variantKey}: ${signedPct(v.relativeDiff)} vs control ` +
          `(difference ${signed(v.absoluteDiff ?? 0)}, 95 % CI ${signed(v.ciLow ?? 0)} to ` +
          `${signed(v.ciHigh ?? 0)}, p = ${(v.pValue ?? 1).toPrecision(2)}, ` +
          `${v.significant ? "significant" : "not significant"})`,
      );
    }
    for (const w of e.warnings) lines.push(`  ⚠ ${w}`);
  }
  return lines.join("\n");
}

function pct(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

function signedPct(share: number): string {
  return `${share >= 0 ? "+" : "−"}${Math.abs(share * 100).toFixed(1)} %`;
}

function signed(x: number): string {
  return `${x >= 0 ? "+" : "−"}${Number(Math.abs(x).toPrecision(3))}`;
}

interface DigestRuleRow {
  id: string;
  name: string;
  experiment_id: string | null;
  flag_key: string | null;
  owner_id: string | null;
  channel_ids: string[];
  rate_limit_per_minute: number;
  template: string;
  digest_period: DigestPeriodName;
  digest_hour: number;
  digest_weekday: number;
  created_at: Date;
}

export interface DigestDeps {
  pool: pg.Pool;
  reports: ReportBuilder;
  logger: Logger;
  /** Default DIGEST_INTERVAL_MS. */
  intervalMs?: number;
  /** This scheduler's name in the lease; default a random id. */
  holder?: string;
  /** Called after deliveries were queued (pokes the dispatcher). */
  queued?: () => void;
}

/** What one pass sent: per rule, the period and the deliveries recorded. */
export interface DigestSent {
  ruleId: string;
  periodStart: number;
  deliveries: number;
}

export class DigestScheduler {
  private readonly job: LeasedJob<DigestSent[]>;

  constructor(private readonly deps: DigestDeps) {
    this.job = new LeasedJob({
      pool: deps.pool,
      name: LEASE_NAME,
      holder: deps.holder ?? `digests-${randomUUID()}`,
      intervalMs: deps.intervalMs ?? DIGEST_INTERVAL_MS,
      leaseSeconds: LEASE_SECONDS,
      logger: deps.logger,
      failure: "digest pass failed; retrying",
      pass: (now) => this.sendDue(now),
      idle: () => [],
    });
  }

  start(): void {
    this.job.start();
  }

  async stop(): Promise<void> {
    await this.job.stop();
  }

  /** One pass with the lease. */
  async tick(now = Date.now()): Promise<DigestSent[]> {
    return this.job.tick(now);
  }

  /** Sends every digest due at `now` and not sent yet (no lease: tests race two). */
  async sendDue(now = Date.now()): Promise<DigestSent[]> {
    const { pool } = this.deps;
    const { rows: rules } = await pool.query<DigestRuleRow>(
      `select id, name, experiment_id, flag_key, owner_id, channel_ids, rate_limit_per_minute,
         template, digest_period, digest_hour, digest_weekday, created_at
       from notification_rules where digest_period is not null order by created_at, id`,
    );
    const sent: DigestSent[] = [];
    for (const rule of rules) {
      if (this.job.stopping) break;
      const schedule = {
        period: rule.digest_period,
        hour: rule.digest_hour,
        weekday: rule.digest_weekday,
      };
      const period = latestPeriod(schedule, now);
      // A send time before the rule existed is not its digest.
      if (period.end < rule.created_at.getTime()) continue;
      const done = await pool.query(
        `select 1 from notification_digests where rule_id = $1 and period_start = $2`,
        [rule.id, new Date(period.start)],
      );
      if (done.rowCount !== 0) continue;
      const notice = await this.notice(rule, period);
      const deliveries = await withTransaction(pool, async (client) => {
        const claimed = await client.query(
          `insert into notification_digests (rule_id, period_start, sent_at)
           values ($1, $2, clock_timestamp()) on conflict do nothing`,
          [rule.id, new Date(period.start)],
        );
        if (claimed.rowCount === 0) return undefined;
        let queued = 0;
        for (const channelId of rule.channel_ids) {
          if ((await recordDelivery(client, rule, channelId, notice)) === "pending") queued++;
        }
        return queued;
      });
      if (deliveries === undefined) continue;
      sent.push({ ruleId: rule.id, periodStart: period.start, deliveries });
      this.deps.logger.info({ ruleId: rule.id, period: notice.dedupKey }, "digest queued");
    }
    if (sent.some((s) => s.deliveries > 0)) this.deps.queued?.();
    return sent;
  }

  private async notice(
    rule: DigestRuleRow,
    period: { start: number; end: number },
  ): Promise<Notice> {
    const experiments = await experimentsSelected(
      this.deps.pool,
      { experimentId: rule.experiment_id, flagKey: rule.flag_key, ownerId: rule.owner_id },
      new Date(period.start),
    );
    const entries: DigestExperiment[] = [];
    for (const experiment of experiments) {
      const { reports } = this.deps;
      // A digest shows the primary metric only.
      const plan = reports.narrow(await reports.plan(experiment.id), [experiment.primaryMetricKey]);
      const report = await reports.build(plan, reports.window(plan, { bucketSeconds: 0 }));
      entries.push(digestEntry(experiment, report));
    }
    const trigger = DIGEST_TRIGGERS[rule.digest_period];
    const details: DigestDetails = {
      ruleId: rule.id,
      ruleName: rule.name,
      period: rule.digest_period,
      periodStart: new Date(period.start).toISOString(),
      periodEnd: new Date(period.end).toISOString(),
      experiments: entries,
    };
    const text = digestText(details);
    const occurredAt = details.periodEnd;
    const dedupKey = `${trigger}:${rule.id}:${details.periodStart}`;
    const summary = renderSummary(rule.template, {
      trigger,
      experimentId: "",
      experimentName: "",
      ownerId: "",
      flagKey: "",
      actorId: null,
      fromStatus: "",
      toStatus: "",
      version: 0,
      comment: "",
      occurredAt,
      dedupKey,
      details: { summary: text },
    });
    return {
      trigger,
      experimentId: "",
      experimentName: "",
      flagKey: "",
      actorId: "",
      occurredAt,
      summary,
      dedupKey,
      details: details as unknown as Record<string, unknown>,
    };
  }
}
