/**
 * Notifications of configuration changes and lifecycle events on NATS.
 *
 * - `<p>.config.<kind>` (stream <P>_CONFIG): something decide or the
 *   consumers cache changed (a flag, an experiment, the catalog). Decide
 *   nodes reload their snapshot on it; the periodic version check is the
 *   safety net when a notification is lost.
 * - `<p>.lifecycle.<trigger>` (stream <P>_LIFECYCLE): `experiment.submitted`,
 *   `experiment.started`, … for the notifier.
 *
 * Both are staged in the transactional outbox (outbox.ts) in the
 * transaction of the change, and relayed to NATS when it commits; what NATS
 * cannot take then (it is down) is relayed when it is back, so no notice
 * or notification is lost. A change never waits for NATS to succeed.
 */
import { busSubjects, type BusNames } from "./bus.js";
import type { Logger } from "./logging.js";
import type { OutboxMessage, OutboxRelay } from "./outbox.js";

export type ConfigKind = "flag" | "experiment" | "event_type" | "metric" | "participation_policy";

export interface ConfigChange {
  kind: ConfigKind;
  /** The flag key, experiment id, event type key or metric key. */
  key: string;
  /** What happened, e.g. "created", "updated", "started". */
  action: string;
  /** The experiment's configuration version, when there is one. */
  version?: number;
  at: string;
}

export interface LifecycleEvent {
  /** One of the notification trigger names, e.g. "experiment.started". */
  trigger: string;
  experimentId: string;
  experimentName: string;
  /** The experiment owner's user id (rules can filter on it). */
  ownerId: string;
  flagKey: string;
  /** Null when Lotty acted on its own (guardrails). */
  actorId: string | null;
  fromStatus: string;
  toStatus: string;
  version: number;
  comment: string;
  occurredAt: string;
  /**
   * `<trigger>:<experiment id>:<history entry id>`: unique per event; also
   * the JetStream message id (deduplication) and the notifier's key.
   */
  dedupKey: string;
  /** Trigger-specific facts (for guardrail.triggered: the breach). */
  details: Record<string, unknown>;
}

export class ChangePublisher {
  private local: (() => Promise<void>) | undefined;

  constructor(
    private readonly relay: OutboxRelay,
    private readonly names: BusNames,
    private readonly logger: Logger,
  ) {}

  /**
   * What this process does with its own committed changes before the RPC
   * that made them returns (a decide node: refresh its snapshot, so that it
   * answers with the change at once — P7 "0 on the writing node").
   */
  onLocalChange(refresh: () => Promise<void>): void {
    this.local = refresh;
  }

  /** The outbox message of a configuration change notice (stage it in the change's transaction). */
  configMessage(change: Omit<ConfigChange, "at">): OutboxMessage {
    const body: ConfigChange = { ...change, at: new Date().toISOString() };
    return { subject: busSubjects(this.names).config(change.kind), body: JSON.stringify(body) };
  }

  /** The outbox message of a lifecycle event; its dedup key is the JetStream message id. */
  lifecycleMessage(event: LifecycleEvent): OutboxMessage {
    return {
      subject: busSubjects(this.names).lifecycle(event.trigger),
      body: JSON.stringify(event),
      msgId: event.dedupKey,
    };
  }

  /**
   * After a transaction that staged messages commits: relay them (they wait
   * in the outbox if NATS is down) and, for a configuration change, apply
   * it locally. Never throws.
   */
  async committed(configChanged: boolean): Promise<void> {
    await Promise.all([
      this.relay.flush(),
      configChanged
        ? this.local?.().catch((error: unknown) =>
            this.logger.warn(
              { err: error },
              "could not apply a change locally; the next reload will",
            ),
          )
        : undefined,
    ]);
  }
}
