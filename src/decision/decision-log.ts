/**
 * The decision log: every decision is published to JetStream, in batches,
 * off the request path. A slow or absent bus never slows or fails decide:
 * the buffer is bounded, and what does not fit is dropped and counted.
 */
import type { Counter } from "prom-client";
import { busSubjects, type Bus, type BusNames } from "../platform/bus.js";
import type { Logger } from "../platform/logging.js";
import { throttledWarning } from "../platform/throttled-warning.js";

export interface DecisionRecord {
  decisionId: string;
  flagKey: string;
  subjectId: string;
  reason: string;
  experimentId?: string;
  variantKey?: string;
  at: number;
}

export const MAX_BUFFERED = 20_000;
export const BATCH_SIZE = 1_000;
export const FLUSH_INTERVAL_MS = 250;

export class DecisionLog {
  private buffer: DecisionRecord[] = [];
  private flushing = false;
  private readonly timer: NodeJS.Timeout;
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(
    private readonly bus: () => Bus | undefined,
    private readonly names: BusNames,
    private readonly dropped: Counter,
    logger: Logger,
  ) {
    this.warn = throttledWarning(logger);
    this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Queues a record; never blocks and never throws. */
  record(entry: DecisionRecord): void {
    if (this.buffer.length >= MAX_BUFFERED) {
      this.dropped.inc();
      this.warn(undefined, "decision log buffer full; dropping records", {
        buffered: this.buffer.length,
      });
      return;
    }
    this.buffer.push(entry);
    if (this.buffer.length >= BATCH_SIZE) void this.flush();
  }

  get buffered(): number {
    return this.buffer.length;
  }

  /** Publishes buffered records in batches of BATCH_SIZE (JSON lines). */
  async flush(): Promise<void> {
    const bus = this.bus();
    if (this.flushing || this.buffer.length === 0 || bus === undefined || !bus.connected) return;
    this.flushing = true;
    try {
      while (this.buffer.length > 0) {
        const batch = this.buffer.slice(0, BATCH_SIZE);
        const body = batch.map((r) => JSON.stringify(r)).join("\n");
        await bus.js.publish(busSubjects(this.names).decisions, body, {
          timeout: 2_000,
        });
        this.buffer.splice(0, batch.length);
      }
    } catch (error) {
      this.warn(error, "could not publish the decision log", { buffered: this.buffer.length });
    } finally {
      this.flushing = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
