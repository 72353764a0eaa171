/**
 * Scheduled digests: the period arithmetic and text (pure), rule
 * validation, and delivery on the real PostgreSQL and NATS — two
 * schedulers racing on one database send one digest per period, with the
 * report's figures, as webhook details and as Slack text.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code } from "@connectrpc/connect";
import {
  ChannelKind,
  DigestPeriod,
  NotificationService,
} from "../../gen/lotty/notifications/v1/notifications_pb.js";
import {
  DigestScheduler,
  digestText,
  latestPeriod,
  type DigestDetails,
} from "../../src/notifications/digests.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { errorOf } from "../experiments/support.js";
import { event, eventClient, query, untilStored } from "../events/support.js";
import { reportClient, subjectsByVariant, untilNothingPending } from "../reports/support.js";
import { guardedExperiment } from "../guardrails/support.js";
import { Receiver } from "./receiver.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe("digest periods and text", () => {
  it("daily: the day before the latest send time", () => {
    const at = Date.parse("2026-12-07T10:30:00Z");
    expect(latestPeriod({ period: "daily", hour: 9, weekday: 0 }, at)).toEqual({
      start: Date.parse("2026-12-06T09:00:00Z"),
      end: Date.parse("2026-12-07T09:00:00Z"),
    });
    expect(latestPeriod({ period: "daily", hour: 11, weekday: 0 }, at).end).toBe(
      Date.parse("2026-12-06T11:00:00Z"),
    );
    expect(latestPeriod({ period: "daily", hour: 10, weekday: 0 }, at - 30 * 60_000).end).toBe(
      Date.parse("2026-12-07T10:00:00Z"),
    );
  });

  it("weekly: the week before the latest send weekday and hour", () => {
    // 2026-12-07 is a Monday.
    const monday = Date.parse("2026-12-07T10:30:00Z");
    expect(latestPeriod({ period: "weekly", hour: 9, weekday: 1 }, monday)).toEqual({
      start: Date.parse("2026-11-30T09:00:00Z"),
      end: Date.parse("2026-12-07T09:00:00Z"),
    });
    expect(latestPeriod({ period: "weekly", hour: 11, weekday: 1 }, monday).end).toBe(
      Date.parse("2026-11-30T11:00:00Z"),
    );
    expect(latestPeriod({ period: "weekly", hour: 8, weekday: 5 }, monday).end).toBe(
      Date.parse("2026-12-04T08:00:00Z"),
    );
    expect(latestPeriod({ period: "weekly", hour: 0, weekday: 7 }, monday).end).toBe(
      Date.parse("2026-12-06T00:00:00Z"),
    );
  });

  it("text: one line per experiment, its effects and warnings", () => {
    const details: DigestDetails = {
      ruleId: "r",
      ruleName: "Team A",
      period: "daily",
      periodStart: "2026-12-06T09:00:00.000Z",
      periodEnd: "2026-12-07T09:00:00.000Z",
      experiments: [
        {
          experimentId: "e",
          name: "Blue button",
          flagKey: "button",
          status: "running",
          primaryMetricKey: "conversion_rate",
          exposures: 200,
          variants: [
            { variantKey: "control", control: true, value: 0.2, sampleSize: 100 },
            {
              variantKey: "blue",
              control: false,
              value: 0.4,
              sampleSize: 100,
              relativeDiff: 1,
              absoluteDiff: 0.2,
              ciLow: 0.075,
              ciHigh: 0.325,
              pValue: 0.0023,
              significant: true,
            },
          ],
          srm: { pValue: 0.0001, mismatch: true },
          rejectedShare: 0.1,
          warnings: ["sample ratio mismatch (p = 0.00010)", "10.0 % of its events were rejected"],
        },
      ],
    };
    expect(digestText(details).split("\n")).toEqual([
      'Daily digest "Team A", 2026-12-06 09:00 – 2026-12-07 09:00 UTC: 1 experiment',
      '• "Blue button" (flag button), running, 200 exposures',
      "  conversion_rate blue: +100.0 % vs control (difference +0.2, 95 % CI +0.075 to +0.325, p = 0.0023, significant)",
      "  ⚠ sample ratio mismatch (p = 0.00010)",
      "  ⚠ 10.0 % of its events were rejected",
    ]);
  });
});

describe("digests", () => {
  let t: TestApp;
  let receiver: Receiver;
  let notifications: ReturnType<typeof client<typeof NotificationService>>;

  beforeAll(async () => {
    receiver = new Receiver();
    await receiver.start();
    t = await startTestApp({ dataQualityIntervalMs: HOUR, digestIntervalMs: HOUR });
    notifications = client(NotificationService, t.baseUrl, t.adminKey);
  });

  afterAll(async () => {
    await t?.stop();
    await receiver?.stop();
  });

  function scheduler(holder: string) {
    return new DigestScheduler({
      pool: t.app.pool(),
      reports: t.app.reports.builder,
      logger: t.app.logger,
      holder,
    });
  }

  it("validation names the digest's fields", async () => {
    const { channel } = await notifications.createChannel({
      channel: { name: "v", kind: ChannelKind.WEBHOOK, url: `${receiver.url}/v` },
    });
    const base = { name: "d", channelIds: [channel!.id] };
    const cases: [object, string][] = [
      [{ triggers: ["digest.daily"] }, "rule.digest"],
      [
        { triggers: ["experiment.started"], digest: { period: DigestPeriod.DAILY, hourUtc: 9 } },
        "rule.triggers",
      ],
      [
        { triggers: ["digest.weekly"], digest: { period: DigestPeriod.DAILY, hourUtc: 9 } },
        "rule.triggers",
      ],
      [{ triggers: ["digest.daily"], digest: { hourUtc: 9 } }, "rule.digest.period"],
      [
        { triggers: ["digest.daily"], digest: { period: DigestPeriod.DAILY, hourUtc: 24 } },
        "rule.digest.hour_utc",
      ],
      [
        {
          triggers: ["digest.daily"],
          digest: { period: DigestPeriod.DAILY, hourUtc: 9, weekday: 3 },
        },
        "rule.digest.weekday",
      ],
      [
        { triggers: ["digest.weekly"], digest: { period: DigestPeriod.WEEKLY, hourUtc: 9 } },
        "rule.digest.weekday",
      ],
      [{ triggers: ["data_quality.volume"] }, "rule.triggers[0]"],
    ];
    for (const [rule, field] of cases) {
      const error = await errorOf(notifications.createRule({ rule: { ...base, ...rule } }));
      expect([JSON.stringify(rule), error.code]).toEqual([
        JSON.stringify(rule),
        Code.InvalidArgument,
      ]);
      expect(error.rawMessage).toContain(field);
    }
    // Accepted: every data-quality trigger; a weekly digest, returned as given.
    await notifications.createRule({
      rule: {
        ...base,
        triggers: [
          "data_quality.volume_drop",
          "data_quality.volume_spike",
          "data_quality.rejected_share",
          "data_quality.srm",
          "data_quality.attribution_backlog",
        ],
      },
    });
    const { rule } = await notifications.createRule({
      rule: {
        ...base,
        triggers: ["digest.weekly", "experiment.completed"],
        digest: { period: DigestPeriod.WEEKLY, hourUtc: 7, weekday: 1 },
      },
    });
    expect(rule!.digest).toMatchObject({ period: DigestPeriod.WEEKLY, hourUtc: 7, weekday: 1 });
    const audit = await query<{ data: { digest: unknown } }>(
      t,
      `select data from audit_log where entity_id = $1`,
      [rule!.id],
    );
    expect(audit[0]?.data.digest).toEqual({ period: "weekly", hourUtc: 7, weekday: 1 });
  });

  it("sends one digest per period with two schedulers racing, with the report's effect and significance", async () => {
    const { flagKey, experimentId } = await guardedExperiment(t, []);
    // 100 subjects per variant: 20 converting in control, 40 in blue.
    const picked = subjectsByVariant(t, flagKey, 100, "dg");
    const events = [];
    for (const [variant, converting] of [
      ["control", 20],
      ["blue", 40],
    ] as const) {
      for (const [i, s] of picked[variant].entries()) {
        events.push(event("exposure", s.decisionId));
        if (i < converting) events.push(event("conversion", s.decisionId));
      }
    }
    const ingest = await eventClient(t);
    await ingest.ingestEvents({ events });
    await untilStored(
      t,
      events.map((e) => e.eventId),
    );
    await untilNothingPending(t, experimentId);

    const hook = await notifications.createChannel({
      channel: { name: "digest hook", kind: ChannelKind.WEBHOOK, url: `${receiver.url}/digest` },
    });
    const slack = await notifications.createChannel({
      channel: { name: "digest slack", kind: ChannelKind.SLACK, url: `${receiver.url}/slack` },
    });
    const hourUtc = new Date().getUTCHours();
    const { rule } = await notifications.createRule({
      rule: {
        name: "daily digest",
        triggers: ["digest.daily"],
        experimentId,
        channelIds: [hook.channel!.id, slack.channel!.id],
        digest: { period: DigestPeriod.DAILY, hourUtc },
      },
    });
    // The first send time after the rule was created, and a minute past it.
    const schedule = { period: "daily" as const, hour: hourUtc, weekday: 0 };
    const sendAt = latestPeriod(schedule, Date.now()).end + DAY;
    const a = scheduler("digest-a");
    const b = scheduler("digest-b");
    // Before it: nothing due (the send time before the rule existed is skipped).
    expect(await a.sendDue(sendAt - 60_000)).toEqual([]);
    const [fromA, fromB] = await Promise.all([
      a.sendDue(sendAt + 60_000),
      b.sendDue(sendAt + 60_000),
    ]);
    const sent = [...fromA, ...fromB].filter((s) => s.ruleId === rule!.id);
    expect(sent).toEqual([{ ruleId: rule!.id, periodStart: sendAt - DAY, deliveries: 2 }]);
    // Later passes in the same period send nothing.
    expect(await a.sendDue(sendAt + HOUR)).toEqual([]);
    expect(await b.tick(sendAt + 2 * HOUR)).toEqual([]);
    const { deliveries } = await notifications.listDeliveries({ ruleId: rule!.id });
    expect(deliveries.map((d) => d.trigger)).toEqual(["digest.daily", "digest.daily"]);
    expect(new Set(deliveries.map((d) => d.dedupKey))).toEqual(
      new Set([`digest.daily:${rule!.id}:${new Date(sendAt - DAY).toISOString()}`]),
    );

    await waitFor(
      () => receiver.at("/digest").length === 1 && receiver.at("/slack").length === 1,
      20_000,
      "the digest on both channels",
    );
    const { report } = await reportClient(t).getExperimentReport({ experimentId });
    const blue = report!.variants.find((v) => v.variantKey === "blue")!;
    const comparison = blue.metrics.find((m) => m.metricKey === "conversion_rate")!.comparison!;
    expect(comparison.significant).toBe(true);
    const body = receiver.at("/digest")[0]!.json;
    expect(body).toMatchObject({
      trigger: "digest.daily",
      dedupKey: deliveries[0]!.dedupKey,
      details: {
        ruleId: rule!.id,
        period: "daily",
        periodStart: new Date(sendAt - DAY).toISOString(),
        periodEnd: new Date(sendAt).toISOString(),
      },
    });
    const [entry] = (body.details as DigestDetails).experiments;
    expect(entry).toMatchObject({
      experimentId,
      flagKey,
      status: "running",
      primaryMetricKey: "conversion_rate",
      exposures: report!.exposures,
      srm: { mismatch: false },
      warnings: [],
    });
    expect(entry!.variants.find((v) => v.variantKey === "blue")).toEqual({
      variantKey: "blue",
      control: false,
      value: blue.metrics.find((m) => m.metricKey === "conversion_rate")!.value,
      sampleSize: 100,
      relativeDiff: comparison.relativeDiff,
      absoluteDiff: comparison.absoluteDiff,
      ciLow: comparison.ciLow,
      ciHigh: comparison.ciHigh,
      pValue: comparison.pValue,
      significant: true,
    });
    expect(comparison.relativeDiff).toBeCloseTo(1, 10);
    const text = receiver.at("/slack")[0]!.json.text as string;
    expect(text).toContain('Daily digest "daily digest"');
    expect(text).toContain("conversion_rate blue: +100.0 % vs control");
    expect(text).toContain("significant)");
    expect(body.summary).toBe(text);

    // The next day's send time: the next period's digest.
    const next = await a.sendDue(sendAt + DAY + 60_000);
    expect(next.filter((s) => s.ruleId === rule!.id)).toEqual([
      { ruleId: rule!.id, periodStart: sendAt, deliveries: 2 },
    ]);
  });
});
