/**
 * The loop of a durable JetStream pull consumer, shared by the workers
 * (event store, guardrail monitor, notifier): it looks the consumer up,
 * consumes, hands messages to the owner in batches, and restarts after a
 * pause when anything fails. What a message means and when it is acked,
 * nak'ed or terminated is the owner's `handle`.
 *
 * stop() ends the pull at once (also when it runs while the consumer is
 * being looked up), waits for the batches being handled and leaves the
 * messages pulled but not handled to redelivery after ack_wait.
 */
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { Bus } from "./bus.js";
import { sleep } from "./timing.js";

export interface DurableConsumerOptions {
  /** Messages the server sends ahead (consume's max_messages). */
  maxMessages: number;
  /** Messages handed to `handle` at once (default 1). */
  batchSize?: number;
  /** Batches being handled at the same time (default 1). */
  concurrency?: number;
  /** Told when the loop fails; it restarts after `restartMs`. */
  onFailure: (error: unknown) => void;
  /** Pause before the consumer is looked up again (default 1 s). */
  restartMs?: number;
}

export class DurableConsumer {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private messages: ConsumerMessages | undefined;
  private readonly queue: JsMsg[] = [];
  private wake: (() => void) | undefined;

  /**
   * `consumer` names the stream and the durable (durableConsumer() in
   * bus.ts). `handle` gets each batch in arrival order and acks, naks or
   * terminates each message or leaves it to redelivery; a throw restarts
   * the consumer.
   */
  constructor(
    private readonly bus: Bus,
    private readonly consumer: { stream: string; durable: string },
    private readonly handle: (batch: JsMsg[]) => Promise<void> | void,
    private readonly options: DurableConsumerOptions,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Stops pulling, finishes the batches in hand and leaves the rest to redelivery. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.messages?.close().catch(() => {});
    this.poke();
    await this.loop;
  }

  /** Messages the stream holds that this consumer has not been sent yet (its lag). */
  async pending(): Promise<number> {
    const info = await this.bus.jsm.consumers.info(this.consumer.stream, this.consumer.durable);
    return info.num_pending;
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.session();
      } catch (error) {
        this.options.onFailure(error);
      }
      // Messages pulled but not handled are redelivered after ack_wait.
      this.queue.splice(0);
      if (!this.stopped) await sleep(this.options.restartMs ?? 1_000, this.stopping.signal);
    }
  }

  /** One consume() of the durable, until it closes, fails or stop() runs. */
  private async session(): Promise<void> {
    const batchSize = this.options.batchSize ?? 1;
    const concurrency = this.options.concurrency ?? 1;
    const consumer = await this.bus.js.consumers.get(this.consumer.stream, this.consumer.durable);
    const messages = await consumer.consume({
      max_messages: this.options.maxMessages,
      callback: (msg) => {
        this.queue.push(msg);
        this.poke();
      },
    });
    this.messages = messages;
    // stop() may have run while the consumer was being set up.
    if (this.stopped) {
      await messages.close().catch(() => {});
      return;
    }
    let ended = false;
    const end = () => {
      ended = true;
      this.poke();
    };
    void messages.closed().then(end, end);
    const inFlight = new Set<Promise<void>>();
    const failed: { error?: unknown; yes: boolean } = { yes: false };
    while (!this.stopped && !ended && !failed.yes) {
      if (this.queue.length > 0 && inFlight.size < concurrency) {
        const batch = this.queue.splice(0, batchSize);
        const done: Promise<void> = Promise.resolve()
          .then(() => this.handle(batch))
          .catch((error: unknown) => {
            if (!failed.yes) Object.assign(failed, { error, yes: true });
          })
          .finally(() => {
            inFlight.delete(done);
            this.poke();
          });
        inFlight.add(done);
        continue;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    await Promise.all(inFlight);
    if (failed.yes) {
      await messages.close().catch(() => {});
      throw failed.error;
    }
  }
}
