/**
 * The counting rule over a few hundred subjects of both variants, through
 * the real server, NATS and PostgreSQL: conversions, errors and latencies
 * sent before and after their exposures in a seeded random order, some
 * events sent twice, some subjects never exposed and some exposed twice.
 * event_counts, subject_event_counts (which holds no exposures: exposed
 * subjects are in exposures, one row per decision), exposures,
 * events.counted and pending_attributions must equal what is computed by
 * hand from what was sent.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Event } from "../../gen/lotty/events/v1/events_pb.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { seededRandom } from "../support/random.js";
import { decisionFor, event, eventClient, query, untilStored } from "./support.js";
import { runningExperiment } from "../support/builders.js";

const SEED = 20261122;
const SUBJECTS = 300;
/** Types that count only once their decision has an exposure. */
const REQUIRING = ["conversion", "error", "latency"] as const;

const random = seededRandom;

interface Sent {
  event: Event;
  subjectId: string;
  variantKey: string;
  type: string;
  occurredAt: number;
  /** The decision has at least one exposure among the events sent. */
  exposed: boolean;
}

describe("attribution across many subjects", () => {
  let t: TestApp;
  let events: Awaited<ReturnType<typeof eventClient>>;
  let experiment: { flagKey: string; experimentId: string };

  beforeAll(async () => {
    t = await startTestApp();
    events = await eventClient(t);
    experiment = await runningExperiment(t);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("counts exactly the events the rule says, whatever the order and however often they are sent", async () => {
    const rand = random(SEED);
    const pick = (n: number) => Math.floor(rand() * n);
    const now = Date.now();
    const sent: Sent[] = [];
    for (let i = 0; i < SUBJECTS; i++) {
      const subjectId = `subject-${SEED}-${i}`;
      const d = decisionFor(t, experiment.flagKey, subjectId);
      expect(d.experimentId).toBe(experiment.experimentId);
      // 0 exposures for about one subject in six, 2 for about one in six.
      const exposures = [0, 1, 1, 1, 1, 2][pick(6)]!;
      const types: string[] = Array.from({ length: exposures }, () => "exposure");
      for (let k = pick(4); k > 0; k--) types.push(REQUIRING[pick(REQUIRING.length)]!);
      for (const type of types) {
        // Within the last 40 minutes, so several minutes of counts.
        const occurredAt = now - pick(40 * 60_000);
        const properties: JsonObject = type === "latency" ? { ms: pick(900) } : {};
        sent.push({
          event: event(type, d.decisionId, { occurredAt, properties }),
          subjectId,
          variantKey: d.variantKey,
          type,
          occurredAt,
          exposed: exposures > 0,
        });
      }
    }
    const variants = new Set(sent.map((s) => s.variantKey));
    expect([...variants].sort()).toEqual(["blue", "control"]);

    // Every event once, about one in ten a second time, all shuffled.
    const deliveries = sent.map((s) => s.event);
    for (const s of sent) if (rand() < 0.1) deliveries.push(s.event);
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = pick(i + 1);
      [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
    }
    const batches: Event[][] = [];
    for (let i = 0; i < deliveries.length;) {
      const size = 1 + pick(120);
      batches.push(deliveries.slice(i, i + size));
      i += size;
    }
    // Four calls in flight at a time.
    const answers = [];
    for (let i = 0; i < batches.length; i += 4) {
      answers.push(
        ...(await Promise.all(
          batches.slice(i, i + 4).map((batch) => events.ingestEvents({ events: batch })),
        )),
      );
    }
    expect(answers.reduce((n, a) => n + a.rejected, 0)).toBe(0);
    expect(answers.reduce((n, a) => n + a.accepted + a.duplicates, 0)).toBe(deliveries.length);
    // Repeats in flight may be answered as accepted; never fewer than the distinct events.
    expect(answers.reduce((n, a) => n + a.accepted, 0)).toBeGreaterThanOrEqual(sent.length);

    const ids = sent.map((s) => s.event.eventId);
    await untilStored(t, ids, 30_000);

    // By hand: exposures always count; the other types when their decision was exposed.
    const counted = sent.filter((s) => s.type === "exposure" || s.exposed);
    const waiting = sent.filter((s) => !(s.type === "exposure" || s.exposed));
    expect(waiting.length).toBeGreaterThan(0);
    // Stored is not yet counted: an event whose exposure another batch
    // stored at the same moment is released by a second transaction after
    // the commit. Wait until only the never-exposed events are pending.
    await waitFor(
      async () => {
        const [row] = await query<{ n: string }>(
          t,
          `select count(*)::text as n from pending_attributions where experiment_id = $1`,
          [experiment.experimentId],
        );
        return Number(row?.n) === waiting.length;
      },
      30_000,
      "only never-exposed events pending",
    );

    const perMinute: Record<string, number> = {};
    const perSubject: Record<string, { events: number; first: number; last: number }> = {};
    for (const s of counted) {
      const minute = Math.floor(s.occurredAt / 60_000) * 60_000;
      const mk = `${s.variantKey}/${s.type}/${minute}`;
      perMinute[mk] = (perMinute[mk] ?? 0) + 1;
      // Exposures count per minute, but exposed subjects are in exposures.
      if (s.type === "exposure") continue;
      const sk = `${s.variantKey}/${s.type}/${s.subjectId}`;
      const p = perSubject[sk];
      if (p === undefined) {
        perSubject[sk] = { events: 1, first: s.occurredAt, last: s.occurredAt };
      } else {
        p.events++;
        p.first = Math.min(p.first, s.occurredAt);
        p.last = Math.max(p.last, s.occurredAt);
      }
    }

    const minuteRows = await query<{
      variant_key: string;
      event_type: string;
      minute: Date;
      events: string;
    }>(
      t,
      `select variant_key, event_type, minute, events::text from event_counts where experiment_id = $1`,
      [experiment.experimentId],
    );
    expect(
      Object.fromEntries(
        minuteRows.map((r) => [
          `${r.variant_key}/${r.event_type}/${r.minute.getTime()}`,
          Number(r.events),
        ]),
      ),
    ).toEqual(perMinute);

    const subjectRows = await query<{
      variant_key: string;
      event_type: string;
      subject_id: string;
      events: string;
      first_at: Date;
      last_at: Date;
    }>(
      t,
      `select variant_key, event_type, subject_id, events::text, first_at, last_at
       from subject_event_counts where experiment_id = $1`,
      [experiment.experimentId],
    );
    expect(
      Object.fromEntries(
        subjectRows.map((r) => [
          `${r.variant_key}/${r.event_type}/${r.subject_id}`,
          { events: Number(r.events), first: r.first_at.getTime(), last: r.last_at.getTime() },
        ]),
      ),
    ).toEqual(perSubject);

    const flags = await query<{ event_id: string; counted: boolean }>(
      t,
      `select event_id, counted from events where event_id = any($1::text[])`,
      [ids],
    );
    expect(flags).toHaveLength(sent.length);
    const countedIds = new Set(counted.map((s) => s.event.eventId));
    for (const row of flags) expect(row.counted).toBe(countedIds.has(row.event_id));

    const pending = await query<{ event_id: string }>(
      t,
      `select event_id from pending_attributions where experiment_id = $1`,
      [experiment.experimentId],
    );
    expect(pending.map((r) => r.event_id).sort()).toEqual(
      waiting.map((s) => s.event.eventId).sort(),
    );

    // One exposures row per exposed decision (each subject here has one
    // decision), from one of the exposures sent for it: which one depends on
    // the order they were applied in.
    const exposuresSent = new Map<string, Sent[]>();
    for (const s of sent) {
      if (s.type !== "exposure") continue;
      const list = exposuresSent.get(s.event.decisionId) ?? [];
      list.push(s);
      exposuresSent.set(s.event.decisionId, list);
    }
    const exposureRows = await query<{
      decision_id: string;
      event_id: string;
      flag_key: string;
      variant_key: string;
      subject_id: string;
      exposed_at: Date;
    }>(
      t,
      `select decision_id, event_id, flag_key, variant_key, subject_id, exposed_at
       from exposures where experiment_id = $1`,
      [experiment.experimentId],
    );
    expect(exposureRows.map((r) => r.decision_id).sort()).toEqual([...exposuresSent.keys()].sort());
    for (const row of exposureRows) {
      const candidates = exposuresSent.get(row.decision_id)!;
      const source = candidates.find((s) => s.event.eventId === row.event_id);
      expect(source).toBeDefined();
      expect(row).toMatchObject({
        flag_key: experiment.flagKey,
        variant_key: source!.variantKey,
        subject_id: source!.subjectId,
      });
      expect(row.exposed_at.getTime()).toBe(source!.occurredAt);
    }
    // No subject_event_counts row of type exposure, though exposures counted per minute.
    expect(subjectRows.filter((r) => r.event_type === "exposure")).toEqual([]);
    expect(minuteRows.some((r) => r.event_type === "exposure")).toBe(true);
  });

  it("counts every conversion when its exposure is applied by a concurrent transaction", async () => {
    // Exposures and conversions of the same decisions in separate calls sent
    // at once: the consumer applies batches concurrently, so a conversion can
    // be left pending by one transaction while another stores its exposure;
    // the release after commit must count it all the same.
    const own = await runningExperiment(t);
    const pairs = Array.from({ length: 400 }, (_, i) => {
      const d = decisionFor(t, own.flagKey, `concurrent-${i}`);
      return {
        d,
        exposure: event("exposure", d.decisionId),
        conversion: event("conversion", d.decisionId),
      };
    });
    const calls = pairs.flatMap(({ exposure, conversion }) => [[conversion], [exposure]]);
    for (let i = 0; i < calls.length; i += 100) {
      await Promise.all(
        calls.slice(i, i + 100).map((batch) => events.ingestEvents({ events: batch })),
      );
    }
    await untilStored(
      t,
      pairs.flatMap((p) => [p.exposure.eventId, p.conversion.eventId]),
      30_000,
    );
    // The release after a concurrent commit may still be running.
    await waitFor(
      async () =>
        (
          await query<{ n: string }>(
            t,
            `select count(*)::text as n from pending_attributions where experiment_id = $1`,
            [own.experimentId],
          )
        )[0]!.n === "0",
      15_000,
      "no conversion left pending",
    );
    const counts = await query<{ event_type: string; n: string }>(
      t,
      `select event_type, sum(events)::text as n from event_counts where experiment_id = $1 group by 1`,
      [own.experimentId],
    );
    expect(Object.fromEntries(counts.map((r) => [r.event_type, Number(r.n)]))).toEqual({
      exposure: 400,
      conversion: 400,
    });
  });
});
