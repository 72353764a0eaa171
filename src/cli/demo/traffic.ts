/**
 * Traffic simulation: the members of the simulated population, how they
 * behave in each experiment, and sending their decisions and events as the
 * workout backend.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { decideAndExpose, EventSender, type LottyClient } from "../../../clients/node/src/index.js";
import type { Experiment } from "./proto.js";
import { SNAPSHOT_TIMEOUT_MS, DECIDE_CONCURRENCY } from "./tenant.js";
import type { Traffic } from "./summary.js";
import { sleep } from "../../platform/timing.js";
import { type Run, poll, forEachLimited, seeded, pick, between } from "./helpers.js";
import { actAs } from "./provisioning.js";

interface Member {
  subjectId: string;
  attributes: JsonObject;
  random: () => number;
}

/** Member `i` of the simulated population: stable id and attributes. */
function member(i: number, flagKey: string): Member {
  return memberWithId(`member-${String(i).padStart(5, "0")}`, flagKey);
}

/** The member with this id: attributes and behaviour follow from it. */
function memberWithId(subjectId: string, flagKey: string): Member {
  const profile = seeded(subjectId);
  return {
    subjectId,
    attributes: {
      country: pick(profile, { US: 35, GB: 15, DE: 15, FR: 10, BR: 15, JP: 10 }),
      platform: pick(profile, { ios: 45, android: 45, web: 10 }),
      app_version: pick(profile, { "5.2.0": 20, "5.3.1": 35, "5.4.0": 45 }),
    },
    // Behaviour per flag, the same on every run.
    random: seeded(`${subjectId}:${flagKey}`),
  };
}

interface OutgoingEvent {
  eventType: string;
  properties?: JsonObject;
  /**
   * Milliseconds after the exposure at which it occurred: ordered events
   * (K's funnel steps) need distinct, increasing times. Unset: when sent.
   */
  afterMs?: number;
}

/** What a member does after seeing `variantKey`. */
export type Behaviour = (variantKey: string, random: () => number) => OutgoingEvent[];

/** Whether a buggy client loses this member's exposure (and what follows it). */
export type Loss = (variantKey: string, random: () => number) => boolean;

/** A: cards make members complete workouts much more often. */
export const workoutBehaviour: Behaviour = (variantKey, random) => {
  const events: OutgoingEvent[] = [];
  const completes = random() < (variantKey === "cards" ? 0.55 : 0.3);
  if (completes) {
    const workouts = between(random, 1, 3);
    for (let i = 0; i < workouts; i++) {
      events.push({
        eventType: "workout_completed",
        properties: {
          duration_min: between(random, 15, 75),
          workout_type: pick(random, { run: 5, strength: 3, yoga: 2 }),
        },
      });
    }
  }
  if (random() < (variantKey === "cards" ? 0.09 : 0.07)) {
    events.push({
      eventType: "purchase",
      properties: { amount: between(random, 1_500, 14_000) / 100, currency: "EUR" },
    });
  }
  return events;
};

/** B: the banner gets clicks (and some shoe sales), but its carousel is slow and often fails. */
export const bannerBehaviour: Behaviour = (variantKey, random) => {
  const banner = variantKey === "banner";
  const events: OutgoingEvent[] = [
    {
      eventType: "latency",
      properties: { ms: banner ? between(random, 900, 2_600) : between(random, 150, 420) },
    },
  ];
  if (random() < (banner ? 0.3 : 0.01)) {
    events.push({
      eventType: "error",
      properties: { code: banner ? "HOME_CAROUSEL_TIMEOUT" : "NETWORK" },
    });
  }
  if (random() < (banner ? 0.12 : 0.05)) {
    events.push({ eventType: "promo_click", properties: { placement: "home" } });
    if (random() < 0.3) {
      events.push({
        eventType: "purchase",
        properties: { amount: between(random, 8_990, 14_990) / 100, currency: "EUR" },
      });
    }
  }
  return events;
};

/**
 * The earlier experiments (past.ts). Onboarding: members who complete a first
 * workout with probability `rates[variantKey]`.
 */
export const onboardingBehaviour =
  (rates: Record<string, number>): Behaviour =>
  (variantKey, random) =>
    random() < (rates[variantKey] ?? 0)
      ? [
          {
            eventType: "workout_completed",
            properties: { duration_min: between(random, 10, 40), workout_type: "run" },
          },
        ]
      : [];

/** F: the video carousel gets a few more clicks but loads slowly (p95 well above 1.2 s). */
export const carouselBehaviour: Behaviour = (variantKey, random) => {
  const carousel = variantKey === "carousel";
  const events: OutgoingEvent[] = [
    {
      eventType: "latency",
      properties: { ms: carousel ? between(random, 1_000, 3_200) : between(random, 180, 450) },
    },
  ];
  if (random() < (carousel ? 0.03 : 0.01)) {
    events.push({ eventType: "error", properties: { code: "HERO_VIDEO_DECODE" } });
  }
  if (random() < (carousel ? 0.08 : 0.06)) {
    events.push({ eventType: "promo_click", properties: { placement: "home_hero" } });
  }
  return events;
};

/** G: the free-shipping note nudges purchases a little. */
export const shippingBehaviour: Behaviour = (variantKey, random) =>
  random() < (variantKey === "note" ? 0.11 : 0.08)
    ? [
        {
          eventType: "purchase",
          properties: { amount: between(random, 2_000, 9_000) / 100, currency: "EUR" },
        },
      ]
    : [];

/** H: a card to share a finished workout; sharers come back a little more often. Nothing fails. */
export const shareCardBehaviour: Behaviour = (variantKey, random) =>
  random() < (variantKey === "share_card" ? 0.42 : 0.36)
    ? [
        {
          eventType: "workout_completed",
          properties: { duration_min: between(random, 20, 60), workout_type: "run" },
        },
      ]
    : [];

/**
 * I: express checkout sells a little more, until its payment provider starts
 * timing out (from when `failing()` turns true): then most of the members who
 * get it see an error instead of a purchase.
 */
export const expressCheckoutBehaviour =
  (failing: () => boolean): Behaviour =>
  (variantKey, random) => {
    const express = variantKey === "express_checkout";
    if (express && failing() && random() < 0.6) {
      return [{ eventType: "error", properties: { code: "EXPRESS_PAY_TIMEOUT" } }];
    }
    return random() < (express ? 0.14 : 0.1)
      ? [
          {
            eventType: "purchase",
            properties: { amount: between(random, 2_500, 12_000) / 100, currency: "EUR" },
          },
        ]
      : [];
  };

/** J: the reminder gets a few more mobile members to complete a workout. */
export const reminderBehaviour: Behaviour = (variantKey, random) =>
  random() < (variantKey === "reminder" ? 0.45 : 0.4)
    ? [
        {
          eventType: "workout_completed",
          properties: { duration_min: between(random, 20, 60), workout_type: "run" },
        },
      ]
    : [];

/**
 * J's new mobile build: for half of the members who get the reminder, the
 * app crashes while scheduling it, before its exposure is sent.
 */
export const reminderBuildLoses: Loss = (variantKey, random) =>
  variantKey === "reminder" && random() < 0.5;

/**
 * K: members finish a workout either way; the summary screen's small shop
 * link gets a few taps, the offer many more, and some buy. Each step a
 * millisecond after the previous one (a strict funnel needs distinct times).
 */
export const shoeOfferBehaviour: Behaviour = (variantKey, random) => {
  const offer = variantKey === "offer";
  const events: OutgoingEvent[] = [];
  if (random() >= 0.6) return events;
  events.push({
    eventType: "workout_completed",
    properties: { duration_min: between(random, 20, 70), workout_type: "run" },
    afterMs: 1,
  });
  if (random() >= (offer ? 0.3 : 0.06)) return events;
  events.push({
    eventType: "promo_click",
    properties: { placement: "post_workout" },
    afterMs: 2,
  });
  if (random() < 0.45) {
    events.push({
      eventType: "purchase",
      properties: { amount: between(random, 8_990, 14_990) / 100, currency: "EUR" },
      afterMs: 3,
    });
  }
  return events;
};

/** Waits until decide answers for the flag from `experimentId` (the snapshot has it). */
async function untilDecided(service: LottyClient, flagKey: string, experimentId: string) {
  const seen = await poll(async () => {
    const { decisions } = await service.decision.decide({
      subjectId: "demo-probe",
      flagKeys: [flagKey],
    });
    return decisions[0]?.experimentId === experimentId ? true : undefined;
  }, SNAPSHOT_TIMEOUT_MS);
  if (seen === undefined) {
    throw new Error(`decide did not pick up experiment ${experimentId} within 15 s`);
  }
}

/**
 * Members deciding a flag as the backend does (decideAndExpose with their
 * attributes) and sending what each exposed member does, tallied in
 * `traffic`; `close` flushes the events and fails when any were rejected or
 * dropped.
 */
class Visits {
  readonly traffic: Traffic = {
    decided: 0,
    exposed: {},
    events: {},
    members: {},
    rejected: 0,
    dropped: 0,
  };
  private firstProblem = "";
  private readonly sender: EventSender;

  constructor(
    private readonly service: LottyClient,
    private readonly flagKey: string,
  ) {
    this.sender = new EventSender(service.events, {
      maxBufferedEvents: 100_000,
      flushIntervalMs: 200,
      onRejected: (rejected) => {
        this.traffic.rejected += rejected.length;
        this.firstProblem ||= rejected[0]?.error.message ?? "";
      },
      onDropped: (events, reason) => {
        this.traffic.dropped += events.length;
        this.firstProblem ||= reason.message;
      },
    });
  }

  /**
   * One member's visit; whether the decision put it in a variant (and it was
   * exposed). With `lose`, the member uses a buggy client build instead of
   * decideAndExpose: it decides, then loses the exposure (and everything the
   * member does after it) when `lose` says so.
   */
  async visit(
    { subjectId, attributes, random }: Member,
    behaviour: Behaviour,
    lose?: Loss,
  ): Promise<boolean> {
    const { traffic, sender } = this;
    let variantKey: string;
    let decisionId: string;
    if (lose === undefined) {
      const decision = await decideAndExpose(this.service.decision, sender, {
        subjectId,
        flagKey: this.flagKey,
        attributes,
      });
      traffic.decided++;
      if (decision.exposureEventId === undefined) return false;
      ({ variantKey, decisionId } = decision);
    } else {
      const { decisions } = await this.service.decision.decide({
        subjectId,
        flagKeys: [this.flagKey],
        attributes,
      });
      traffic.decided++;
      const decision = decisions[0];
      if (decision === undefined || decision.variantKey === "" || decision.decisionId === "") {
        return false;
      }
      ({ variantKey, decisionId } = decision);
      if (lose(variantKey, random)) {
        const lost = (traffic.lost ??= {});
        lost[variantKey] = (lost[variantKey] ?? 0) + 1;
        return true;
      }
      // The build's own exposure call: the attributes as properties, as decideAndExpose does.
      sender.send({ eventType: "exposure", decisionId, properties: attributes });
    }
    traffic.exposed[variantKey] = (traffic.exposed[variantKey] ?? 0) + 1;
    tally(traffic.events, variantKey, "exposure");
    const events = behaviour(variantKey, random);
    const exposedAt = Date.now();
    for (const { afterMs, ...event } of events) {
      sender.send({
        ...event,
        decisionId,
        ...(afterMs === undefined ? {} : { occurredAt: new Date(exposedAt + afterMs) }),
      });
      tally(traffic.events, variantKey, event.eventType);
    }
    for (const type of new Set(events.map((e) => e.eventType))) {
      tally(traffic.members, variantKey, type);
    }
    return true;
  }

  async close(): Promise<Traffic> {
    await this.sender.close();
    const { traffic } = this;
    if (traffic.rejected + traffic.dropped > 0) {
      throw new Error(
        `${traffic.rejected} event(s) rejected and ${traffic.dropped} dropped: ${this.firstProblem}`,
      );
    }
    return traffic;
  }
}

function tally(counts: Traffic["events"], variantKey: string, eventType: string): void {
  const perType = (counts[variantKey] ??= {});
  perType[eventType] = (perType[eventType] ?? 0) + 1;
}

/** Decides `flagKey` for members 1…count, then sends what each exposed member does. */
async function simulate(
  service: LottyClient,
  flagKey: string,
  count: number,
  behaviour: Behaviour,
  lose?: Loss,
): Promise<Traffic> {
  const visits = new Visits(service, flagKey);
  const members = Array.from({ length: count }, (_, i) => member(i + 1, flagKey));
  try {
    await forEachLimited(members, DECIDE_CONCURRENCY, async (m) => {
      await visits.visit(m, behaviour, lose);
    });
  } catch (error) {
    await visits.close().catch(() => {});
    throw error;
  }
  return visits.close();
}

/** Simulates `subjects` members on the experiment's flag as the backend, and logs what was sent. */
export async function sendTraffic(
  run: Run,
  experiment: Experiment,
  subjects: number,
  behaviour: Behaviour,
  lose?: Loss,
): Promise<Traffic> {
  const service = await actAs(run, "backend");
  await untilDecided(service, experiment.flagKey, experiment.id);
  run.log(`  simulating ${subjects} members on ${experiment.flagKey} as the workout backend …`);
  const traffic = await simulate(service, experiment.flagKey, subjects, behaviour, lose);
  let exposed = 0;
  for (const { key } of experiment.variants) {
    const sent = Object.entries(traffic.events[key] ?? {}).map(([type, n]) => `${n} ${type}`);
    const lost = traffic.lost?.[key] ?? 0;
    run.log(
      `    ${key}: ${sent.join(", ") || "nothing"}` +
        (lost > 0 ? ` (${lost} exposure(s) lost by the client, with what followed)` : ""),
    );
    exposed += (traffic.exposed[key] ?? 0) + lost;
  }
  if (traffic.decided > exposed) {
    run.log(
      `    ${traffic.decided - exposed} member(s) got the flag's default (outside the ` +
        "targeting rule, or after a pause): no exposure",
    );
  }
  return traffic;
}

/** New members arriving on an experiment's flag until stopped (the ramp scenarios, autopilot.ts). */
export interface Arrivals {
  /** What was sent so far. */
  readonly traffic: Traffic;
  /** Settles when the arrivals end: after stop(), or rejected as soon as one fails. */
  readonly ended: Promise<void>;
  /** Stops the arrivals, sends their last events and returns what was sent. */
  stop(): Promise<Traffic>;
}

/**
 * How members arrive: every tick, new members decide the flag until
 * `entering` of them are in a variant (more arrive while a ramp admits a
 * small share), at most `maxDecided` a tick.
 */
export const ARRIVALS = { tickMs: 250, entering: 10, maxDecided: 400 };

/**
 * Starts new members arriving on the experiment's flag as the workout
 * backend: each decides it and, when the decision puts it in a variant,
 * sends its exposure and what `behaviour` makes it do. Their ids are new on
 * every run, so each one enters the experiment (its cohort) when it arrives.
 */
export async function startArrivals(
  run: Run,
  experiment: Experiment,
  behaviour: Behaviour,
): Promise<Arrivals> {
  const { flagKey } = experiment;
  const service = await actAs(run, "backend");
  await untilDecided(service, flagKey, experiment.id);
  const visits = new Visits(service, flagKey);
  const stamp = Date.now().toString(36);
  let arrived = 0;
  const arrive = () =>
    memberWithId(`member-${stamp}-${String(++arrived).padStart(5, "0")}`, flagKey);
  const stopping = new AbortController();
  const loop = (async () => {
    while (!stopping.signal.aborted) {
      let entered = 0;
      let decided = 0;
      while (entered < ARRIVALS.entering && decided < ARRIVALS.maxDecided) {
        // First as many as should enter; more at a time when some were left out.
        const size = Math.min(
          DECIDE_CONCURRENCY,
          decided === 0 ? ARRIVALS.entering : ARRIVALS.maxDecided - decided,
        );
        const members = Array.from({ length: size }, arrive);
        decided += size;
        const inVariant = await Promise.all(members.map((m) => visits.visit(m, behaviour)));
        entered += inVariant.filter(Boolean).length;
      }
      await sleep(ARRIVALS.tickMs, stopping.signal);
    }
  })();
  // Observed by stop(); a failure ends the arrivals early.
  loop.catch(() => {});
  return {
    traffic: visits.traffic,
    ended: loop,
    async stop() {
      stopping.abort();
      try {
        await loop;
      } catch (error) {
        await visits.close().catch(() => {});
        throw error;
      }
      return visits.close();
    },
  };
}
