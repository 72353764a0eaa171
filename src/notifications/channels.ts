/**
 * Channel adapters: how a notice becomes an HTTP request for each kind of
 * channel. Adding a channel kind is one more adapter here (and its enum
 * value); the notifier and the dispatcher do not change.
 */
import { createHmac } from "node:crypto";

export type ChannelKindName = "webhook" | "slack" | "telegram";

/** What the notifier records for one event (stored with each delivery). */
export interface Notice {
  trigger: string;
  experimentId: string;
  experimentName: string;
  flagKey: string;
  actorId: string;
  occurredAt: string;
  /** One readable line (the rule's template applied, if any). */
  summary: string;
  dedupKey: string;
  details: Record<string, unknown>;
}

/** A channel as the dispatcher needs it: secrets already decrypted. */
export interface ChannelTarget {
  kind: ChannelKindName;
  url: string;
  chatId: string;
  secret: string | null;
}

export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface ChannelAdapter {
  request(target: ChannelTarget, notice: Notice): OutgoingRequest;
}

const JSON_TYPE = { "content-type": "application/json" };

/** Generic webhook: the whole notice; signed when the channel has a secret. */
const webhook: ChannelAdapter = {
  request(target, notice) {
    const body = JSON.stringify({
      trigger: notice.trigger,
      experimentId: notice.experimentId,
      flagKey: notice.flagKey,
      occurredAt: notice.occurredAt,
      summary: notice.summary,
      dedupKey: notice.dedupKey,
      experimentName: notice.experimentName,
      actorId: notice.actorId,
      details: notice.details,
    });
    const headers: Record<string, string> = { ...JSON_TYPE };
    if (target.secret !== null) {
      headers["x-lotty-signature"] =
        `sha256=${createHmac("sha256", target.secret).update(body).digest("hex")}`;
    }
    return { url: target.url, headers, body };
  },
};

/** Slack incoming webhook: a text message. */
const slack: ChannelAdapter = {
  request(target, notice) {
    return {
      url: target.url,
      headers: { ...JSON_TYPE },
      body: JSON.stringify({ text: notice.summary }),
    };
  },
};

/** Telegram bot API sendMessage: chat and text. */
const telegram: ChannelAdapter = {
  request(target, notice) {
    return {
      url: target.url,
      headers: { ...JSON_TYPE },
      body: JSON.stringify({ chat_id: target.chatId, text: notice.summary }),
    };
  },
};

export const CHANNEL_ADAPTERS: Readonly<Record<ChannelKindName, ChannelAdapter>> = {
  webhook,
  slack,
  telegram,
};
