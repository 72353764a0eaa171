/**
 * A loop that drains claimed work from the database: it calls `next` until
 * that reports nothing more to do, then waits until poked (new work was
 * requested) or until the poll interval passes (the safety net for a poke
 * that never came). An error is reported and the loop goes on at the next
 * wake. Used by the notification dispatcher and the erasure worker.
 */
export interface WorkLoopOptions {
  pollMs: number;
  /** Does one unit of work; false when there was nothing to do. */
  next: () => Promise<boolean>;
  onError: (error: unknown) => void;
}

export class WorkLoop {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private wanted = true;

  constructor(private readonly options: WorkLoopOptions) {}

  /** True once stop() was called: work in hand should end at its next safe point. */
  get stopping(): boolean {
    return this.stopped;
  }

  start(): void {
    this.timer = setInterval(() => this.poke(), this.options.pollMs);
    this.timer.unref();
    this.loop = this.run();
  }

  /** Stops polling and waits for the unit of work in hand. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.poke();
    await this.loop;
  }

  /** Looks for work now. */
  poke(): void {
    this.wanted = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (!this.wanted) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      this.wanted = false;
      try {
        while (!this.stopped && (await this.options.next())) {
          // Drained one unit; look for the next.
        }
      } catch (error) {
        this.options.onError(error);
      }
    }
  }
}
