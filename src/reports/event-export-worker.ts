/**
 * The raw event export worker (workers role): writes the files that
 * StartEventExport records, and deletes them when they expire.
 * docs/event-export.md.
 *
 * A job is claimed under `for update skip locked` with a lease (status
 * running, attempts + 1, lease_until = now + LEASE). The worker renews the
 * lease with each batch it writes, fenced by the attempt it claimed: when
 * the renewal finds the job taken over (its lease lapsed and another
 * worker claimed it) it stops, so one file is only ever finished by one
 * worker. Each attempt writes its own `<id>.<format>.<attempt>.part` and
 * renames it when complete. A RUNNING job whose lease lapsed was left by a
 * process that stopped: the next worker to look writes it again from the
 * start; after MAX_ATTEMPTS claims it is FAILED.
 *
 * Memory: the events are read in keyset batches (events module,
 * attributedEvents) and each batch is written out before the next is
 * read, so the worker holds one batch (10,000 events) whatever the size of
 * the export.
 *
 * Expiry: each pass first marks DONE jobs past expires_at EXPIRED and
 * deletes their files.
 *
 * The worker wakes when a job is requested (poke, in process, or a
 * message on the bus from an API process) and polls every POLL_MS besides.
 */
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import type pg from "pg";
import { attributedEvents } from "../events/index.js";
import { insertAudit } from "../platform/audit.js";
import { isUnavailableError } from "../platform/errors.js";
import type { Logger } from "../platform/logging.js";
import { throttledWarning } from "../platform/throttled-warning.js";
import { withTransaction } from "../platform/transaction.js";
import { WorkLoop } from "../platform/work-loop.js";
import { openEventExportFile } from "./event-export-files.js";
import {
  EVENT_EXPORT_AUDIT_ENTITY,
  EVENT_EXPORT_COLUMNS_SQL,
  EVENT_EXPORT_TTL_HOURS,
  eventExportPath,
  type EventExportRow,
} from "./event-exports.js";

/** How long a claim lasts without renewal (renewed with every batch). */
export const LEASE_SECONDS = 120;
const POLL_MS = 10_000;
/** Claims of one job before it is FAILED for good. */
export const MAX_ATTEMPTS = 3;

/** What clients read as `error` of a FAILED job: never SQL or a stack trace. */
export const FAILED_MESSAGE =
  "the export could not be written; start it again, and see the server log for this job id";

export interface EventExportWorkerDeps {
  pool: pg.Pool;
  /** The directory files are written to (LOTTY_EXPORT_DIR). */
  dir: string;
  logger: Logger;
  /** Events per batch (tests make it small). */
  batchSize?: number;
}

/** Thrown inside a job when its lease was taken over by another worker. */
class LeaseLost extends Error {}

export class EventExportWorker {
  private readonly loop: WorkLoop;
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(private readonly deps: EventExportWorkerDeps) {
    this.warn = throttledWarning(deps.logger);
    this.loop = new WorkLoop({
      pollMs: POLL_MS,
      next: async () => {
        await this.sweepExpired();
        const job = await this.claim();
        if (job === undefined) return false;
        await this.runJob(job);
        return true;
      },
      onError: (error) => this.warn(error, "event export worker could not claim a job; retrying"),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Waits for the batch in hand; the job is given back and written again later. */
  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** Looks for jobs now (called when one was requested or expired). */
  poke(): void {
    this.loop.poke();
  }

  /**
   * Deletes the files of DONE jobs past their expiry, then marks them
   * EXPIRED: once a job reads EXPIRED its file is gone (a stop between the
   * two steps leaves the job DONE without a file, which the next sweep
   * finishes).
   */
  private async sweepExpired(): Promise<void> {
    const { rows } = await this.deps.pool.query<{ id: string; file_name: string | null }>(
      `select id, file_name from event_exports
       where status = 'done' and expires_at <= clock_timestamp()
       order by expires_at limit 100`,
    );
    for (const row of rows) {
      if (row.file_name !== null) {
        await rm(path.join(this.deps.dir, row.file_name), { force: true });
      }
      await this.deps.pool.query(
        `update event_exports set status = 'expired' where id = $1 and status = 'done'`,
        [row.id],
      );
      this.deps.logger.info({ eventExportId: row.id }, "event export expired; file deleted");
    }
  }

  /** Claims the oldest queued job, or a running one whose lease lapsed. */
  private async claim(): Promise<EventExportRow | undefined> {
    const { rows } = await this.deps.pool.query<EventExportRow>(
      `with next as (
         select id as next_id from event_exports
         where status = 'queued'
            or (status = 'running' and (lease_until is null or lease_until < clock_timestamp()))
         order by created_at, id limit 1
         for update skip locked
       )
       update event_exports x
       set status = 'running', attempts = x.attempts + 1, rows = 0,
           started_at = coalesce(x.started_at, clock_timestamp()),
           lease_until = clock_timestamp() + interval '${LEASE_SECONDS} seconds'
       from next where x.id = next.next_id
       returning ${EVENT_EXPORT_COLUMNS_SQL}`,
    );
    return rows[0];
  }

  private async runJob(job: EventExportRow): Promise<void> {
    const { pool, logger, dir } = this.deps;
    const log = logger.child({ eventExportId: job.id });
    if (job.attempts > MAX_ATTEMPTS) {
      await this.fail(job, { attempts: job.attempts - 1 });
      log.error({ attempts: job.attempts - 1 }, "event export failed: attempts exhausted");
      return;
    }
    const final = eventExportPath(dir, job);
    const part = `${final}.${job.attempts}.part`;
    let file: ReturnType<typeof openEventExportFile> | undefined;
    try {
      log.info({ format: job.format, attempt: job.attempts }, "event export started");
      await mkdir(dir, { recursive: true });
      file = openEventExportFile(job.format, part, job.experiment_id);
      let rows = 0;
      for await (const batch of attributedEvents(
        pool,
        job.experiment_id,
        { from: job.window_from, to: job.window_to },
        this.deps.batchSize,
      )) {
        await file.write(batch);
        rows += batch.length;
        await this.renew(job, rows);
        // Stopping between batches gives the job back; it is written again.
        if (this.loop.stopping) {
          await file.abort();
          return await this.release(job);
        }
      }
      const bytes = await file.close();
      file = undefined;
      await rename(part, final);
      const done = await this.finishDone(job, rows, bytes, path.basename(final));
      if (!done) {
        // Taken over meanwhile: the other worker's file wins.
        log.warn("event export was taken over by another worker; this attempt's result dropped");
        return;
      }
      log.info({ rows, bytes }, "event export done");
    } catch (error) {
      await file?.abort().catch(() => {});
      if (error instanceof LeaseLost) {
        log.warn("event export was taken over by another worker; this attempt stopped");
        return;
      }
      if (isUnavailableError(error) || this.loop.stopping) {
        // The database went away, or the process is stopping: the lease
        // lapses (or is given back) and the job is written again.
        this.warn(error, "event export interrupted; it will be written again", {
          eventExportId: job.id,
        });
        if (this.loop.stopping) await this.release(job).catch(() => {});
        return;
      }
      log.error({ err: error, attempt: job.attempts }, "event export attempt failed");
      if (job.attempts >= MAX_ATTEMPTS) {
        await this.fail(job, { attempts: job.attempts });
      } else {
        // Try again after a pause that grows with each attempt.
        await pool.query(
          `update event_exports set lease_until = clock_timestamp() + $3::interval
           where id = $1 and status = 'running' and attempts = $2`,
          [job.id, job.attempts, `${5 * job.attempts} seconds`],
        );
      }
    }
  }

  /** Records progress and extends the lease; throws LeaseLost when another worker took the job. */
  private async renew(job: EventExportRow, rows: number): Promise<void> {
    const { rowCount } = await this.deps.pool.query(
      `update event_exports set rows = $3,
         lease_until = clock_timestamp() + interval '${LEASE_SECONDS} seconds'
       where id = $1 and status = 'running' and attempts = $2`,
      [job.id, job.attempts, rows],
    );
    if (rowCount !== 1) throw new LeaseLost();
  }

  /** Gives a job back (graceful stop): the next claim writes it at once. */
  private async release(job: EventExportRow): Promise<void> {
    await this.deps.pool.query(
      `update event_exports set lease_until = null
       where id = $1 and status = 'running' and attempts = $2`,
      [job.id, job.attempts],
    );
  }

  private async finishDone(
    job: EventExportRow,
    rows: number,
    bytes: number,
    fileName: string,
  ): Promise<boolean> {
    return withTransaction(this.deps.pool, async (client) => {
      const { rowCount } = await client.query(
        `update event_exports set status = 'done', rows = $3, bytes = $4, file_name = $5,
           finished_at = clock_timestamp(), lease_until = null,
           expires_at = clock_timestamp() + interval '${EVENT_EXPORT_TTL_HOURS} hours'
         where id = $1 and status = 'running' and attempts = $2`,
        [job.id, job.attempts, rows, bytes, fileName],
      );
      if (rowCount !== 1) return false;
      // The system acts here: no actor.
      await insertAudit(client, {
        actorId: null,
        entityType: EVENT_EXPORT_AUDIT_ENTITY,
        entityId: job.id,
        action: "completed",
        fromStatus: "running",
        toStatus: "done",
        data: { experimentId: job.experiment_id, format: job.format, rows, bytes },
      });
      return true;
    });
  }

  private async fail(job: EventExportRow, data: Record<string, unknown>): Promise<void> {
    await withTransaction(this.deps.pool, async (client) => {
      const { rowCount } = await client.query(
        `update event_exports set status = 'failed', error = $3, finished_at = clock_timestamp(),
           lease_until = null
         where id = $1 and status = 'running' and attempts = $2`,
        [job.id, job.attempts, FAILED_MESSAGE],
      );
      if (rowCount !== 1) return;
      await insertAudit(client, {
        actorId: null,
        entityType: EVENT_EXPORT_AUDIT_ENTITY,
        entityId: job.id,
        action: "failed",
        fromStatus: "running",
        toStatus: "failed",
        data: { experimentId: job.experiment_id, format: job.format, ...data },
      });
    });
  }
}
