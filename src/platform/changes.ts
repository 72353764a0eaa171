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
 * Both are published after the database transaction commits. A failed
 * publish is logged and does not fail the RPC: the change is already
 * stored, and readers reconcile from the database.
 */
import { busSubjects, type Bus, type BusNames } from "./bus.js";
import type { Logger } from "./logging.js";

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
    private readonly bus: () => Bus | undefined,
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

  async configChanged(change: Omit<ConfigChange, "at">): Promise<void> {
    const body: ConfigChange = { ...change, at: new Date().toISOString() };
    await Promise.all([
      this.publish(busSubjects(this.names).config(change.kind), body),
      this.local?.().catch((error: unknown) =>
        this.logger.warn({ err: error }, "could not apply a change locally; the next reload will"),
      ),
    ]);
  }

  async lifecycle(event: LifecycleEvent): Promise<void> {
    await this.publish(busSubjects(this.names).lifecycle(event.trigger), event, event.dedupKey);
  }

  private async publish(subject: string, body: object, msgID?: string): Promise<void> {
    const bus = this.bus();
    try {
      if (bus === undefined || !bus.connected) throw new Error("NATS is not connected");
      await bus.js.publish(
        subject,
        JSON.stringify(body),
        msgID ? { msgID, timeout: 2_000 } : { timeout: 2_000 },
      );
    } catch (error) {
      this.logger.warn({ err: error, subject }, "could not publish a change notification");
    }
  }
}
