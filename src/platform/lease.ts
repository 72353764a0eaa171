/**
 * A named lease in the `ramp_leases` table (one row per periodic job,
 * whatever its domain): taken or renewed at the start of each pass, so one
 * process runs the job at a time; one that dies leaves it to expire.
 */
import type pg from "pg";

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

/** Runs `pass` every `intervalMs`, never two at once; errors go to `onError`. */
export class PeriodicPass {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly pass: () => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running !== undefined) return;
      this.running = this.pass()
        .catch(this.onError)
        .finally(() => (this.running = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
