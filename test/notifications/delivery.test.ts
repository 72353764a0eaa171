/**
 * Pure parts of notifications: channel adapters, summaries and templates,
 * retry policy, sealed secrets, masked urls and validation.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "@jest/globals";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ChannelKind,
  ChannelSchema,
  RuleSchema,
} from "../../gen/lotty/notifications/v1/notifications_pb.js";
import { CHANNEL_ADAPTERS, type Notice } from "../../src/notifications/channels.js";
import { isRetryableStatus, retryDelayMs } from "../../src/notifications/dispatcher.js";
import { createSecretBox, maskUrl } from "../../src/notifications/secrets.js";
import { defaultSummary, renderSummary } from "../../src/notifications/text.js";
import { validateChannel, validateRule } from "../../src/notifications/validation.js";
import type { LifecycleEvent } from "../../src/platform/changes.js";

const EXPERIMENT = "0b6f1c2a-1111-4222-8333-444455556666";
const CHANNEL = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

const event: LifecycleEvent = {
  trigger: "experiment.paused",
  experimentId: EXPERIMENT,
  experimentName: "Blue button",
  ownerId: "",
  flagKey: "button_color",
  actorId: "u-1",
  fromStatus: "running",
  toStatus: "paused",
  version: 3,
  comment: "checking errors",
  occurredAt: "2026-12-05T06:00:00.000Z",
  dedupKey: `experiment.paused:${EXPERIMENT}:e-1`,
  details: {},
};

const notice: Notice = {
  trigger: event.trigger,
  experimentId: EXPERIMENT,
  experimentName: "Blue button",
  flagKey: "button_color",
  actorId: "u-1",
  occurredAt: event.occurredAt,
  summary: "the summary",
  dedupKey: event.dedupKey,
  details: { a: 1 },
};

describe("channel adapters", () => {
  it("webhook: the whole notice, signed when a secret is set", () => {
    const target = {
      kind: "webhook" as const,
      url: "https://x.example/h",
      chatId: "",
      secret: "s".repeat(16),
    };
    const request = CHANNEL_ADAPTERS.webhook.request(target, notice);
    expect(request.url).toBe("https://x.example/h");
    expect(request.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request.body)).toEqual({
      trigger: "experiment.paused",
      experimentId: EXPERIMENT,
      flagKey: "button_color",
      occurredAt: event.occurredAt,
      summary: "the summary",
      dedupKey: event.dedupKey,
      experimentName: "Blue button",
      actorId: "u-1",
      details: { a: 1 },
    });
    const hex = createHmac("sha256", "s".repeat(16)).update(request.body).digest("hex");
    expect(request.headers["x-lotty-signature"]).toBe(`sha256=${hex}`);
    const unsigned = CHANNEL_ADAPTERS.webhook.request({ ...target, secret: null }, notice);
    expect(unsigned.headers["x-lotty-signature"]).toBeUndefined();
  });

  it("slack: text only; telegram: chat and text", () => {
    const slack = CHANNEL_ADAPTERS.slack.request(
      { kind: "slack", url: "https://hooks.example/s", chatId: "", secret: null },
      notice,
    );
    expect(JSON.parse(slack.body)).toEqual({ text: "the summary" });
    expect(slack.headers["content-type"]).toBe("application/json");
    const telegram = CHANNEL_ADAPTERS.telegram.request(
      {
        kind: "telegram",
        url: "https://api.example/bot1:x/sendMessage",
        chatId: "-100",
        secret: null,
      },
      notice,
    );
    expect(JSON.parse(telegram.body)).toEqual({ chat_id: "-100", text: "the summary" });
    expect(telegram.url).toBe("https://api.example/bot1:x/sendMessage");
  });
});

describe("summaries and templates", () => {
  it("says what happened, to which experiment, by whom", () => {
    expect(defaultSummary(event)).toBe(
      'Experiment "Blue button" (flag button_color) was paused by u-1: checking errors',
    );
    expect(defaultSummary({ ...event, actorId: null, comment: "" })).toBe(
      'Experiment "Blue button" (flag button_color) was paused',
    );
    expect(
      defaultSummary({
        ...event,
        trigger: "guardrail.triggered",
        actorId: null,
        details: { summary: "guardrail errors: 3 > 0" },
      }),
    ).toBe('Experiment "Blue button" (flag button_color): guardrail errors: 3 > 0');
  });

  it("says what a ramp did and who did it", () => {
    const ramp = { ...event, comment: "" };
    expect(
      defaultSummary({
        ...ramp,
        trigger: "ramp.step",
        actorId: null,
        details: { fromPercent: 10, toPercent: 25 },
      }),
    ).toBe(
      'Experiment "Blue button" (flag button_color) changed its ramp step by the autopilot: moved from 10 % to 25 % of its audience',
    );
    expect(
      defaultSummary({
        ...ramp,
        trigger: "ramp.safety_action",
        actorId: null,
        comment: "safety gate failed",
        details: { fromPercent: 25, toPercent: 10 },
      }),
    ).toBe(
      'Experiment "Blue button" (flag button_color) had a ramp safety action by the autopilot: moved from 25 % to 10 % of its audience (safety gate failed)',
    );
    expect(
      defaultSummary({
        ...ramp,
        trigger: "ramp.held",
        actorId: "u-2",
        details: { fromPercent: 5, toPercent: 5 },
      }),
    ).toBe(
      'Experiment "Blue button" (flag button_color) has its ramp held by u-2: stays at 5 % of its audience',
    );
  });

  it("fills every placeholder and leaves unknown ones", () => {
    expect(
      renderSummary(
        "{trigger}|{experimentId}|{experimentName}|{flagKey}|{actorId}|{occurredAt}|{nope}",
        event,
      ),
    ).toBe(
      `experiment.paused|${EXPERIMENT}|Blue button|button_color|u-1|${event.occurredAt}|{nope}`,
    );
    expect(renderSummary("[{summary}]", event)).toBe(`[${defaultSummary(event)}]`);
    expect(renderSummary("", event)).toBe(defaultSummary(event));
  });
});

describe("retry policy", () => {
  it("doubles from 1 s, caps at 5 min, jitters ±20 %", () => {
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, () => 0.5))).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelayMs(20, () => 0.5)).toBe(300_000);
    expect(retryDelayMs(1, () => 0)).toBe(800);
    expect(retryDelayMs(1, () => 0.999999)).toBeLessThanOrEqual(1200);
  });

  it("retries 408, 429, 5xx and network-level answers, not other 4xx", () => {
    for (const status of [408, 429, 500, 502, 503, 504, 302])
      expect(isRetryableStatus(status)).toBe(true);
    for (const status of [400, 401, 403, 404, 410, 422])
      expect(isRetryableStatus(status)).toBe(false);
  });
});

describe("sealed secrets", () => {
  const box = createSecretBox("root secret");

  it("round-trips, never shows the plain text and never seals twice alike", () => {
    const plain = "https://hooks.example/services/T0/B0/XYZ — ключ";
    const sealed = box.seal(plain);
    expect(box.open(sealed)).toBe(plain);
    expect(sealed).not.toContain("XYZ");
    expect(box.seal(plain)).not.toBe(sealed);
  });

  it("refuses tampering and other keys", () => {
    const sealed = box.seal("secret value");
    const parts = sealed.split(".");
    for (let i = 1; i < parts.length; i++) {
      const changed = [...parts];
      const p = changed[i]!;
      changed[i] = (p[0] === "A" ? "B" : "A") + p.slice(1);
      expect(() => box.open(changed.join("."))).toThrow();
    }
    expect(() => createSecretBox("another root").open(sealed)).toThrow();
    expect(() => box.open("plain")).toThrow();
  });

  it("masks urls down to scheme and host", () => {
    // Assembled from parts: the whole would look like a real webhook to secretlint.
    const webhook = ["https://hooks.slack.com", "services", "T0", "B0", "XYZ"].join("/");
    expect(maskUrl(webhook)).toBe("https://hooks.slack.com/…");
    expect(maskUrl("http://127.0.0.1:8080/?token=x")).toBe("http://127.0.0.1:8080/…");
    expect(maskUrl("https://user:pw@example.com/")).toBe("https://example.com/…");
    expect(maskUrl("https://example.com")).toBe("https://example.com/");
  });
});

describe("validation", () => {
  const invalid = (fn: () => unknown, field: string) => {
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toContain(field);
  };
  const channel = (fields: object) =>
    create(ChannelSchema, { name: "c", url: "https://x.example/", ...fields });
  const rule = (fields: object) =>
    create(RuleSchema, {
      name: "r",
      triggers: ["experiment.started"],
      channelIds: [CHANNEL],
      ...fields,
    });

  it("names the channel field at fault", () => {
    invalid(() => validateChannel(undefined), "channel");
    invalid(() => validateChannel(channel({ kind: ChannelKind.UNSPECIFIED })), "channel.kind");
    invalid(
      () => validateChannel(channel({ kind: ChannelKind.WEBHOOK, url: "not a url" })),
      "channel.url",
    );
    invalid(() => validateChannel(channel({ kind: ChannelKind.WEBHOOK, url: "" })), "channel.url");
    invalid(() => validateChannel(channel({ kind: ChannelKind.TELEGRAM })), "channel.chat_id");
    invalid(
      () => validateChannel(channel({ kind: ChannelKind.SLACK, chatId: "1" })),
      "channel.chat_id",
    );
    invalid(
      () => validateChannel(channel({ kind: ChannelKind.WEBHOOK, secret: "short" })),
      "channel.secret",
    );
    invalid(
      () => validateChannel(channel({ kind: ChannelKind.SLACK, secret: "x".repeat(20) })),
      "channel.secret",
    );
    invalid(() => validateChannel(channel({ kind: ChannelKind.SLACK, name: "" })), "channel.name");
  });

  it("accepts and normalises a valid channel", () => {
    expect(
      validateChannel(channel({ kind: ChannelKind.TELEGRAM, name: "  tg ", chatId: " -100 " })),
    ).toEqual({
      name: "tg",
      kind: "telegram",
      url: "https://x.example/",
      chatId: "-100",
      secret: null,
    });
  });

  it("names the rule field at fault", () => {
    invalid(() => validateRule(undefined), "rule");
    invalid(() => validateRule(rule({ triggers: [] })), "rule.triggers");
    invalid(
      () => validateRule(rule({ triggers: ["experiment.started", "x"] })),
      "rule.triggers[1]",
    );
    invalid(
      () => validateRule(rule({ triggers: ["experiment.started", "experiment.started"] })),
      "rule.triggers[1]",
    );
    invalid(() => validateRule(rule({ channelIds: [] })), "rule.channel_ids");
    invalid(() => validateRule(rule({ channelIds: ["nope"] })), "rule.channel_ids[0]");
    invalid(() => validateRule(rule({ rateLimitPerMinute: -1 })), "rule.rate_limit_per_minute");
    invalid(() => validateRule(rule({ rateLimitPerMinute: 601 })), "rule.rate_limit_per_minute");
    invalid(() => validateRule(rule({ template: "x".repeat(2_001) })), "rule.template");
    invalid(() => validateRule(rule({ experimentId: "nope" })), "rule.experiment_id");
    invalid(() => validateRule(rule({ ownerId: "nope" })), "rule.owner_id");
  });

  it("accepts and normalises a valid rule", () => {
    expect(validateRule(rule({ channelIds: [CHANNEL.toUpperCase(), CHANNEL] }))).toEqual({
      name: "r",
      triggers: ["experiment.started"],
      experimentId: null,
      flagKey: null,
      ownerId: null,
      channelIds: [CHANNEL],
      rateLimitPerMinute: 60,
      template: "",
      digest: null,
    });
  });
});
