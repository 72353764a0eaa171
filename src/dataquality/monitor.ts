/**
 * The data-quality monitor (workers role;
 * docs/notifications.md#data-quality-alarms). Every interval one process
 * (the `data_quality` lease in `ramp_leases`) checks:
 *
 * - event volume per event type in the last complete hour against the
 *   same hour of the previous days (rules.ts volumeVerdict); hours are
 *   counted once from the raw events, once settled, and kept;
 * - the rejected share and the attribution backlog over the last hour,
 *   against the ingest totals and backlog a pass recorded an hour earlier;
 * - each running experiment's report for a sample ratio mismatch, firing
 *   when it appears (the last verdict is kept per experiment).
 *
 * An alarm is a row in data_quality_alarms, unique by its dedup key (kind,
 * subject, hour), and a lifecycle event staged in the outbox in the same
 * transaction: the notifier matches it with rules like any other event
 * (rate limits included) and the dispatcher sends it. A second pass in the
 * same hour, or a second process, finds the key taken and sends nothing.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import {
  eventCountsOfHour,
  ingestTotalsFrom,
  pendingAttributionTotal,
  rawEventsFrom,
} from "../events/index.js";
import { runningExperiments, type ExperimentHeadline } from "../experiments/lookup.js";
import type { ReportBuilder } from "../reports/lookup.js";
import type { ChangePublisher, LifecycleEvent } from "../platform/changes.js";
import type { Logger } from "../platform/logging.js";
import { outboxInsert } from "../platform/outbox.js";
import { withTransaction } from "../platform/transaction.js";
import { LeasedJob } from "../platform/lease.js";
import {
  backlogVerdict,
  DEFAULT_BACKLOG_RULE,
  DEFAULT_REJECTED_SHARE_RULE,
  DEFAULT_VOLUME_RULE,
  rejectedShareVerdict,
  volumeVerdict,
  type BacklogRule,
  type RejectedShareRule,
  type VolumeRule,
} from "./rules.js";

/** How often the monitor runs by default. */
export const DATA_QUALITY_INTERVAL_MS = 60_000;
export const DATA_QUALITY_LEASE_SECONDS = 120;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface DataQualitySettings {
  volume: VolumeRule;
  rejectedShare: RejectedShareRule;
  backlog: BacklogRule;
  /**
   * An hour is judged (and counted) only this long after it ends, so late
   * events of it are in. Default 5 minutes.
   */
  settleMs: number;
}

export const DEFAULT_DATA_QUALITY_SETTINGS: DataQualitySettings = {
  volume: DEFAULT_VOLUME_RULE,
  rejectedShare: DEFAULT_REJECTED_SHARE_RULE,
  backlog: DEFAULT_BACKLOG_RULE,
  settleMs: 5 * 60_000,
};

export interface DataQualityDeps {
  pool: pg.Pool;
  changes: ChangePublisher;
  reports: ReportBuilder;
  logger: Logger;
  /** Default DATA_QUALITY_INTERVAL_MS. */
  intervalMs?: number;
  /** Default DATA_QUALITY_LEASE_SECONDS. */
  leaseSeconds?: number;
  /** Overrides of the default rules. */
  settings?: Partial<DataQualitySettings>;
  /** This monitor's name in the lease; default a random id. */
  holder?: string;
}

/** An alarm this monitor recorded. */
export interface RaisedAlarm {
  kind: string;
  subject: string;
  experimentId: string | null;
  dedupKey: string;
  windowStart: number;
  windowEnd: number;
  summary: string;
  figures: Record<string, number>;
}

const LEASE_NAME = "data_quality";

export class DataQualityMonitor {
  private readonly settings: DataQualitySettings;
  private readonly job: LeasedJob<RaisedAlarm[]>;

  constructor(private readonly deps: DataQualityDeps) {
    this.settings = { ...DEFAULT_DATA_QUALITY_SETTINGS, ...deps.settings };
    this.job = new LeasedJob({
      pool: deps.pool,
      name: LEASE_NAME,
      holder: deps.holder ?? `data-quality-${randomUUID()}`,
      intervalMs: deps.intervalMs ?? DATA_QUALITY_INTERVAL_MS,
      leaseSeconds: deps.leaseSeconds ?? DATA_QUALITY_LEASE_SECONDS,
      logger: deps.logger,
      failure: "data-quality pass failed; retrying",
      pass: (now) => this.evaluate(now),
      idle: () => [],
    });
  }

  start(): void {
    this.job.start();
  }

  async stop(): Promise<void> {
    await this.job.stop();
  }

  /** One pass with the lease: every check. Returns the alarms it recorded. */
  async tick(now = Date.now()): Promise<RaisedAlarm[]> {
    return this.job.tick(now);
  }

  /** Every check, without the lease (tick takes it; tests race two monitors). */
  async evaluate(now = Date.now()): Promise<RaisedAlarm[]> {
    const raised: RaisedAlarm[] = [];
    const checks = [
      () => this.checkVolume(now, raised),
      () => this.checkIngest(now, raised),
      () => this.checkSrm(now, raised),
    ];
    let failure: unknown;
    for (const check of checks) {
      try {
        await check();
      } catch (error) {
        failure ??= error;
      }
    }
    if (raised.length > 0) await this.deps.changes.committed(false);
    if (failure !== undefined) throw failure;
    return raised;
  }

  // --- volume ---------------------------------------------------------------

  private async checkVolume(now: number, raised: RaisedAlarm[]): Promise<void> {
    const rule = this.settings.volume;
    const hourEnd = Math.floor((now - this.settings.settleMs) / HOUR_MS) * HOUR_MS;
    const hour = hourEnd - HOUR_MS;
    const current = await this.hourCounts(hour);
    if (current === undefined) return;
    const days: (Map<string, number> | undefined)[] = [];
    for (let d = rule.baselineDays; d >= 1; d--)
      days.push(await this.hourCounts(hour - d * DAY_MS));
    const types = new Set(current.keys());
    for (const day of days) for (const type of day?.keys() ?? []) types.add(type);
    for (const type of [...types].sort()) {
      const x = current.get(type) ?? 0;
      // Days whose raw events retention dropped are no history.
      const history = days.filter((d) => d !== undefined).map((d) => d.get(type) ?? 0);
      const verdict = volumeVerdict(x, history, rule);
      if (verdict.alarm === null) continue;
      const figures: Record<string, number> = {
        observed: x,
        median: verdict.median,
        mad: verdict.mad,
        history_days: verdict.historyDays,
        change: verdict.median === 0 ? 0 : (x - verdict.median) / verdict.median,
      };
      // An infinite z (a baseline that never varied) is left out.
      if (Number.isFinite(verdict.z)) figures.robust_z = round(verdict.z, 2);
      const kind = `data_quality.volume_${verdict.alarm}`;
      const z = Number.isFinite(verdict.z)
        ? `robust z ${round(verdict.z, 1)}`
        : "the baseline never varied";
      await this.raise(raised, {
        kind,
        subject: type,
        experiment: undefined,
        windowStart: hour,
        windowEnd: hourEnd,
        figures,
        summary:
          `Event type "${type}" had ${count(x)} events in the hour from ${iso(hour)}, ` +
          `${verdict.alarm === "drop" ? "far below" : "far above"} the median of ${count(verdict.median)} ` +
          `on that hour of the previous ${verdict.historyDays} days (${z})`,
      });
    }
  }

  /**
   * Events per type in one hour: from the kept counts, or counted from the
   * raw events (and kept) the first time. Undefined when the raw events of
   * that hour are gone (retention) and it was never counted.
   */
  private async hourCounts(hour: number): Promise<Map<string, number> | undefined> {
    const { pool } = this.deps;
    const counted = await pool.query(`select 1 from data_quality_counted_hours where hour = $1`, [
      new Date(hour),
    ]);
    if (counted.rowCount === 0) {
      const rawFrom = await rawEventsFrom(pool);
      if (rawFrom !== undefined && hour < rawFrom) return undefined;
      const counts = await eventCountsOfHour(pool, hour);
      await withTransaction(pool, async (client) => {
        const claimed = await client.query(
          `insert into data_quality_counted_hours (hour, counted_at) values ($1, clock_timestamp())
           on conflict do nothing`,
          [new Date(hour)],
        );
        if (claimed.rowCount === 0 || counts.size === 0) return;
        await client.query(
          `insert into data_quality_hour_counts (hour, event_type, events)
           select $1, * from unnest($2::text[], $3::bigint[])`,
          [new Date(hour), [...counts.keys()], [...counts.values()]],
        );
      });
      // Kept counts older than the baseline are not needed any more.
      await pool.query(`delete from data_quality_counted_hours where hour < $1`, [
        new Date(hour - (this.settings.volume.baselineDays + 2) * DAY_MS),
      ]);
      await pool.query(`delete from data_quality_hour_counts where hour < $1`, [
        new Date(hour - (this.settings.volume.baselineDays + 2) * DAY_MS),
      ]);
    }
    const { rows } = await pool.query<{ event_type: string; events: string }>(
      `select event_type, events::text as events from data_quality_hour_counts where hour = $1`,
      [new Date(hour)],
    );
    return new Map(rows.map((r) => [r.event_type, Number(r.events)]));
  }

  // --- rejected share and attribution backlog -------------------------------

  private async checkIngest(now: number, raised: RaisedAlarm[]): Promise<void> {
    const { pool } = this.deps;
    const pending = await pendingAttributionTotal(pool);
    // The mark a pass took an hour ago (at most two hours ago).
    const { rows } = await pool.query<{
      taken_at: Date;
      day: string;
      stored: string;
      duplicates: string;
      rejected: string;
      pending: string;
    }>(
      `select taken_at, day::text as day, stored::text, duplicates::text, rejected::text,
         pending::text
       from data_quality_marks where taken_at <= $1 and taken_at > $2
       order by taken_at desc limit 1`,
      [new Date(now - HOUR_MS), new Date(now - 2 * HOUR_MS)],
    );
    const mark = rows[0];
    const today = new Date(Math.floor(now / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
    const totals = await ingestTotalsFrom(pool, today);
    await pool.query(
      `insert into data_quality_marks (taken_at, day, stored, duplicates, rejected, pending)
       values ($1, $2::date, $3, $4, $5, $6) on conflict do nothing`,
      [new Date(now), today, totals.stored, totals.duplicates, totals.rejected, pending],
    );
    await pool.query(`delete from data_quality_marks where taken_at < $1`, [
      new Date(now - 3 * HOUR_MS),
    ]);
    const hour = Math.floor(now / HOUR_MS) * HOUR_MS;

    if (mark !== undefined) {
      const since = await ingestTotalsFrom(pool, mark.day);
      const hourly = {
        stored: Math.max(0, since.stored - Number(mark.stored)),
        duplicates: Math.max(0, since.duplicates - Number(mark.duplicates)),
        rejected: Math.max(0, since.rejected - Number(mark.rejected)),
      };
      const rule = this.settings.rejectedShare;
      const verdict = rejectedShareVerdict(hourly, rule);
      if (verdict.alarm) {
        await this.raise(raised, {
          kind: "data_quality.rejected_share",
          subject: "all",
          experiment: undefined,
          windowStart: mark.taken_at.getTime(),
          windowEnd: now,
          dedupHour: hour,
          figures: {
            rejected_share: round(verdict.share, 4),
            rejected: hourly.rejected,
            received: verdict.received,
            bound: rule.maxShare,
          },
          summary:
            `${percent(verdict.share)} of events were rejected in the last hour ` +
            `(${count(hourly.rejected)} of ${count(verdict.received)} received; bound ${percent(rule.maxShare)})`,
        });
      }
    }

    const rule = this.settings.backlog;
    const before = mark === undefined ? undefined : Number(mark.pending);
    const backlog = backlogVerdict(pending, before, rule);
    if (backlog.alarm !== null) {
      const figures: Record<string, number> = { pending, bound: rule.maxPending };
      if (before !== undefined) figures.pending_hour_ago = before;
      await this.raise(raised, {
        kind: "data_quality.attribution_backlog",
        subject: "all",
        experiment: undefined,
        windowStart: mark?.taken_at.getTime() ?? now,
        windowEnd: now,
        dedupHour: hour,
        figures,
        summary:
          `${count(pending)} events wait for attribution` +
          (backlog.alarm === "above_bound"
            ? ` (bound ${count(rule.maxPending)})`
            : ` (${count(before ?? 0)} an hour ago)`),
      });
    }
  }

  // --- sample ratio mismatch -------------------------------------------------

  private async checkSrm(now: number, raised: RaisedAlarm[]): Promise<void> {
    const { pool, reports } = this.deps;
    for (const experiment of await runningExperiments(pool)) {
      if (this.job.stopping) return;
      // Sample ratio mismatch needs the exposures only: no metric is computed.
      const plan = reports.narrow(await reports.plan(experiment.id), []);
      const report = await reports.build(plan, reports.window(plan, { bucketSeconds: 0 }));
      const mismatch = report.srm?.mismatch ?? false;
      const pValue = report.srm?.pValue ?? 1;
      const hour = Math.floor(now / HOUR_MS) * HOUR_MS;
      const from = report.from === undefined ? now : Number(report.from.seconds) * 1000;
      await withTransaction(pool, async (client) => {
        const { rows } = await client.query<{ mismatch: boolean }>(
          `select mismatch from data_quality_srm where experiment_id = $1 for update`,
          [experiment.id],
        );
        const before = rows[0]?.mismatch ?? false;
        await client.query(
          `insert into data_quality_srm (experiment_id, mismatch, updated_at)
           values ($1, $2, clock_timestamp())
           on conflict (experiment_id) do update set mismatch = excluded.mismatch,
             updated_at = excluded.updated_at`,
          [experiment.id, mismatch],
        );
        if (!mismatch || before) return;
        await this.raiseWith(client, raised, {
          kind: "data_quality.srm",
          subject: experiment.id,
          experiment,
          windowStart: from,
          windowEnd: now,
          dedupHour: hour,
          figures: {
            p_value: pValue,
            chi_square: round(report.srm?.chiSquare ?? 0, 3),
            exposures: report.exposures,
          },
          summary:
            `Experiment "${experiment.name}" (flag ${experiment.flagKey}) shows a sample ratio ` +
            `mismatch: p = ${pValue.toPrecision(2)} (chi-square ${round(report.srm?.chiSquare ?? 0, 1)})`,
        });
      });
    }
  }

  // --- recording ------------------------------------------------------------

  private raise(raised: RaisedAlarm[], alarm: AlarmInput): Promise<void> {
    return withTransaction(this.deps.pool, (client) => this.raiseWith(client, raised, alarm));
  }

  /** Records the alarm and stages its notification, unless its dedup key is taken. */
  private async raiseWith(
    client: pg.PoolClient,
    raised: RaisedAlarm[],
    alarm: AlarmInput,
  ): Promise<void> {
    const dedupKey = `${alarm.kind}:${alarm.subject}:${iso(alarm.dedupHour ?? alarm.windowStart)}`;
    const firedAt = new Date();
    const inserted = await client.query(
      `insert into data_quality_alarms (id, kind, subject, experiment_id, dedup_key, window_start,
         window_end, summary, figures, fired_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       on conflict (dedup_key) do nothing`,
      [
        randomUUID(),
        alarm.kind,
        alarm.subject,
        alarm.experiment?.id ?? null,
        dedupKey,
        new Date(alarm.windowStart),
        new Date(alarm.windowEnd),
        alarm.summary,
        JSON.stringify(alarm.figures),
        firedAt,
      ],
    );
    if (inserted.rowCount === 0) return;
    const event: LifecycleEvent = {
      trigger: alarm.kind,
      experimentId: alarm.experiment?.id ?? "",
      experimentName: alarm.experiment?.name ?? "",
      ownerId: alarm.experiment?.ownerId ?? "",
      flagKey: alarm.experiment?.flagKey ?? "",
      actorId: null,
      fromStatus: "",
      toStatus: "",
      version: 0,
      comment: "",
      occurredAt: firedAt.toISOString(),
      dedupKey,
      details: {
        summary: alarm.summary,
        subject: alarm.subject,
        windowStart: iso(alarm.windowStart),
        windowEnd: iso(alarm.windowEnd),
        figures: alarm.figures,
      },
    };
    const staged = outboxInsert(this.deps.changes.lifecycleMessage(event), "$n");
    await client.query(staged.sql, staged.params);
    raised.push({
      kind: alarm.kind,
      subject: alarm.subject,
      experimentId: alarm.experiment?.id ?? null,
      dedupKey,
      windowStart: alarm.windowStart,
      windowEnd: alarm.windowEnd,
      summary: alarm.summary,
      figures: alarm.figures,
    });
    this.deps.logger.info({ kind: alarm.kind, subject: alarm.subject }, "data-quality alarm");
  }
}

interface AlarmInput {
  kind: string;
  subject: string;
  experiment: ExperimentHeadline | undefined;
  windowStart: number;
  windowEnd: number;
  /** The hour in the dedup key; default windowStart. */
  dedupHour?: number;
  figures: Record<string, number>;
  summary: string;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function percent(share: number): string {
  return `${round(share * 100, 1)} %`;
}
