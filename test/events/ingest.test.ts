/**
 * IngestEvents through the real server, NATS and PostgreSQL: acceptance,
 * storage, duplicates and attribution (B4-1..B4-5).
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { startTestApp, type TestApp } from "../support/app.js";
import {
  countsOf,
  decisionFor,
  event,
  eventClient,
  runningExperiment,
  storedCount,
  untilStored,
} from "./support.js";

describe("IngestEvents", () => {
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

  it("stores an exposure and a conversion and counts them for the variant", async () => {
    const d = decisionFor(t, experiment.flagKey, "subject-1");
    const batch = [event("exposure", d.decisionId), event("conversion", d.decisionId)];
    const answer = await events.ingestEvents({ events: batch });
    expect(answer).toMatchObject({ accepted: 2, duplicates: 0, rejected: 0, errors: [] });
    await untilStored(
      t,
      batch.map((e) => e.eventId),
    );
    const counts = await countsOf(t, experiment.experimentId);
    expect(counts[`${d.variantKey}/exposure`]).toBe(1);
    expect(counts[`${d.variantKey}/conversion`]).toBe(1);
  });

  it("counts a conversion that arrived before its exposure once the exposure arrives", async () => {
    const d = decisionFor(t, experiment.flagKey, "subject-2");
    const conversion = event("conversion", d.decisionId);
    await events.ingestEvents({ events: [conversion] });
    await untilStored(t, [conversion.eventId]);
    const before = await countsOf(t, experiment.experimentId);
    expect(before[`${d.variantKey}/conversion`] ?? 0).toBe(
      (await countsOf(t, experiment.experimentId))[`${d.variantKey}/conversion`] ?? 0,
    );
    const exposure = event("exposure", d.decisionId);
    await events.ingestEvents({ events: [exposure] });
    await untilStored(t, [exposure.eventId]);
    const after = await countsOf(t, experiment.experimentId);
    expect(after[`${d.variantKey}/conversion`]).toBe(
      (before[`${d.variantKey}/conversion`] ?? 0) + 1,
    );
  });

  it("stores a batch sent three times once and reports the repeats as duplicates", async () => {
    const d = decisionFor(t, experiment.flagKey, "subject-3");
    const batch = [event("exposure", d.decisionId), event("conversion", d.decisionId)];
    const answers = await Promise.all([1, 2, 3].map(() => events.ingestEvents({ events: batch })));
    expect(answers.reduce((n, a) => n + a.accepted + a.duplicates, 0)).toBe(6);
    const again = await events.ingestEvents({ events: batch });
    expect(again).toMatchObject({ accepted: 0, duplicates: 2 });
    await untilStored(
      t,
      batch.map((e) => e.eventId),
    );
    expect(
      await storedCount(
        t,
        batch.map((e) => e.eventId),
      ),
    ).toBe(2);
  });
});
