/**
 * Notifications on the real PostgreSQL and NATS, delivered to a local HTTP
 * receiver: lifecycle and guardrail events → notifier → deliveries →
 * dispatcher → webhook / Slack / Telegram request shapes.
 */
import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import {
  ChannelKind,
  DeliveryStatus,
  NotificationService,
  type Delivery,
} from "../../gen/lotty/notifications/v1/notifications_pb.js";
import type { LifecycleEvent } from "../../src/platform/changes.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { errorOf } from "../experiments/support.js";
import { query } from "../events/support.js";
import { experimentClient, guardedExperiment, sendTraffic } from "../guardrails/support.js";
import { Receiver } from "./receiver.js";
import { makeUser, webhookRule } from "../support/builders.js";

const SECRET = "a-webhook-signing-secret";

/** A guardrail.triggered event as the monitor publishes it. */
function guardrailEvent(experimentId: string, flagKey: string, dedupKey: string): LifecycleEvent {
  return {
    trigger: "guardrail.triggered",
    experimentId,
    experimentName: "Blue button",
    ownerId: "",
    flagKey,
    actorId: null,
    fromStatus: "running",
    toStatus: "paused",
    version: 1,
    comment: "",
    occurredAt: new Date().toISOString(),
    dedupKey,
    details: { summary: "synthetic breach" },
  };
}

describe("notifications", () => {
  let t: TestApp;
  let receiver: Receiver;
  let notifications: ReturnType<typeof client<typeof NotificationService>>;

  beforeAll(async () => {
    receiver = new Receiver();
    await receiver.start();
    t = await startTestApp();
    notifications = client(NotificationService, t.baseUrl, t.adminKey);
  });

  afterAll(async () => {
    await t?.stop();
    await receiver?.stop();
  });

  async function channel(name: string, kind: ChannelKind, path: string, extra = {}) {
    const { channel } = await notifications.createChannel({
      channel: { name, kind, url: `${receiver.url}${path}`, ...extra },
    });
    return channel!;
  }

  async function deliveriesOf(filter: {
    ruleId?: string;
    channelId?: string;
    experimentId?: string;
  }) {
    const { deliveries } = await notifications.listDeliveries({ ...filter, pageSize: 500 });
    return deliveries;
  }

  async function untilDeliveries(
    filter: { ruleId?: string; channelId?: string },
    accept: (d: Delivery[]) => boolean,
    what: string,
  ) {
    let last: Delivery[] = [];
    await waitFor(
      async () => accept((last = await deliveriesOf(filter))),
      20_000,
      `${what} (last: ${JSON.stringify(last.map((d) => [DeliveryStatus[d.status], d.attempts]))})`,
    );
    return last;
  }

  /**
   * A running experiment, a webhook on `path` for its experiment.paused
   * events, a manual pause, and the delivery once it reaches `status`.
   */
  async function pausedInto(path: string, comment: string, status: DeliveryStatus) {
    const { experimentId } = await guardedExperiment(t, []);
    const hook = await channel(`hook ${path}`, ChannelKind.WEBHOOK, path);
    const { rule } = await notifications.createRule({
      rule: { name: path, triggers: ["experiment.paused"], experimentId, channelIds: [hook.id] },
    });
    await experimentClient(t).pauseExperiment({ id: experimentId, comment });
    const [delivery] = await untilDeliveries(
      { ruleId: rule!.id },
      (d) => d[0]?.status === status,
      `the delivery ${DeliveryStatus[status]}`,
    );
    return { experimentId, delivery };
  }

  it("delivers guardrail.triggered to a webhook exactly once, signed, with the documented payload", async () => {
    const { flagKey, experimentId } = await guardedExperiment(t, [
      { metricKey: "error_rate", threshold: 0.2, minSampleSize: 20 },
    ]);
    const hook = await channel("guardrail hook", ChannelKind.WEBHOOK, "/hook/guardrail", {
      secret: SECRET,
    });
    const paused = await channel("pause hook", ChannelKind.WEBHOOK, "/hook/paused");
    const { rule } = await notifications.createRule({
      rule: {
        name: "guardrails of this experiment",
        triggers: ["guardrail.triggered"],
        experimentId,
        channelIds: [hook.id],
      },
    });
    const { rule: pauseRule } = await notifications.createRule({
      rule: {
        name: "manual pauses",
        triggers: ["experiment.paused"],
        flagKey,
        channelIds: [paused.id],
      },
    });

    await sendTraffic(t, flagKey, experimentId, { subjects: 15, errors: { control: 0, blue: 1 } });
    const [delivery] = await untilDeliveries(
      { ruleId: rule!.id },
      (d) => d.length === 1 && d[0]!.status === DeliveryStatus.SENT,
      "the guardrail delivery sent",
    );
    expect(delivery).toMatchObject({
      channelId: hook.id,
      trigger: "guardrail.triggered",
      status: DeliveryStatus.SENT,
      attempts: 1,
      experimentId,
      flagKey,
      lastError: "",
    });
    expect(delivery!.sentAt).toBeDefined();

    const received = receiver.at("/hook/guardrail");
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.headers["content-type"]).toBe("application/json");
    const signature = createHmac("sha256", SECRET).update(request!.body).digest("hex");
    expect(request!.headers["x-lotty-signature"]).toBe(`sha256=${signature}`);
    const body = request!.json;
    expect(body).toMatchObject({
      trigger: "guardrail.triggered",
      experimentId,
      flagKey,
      experimentName: "Blue button",
      actorId: "",
      dedupKey: delivery!.dedupKey,
      details: {
        metricKey: "error_rate",
        threshold: 0.2,
        direction: "increase_is_bad",
        action: "pause",
        observedValue: 1,
        variantKey: "blue",
        sampleSize: 30,
        windowSeconds: 600,
      },
    });
    expect(delivery!.dedupKey).toMatch(
      new RegExp(`^guardrail\\.triggered:${experimentId}:[0-9a-f-]{36}$`),
    );
    expect(Date.parse(body.occurredAt as string)).not.toBeNaN();
    expect(body.summary).toContain("error_rate: 1 > 0.2 in variant blue");

    // The guardrail's pause is guardrail.triggered, not experiment.paused.
    expect(await deliveriesOf({ ruleId: pauseRule!.id })).toHaveLength(0);

    // The same event handled again (a redelivery) queues and sends nothing new.
    const again = guardrailEvent(experimentId, flagKey, delivery!.dedupKey);
    expect(await t.app.notifier!.handle(again)).toBe(0);
    expect(await deliveriesOf({ ruleId: rule!.id })).toHaveLength(1);
    expect(receiver.at("/hook/guardrail")).toHaveLength(1);

    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/lotty_notification_deliveries_total\{status="sent"\} [1-9]/);
  });

  it("retries a receiver that fails twice and records exactly one successful delivery", async () => {
    receiver.script("/hook/flaky", 500, 503);
    const { experimentId, delivery } = await pausedInto(
      "/hook/flaky",
      "looking into it",
      DeliveryStatus.SENT,
    );
    expect(delivery).toMatchObject({ attempts: 3, status: DeliveryStatus.SENT, lastError: "" });
    const received = receiver.at("/hook/flaky");
    expect(received.map((r) => r.status)).toEqual([500, 503, 200]);
    // The same event every time.
    expect(new Set(received.map((r) => r.body)).size).toBe(1);
    expect(received[0]!.json).toMatchObject({ trigger: "experiment.paused", experimentId });
    expect(received[0]!.json.summary).toContain("was paused");
    expect(received[0]!.json.summary).toContain("looking into it");
  });

  it("gives up at once on a permanent 4xx", async () => {
    receiver.script("/hook/gone", 404);
    const { delivery } = await pausedInto("/hook/gone", "", DeliveryStatus.FAILED);
    expect(delivery).toMatchObject({ attempts: 1, lastError: "HTTP 404" });
  });

  it("holds the rate limit and the dedup key under a burst; guardrail triggers are never limited", async () => {
    const { experimentId, flagKey } = await guardedExperiment(t, []);
    const hook = await channel("burst hook", ChannelKind.WEBHOOK, "/hook/burst");
    const { rule } = await notifications.createRule({
      rule: {
        name: "burst",
        triggers: ["experiment.paused", "experiment.resumed", "guardrail.triggered"],
        experimentId,
        channelIds: [hook.id],
        rateLimitPerMinute: 3,
      },
    });
    const experiments = experimentClient(t);
    for (let i = 0; i < 4; i++) {
      await experiments.pauseExperiment({ id: experimentId, comment: `pause ${i}` });
      await experiments.resumeExperiment({ id: experimentId });
    }
    // Five guardrail events, each handled three times at once.
    await Promise.all(
      [0, 1, 2, 3, 4].flatMap((i) =>
        [0, 1, 2].map(() =>
          t.app.notifier!.handle(
            guardrailEvent(experimentId, flagKey, `guardrail.triggered:${experimentId}:burst-${i}`),
          ),
        ),
      ),
    );
    const deliveries = await untilDeliveries(
      { ruleId: rule!.id },
      (d) =>
        d.length === 13 &&
        d.every(
          (x) => x.status === DeliveryStatus.SENT || x.status === DeliveryStatus.RATE_LIMITED,
        ),
      "13 deliveries settled",
    );
    const lifecycle = deliveries.filter((d) => d.trigger !== "guardrail.triggered");
    const guardrail = deliveries.filter((d) => d.trigger === "guardrail.triggered");
    expect(lifecycle.filter((d) => d.status === DeliveryStatus.SENT)).toHaveLength(3);
    expect(lifecycle.filter((d) => d.status === DeliveryStatus.RATE_LIMITED)).toHaveLength(5);
    expect(guardrail.filter((d) => d.status === DeliveryStatus.SENT)).toHaveLength(5);
    expect(new Set(deliveries.map((d) => d.dedupKey)).size).toBe(13);
    const received = receiver.at("/hook/burst");
    expect(received).toHaveLength(8);
    expect(new Set(received.map((r) => r.json.dedupKey)).size).toBe(8);
  });

  it("formats Slack and Telegram messages as their APIs expect, with the rule's template", async () => {
    const { experimentId, flagKey } = await guardedExperiment(t, []);
    const slack = await channel("team slack", ChannelKind.SLACK, "/services/T000/B000/XXXXSECRET");
    const telegram = await channel(
      "team telegram",
      ChannelKind.TELEGRAM,
      "/bot123456:SECRETTOKEN/sendMessage",
      {
        chatId: "-1001234567890",
      },
    );
    const { rule } = await notifications.createRule({
      rule: {
        name: "chat",
        triggers: ["experiment.paused"],
        experimentId,
        channelIds: [slack.id, telegram.id],
        template: "{experimentName} on {flagKey}: {trigger}",
      },
    });
    await experimentClient(t).pauseExperiment({ id: experimentId, comment: "" });
    await untilDeliveries(
      { ruleId: rule!.id },
      (d) => d.length === 2 && d.every((x) => x.status === DeliveryStatus.SENT),
      "both chat deliveries sent",
    );
    const text = `Blue button on ${flagKey}: experiment.paused`;
    const [toSlack] = receiver.at("/services/T000/B000/XXXXSECRET");
    expect(toSlack!.headers["content-type"]).toBe("application/json");
    expect(toSlack!.json).toEqual({ text });
    const [toTelegram] = receiver.at("/bot123456:SECRETTOKEN/sendMessage");
    expect(toTelegram!.headers["content-type"]).toBe("application/json");
    expect(toTelegram!.json).toEqual({ chat_id: "-1001234567890", text });
  });

  it("never returns channel secrets and stores them encrypted", async () => {
    const hook = await channel(
      "secret hook",
      ChannelKind.WEBHOOK,
      "/hook/token-in-path?key=TOPSECRET",
      {
        secret: SECRET,
      },
    );
    expect(hook.url).toBe(`${receiver.url}/…`);
    expect(hook.secret).toBe("");
    expect(hook.hasSecret).toBe(true);
    const { channels } = await notifications.listChannels({ pageSize: 500 });
    const listed = channels.find((c) => c.id === hook.id)!;
    expect(listed).toMatchObject({ url: `${receiver.url}/…`, secret: "", hasSecret: true });
    expect(channels.map((c) => `${c.url} ${c.secret}`).join()).not.toContain("TOPSECRET");
    const [row] = await query<{ url: string; secret: string }>(
      t,
      "select url, secret from notification_channels where id = $1",
      [hook.id],
    );
    expect(row!.url).not.toContain("TOPSECRET");
    expect(row!.url).not.toContain("127.0.0.1");
    expect(row!.secret).not.toContain(SECRET);
  });

  it("validates channels and rules, naming the field", async () => {
    const bad = async (call: Promise<unknown>, code: Code, field: string) => {
      const error = await errorOf(call);
      expect(error.code).toBe(code);
      expect(error.rawMessage).toContain(field);
    };
    await bad(notifications.createChannel({}), Code.InvalidArgument, "channel");
    await bad(
      notifications.createChannel({ channel: { name: "x", url: "http://127.0.0.1/" } }),
      Code.InvalidArgument,
      "channel.kind",
    );
    await bad(
      notifications.createChannel({
        channel: { name: "x", kind: ChannelKind.WEBHOOK, url: "ftp://x/" },
      }),
      Code.InvalidArgument,
      "channel.url",
    );
    await bad(
      notifications.createChannel({
        channel: { name: "x", kind: ChannelKind.TELEGRAM, url: "https://t.example/" },
      }),
      Code.InvalidArgument,
      "channel.chat_id",
    );
    await bad(
      notifications.createChannel({
        channel: { name: "x", kind: ChannelKind.SLACK, url: "https://s.example/", secret: SECRET },
      }),
      Code.InvalidArgument,
      "channel.secret",
    );
    await bad(
      notifications.createChannel({
        channel: { name: " ", kind: ChannelKind.SLACK, url: "https://s.example/" },
      }),
      Code.InvalidArgument,
      "channel.name",
    );
    const hook = await channel("validation hook", ChannelKind.WEBHOOK, "/hook/v");
    await bad(
      notifications.createRule({
        rule: { name: "r", triggers: ["experiment.exploded"], channelIds: [hook.id] },
      }),
      Code.InvalidArgument,
      "rule.triggers[0]",
    );
    await bad(
      notifications.createRule({
        rule: { name: "r", triggers: ["experiment.paused"], channelIds: [] },
      }),
      Code.InvalidArgument,
      "rule.channel_ids",
    );
    await bad(
      notifications.createRule({
        rule: {
          name: "r",
          triggers: ["experiment.paused"],
          channelIds: [hook.id],
          rateLimitPerMinute: 601,
        },
      }),
      Code.InvalidArgument,
      "rule.rate_limit_per_minute",
    );
    await bad(
      notifications.createRule({
        rule: {
          name: "r",
          triggers: ["experiment.paused"],
          channelIds: ["00000000-0000-4000-8000-000000000000"],
        },
      }),
      Code.NotFound,
      "channel",
    );
    await bad(
      notifications.createRule({
        rule: {
          name: "r",
          triggers: ["experiment.paused"],
          channelIds: [hook.id],
          flagKey: "no_such_flag",
        },
      }),
      Code.NotFound,
      "no_such_flag",
    );
    await bad(notifications.listDeliveries({ ruleId: "nope" }), Code.InvalidArgument, "rule_id");

    const viewer = await makeUser(t, Role.VIEWER);
    const asViewer = client(NotificationService, t.baseUrl, viewer.key);
    expect((await errorOf(asViewer.listChannels({}))).code).toBe(Code.PermissionDenied);
    const experimenter = await makeUser(t, Role.EXPERIMENTER);
    const asExperimenter = client(NotificationService, t.baseUrl, experimenter.key);
    const { rule } = await asExperimenter.createRule({
      rule: { name: "mine", triggers: ["experiment.started"], channelIds: [hook.id] },
    });
    expect(rule).toMatchObject({ createdBy: experimenter.id, rateLimitPerMinute: 60 });
  });

  it("a restart while a delivery is in flight finishes it and never sends it again", async () => {
    const first = await startTestApp();
    let second: TestApp | undefined;
    try {
      const { experimentId } = await guardedExperiment(first, []);
      receiver.delay("/hook/slow", 1_500);
      const hookId = await webhookRule(
        first,
        "slow",
        `${receiver.url}/hook/slow`,
        ["experiment.paused"],
        experimentId,
      );
      await experimentClient(first).pauseExperiment({ id: experimentId, comment: "" });
      await waitFor(() => receiver.at("/hook/slow").length === 1, 20_000, "the attempt in flight");
      // SIGTERM-like stop while the receiver has not answered yet.
      await first.app.stop();
      second = await startTestApp({
        database: first.database,
        busPrefix: first.app.names.streamPrefix,
      });
      // The stop waited for the answer and recorded it.
      const [row] = await query<{ status: string; attempts: number; lease_until: Date | null }>(
        second,
        "select status, attempts, lease_until from notification_deliveries where channel_id = $1",
        [hookId],
      );
      expect(row).toMatchObject({ status: "sent", attempts: 1, lease_until: null });
      await experimentClient(second).resumeExperiment({ id: experimentId });
      await experimentClient(second).pauseExperiment({ id: experimentId, comment: "again" });
      // The second pause is a new event; the first is not sent again.
      await waitFor(() => receiver.at("/hook/slow").length === 2, 20_000, "the second event");
      const dedupKeys = receiver.at("/hook/slow").map((r) => r.json.dedupKey);
      expect(new Set(dedupKeys).size).toBe(2);
    } finally {
      await second?.app.stop();
      await first.stop();
    }
  });

  it("lists channels and rules by name and pages through them", async () => {
    const names: string[] = [];
    let pageToken = "";
    do {
      const page = await notifications.listChannels({ pageSize: 2, pageToken });
      names.push(...page.channels.map((c) => c.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(names.length).toBeGreaterThanOrEqual(5);
    expect([...names].sort()).toEqual(names);
    const rules: string[] = [];
    do {
      const page = await notifications.listRules({ pageSize: 2, pageToken });
      rules.push(...page.rules.map((r) => r.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect([...rules].sort()).toEqual(rules);
    expect(rules.length).toBeGreaterThanOrEqual(5);
  });
});
