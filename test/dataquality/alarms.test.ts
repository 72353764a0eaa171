/**
 * Data-quality alarms end to end on the real PostgreSQL and NATS: crafted
 * event volumes, ingest totals, backlogs and an SRM → the monitor's pass
 * (DataQualityMonitor.tick, called directly with a chosen clock; the app's
 * own timer runs once an hour here) → alarm rows → notifier → dispatcher →
 * a local webhook receiver; and ListDataQualityAlarms.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code } from "@connectrpc/connect";
import {
  ChannelKind,
  DeliveryStatus,
  NotificationService,
} from "../../gen/lotty/notifications/v1/notifications_pb.js";
import { DataQualityMonitor, type DataQualitySettings } from "../../src/dataquality/monitor.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { errorOf } from "../experiments/support.js";
import { event, eventClient, query, untilStored } from "../events/support.js";
import { subjectsByVariant } from "../reports/support.js";
import { guardedExperiment, sendTraffic } from "../guardrails/support.js";
import { Receiver, type ReceivedRequest } from "../notifications/receiver.js";
import { DAY, HOUR, insertEvents } from "./support.js";

const DQ_TRIGGERS = [
  "data_quality.volume_drop",
  "data_quality.volume_spike",
  "data_quality.rejected_share",
  "data_quality.srm",
  "data_quality.attribution_backlog",
];

describe("data-quality alarms", () => {
  let t: TestApp;
  let receiver: Receiver;
  let notifications: ReturnType<typeof client<typeof NotificationService>>;
  let ruleId: string;
  let limitedRuleId: string;

  beforeAll(async () => {
    receiver = new Receiver();
    await receiver.start();
    t = await startTestApp({ dataQualityIntervalMs: HOUR, digestIntervalMs: HOUR });
    notifications = client(NotificationService, t.baseUrl, t.adminKey);
    const { channel } = await notifications.createChannel({
      channel: { name: "dq hook", kind: ChannelKind.WEBHOOK, url: `${receiver.url}/dq` },
    });
    const { rule } = await notifications.createRule({
      rule: { name: "data quality", triggers: DQ_TRIGGERS, channelIds: [channel!.id] },
    });
    ruleId = rule!.id;
    // A second channel and rule for volume alarms, limited to one a minute.
    const { channel: limited } = await notifications.createChannel({
      channel: { name: "dq limited", kind: ChannelKind.WEBHOOK, url: `${receiver.url}/limited` },
    });
    const { rule: limitedRule } = await notifications.createRule({
      rule: {
        name: "volume, one a minute",
        triggers: ["data_quality.volume_drop", "data_quality.volume_spike"],
        channelIds: [limited!.id],
        rateLimitPerMinute: 1,
      },
    });
    limitedRuleId = limitedRule!.id;
  });

  afterAll(async () => {
    await t?.stop();
    await receiver?.stop();
  });

  /** A monitor on the app's database, as another workers process would run it. */
  function monitor(settings: Partial<DataQualitySettings> = {}, holder?: string) {
    return new DataQualityMonitor({
      pool: t.app.pool(),
      changes: t.app.changes,
      reports: t.app.reports.builder,
      logger: t.app.logger,
      settings,
      holder,
    });
  }

  /** Requests the receiver got for this trigger and subject. */
  function received(trigger: string, subject: string): ReceivedRequest[] {
    return receiver
      .at("/dq")
      .filter(
        (r) =>
          r.json.trigger === trigger &&
          (r.json.details as { subject?: string } | undefined)?.subject === subject,
      );
  }

  async function untilReceived(trigger: string, subject: string): Promise<ReceivedRequest> {
    await waitFor(() => received(trigger, subject).length > 0, 20_000, `${trigger} ${subject}`);
    return received(trigger, subject)[0]!;
  }

  /** Deliveries the notifier recorded for the rule with this dedup key prefix. */
  async function deliveriesLike(prefix: string) {
    const { deliveries } = await notifications.listDeliveries({ ruleId, pageSize: 500 });
    return deliveries.filter((d) => d.dedupKey.startsWith(prefix));
  }

  /**
   * A sentinel alarm (an attribution backlog above a bound of 0 at a
   * distinct hour) and its delivery: lifecycle events are handled in order,
   * so once it is recorded, anything staged before it would be too.
   */
  async function sentinel(at: number): Promise<void> {
    await query(
      t,
      `insert into pending_attributions (event_id, decision_id, experiment_id, occurred_at, expires_at)
       values ($1, 'sentinel', gen_random_uuid(), now(), now() + interval '1 day')`,
      [`sentinel-${randomBytes(4).toString("hex")}`],
    );
    try {
      const raised = await monitor({
        backlog: { maxPending: 1, growthFactor: 100, minGrowthPending: 1e9 },
      }).evaluate(at);
      const alarm = raised.find((a) => a.kind === "data_quality.attribution_backlog")!;
      await waitFor(
        async () => (await deliveriesLike(alarm.dedupKey)).length === 1,
        20_000,
        "the sentinel's delivery",
      );
    } finally {
      await query(t, `delete from pending_attributions where decision_id = 'sentinel'`);
    }
  }

  it("volume: fires a drop and a spike against the same hour of previous days, once per hour, and not on steady traffic", async () => {
    const tag = randomBytes(3).toString("hex");
    // The hour judged: ten days ago; the pass runs 10 minutes after it ended.
    const hour = Math.floor(Date.now() / HOUR) * HOUR - 10 * DAY;
    const now = hour + HOUR + 10 * 60_000;
    const baseline = [980, 1000, 1020, 990, 1010, 1040, 960];
    const types = {
      drop: { name: `dq_drop_${tag}`, now: 300 },
      spike: { name: `dq_spike_${tag}`, now: 2_000 },
      steady: { name: `dq_steady_${tag}`, now: 1_005 },
    };
    for (const { name, now: x } of Object.values(types)) {
      for (const [i, n] of baseline.entries()) await insertEvents(t, name, hour - (7 - i) * DAY, n);
      await insertEvents(t, name, hour, x);
    }
    // A type with two days of history only.
    const young = `dq_young_${tag}`;
    await insertEvents(t, young, hour - 2 * DAY, 1000);
    await insertEvents(t, young, hour - DAY, 1000);
    await insertEvents(t, young, hour, 5_000);

    const started = performance.now();
    const raised = await t.app.dataQualityMonitor!.tick(now);
    const elapsed = performance.now() - started;
    const volume = raised.filter((a) => a.kind.startsWith("data_quality.volume_"));
    expect(volume.map((a) => [a.kind, a.subject]).sort()).toEqual([
      ["data_quality.volume_drop", types.drop.name],
      ["data_quality.volume_spike", types.spike.name],
    ]);
    const drop = volume.find((a) => a.kind === "data_quality.volume_drop")!;
    expect(drop.figures).toMatchObject({ observed: 300, median: 1000, mad: 20, history_days: 7 });
    expect(drop.figures.robust_z).toBeCloseTo((0.6745 * -700) / 20, 1);
    expect(drop.dedupKey).toBe(
      `data_quality.volume_drop:${types.drop.name}:${new Date(hour).toISOString()}`,
    );
    expect(drop.windowStart).toBe(hour);
    expect(drop.windowEnd).toBe(hour + HOUR);
    expect(elapsed).toBeGreaterThan(0);

    const sent = await untilReceived("data_quality.volume_drop", types.drop.name);
    expect(sent.json).toMatchObject({
      trigger: "data_quality.volume_drop",
      experimentId: "",
      flagKey: "",
      dedupKey: drop.dedupKey,
      details: {
        subject: types.drop.name,
        windowStart: new Date(hour).toISOString(),
        figures: { observed: 300, median: 1000 },
      },
    });
    expect(sent.json.summary).toContain(`"${types.drop.name}" had 300 events`);
    await untilReceived("data_quality.volume_spike", types.spike.name);

    // A second pass in the same hour (and a second monitor) records and sends nothing.
    expect(await t.app.dataQualityMonitor!.tick(now + 20 * 60_000)).toEqual([]);
    expect(
      (await monitor({}, "other").evaluate(now + 30 * 60_000)).filter((a) =>
        a.kind.startsWith("data_quality.volume_"),
      ),
    ).toEqual([]);
    await sentinel(now + 40 * 60_000);
    expect(await deliveriesLike(`data_quality.volume_drop:${types.drop.name}`)).toHaveLength(1);
    expect(received("data_quality.volume_drop", types.drop.name)).toHaveLength(1);
    expect(received("data_quality.volume_spike", types.steady.name)).toHaveLength(0);
    expect(received("data_quality.volume_drop", types.steady.name)).toHaveLength(0);
    // The rule limited to one a minute sent one of the two and recorded the other as limited.
    let statuses: DeliveryStatus[] = [];
    await waitFor(
      async () => {
        const { deliveries } = await notifications.listDeliveries({ ruleId: limitedRuleId });
        statuses = deliveries.map((d) => d.status).sort();
        return statuses.includes(DeliveryStatus.SENT) || statuses.length > 2;
      },
      20_000,
      "the limited rule's deliveries",
    );
    expect(statuses).toEqual([DeliveryStatus.SENT, DeliveryStatus.RATE_LIMITED].sort());

    // Listed, newest first, with their figures.
    const { alarms } = await notifications.listDataQualityAlarms({
      kind: "data_quality.volume_drop",
    });
    const listed = alarms.find((a) => a.subject === types.drop.name)!;
    expect(listed.figures).toMatchObject({ observed: 300, median: 1000, mad: 20 });
    expect(listed.summary).toBe(drop.summary);
  });

  it("rejected share: fires when the last hour's rejected share is above the bound, not on a normal share", async () => {
    const m = monitor({ rejectedShare: { maxShare: 0.05, minEvents: 100 } });
    const day = new Date().toISOString().slice(0, 10);
    const experiment = `dq-${randomBytes(3).toString("hex")}`;
    const add = (result: string, reason: string, n: number) =>
      query(
        t,
        `insert into ingest_stats (day, experiment_id, result, reason, events) values ($1, $2, $3, $4, $5)
         on conflict (day, experiment_id, result, reason) do update set events = ingest_stats.events + excluded.events`,
        [day, experiment, result, reason, n],
      );
    // Steady: 1 % rejected over the hour.
    const t0 = Date.now() + 2 * HOUR;
    await m.evaluate(t0);
    await add("stored", "", 990);
    await add("rejected", "invalid_argument", 10);
    const quiet = await m.evaluate(t0 + HOUR + 1_000);
    expect(quiet.filter((a) => a.kind === "data_quality.rejected_share")).toEqual([]);
    // The next hour: 20 % rejected.
    await add("stored", "", 800);
    await add("rejected", "invalid_argument", 200);
    const raised = await m.evaluate(t0 + 2 * HOUR + 2_000);
    const alarm = raised.find((a) => a.kind === "data_quality.rejected_share")!;
    expect(alarm.figures).toMatchObject({ rejected: 200, received: 1000, rejected_share: 0.2 });
    const sent = await untilReceived("data_quality.rejected_share", "all");
    expect(sent.json.summary).toContain("20 % of events were rejected in the last hour");
    // Again within the hour: nothing new.
    const again = await m.evaluate(t0 + 2 * HOUR + 60_000);
    expect(again.filter((a) => a.kind === "data_quality.rejected_share")).toEqual([]);
  });

  it("attribution backlog: fires above the bound and when it grows, not on a small steady backlog", async () => {
    const m = monitor({ backlog: { maxPending: 500, growthFactor: 1.5, minGrowthPending: 100 } });
    const add = (n: number, tag: string) =>
      query(
        t,
        `insert into pending_attributions (event_id, decision_id, experiment_id, occurred_at, expires_at)
         select 'bk-' || $2 || '-' || g, 'backlog', gen_random_uuid(), now(), now() + interval '1 day'
         from generate_series(1, $1::integer) g`,
        [n, tag],
      );
    const t0 = Date.now() + 30 * DAY;
    try {
      await add(100, "a");
      await m.evaluate(t0);
      const steady = await m.evaluate(t0 + HOUR);
      expect(steady.filter((a) => a.kind === "data_quality.attribution_backlog")).toEqual([]);
      await add(100, "b"); // 100 → 200 in an hour: growing.
      const grown = await m.evaluate(t0 + 2 * HOUR);
      expect(
        grown.find((a) => a.kind === "data_quality.attribution_backlog")?.figures,
      ).toMatchObject({ pending: 200, pending_hour_ago: 100 });
      await add(400, "c"); // 600 ≥ 500: above the bound.
      const above = await m.evaluate(t0 + 3 * HOUR);
      expect(above.find((a) => a.kind === "data_quality.attribution_backlog")?.summary).toMatch(
        /^600 events wait for attribution \(bound 500\)/,
      );
    } finally {
      await query(t, `delete from pending_attributions where decision_id = 'backlog'`);
    }
  });

  it("SRM: fires once when a running experiment's report shows a mismatch", async () => {
    const { flagKey, experimentId } = await guardedExperiment(t, []);
    await sendTraffic(t, flagKey, experimentId, { subjects: 60, prefix: "srm" });
    const m = t.app.dataQualityMonitor!;
    const now = Date.now();
    expect((await m.tick(now)).filter((a) => a.kind === "data_quality.srm")).toEqual([]);
    // 200 more exposures in control only: p far below 0.001.
    const ingest = await eventClient(t);
    const extra = subjectsByVariant(t, flagKey, 260, "srm").control.slice(60);
    const events = extra.map((s) => event("exposure", s.decisionId));
    await ingest.ingestEvents({ events });
    await untilStored(
      t,
      events.map((e) => e.eventId),
    );
    const raised = (await m.tick(now + 1_000)).filter((a) => a.kind === "data_quality.srm");
    expect(raised).toHaveLength(1);
    expect(raised[0]!.figures.p_value).toBeLessThan(0.001);
    expect(raised[0]!.experimentId).toBe(experimentId);
    const sent = await untilReceived("data_quality.srm", experimentId);
    expect(sent.json).toMatchObject({ experimentId, flagKey });
    expect(sent.json.summary).toContain("sample ratio mismatch");
    // Still mismatched on the next passes, even in a later hour: no new alarm.
    expect((await m.tick(now + 2_000)).filter((a) => a.kind === "data_quality.srm")).toEqual([]);
    expect((await m.tick(now + 2 * HOUR)).filter((a) => a.kind === "data_quality.srm")).toEqual([]);
    const { alarms } = await notifications.listDataQualityAlarms({ kind: "data_quality.srm" });
    expect(alarms.filter((a) => a.experimentId === experimentId)).toHaveLength(1);
  });

  it("ListDataQualityAlarms names a bad kind or page token", async () => {
    const bad = await errorOf(notifications.listDataQualityAlarms({ kind: "experiment.started" }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toContain("kind");
    const token = await errorOf(notifications.listDataQualityAlarms({ pageToken: "nope" }));
    expect(token.code).toBe(Code.InvalidArgument);
    expect(token.rawMessage).toContain("page_token");
  });
});
