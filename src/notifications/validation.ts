/**
 * Validation of notification channels and rules: every problem named by
 * its field (INVALID_ARGUMENT); references (channels, experiment, flag) are
 * checked by the service (NOT_FOUND).
 */
import {
  ChannelKind,
  DigestPeriod,
  type Channel,
  type Rule,
} from "../../gen/lotty/notifications/v1/notifications_pb.js";
import { FieldViolations } from "../platform/errors.js";
import { checkText, checkUuid, CONTROL_CHARACTERS } from "../platform/validation.js";
import type { ChannelKindName } from "./channels.js";
import type { DigestSchedule } from "./digests.js";
import { DIGEST_TRIGGERS, TRIGGERS } from "./text.js";

export const NOTIFICATION_LIMITS = {
  nameLength: 200,
  urlLength: 2_000,
  chatIdLength: 200,
  secretMin: 16,
  secretMax: 256,
  channelsPerRule: 20,
  templateLength: 2_000,
  rateLimitMax: 600,
  defaultRateLimit: 60,
};

const KIND_NAMES: Partial<Record<ChannelKind, ChannelKindName>> = {
  [ChannelKind.WEBHOOK]: "webhook",
  [ChannelKind.SLACK]: "slack",
  [ChannelKind.TELEGRAM]: "telegram",
};
export const KIND_VALUES: Readonly<Record<ChannelKindName, ChannelKind>> = {
  webhook: ChannelKind.WEBHOOK,
  slack: ChannelKind.SLACK,
  telegram: ChannelKind.TELEGRAM,
};

export interface ValidChannel {
  name: string;
  kind: ChannelKindName;
  url: string;
  chatId: string;
  secret: string | null;
}

export function validateChannel(input: Channel | undefined): ValidChannel {
  const v = new FieldViolations();
  if (input === undefined) {
    v.add("channel", "is required");
    v.throwIfAny();
  }
  const c = input!;
  const name = checkText(v, "channel.name", c.name, NOTIFICATION_LIMITS.nameLength);
  const kind = KIND_NAMES[c.kind];
  if (kind === undefined) {
    v.add(
      "channel.kind",
      "must be CHANNEL_KIND_WEBHOOK, CHANNEL_KIND_SLACK or CHANNEL_KIND_TELEGRAM",
    );
  }
  const url = c.url.trim();
  if (url === "") v.add("channel.url", "is required");
  else if (url.length > NOTIFICATION_LIMITS.urlLength) {
    v.add("channel.url", `must be at most ${NOTIFICATION_LIMITS.urlLength} characters`);
  } else if (!isHttpUrl(url)) v.add("channel.url", "must be an absolute http or https URL");
  const chatId = c.chatId.trim();
  if (kind === "telegram") {
    if (chatId === "") v.add("channel.chat_id", "is required for CHANNEL_KIND_TELEGRAM");
    else if (chatId.length > NOTIFICATION_LIMITS.chatIdLength || CONTROL_CHARACTERS.test(chatId)) {
      v.add(
        "channel.chat_id",
        `must be at most ${NOTIFICATION_LIMITS.chatIdLength} printable characters`,
      );
    }
  } else if (chatId !== "") {
    v.add("channel.chat_id", "is only set for CHANNEL_KIND_TELEGRAM");
  }
  let secret: string | null = null;
  if (c.secret !== "") {
    if (kind !== "webhook") v.add("channel.secret", "is only set for CHANNEL_KIND_WEBHOOK");
    else if (
      c.secret.length < NOTIFICATION_LIMITS.secretMin ||
      c.secret.length > NOTIFICATION_LIMITS.secretMax
    ) {
      v.add(
        "channel.secret",
        `must have ${NOTIFICATION_LIMITS.secretMin}–${NOTIFICATION_LIMITS.secretMax} characters`,
      );
    } else secret = c.secret;
  }
  v.throwIfAny();
  return { name, kind: kind!, url, chatId, secret };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.host !== "";
  } catch {
    return false;
  }
}

export interface ValidRule {
  name: string;
  triggers: string[];
  experimentId: string | null;
  flagKey: string | null;
  ownerId: string | null;
  channelIds: string[];
  rateLimitPerMinute: number;
  template: string;
  /** The digest schedule, when the rule has one. */
  digest: DigestSchedule | null;
}

export function validateRule(input: Rule | undefined): ValidRule {
  const v = new FieldViolations();
  if (input === undefined) {
    v.add("rule", "is required");
    v.throwIfAny();
  }
  const r = input!;
  const name = checkText(v, "rule.name", r.name, NOTIFICATION_LIMITS.nameLength);
  if (r.triggers.length === 0) v.add("rule.triggers", "needs at least one trigger");
  const known = new Set<string>(TRIGGERS);
  r.triggers.forEach((trigger, i) => {
    if (!known.has(trigger)) {
      v.add(`rule.triggers[${i}]`, `must be one of ${TRIGGERS.join(", ")}`);
    } else if (r.triggers.indexOf(trigger) !== i) {
      v.add(`rule.triggers[${i}]`, `repeats ${trigger}`);
    }
  });
  if (r.experimentId !== "") checkUuid(v, "rule.experiment_id", r.experimentId);
  if (r.ownerId !== "") checkUuid(v, "rule.owner_id", r.ownerId);
  const flagKey = r.flagKey.trim();
  if (flagKey.length > 100 || CONTROL_CHARACTERS.test(flagKey)) {
    v.add("rule.flag_key", "must be at most 100 printable characters");
  }
  if (r.channelIds.length === 0) v.add("rule.channel_ids", "needs at least one channel");
  if (r.channelIds.length > NOTIFICATION_LIMITS.channelsPerRule) {
    v.add("rule.channel_ids", `must have at most ${NOTIFICATION_LIMITS.channelsPerRule} channels`);
  }
  r.channelIds.forEach((id, i) => checkUuid(v, `rule.channel_ids[${i}]`, id));
  const rate =
    r.rateLimitPerMinute === 0 ? NOTIFICATION_LIMITS.defaultRateLimit : r.rateLimitPerMinute;
  if (rate < 1 || rate > NOTIFICATION_LIMITS.rateLimitMax) {
    v.add(
      "rule.rate_limit_per_minute",
      `must be between 1 and ${NOTIFICATION_LIMITS.rateLimitMax} (0 means ${NOTIFICATION_LIMITS.defaultRateLimit})`,
    );
  }
  if ([...r.template].length > NOTIFICATION_LIMITS.templateLength) {
    v.add("rule.template", `must be at most ${NOTIFICATION_LIMITS.templateLength} characters`);
  } else if (CONTROL_CHARACTERS.test(r.template)) {
    v.add("rule.template", "must not contain control characters");
  }
  const digest = checkDigest(v, r);
  v.throwIfAny();
  return {
    name,
    triggers: r.triggers,
    experimentId: r.experimentId || null,
    flagKey: flagKey || null,
    ownerId: r.ownerId || null,
    channelIds: [...new Set(r.channelIds.map((id) => id.toLowerCase()))],
    rateLimitPerMinute: rate,
    template: r.template,
    digest,
  };
}

const PERIOD_NAMES: Partial<Record<DigestPeriod, DigestSchedule["period"]>> = {
  [DigestPeriod.DAILY]: "daily",
  [DigestPeriod.WEEKLY]: "weekly",
};

/**
 * A digest schedule and its trigger go together: `digest.daily` needs a
 * DAILY schedule, `digest.weekly` a WEEKLY one, and a schedule its trigger.
 */
function checkDigest(v: FieldViolations, r: Rule): DigestSchedule | null {
  const d = r.digest;
  const listed = (Object.keys(DIGEST_TRIGGERS) as DigestSchedule["period"][]).filter((p) =>
    r.triggers.includes(DIGEST_TRIGGERS[p]),
  );
  if (d === undefined) {
    if (listed.length > 0) {
      v.add("rule.digest", `is required with the trigger ${DIGEST_TRIGGERS[listed[0]!]}`);
    }
    return null;
  }
  const period = PERIOD_NAMES[d.period];
  if (period === undefined) {
    v.add("rule.digest.period", "must be DIGEST_PERIOD_DAILY or DIGEST_PERIOD_WEEKLY");
  } else if (listed.length !== 1 || listed[0] !== period) {
    v.add(
      "rule.triggers",
      `must include ${DIGEST_TRIGGERS[period]} (and no other digest trigger) with this digest`,
    );
  }
  if (!Number.isInteger(d.hourUtc) || d.hourUtc < 0 || d.hourUtc > 23) {
    v.add("rule.digest.hour_utc", "must be between 0 and 23");
  }
  if (period === "weekly" && (d.weekday < 1 || d.weekday > 7)) {
    v.add(
      "rule.digest.weekday",
      "must be between 1 (Monday) and 7 (Sunday) for DIGEST_PERIOD_WEEKLY",
    );
  } else if (period === "daily" && d.weekday !== 0) {
    v.add("rule.digest.weekday", "is only set for DIGEST_PERIOD_WEEKLY");
  }
  if (period === undefined) return null;
  return { period, hour: d.hourUtc, weekday: period === "weekly" ? d.weekday : 0 };
}
