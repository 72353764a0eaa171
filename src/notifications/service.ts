/**
 * lotty.notifications.v1.NotificationService: channels, rules and the
 * delivery log. Channel urls and secrets are stored sealed (secrets.ts)
 * and shown masked; deliveries are written by the notifier and the
 * dispatcher.
 */
import { randomUUID } from "node:crypto";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type pg from "pg";
import {
  DeliveryStatus,
  DigestPeriod,
  type Channel,
  type NotificationService,
  type Rule,
} from "../../gen/lotty/notifications/v1/notifications_pb.js";
import { requirePrincipal } from "../platform/auth.js";
import { FieldViolations, invalidArgument, notFound } from "../platform/errors.js";
import { mutateSql } from "../platform/mutation.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import { checkUuid, isUuid } from "../platform/validation.js";
import type { ChannelKindName } from "./channels.js";
import { maskUrl, type SecretBox } from "./secrets.js";
import { DATA_QUALITY_TRIGGERS } from "./text.js";
import { KIND_VALUES, validateChannel, validateRule } from "./validation.js";

export type DeliveryStatusName = "pending" | "retrying" | "sent" | "failed" | "rate_limited";

const STATUS_VALUES: Readonly<Record<DeliveryStatusName, DeliveryStatus>> = {
  pending: DeliveryStatus.PENDING,
  retrying: DeliveryStatus.RETRYING,
  sent: DeliveryStatus.SENT,
  failed: DeliveryStatus.FAILED,
  rate_limited: DeliveryStatus.RATE_LIMITED,
};

interface ChannelRow {
  id: string;
  name: string;
  kind: ChannelKindName;
  url_display: string;
  chat_id: string;
  secret: string | null;
  created_at: Date;
  created_by: string | null;
}

interface RuleRow {
  id: string;
  name: string;
  triggers: string[];
  experiment_id: string | null;
  flag_key: string | null;
  owner_id: string | null;
  channel_ids: string[];
  rate_limit_per_minute: number;
  template: string;
  digest_period: "daily" | "weekly" | null;
  digest_hour: number;
  digest_weekday: number;
  created_at: Date;
  created_by: string | null;
}

interface AlarmRow {
  id: string;
  kind: string;
  subject: string;
  experiment_id: string | null;
  window_start: Date;
  window_end: Date;
  summary: string;
  figures: Record<string, number>;
  fired_at: Date;
  fired_text: string;
}

interface DeliveryRow {
  id: string;
  channel_id: string;
  rule_id: string;
  trigger: string;
  experiment_id: string | null;
  flag_key: string;
  dedup_key: string;
  status: DeliveryStatusName;
  attempts: number;
  last_error: string;
  created_at: Date;
  created_text: string;
  occurred_at: Date;
  next_attempt_at: Date | null;
  sent_at: Date | null;
}

function channelMessage(row: ChannelRow) {
  return {
    id: row.id,
    name: row.name,
    kind: KIND_VALUES[row.kind],
    url: row.url_display,
    chatId: row.chat_id,
    secret: "",
    hasSecret: row.secret !== null,
    createdAt: timestampFromDate(row.created_at),
    createdBy: row.created_by ?? "",
  };
}

function ruleMessage(row: RuleRow) {
  return {
    id: row.id,
    name: row.name,
    triggers: row.triggers,
    experimentId: row.experiment_id ?? "",
    flagKey: row.flag_key ?? "",
    channelIds: row.channel_ids,
    rateLimitPerMinute: row.rate_limit_per_minute,
    ownerId: row.owner_id ?? "",
    template: row.template,
    createdAt: timestampFromDate(row.created_at),
    createdBy: row.created_by ?? "",
    digest:
      row.digest_period === null
        ? undefined
        : {
            period: row.digest_period === "daily" ? DigestPeriod.DAILY : DigestPeriod.WEEKLY,
            hourUtc: row.digest_hour,
            weekday: row.digest_weekday,
          },
  };
}

function alarmMessage(row: AlarmRow) {
  return {
    id: row.id,
    kind: row.kind,
    subject: row.subject,
    experimentId: row.experiment_id ?? "",
    firedAt: timestampFromDate(row.fired_at),
    windowStart: timestampFromDate(row.window_start),
    windowEnd: timestampFromDate(row.window_end),
    summary: row.summary,
    figures: row.figures,
  };
}

function deliveryMessage(row: DeliveryRow) {
  return {
    id: row.id,
    channelId: row.channel_id,
    trigger: row.trigger,
    status: STATUS_VALUES[row.status],
    attempts: row.attempts,
    sentAt: row.sent_at ? timestampFromDate(row.sent_at) : undefined,
    ruleId: row.rule_id,
    experimentId: row.experiment_id ?? "",
    flagKey: row.flag_key,
    dedupKey: row.dedup_key,
    lastError: row.last_error,
    createdAt: timestampFromDate(row.created_at),
    nextAttemptAt:
      row.status === "retrying" && row.next_attempt_at
        ? timestampFromDate(row.next_attempt_at)
        : undefined,
    occurredAt: timestampFromDate(row.occurred_at),
  };
}

/** Page tokens hold the last row's sort key: [text, id]. */
function afterOf(token: string): [string, string] | undefined {
  const after = decodePageToken(token);
  if (after === undefined) return undefined;
  try {
    const parsed = JSON.parse(after) as unknown;
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      parsed.every((p) => typeof p === "string") &&
      isUuid(parsed[1] as string)
    ) {
      return parsed as [string, string];
    }
  } catch {
    // fall through
  }
  throw invalidArgument("page_token", "is not a token returned by this RPC");
}

function tokenFor(key: string, id: string): string {
  return encodePageToken(JSON.stringify([key, id]));
}

export class NotificationServiceImpl implements ServiceImpl<typeof NotificationService> {
  private readonly pool: () => pg.Pool;
  private readonly secrets: () => SecretBox;

  constructor(deps: { pool: () => pg.Pool; secrets: () => SecretBox }) {
    this.pool = deps.pool;
    this.secrets = deps.secrets;
  }

  async createChannel(req: { channel?: Channel }, ctx: HandlerContext) {
    const principal = requirePrincipal(ctx);
    const channel = validateChannel(req.channel);
    const box = this.secrets();
    const row = await this.insertAudited<ChannelRow>(
      "notification_channel",
      principal.userId,
      // The masked url only: never the url or the secret.
      (created) => ({ name: created.name, kind: created.kind, url: created.url_display }),
      `insert into notification_channels (id, name, kind, url, url_display, chat_id, secret, created_at, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, now(), $8) returning *`,
      [
        randomUUID(),
        channel.name,
        channel.kind,
        box.seal(channel.url),
        maskUrl(channel.url),
        channel.chatId,
        channel.secret === null ? null : box.seal(channel.secret),
        principal.userId,
      ],
    );
    return { channel: channelMessage(row) };
  }

  /**
   * Runs one insert … returning * and writes its audit row
   * (`<entityType>.created`, with `data` of the row) in the same transaction.
   */
  private insertAudited<Row extends { id: string }>(
    entityType: string,
    actorId: string,
    data: (created: Row) => Record<string, unknown>,
    sql: string,
    params: unknown[],
  ): Promise<Row> {
    return mutateSql(this.pool(), undefined, async (client) => {
      const { rows } = await client.query<Row>(sql, params);
      const created = rows[0]!;
      return {
        result: created,
        audit: {
          actorId,
          entityType,
          entityId: created.id,
          action: `${entityType}.created`,
          data: data(created),
        },
      };
    }).then(({ result }) => result);
  }

  async listChannels(req: { pageSize: number; pageToken: string }) {
    const { page, nextPageToken } = await this.pageByName<ChannelRow>("notification_channels", req);
    return { channels: page.map(channelMessage), nextPageToken };
  }

  /** One page of a table ordered by name (byte order), then id. */
  private async pageByName<Row extends { name: string; id: string }>(
    table: "notification_channels" | "notification_rules",
    req: { pageSize: number; pageToken: string },
  ): Promise<{ page: Row[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const after = afterOf(req.pageToken);
    const { rows } = await this.pool().query<Row>(
      `select * from ${table}
       where $1::text is null or (name collate "C", id) > ($1::text collate "C", $2::uuid)
       order by name collate "C", id limit $3`,
      [after?.[0] ?? null, after?.[1] ?? null, size + 1],
    );
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      page,
      nextPageToken: rows.length > size && last ? tokenFor(last.name, last.id) : "",
    };
  }

  async createRule(req: { rule?: Rule }, ctx: HandlerContext) {
    const principal = requirePrincipal(ctx);
    const rule = validateRule(req.rule);
    const pool = this.pool();
    const { rows: channels } = await pool.query<{ id: string }>(
      "select id from notification_channels where id = any($1::uuid[])",
      [rule.channelIds],
    );
    const missing = rule.channelIds.find((id) => !channels.some((c) => c.id === id));
    if (missing !== undefined) throw notFound("channel", missing);
    if (rule.experimentId !== null) {
      const found = await pool.query("select 1 from experiments where id = $1", [
        rule.experimentId,
      ]);
      if (found.rowCount === 0) throw notFound("experiment", rule.experimentId);
    }
    if (rule.flagKey !== null) {
      const found = await pool.query("select 1 from flags where key = $1", [rule.flagKey]);
      if (found.rowCount === 0) throw notFound("flag", rule.flagKey);
    }
    const row = await this.insertAudited<RuleRow>(
      "notification_rule",
      principal.userId,
      (created) => ({
        name: created.name,
        triggers: created.triggers,
        experimentId: created.experiment_id,
        flagKey: created.flag_key,
        ownerId: created.owner_id,
        channelIds: created.channel_ids,
        rateLimitPerMinute: created.rate_limit_per_minute,
        // Only rules with a digest record one (older audit rows keep their shape).
        ...(created.digest_period === null
          ? {}
          : {
              digest: {
                period: created.digest_period,
                hourUtc: created.digest_hour,
                weekday: created.digest_weekday,
              },
            }),
      }),
      `insert into notification_rules (id, name, triggers, experiment_id, flag_key, owner_id,
           channel_ids, rate_limit_per_minute, template, created_at, created_by,
           digest_period, digest_hour, digest_weekday)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp(), $10, $11, $12, $13)
         returning *`,
      [
        randomUUID(),
        rule.name,
        rule.triggers,
        rule.experimentId,
        rule.flagKey,
        rule.ownerId,
        rule.channelIds,
        rule.rateLimitPerMinute,
        rule.template,
        principal.userId,
        rule.digest?.period ?? null,
        rule.digest?.hour ?? 0,
        rule.digest?.weekday ?? 0,
      ],
    );
    return { rule: ruleMessage(row) };
  }

  async listRules(req: { pageSize: number; pageToken: string }) {
    const { page, nextPageToken } = await this.pageByName<RuleRow>("notification_rules", req);
    return { rules: page.map(ruleMessage), nextPageToken };
  }

  async listDeliveries(req: {
    ruleId?: string;
    experimentId?: string;
    channelId?: string;
    pageSize: number;
    pageToken: string;
  }) {
    const v = new FieldViolations();
    if (req.ruleId !== undefined) checkUuid(v, "rule_id", req.ruleId);
    if (req.experimentId !== undefined) checkUuid(v, "experiment_id", req.experimentId);
    if (req.channelId !== undefined) checkUuid(v, "channel_id", req.channelId);
    v.throwIfAny();
    const size = pageSize(req.pageSize);
    const after = afterOf(req.pageToken);
    if (after !== undefined && Number.isNaN(Date.parse(after[0]))) {
      throw new ConnectError(
        "page_token: is not a token returned by this RPC",
        Code.InvalidArgument,
      );
    }
    const { rows } = await this.pool().query<DeliveryRow>(
      `select *, created_at::text as created_text from notification_deliveries
       where ($1::uuid is null or rule_id = $1::uuid)
         and ($2::uuid is null or experiment_id = $2::uuid)
         and ($3::uuid is null or channel_id = $3::uuid)
         and ($4::timestamptz is null or (created_at, id) < ($4::timestamptz, $5::uuid))
       order by created_at desc, id desc limit $6`,
      [
        req.ruleId ?? null,
        req.experimentId ?? null,
        req.channelId ?? null,
        after?.[0] ?? null,
        after?.[1] ?? null,
        size + 1,
      ],
    );
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      deliveries: page.map(deliveryMessage),
      nextPageToken: rows.length > size && last ? tokenFor(last.created_text, last.id) : "",
    };
  }

  async listDataQualityAlarms(req: { kind?: string; pageSize: number; pageToken: string }) {
    if (req.kind !== undefined && !(DATA_QUALITY_TRIGGERS as string[]).includes(req.kind)) {
      throw invalidArgument("kind", `must be one of ${DATA_QUALITY_TRIGGERS.join(", ")}`);
    }
    const size = pageSize(req.pageSize);
    const after = afterOf(req.pageToken);
    if (after !== undefined && Number.isNaN(Date.parse(after[0]))) {
      throw invalidArgument("page_token", "is not a token returned by this RPC");
    }
    const { rows } = await this.pool().query<AlarmRow>(
      `select *, fired_at::text as fired_text from data_quality_alarms
       where ($1::text is null or kind = $1)
         and ($2::timestamptz is null or (fired_at, id) < ($2::timestamptz, $3::uuid))
       order by fired_at desc, id desc limit $4`,
      [req.kind ?? null, after?.[0] ?? null, after?.[1] ?? null, size + 1],
    );
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      alarms: page.map(alarmMessage),
      nextPageToken: rows.length > size && last ? tokenFor(last.fired_text, last.id) : "",
    };
  }
}
