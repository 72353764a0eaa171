/**
 * Named leases in the `ramp_leases` table (one row per periodic job,
 * whatever its domain; the table kept the name of its first user): taken or
 * renewed at the start of each pass, so one process runs the job at a time;
 * one that dies leaves it to expire.
 */
import type pg from "pg";
import type { Logger } from "./logging.js";
import { throttledWarning } from "./throttled-warning.js";

/** Takes or renews the lease `name` for `holder`; true when held. */
export async function acquireLease(
  pool: pg.Pool,
  name: string,
  holder: string,
  seconds: number,
): Promise<boolean> {
  const { rows } = await pool.query(
    `insert into ramp_leases (name, holder, expires_at)
       values ($1, $2, clock_timestamp() + make_interval(secs => $3))
     on conflict (name) do update set holder = excluded.holder, expires_at = excluded.expires_at
       where ramp_leases.holder = excluded.holder or ramp_leases.expires_at < clock_timestamp()
     returning holder`,
    [name, holder, seconds],
  );
  return rows.length === 1;
}

/** Gives the lease up (at stop). */
export async function releaseLease(pool: pg.Pool, name: string, holder: string): Promise<void> {
  await pool
    .query(`delete from ramp_leases where name = $1 and holder = $2`, [name, holder])
    .catch(() => undefined);
}

export interface LeasedJobOptions<T> {
  pool: pg.Pool;
  /** The lease row's name. */
  name: string;
  /** This process's name in the lease. */
  holder: string;
  intervalMs: number;
  leaseSeconds: number;
  logger: Logger;
  /** Logged (at most every 10 s) when a timed pass fails. */
  failure: string;
  /** One pass, run while this job holds the lease. */
  pass: (now: number) => Promise<T>;
  /** What a tick returns without the lease or once stopping. */
  idle: () => T;
  /** Told after every attempt whether the lease is held, and false at stop. */
  onLease?: (held: boolean) => void;
}

/**
 * A periodic job that one process runs at a time: every interval it takes
 * or renews its lease and, when held, runs a pass (never two at once).
 * `tick` runs one pass on demand (tests, a first look at start).
 */
export class LeasedJob<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(private readonly options: LeasedJobOptions<T>) {
    this.warn = throttledWarning(options.logger);
  }

  /** True once stop was called: a pass in hand should finish early. */
  get stopping(): boolean {
    return this.stopped;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.running !== undefined) return;
      this.running = this.tick()
        .catch((error: unknown) => this.warn(error, this.options.failure))
        .finally(() => (this.running = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Waits for the pass in hand and gives the lease up. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    this.options.onLease?.(false);
    await releaseLease(this.options.pool, this.options.name, this.options.holder);
  }

  /** Takes or renews the lease; true when this job holds it. */
  async acquire(): Promise<boolean> {
    const { pool, name, holder, leaseSeconds } = this.options;
    const held = await acquireLease(pool, name, holder, leaseSeconds);
    this.options.onLease?.(held);
    return held;
  }

  /** One pass if the lease is (still) this job's. */
  async tick(now = Date.now()): Promise<T> {
    if (this.stopped || !(await this.acquire())) return this.options.idle();
    return this.options.pass(now);
  }
}
