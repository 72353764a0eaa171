/**
 * The notifier (workers role): turns lifecycle events into deliveries.
 *
 * It consumes the lifecycle stream (<P>_LIFECYCLE) through the durable
 * consumer "notifier". For each event it finds the rules whose trigger and
 * filters match, and records one delivery per channel (the oldest
 * matching rule wins when several name the same channel) before acking
 * the message; the dispatcher sends it. A redelivered event finds its
 * deliveries already recorded: (channel, dedup key) is unique.
 *
 * Rate limits are per rule and channel over the last minute, counted
 * under a lock on the rule's row so concurrent notifiers agree;
 * `guardrail.triggered` is neither limited nor counted against the limit.
 */
import { randomUUID } from "node:crypto";
import type { ConsumerMessages } from "@nats-io/jetstream";
import type pg from "pg";
import type { Bus, BusNames } from "../platform/bus.js";
import type { LifecycleEvent } from "../platform/changes.js";
import { isUnavailableError } from "../platform/errors.js";
import type { Logger } from "../platform/logging.js";
import type { Notice } from "./channels.js";
import type { NotificationMetrics } from "./metrics.js";
import { GUARDRAIL_TRIGGERED, renderSummary } from "./text.js";

export const NOTIFIER_CONSUMER = "notifier";

interface MatchingRule {
  id: string;
  channel_ids: string[];
  rate_limit_per_minute: number;
  template: string;
}

export interface NotifierDeps {
  bus: Bus;
  names: BusNames;
  pool: pg.Pool;
  metrics: NotificationMetrics;
  logger: Logger;
  /** Called after deliveries were queued. */
  queued: () => void;
}

export class Notifier {
  private stopped = false;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private lastWarning = 0;

  constructor(private readonly deps: NotifierDeps) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => {});
    await this.loop;
  }

  private async run(): Promise<void> {
    const { bus, names } = this.deps;
    while (!this.stopped) {
      try {
        const consumer = await bus.js.consumers.get(
          `${names.streamPrefix}_LIFECYCLE`,
          NOTIFIER_CONSUMER,
        );
        this.messages = await consumer.consume({ max_messages: 100 });
        // stop() may have run while the consumer was being set up.
        if (this.stopped) await this.messages.close();
        for await (const msg of this.messages) {
          let event: LifecycleEvent;
          try {
            event = msg.json<LifecycleEvent>();
          } catch {
            this.deps.logger.error({ seq: msg.seq }, "undecodable lifecycle event dropped");
            msg.term();
            continue;
          }
          try {
            if ((await this.handle(event)) > 0) this.deps.queued();
            msg.ack();
          } catch (error) {
            this.warn(error, "could not record deliveries; the event will be retried");
            msg.nak(isUnavailableError(error) ? 2_000 : 5_000);
          }
        }
      } catch (error) {
        this.warn(error, "notifier consumer failed; restarting");
      }
      if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }

  /** Records the deliveries of one event; returns how many were queued to send. */
  async handle(event: LifecycleEvent): Promise<number> {
    const { rows: rules } = await this.deps.pool.query<MatchingRule>(
      `select id, channel_ids, rate_limit_per_minute, template from notification_rules
       where $1 = any(triggers)
         and (experiment_id is null or experiment_id = $2::uuid)
         and (flag_key is null or flag_key = $3)
         and (owner_id is null or owner_id = $4::uuid)
       order by created_at, id`,
      [event.trigger, event.experimentId, event.flagKey, event.ownerId || null],
    );
    const channels = new Set<string>();
    let queued = 0;
    for (const rule of rules) {
      const notice: Notice = {
        trigger: event.trigger,
        experimentId: event.experimentId,
        experimentName: event.experimentName,
        flagKey: event.flagKey,
        actorId: event.actorId ?? "",
        occurredAt: event.occurredAt,
        summary: renderSummary(rule.template, event),
        dedupKey: event.dedupKey,
        details: event.details ?? {},
      };
      for (const channelId of rule.channel_ids) {
        if (channels.has(channelId)) continue;
        channels.add(channelId);
        const status = await this.record(rule, channelId, notice);
        if (status === "pending") queued++;
        if (status !== undefined) {
          this.deps.metrics.deliveries.inc({ status: status === "pending" ? "queued" : status });
        }
      }
    }
    return queued;
  }

  /** One delivery row; undefined when the event was already recorded for the channel. */
  private async record(
    rule: MatchingRule,
    channelId: string,
    notice: Notice,
  ): Promise<"pending" | "rate_limited" | undefined> {
    const client = await this.deps.pool.connect();
    try {
      await client.query("begin");
      await client.query("select 1 from notification_rules where id = $1 for update", [rule.id]);
      let status: "pending" | "rate_limited" = "pending";
      if (notice.trigger !== GUARDRAIL_TRIGGERED) {
        const { rows } = await client.query<{ n: string }>(
          `select count(*)::text as n from notification_deliveries
           where rule_id = $1 and channel_id = $2 and status <> 'rate_limited'
             and trigger <> '${GUARDRAIL_TRIGGERED}'
             and created_at > clock_timestamp() - interval '1 minute'`,
          [rule.id, channelId],
        );
        if (Number(rows[0]?.n ?? 0) >= rule.rate_limit_per_minute) status = "rate_limited";
      }
      const inserted = await client.query(
        `insert into notification_deliveries (id, channel_id, rule_id, trigger, experiment_id,
           flag_key, dedup_key, payload, status, created_at, occurred_at, next_attempt_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp(), $10,
           case when $11::boolean then clock_timestamp() end)
         on conflict on constraint notification_deliveries_once do nothing`,
        [
          randomUUID(),
          channelId,
          rule.id,
          notice.trigger,
          notice.experimentId || null,
          notice.flagKey,
          notice.dedupKey,
          JSON.stringify(notice),
          status,
          notice.occurredAt,
          status === "pending",
        ],
      );
      await client.query("commit");
      return inserted.rowCount === 0 ? undefined : status;
    } catch (error) {
      await client.query("rollback").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  private warn(error: unknown, message: string): void {
    const now = Date.now();
    if (now - this.lastWarning < 10_000) return;
    this.lastWarning = now;
    this.deps.logger.warn({ err: error }, message);
  }
}
