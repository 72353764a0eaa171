/**
 * The event store's housekeeping against the real PostgreSQL: retention
 * drops whole daily partitions past the retention period together with
 * their event ids, and keeps everything younger.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestApp, type TestApp } from "../support/app.js";
import type { EventMessage } from "../../src/events/message.js";
import type { AcceptedEvent } from "../../src/events/validation.js";
import { query } from "./support.js";

const DAY_MS = 86_400_000;

function stored(eventId: string, occurredAt: number): AcceptedEvent {
  return {
    eventId,
    eventType: "exposure",
    decisionId: `decision-${eventId}`,
    flagKey: "retention_flag",
    experimentId: "",
    variantKey: "",
    subjectId: `subject-${eventId}`,
    occurredAt,
    properties: {},
    exposure: true,
    requiresExposure: false,
  };
}

describe("event store retention", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { LOTTY_EVENT_RETENTION_DAYS: "30" } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("drops partitions older than the retention period with their ids, keeps the rest", async () => {
    const store = t.app.eventStore!;
    const now = Date.UTC(2026, 10, 22, 12);
    const old = stored("old-event", now - 40 * DAY_MS);
    const edge = stored("edge-event", now - 29 * DAY_MS);
    const fresh = stored("fresh-event", now - DAY_MS);
    const message: EventMessage = { v: 1, receivedAt: now, events: [old, edge, fresh], stats: [] };
    const result = await store.apply([{ id: "retention-test", message }]);
    expect(result.stored).toBe(3);

    const dropped = await store.applyRetention(now);
    expect(dropped).toEqual(["events_p20261013"]);
    const ids = await query<{ event_id: string }>(
      t,
      `select event_id from event_ids order by event_id`,
    );
    expect(ids.map((r) => r.event_id)).toEqual(["edge-event", "fresh-event"]);
    const events = await query<{ event_id: string }>(
      t,
      `select event_id from events order by event_id`,
    );
    expect(events.map((r) => r.event_id)).toEqual(["edge-event", "fresh-event"]);
    // Running it again changes nothing.
    expect(await store.applyRetention(now)).toEqual([]);
    // A repeat of a dropped event id is stored again: its first copy is gone
    // (ingestion refuses events older than 7 days, so this only happens here).
    const again = await store.apply([
      { id: "retention-test-2", message: { ...message, events: [old] } },
    ]);
    expect(again.stored).toBe(1);
  });
});
