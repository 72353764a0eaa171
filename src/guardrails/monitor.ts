/**
 * The guardrail monitor (workers role). It evaluates the guardrail rules of
 * every RUNNING experiment continuously and fires a rule's action on a
 * breach (actions.ts). docs/guardrails.md.
 *
 * Driven by the stream: after each transaction the event store commits, it
 * publishes the ids of the experiments whose counts changed on
 * `<p>.counted.events` (stream <P>_COUNTED). The monitor consumes that
 * stream through the durable consumer "guardrail-monitor", evaluates each
 * guarded experiment named there once per pass, and acks the messages
 * after the evaluation that covered them. A sweep every SWEEP_MS evaluates
 * every guarded experiment anyway (a window also changes as time passes,
 * and a signal can be lost when NATS is away).
 *
 * State: the figures come from the rollups in PostgreSQL (figures.ts), so
 * a restarted monitor has nothing to rebuild: its first sweep sees exactly
 * what the last one saw, plus what arrived meanwhile. The set of guarded
 * experiments is reloaded by the sweep and on every experiment
 * configuration change.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { Subscription } from "@nats-io/transport-node";
import type pg from "pg";
import { Experiment, type GuardrailConfig } from "../experiments/lookup.js";
import type { PlannedMetric, ReportPlan } from "../analytics/index.js";
import { loadPlan } from "../reports/lookup.js";
import { busSubjects, durableConsumer, type Bus, type BusNames } from "../platform/bus.js";
import { DurableConsumer } from "../platform/durable-consumer.js";
import type { ChangePublisher } from "../platform/changes.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import type { Logger } from "../platform/logging.js";
import { throttledWarning } from "../platform/throttled-warning.js";
import { sleep } from "../platform/timing.js";
import {
  inSpan,
  messageContext,
  SpanKind,
  traceMessageHeaders,
  type Context,
} from "../platform/tracing.js";
import { fireGuardrail, type FiredGuardrail } from "./actions.js";
import { findBreach } from "./evaluate.js";
import { trailingWindow, windowFigures } from "./figures.js";
import type { GuardrailMetrics } from "./metrics.js";

/** How often every guarded experiment is evaluated without a signal. */
export const SWEEP_MS = 5_000;

/** What the event store publishes after each commit. */
export interface CountedSignal {
  experimentIds: string[];
  /** When the transaction committed, epoch ms. */
  at: number;
}

export function countedSubject(names: BusNames): string {
  return busSubjects(names).counted;
}

/** Publishes a CountedSignal without waiting (the stream captures it). */
export function publishCounted(bus: Bus | undefined, names: BusNames, ids: Iterable<string>) {
  const experimentIds = [...new Set(ids)].filter((id) => id !== "");
  if (bus === undefined || !bus.connected || experimentIds.length === 0) return;
  const signal: CountedSignal = { experimentIds, at: Date.now() };
  try {
    // The trace of the events counted goes on to the monitor's evaluation.
    bus.nc.publish(countedSubject(names), JSON.stringify(signal), {
      headers: traceMessageHeaders(),
    });
  } catch {
    // The sweep evaluates every guarded experiment anyway.
  }
}

interface Guarded {
  plan: ReportPlan;
  controlKey: string;
  rules: GuardrailConfig[];
  /** Planned metric of each rule, by metric key. */
  metrics: Map<string, PlannedMetric>;
}

export interface GuardrailMonitorDeps {
  bus: Bus;
  names: BusNames;
  db: DatabaseHandle;
  pool: pg.Pool;
  changes: ChangePublisher;
  metrics: GuardrailMetrics;
  logger: Logger;
  /** How often the sweep runs (default SWEEP_MS). */
  sweepMs?: number;
}

export class GuardrailMonitor {
  private stopped = false;
  private guarded = new Map<string, Guarded>();
  /** Experiments to evaluate, with the trace context of the signal that named them (if any). */
  private readonly dirty = new Map<string, Context | undefined>();
  private readonly unacked: { msg: JsMsg; at: number }[] = [];
  private readonly consumer: DurableConsumer;
  private configSubscription: Subscription | undefined;
  private workLoop: Promise<void> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private reloadWanted = true;
  private sweepWanted = true;
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(private readonly deps: GuardrailMonitorDeps) {
    this.warn = throttledWarning(deps.logger);
    const signals = durableConsumer(deps.names, "guardrailMonitor");
    this.consumer = new DurableConsumer(deps.bus, signals, (batch) => this.signalled(batch), {
      maxMessages: 500,
      batchSize: 500,
      onFailure: (error) => this.warn(error, "guardrail signal consumer failed; restarting"),
    });
  }

  start(): void {
    const { bus, names } = this.deps;
    this.configSubscription = bus.nc.subscribe(busSubjects(names).config("experiment"), {
      callback: () => {
        this.reloadWanted = true;
        this.poke();
      },
    });
    this.sweepTimer = setInterval(() => {
      this.reloadWanted = true;
      this.sweepWanted = true;
      this.poke();
    }, this.deps.sweepMs ?? SWEEP_MS);
    this.sweepTimer.unref();
    this.consumer.start();
    this.workLoop = this.work();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    this.configSubscription?.unsubscribe();
    this.poke();
    await Promise.all([this.consumer.stop(), this.workLoop]);
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Marks the experiments a batch of counted signals names; acked after their evaluation. */
  private signalled(batch: JsMsg[]): void {
    for (const msg of batch) {
      let signal: CountedSignal | undefined;
      try {
        signal = msg.json<CountedSignal>();
      } catch {
        msg.term();
        continue;
      }
      const parent = messageContext(msg.headers);
      for (const id of signal.experimentIds ?? []) this.dirty.set(id, parent ?? this.dirty.get(id));
      this.unacked.push({ msg, at: Number(signal.at) || Date.now() });
    }
    this.poke();
  }

  private async work(): Promise<void> {
    while (!this.stopped) {
      if (this.dirty.size === 0 && !this.sweepWanted && !this.reloadWanted) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      const messages = this.unacked.splice(0);
      const ids = new Map(this.dirty);
      this.dirty.clear();
      try {
        if (this.reloadWanted) {
          this.reloadWanted = false;
          await this.reload();
        }
        if (this.sweepWanted) {
          this.sweepWanted = false;
          for (const id of this.guarded.keys()) if (!ids.has(id)) ids.set(id, undefined);
        }
        for (const [id, parent] of ids) {
          if (this.stopped) break;
          // Traced when the signal was and the experiment is guarded: the
          // pause and its notification continue the trace of the events
          // that caused them.
          await inSpan(
            {
              name: "guardrail evaluate",
              kind: SpanKind.INTERNAL,
              parent: this.guarded.has(id) ? parent : undefined,
              onlyWithParent: true,
              attributes: { "lotty.experiment_id": id },
            },
            () => this.evaluate(id),
          );
        }
        const now = Date.now();
        for (const { msg, at } of messages) {
          msg.ack();
          this.deps.metrics.evaluationLag.observe(Math.max(0, now - at) / 1000);
        }
      } catch (error) {
        this.deps.metrics.evaluationErrors.inc();
        this.warn(error, "guardrail evaluation failed; retrying");
        // Unacked signals come back after ack_wait; the sweep retries sooner.
        for (const { msg } of messages) msg.nak(1_000);
        for (const [id, parent] of ids) this.dirty.set(id, parent);
        if (!this.stopped) await sleep(1_000);
      }
    }
  }

  /** Reloads the RUNNING experiments that have guardrail rules. */
  private async reload(): Promise<void> {
    const em = this.deps.db.orm.em.fork();
    const running = await em.find(Experiment, { status: "running" });
    const next = new Map<string, Guarded>();
    for (const experiment of running) {
      const rules = experiment.config.guardrails;
      if (rules.length === 0) continue;
      const known = this.guarded.get(experiment.id);
      if (known !== undefined && known.plan.version === experiment.version) {
        next.set(experiment.id, known);
        continue;
      }
      const plan = await loadPlan(em, experiment.id);
      next.set(experiment.id, {
        plan,
        controlKey: plan.variants.find((v) => v.control)?.key ?? "",
        rules,
        metrics: new Map(plan.metrics.map((m) => [m.key, m])),
      });
    }
    this.guarded = next;
  }

  /**
   * Reloads the guarded experiments and evaluates one of them now, outside
   * the loop (operators' tooling, tests). Returns what fired.
   */
  async check(experimentId: string, now = Date.now()): Promise<FiredGuardrail | undefined> {
    await this.reload();
    return this.evaluate(experimentId, now);
  }

  /**
   * Evaluates the rules of one experiment (if it is guarded and running)
   * and fires the first breached rule. Returns what fired.
   */
  private async evaluate(
    experimentId: string,
    now = Date.now(),
  ): Promise<FiredGuardrail | undefined> {
    const guarded = this.guarded.get(experimentId);
    if (guarded === undefined) return undefined;
    const byWindow = new Map<number, PlannedMetric[]>();
    for (const rule of guarded.rules) {
      const metric = guarded.metrics.get(rule.metricKey);
      if (metric === undefined) continue;
      const list = byWindow.get(rule.windowSeconds) ?? [];
      if (!list.includes(metric)) list.push(metric);
      byWindow.set(rule.windowSeconds, list);
    }
    const figures = new Map<number, Awaited<ReturnType<typeof windowFigures>>>();
    await Promise.all(
      [...byWindow].map(async ([seconds, metrics]) => {
        figures.set(
          seconds,
          await windowFigures(this.deps.pool, guarded.plan, metrics, trailingWindow(seconds, now)),
        );
      }),
    );
    for (const [index, rule] of guarded.rules.entries()) {
      const metricFigures = figures.get(rule.windowSeconds)?.get(rule.metricKey);
      if (metricFigures === undefined) continue;
      const breach = findBreach(rule, metricFigures, guarded.controlKey);
      if (breach === undefined) continue;
      const fired = await fireGuardrail(
        this.deps.db,
        this.deps.changes,
        experimentId,
        index,
        rule,
        breach,
      );
      // Fired or not, the experiment is no longer running: stop watching it.
      this.guarded.delete(experimentId);
      if (fired !== undefined) {
        this.deps.metrics.triggers.inc({ action: rule.action });
        this.deps.logger.warn(
          { experimentId, metricKey: rule.metricKey, action: rule.action, triggerId: fired.id },
          "guardrail fired",
        );
      }
      return fired;
    }
    return undefined;
  }
}
