/**
 * Helpers for decide tests: in-process decisions, polling decide, clean-up,
 * statistics. Flags, teams and running experiments are built with
 * test/support/builders.ts.
 */
import { toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import {
  ExperimentService,
  ExperimentStatus,
  Outcome,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import { DecisionReason } from "../../gen/lotty/decision/v1/decision_pb.js";
import { client } from "../support/clients.js";
import type { TestApp } from "../support/app.js";

export { DecisionReason };

/** What the in-process decide returns for one flag (init-shaped). */
export interface LocalDecision {
  flagKey?: string;
  value?: Value;
  decisionId?: string;
  reason?: DecisionReason;
  experimentId?: string;
  variantKey?: string;
}

/** A Value as plain JSON (undefined when unset). */
export function plain(value: Value | undefined): JsonValue | undefined {
  return value === undefined ? undefined : toJson(ValueSchema, value);
}

/** Completes (no effect) every running or paused experiment, so later tests start clean. */
export async function completeAll(t: TestApp): Promise<void> {
  const experiments = client(ExperimentService, t.baseUrl, t.adminKey);
  for (const status of [ExperimentStatus.RUNNING, ExperimentStatus.PAUSED]) {
    const { experiments: list } = await experiments.listExperiments({ status, pageSize: 500 });
    for (const e of list) {
      await experiments.completeExperiment({
        id: e.id,
        outcome: Outcome.NO_EFFECT,
        justification: "test cleanup",
      });
    }
  }
}

/** One in-process decision. */
export async function decideLocal(
  t: TestApp,
  subjectId: string,
  flagKey: string,
  attributes?: JsonObject,
): Promise<LocalDecision> {
  const { decisions } = await t.app.decision.decide({ subjectId, attributes, flagKeys: [flagKey] });
  return decisions[0] as LocalDecision;
}

/**
 * Polls the in-process decide every 20 ms until `accept` holds; returns the
 * time it took in ms. Fails after `timeoutMs`.
 */
export async function untilDecided(
  t: TestApp,
  subjectId: string,
  flagKey: string,
  accept: (d: LocalDecision) => boolean,
  { attributes, timeoutMs = 5_000 }: { attributes?: JsonObject; timeoutMs?: number } = {},
): Promise<number> {
  const started = performance.now();
  let last: LocalDecision | undefined;
  for (;;) {
    try {
      last = await decideLocal(t, subjectId, flagKey, attributes);
      if (accept(last)) return performance.now() - started;
    } catch {
      // UNAVAILABLE before the first snapshot: keep polling.
    }
    if (performance.now() - started > timeoutMs) {
      throw new Error(
        `decide for ${flagKey} did not change within ${timeoutMs} ms; last: ${JSON.stringify(
          last,
          (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v),
        )}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Critical values of the chi-square distribution at p = 0.001, by degrees of freedom. */
export const CHI2_CRITICAL_P001: Readonly<Record<number, number>> = {
  1: 10.828,
  2: 13.816,
  3: 16.266,
};

/** Pearson's chi-square statistic of observed against expected counts. */
export function chiSquare(observed: readonly number[], expected: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = expected[i] as number;
    const d = (observed[i] as number) - e;
    sum += (d * d) / e;
  }
  return sum;
}

/** Runs `fn` for 0..n-1, yielding to the event loop every `chunk` iterations. */
export async function forEachChunked(
  n: number,
  fn: (i: number) => void,
  chunk = 5_000,
): Promise<void> {
  for (let i = 0; i < n; i++) {
    fn(i);
    if (i % chunk === chunk - 1) await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The value of a Prometheus sample line `name{labels} value` in /metrics, 0 when absent. */
export async function metricValue(t: TestApp, sample: string): Promise<number> {
  const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
  for (const line of text.split("\n")) {
    if (line.startsWith(sample + " ")) return Number(line.slice(sample.length + 1));
  }
  return 0;
}
