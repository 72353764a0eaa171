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
import type { JsMsg } from "@nats-io/jetstream";
import type pg from "pg";
import { durableConsumer, type Bus, type BusNames } from "../platform/bus.js";
import { DurableConsumer } from "../platform/durable-consumer.js";
import type { LifecycleEvent } from "../platform/changes.js";
import { isUnavailableError } from "../platform/errors.js";
import type { Logger } from "../platform/logging.js";
import { throttledWarning } from "../platform/throttled-warning.js";
import { withTransaction } from "../platform/transaction.js";
import { inSpan, messageContext, SpanKind, storedTraceHeaders } from "../platform/tracing.js";
import type { Notice } from "./channels.js";
import type { NotificationMetrics } from "./metrics.js";
import { GUARDRAIL_TRIGGERED, renderSummary } from "./text.js";

export interface MatchingRule {
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
  private readonly consumer: DurableConsumer;
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(private readonly deps: NotifierDeps) {
    this.warn = throttledWarning(deps.logger);
    const lifecycle = durableConsumer(deps.names, "notifier");
    this.consumer = new DurableConsumer(deps.bus, lifecycle, ([msg]) => this.received(msg!), {
      maxMessages: 100,
      onFailure: (error) => this.warn(error, "notifier consumer failed; restarting"),
    });
  }

  start(): void {
    this.consumer.start();
  }

  async stop(): Promise<void> {
    await this.consumer.stop();
  }

  /** Records the deliveries of one lifecycle event, then acks it. */
  private async received(msg: JsMsg): Promise<void> {
    let event: LifecycleEvent;
    try {
      event = msg.json<LifecycleEvent>();
    } catch {
      this.deps.logger.error({ seq: msg.seq }, "undecodable lifecycle event dropped");
      msg.term();
      return;
    }
    try {
      // Continues the trace of the change that caused the event; the
      // deliveries it queues keep it for the dispatcher.
      const queued = await inSpan(
        {
          name: `process ${msg.subject}`,
          kind: SpanKind.CONSUMER,
          parent: messageContext(msg.headers),
          onlyWithParent: true,
          attributes: {
            "messaging.system": "nats",
            "messaging.destination.name": msg.subject,
            "lotty.trigger": event.trigger,
            "lotty.experiment_id": event.experimentId,
          },
        },
        () => this.handle(event),
      );
      if (queued > 0) this.deps.queued();
      msg.ack();
    } catch (error) {
      this.warn(error, "could not record deliveries; the event will be retried");
      msg.nak(isUnavailableError(error) ? 2_000 : 5_000);
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
      // Data-quality alarms about no experiment have empty ids: only rules
      // without source filters match them.
      [event.trigger, event.experimentId || null, event.flagKey || null, event.ownerId || null],
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
  private record(
    rule: MatchingRule,
    channelId: string,
    notice: Notice,
  ): Promise<DeliveryQueued | undefined> {
    return withTransaction(this.deps.pool, (client) =>
      recordDelivery(client, rule, channelId, notice),
    );
  }
}

export type DeliveryQueued = "pending" | "rate_limited";

/**
 * Records one delivery of a notice to a channel for a rule, within the
 * caller's transaction: rate limited by the rule (under a lock on its row),
 * and nothing when (channel, dedup key) is already recorded (undefined).
 * The notifier and the digest scheduler record their deliveries with it.
 */
export async function recordDelivery(
  client: pg.PoolClient,
  rule: Pick<MatchingRule, "id" | "rate_limit_per_minute">,
  channelId: string,
  notice: Notice,
): Promise<DeliveryQueued | undefined> {
  await client.query("select 1 from notification_rules where id = $1 for update", [rule.id]);
  let status: DeliveryQueued = "pending";
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
       flag_key, dedup_key, payload, status, created_at, occurred_at, next_attempt_at,
       trace_context)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp(), $10,
       case when $11::boolean then clock_timestamp() end, $12)
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
      storedTraceHeaders(),
    ],
  );
  return inserted.rowCount === 0 ? undefined : status;
}
