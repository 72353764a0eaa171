/**
 * Event retention drops raw partitions but leaves the rollups: a report
 * keeps the figures the rollups hold, and says when its window reaches
 * past the raw events it would read (Report.raw_events_from and
 * raw_events_incomplete).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { AcceptedEvent } from "../../src/events/validation.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { runningExperiment } from "../support/builders.js";
import { reportClient } from "./support.js";

const DAY_MS = 86_400_000;

describe("reports after event retention", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { LOTTY_EVENT_RETENTION_DAYS: "30" } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("keeps the rollups' figures and flags windows that reach past the raw events", async () => {
    const experiment = await runningExperiment(t);
    const now = Date.now();
    const exposure = (id: string, variantKey: string, occurredAt: number): AcceptedEvent => ({
      eventId: id,
      eventType: "exposure",
      decisionId: `decision-${id}`,
      flagKey: experiment.flagKey,
      experimentId: experiment.experimentId,
      variantKey,
      subjectId: `subject-${id}`,
      occurredAt,
      properties: {},
      exposure: true,
      requiresExposure: false,
    });
    const events = [
      exposure("old-control", "control", now - 40 * DAY_MS),
      exposure("old-blue", "blue", now - 40 * DAY_MS),
      exposure("new-blue", "blue", now - DAY_MS),
    ];
    await t.app.eventStore!.apply([
      { id: "retention-report", message: { v: 1, receivedAt: now, events, stats: [] } },
    ]);
    const report = async (from: number) =>
      (
        await reportClient(t).getExperimentReport({
          experimentId: experiment.experimentId,
          from: timestampFromMs(from),
          to: timestampFromMs(now),
        })
      ).report!;

    const before = await report(now - 50 * DAY_MS);
    expect(before.subjects).toBe(3);
    expect(before.rawEventsFrom).toBeUndefined();
    expect(before.rawEventsIncomplete).toBe(false);

    const dropped = await t.app.eventStore!.applyRetention(now);
    expect(dropped).toHaveLength(1);
    const oldDay = Math.floor((now - 40 * DAY_MS) / DAY_MS) * DAY_MS;

    const whole = await report(now - 50 * DAY_MS);
    // The rollups outlive the raw events: the same subjects and exposures.
    expect(whole.subjects).toBe(3);
    expect(whole.exposures).toBe(3);
    expect(timestampDate(whole.rawEventsFrom!).getTime()).toBe(oldDay + DAY_MS);
    expect(whole.rawEventsIncomplete).toBe(true);

    const recent = await report(now - 2 * DAY_MS);
    expect(recent.subjects).toBe(1);
    expect(timestampDate(recent.rawEventsFrom!).getTime()).toBe(oldDay + DAY_MS);
    expect(recent.rawEventsIncomplete).toBe(false);
  });
});
