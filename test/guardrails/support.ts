/** Helpers for guardrail tests: a guarded experiment, traffic per variant, trigger reads. */
import { create } from "@bufbuild/protobuf";
import {
  Direction,
  GuardrailAction,
  GuardrailSchema,
  ExperimentService,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { GuardrailService } from "../../gen/lotty/guardrails/v1/guardrails_pb.js";
import { FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import type { Event } from "../../gen/lotty/events/v1/events_pb.js";
import { client } from "../support/clients.js";
import { waitFor, type TestApp } from "../support/app.js";
import { event, eventClient, untilStored } from "../events/support.js";
import { subjectsByVariant, untilNothingPending } from "../reports/support.js";
import {
  greyBlue,
  makeTeam,
  makeTypedFlag,
  runExperiment,
  untilInSnapshot,
} from "../support/builders.js";

export interface RuleSpec {
  metricKey: string;
  threshold: number;
  direction?: Direction;
  windowSeconds?: number;
  minSampleSize?: number;
  action?: GuardrailAction;
}

export function rule(spec: RuleSpec) {
  return create(GuardrailSchema, {
    metricKey: spec.metricKey,
    threshold: spec.threshold,
    direction: spec.direction ?? Direction.INCREASE_IS_BAD,
    windowSeconds: spec.windowSeconds ?? 600,
    minSampleSize: spec.minSampleSize ?? 0,
    action: spec.action ?? GuardrailAction.PAUSE,
  });
}

/** A running 50/50 experiment (control "control" = grey, treatment "blue") with these rules. */
export async function guardedExperiment(t: TestApp, rules: RuleSpec[]) {
  const team = await makeTeam(t);
  const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
  const experiment = await runExperiment(
    t,
    team,
    flagKey,
    greyBlue({ primaryMetricKey: "conversion_rate", guardrails: rules.map(rule) }),
  );
  await untilInSnapshot(t, flagKey, experiment.id);
  return { flagKey, experimentId: experiment.id, team };
}

export interface Traffic {
  /** Subjects per variant. */
  subjects: number;
  /** Error events per subject in control and in blue. */
  errors?: { control: number; blue: number };
  /** Conversions per subject in control and in blue. */
  conversions?: { control: number; blue: number };
  /** Latency values (ms) per subject in control and in blue. */
  latency?: { control: number; blue: number };
  prefix?: string;
}

/**
 * Sends one exposure per subject and the given events, through
 * IngestEvents, and waits until everything is stored and counted.
 */
export async function sendTraffic(
  t: TestApp,
  flagKey: string,
  experimentId: string,
  traffic: Traffic,
) {
  const ingest = await eventClient(t);
  const picked = subjectsByVariant(t, flagKey, traffic.subjects, traffic.prefix ?? "g");
  const events: Event[] = [];
  for (const variant of ["control", "blue"] as const) {
    for (const { decisionId } of picked[variant]) {
      events.push(event("exposure", decisionId));
      for (let i = 0; i < (traffic.errors?.[variant] ?? 0); i++)
        events.push(event("error", decisionId));
      for (let i = 0; i < (traffic.conversions?.[variant] ?? 0); i++) {
        events.push(event("conversion", decisionId));
      }
      if (traffic.latency !== undefined) {
        events.push(event("latency", decisionId, { properties: { ms: traffic.latency[variant] } }));
      }
    }
  }
  for (let i = 0; i < events.length; i += 500) {
    const answer = await ingest.ingestEvents({ events: events.slice(i, i + 500) });
    if (answer.rejected !== 0) throw new Error(`rejected: ${JSON.stringify(answer.errors)}`);
  }
  await untilStored(
    t,
    events.map((e) => e.eventId),
  );
  await untilNothingPending(t, experimentId);
  return picked;
}

export function guardrailClient(t: TestApp, key = t.adminKey) {
  return client(GuardrailService, t.baseUrl, key);
}

export function experimentClient(t: TestApp, key = t.adminKey) {
  return client(ExperimentService, t.baseUrl, key);
}

export async function triggersOf(t: TestApp, experimentId: string) {
  const { triggers } = await guardrailClient(t).listGuardrailTriggers({ experimentId });
  return triggers;
}

/** Waits until the experiment has exactly one trigger record and returns it. */
export async function untilTriggered(t: TestApp, experimentId: string) {
  await waitFor(async () => (await triggersOf(t, experimentId)).length === 1, 15_000, "a trigger");
  const [trigger] = await triggersOf(t, experimentId);
  return trigger!;
}
