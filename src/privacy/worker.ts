/**
 * The erasure worker (workers role): runs the jobs EraseSubjects records.
 * docs/data-rights.md.
 *
 * A job is claimed under `for update skip locked` with a lease (status
 * running, lease_until = now + LEASE), renewed while the job runs, so two
 * workers never run one job. A job RUNNING with a lapsed lease was left by
 * a process that stopped: the next worker to look takes it up again.
 *
 * The work has two steps, each safe to repeat:
 * 1. Delete the subjects' rows (the events module's deleteSubjectRows) and
 *    record the counts, the affected experiments and deleted_at in the
 *    same transaction. A job whose deleted_at is set skips this step.
 * 2. Rebuild every derived figure of each affected experiment
 *    (analytics' rebuildRollups), recording each one rebuilt.
 * Then the job is DONE, with an audit row in the same transaction.
 *
 * Order and concurrency: the deletion commits before any rebuild starts,
 * and a rebuild derives the figures from the events stored when it holds
 * its locks, while the event store waits; events of the subjects stored
 * after the deletion step are kept and counted once, by the rebuild or by
 * the event store after it.
 *
 * The worker wakes when a job is requested (poke, in process, or a message
 * on the bus from an API process) and polls every POLL_MS besides.
 */
import type pg from "pg";
import { rebuildRollups } from "../analytics/index.js";
import { deleteSubjectRows } from "../events/index.js";
import { insertAudit } from "../platform/audit.js";
import { isUnavailableError } from "../platform/errors.js";
import type { Logger } from "../platform/logging.js";
import { throttledWarning } from "../platform/throttled-warning.js";
import { withTransaction } from "../platform/transaction.js";
import { WorkLoop } from "../platform/work-loop.js";
import { ERASURE_AUDIT_ENTITY, ERASURE_COLUMNS, type ErasureRow } from "./jobs.js";

/** How long a claim lasts without renewal. */
export const LEASE_SECONDS = 60;
/** How often a running job renews its lease. */
const RENEW_MS = 15_000;
const POLL_MS = 10_000;
/** Claims of one job before it is FAILED for good. */
export const MAX_ATTEMPTS = 5;

/** What clients read as `error` of a FAILED job: never SQL or a stack trace. */
export const FAILED_MESSAGE =
  "the erasure could not be completed; what was deleted stays deleted — request it again, and see the server log for this job id";

export interface ErasureWorkerDeps {
  /** Its own pool: deletions and rebuilds scan whole tables and take long locks. */
  pool: pg.Pool;
  logger: Logger;
  /** Called with the experiments whose figures a finished job rebuilt. */
  rebuilt?: (experimentIds: string[]) => void;
}

export class ErasureWorker {
  private readonly loop: WorkLoop;
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(private readonly deps: ErasureWorkerDeps) {
    this.warn = throttledWarning(deps.logger);
    this.loop = new WorkLoop({
      pollMs: POLL_MS,
      next: async () => {
        const job = await this.claim();
        if (job === undefined) return false;
        await this.runJob(job);
        return true;
      },
      onError: (error) => this.warn(error, "erasure worker could not claim a job; retrying"),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Waits for the job in hand to reach a step boundary; its lease then lapses and it is resumed later. */
  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** Looks for jobs now (called when one was requested). */
  poke(): void {
    this.loop.poke();
  }

  /** Claims the oldest pending job, or a running one whose lease lapsed. */
  private async claim(): Promise<ErasureRow | undefined> {
    const { rows } = await this.deps.pool.query<ErasureRow>(
      `with next as (
         select id as next_id from erasures
         where status = 'pending'
            or (status = 'running' and (lease_until is null or lease_until < clock_timestamp()))
         order by created_at, id limit 1
         for update skip locked
       )
       update erasures e
       set status = 'running', attempts = e.attempts + 1,
           started_at = coalesce(e.started_at, clock_timestamp()),
           lease_until = clock_timestamp() + interval '${LEASE_SECONDS} seconds'
       from next where e.id = next.next_id
       returning ${ERASURE_COLUMNS}`,
    );
    return rows[0];
  }

  private async runJob(job: ErasureRow): Promise<void> {
    const { pool, logger } = this.deps;
    const log = logger.child({ erasureId: job.id });
    if (job.attempts > MAX_ATTEMPTS) {
      await this.finish(job.id, "failed", FAILED_MESSAGE, { attempts: job.attempts - 1 });
      log.error({ attempts: job.attempts - 1 }, "erasure failed: attempts exhausted");
      return;
    }
    const renew = setInterval(() => {
      pool
        .query(
          `update erasures set lease_until = clock_timestamp() + interval '${LEASE_SECONDS} seconds'
           where id = $1 and status = 'running'`,
          [job.id],
        )
        .catch((error: unknown) => this.warn(error, "could not renew an erasure lease"));
    }, RENEW_MS);
    renew.unref();
    try {
      log.info({ subjects: job.subject_ids.length, attempt: job.attempts }, "erasure started");
      const affected = await this.deleteRows(job);
      const rebuilt = new Set(job.rebuilt_experiment_ids);
      for (const experimentId of affected) {
        if (rebuilt.has(experimentId)) continue;
        // Stopping between experiments leaves the rest to the next claim.
        if (this.loop.stopping) return await this.release(job.id);
        await rebuildRollups(pool, experimentId);
        await pool.query(
          `update erasures set rebuilt_experiment_ids = array_append(rebuilt_experiment_ids, $2::uuid)
           where id = $1 and not ($2::uuid = any(rebuilt_experiment_ids))`,
          [job.id, experimentId],
        );
      }
      const done = await this.finish(job.id, "done", "", {});
      log.info(done ?? {}, "erasure done");
      this.deps.rebuilt?.(affected);
    } catch (error) {
      if (isUnavailableError(error) || this.loop.stopping) {
        // The database went away, or the process is stopping: the lease
        // lapses and the job is resumed.
        this.warn(error, "erasure interrupted; it will be resumed", { erasureId: job.id });
        if (this.loop.stopping) await this.release(job.id).catch(() => {});
        return;
      }
      log.error({ err: error, attempt: job.attempts }, "erasure attempt failed");
      if (job.attempts >= MAX_ATTEMPTS) {
        await this.finish(job.id, "failed", FAILED_MESSAGE, { attempts: job.attempts });
      } else {
        // Try again after a pause that grows with each attempt.
        await pool.query(
          `update erasures set lease_until = clock_timestamp() + $2::interval
           where id = $1 and status = 'running'`,
          [job.id, `${5 * job.attempts} seconds`],
        );
      }
    } finally {
      clearInterval(renew);
    }
  }

  /** Gives a job back (graceful stop): the next claim resumes it at once. */
  private async release(id: string): Promise<void> {
    await this.deps.pool.query(
      `update erasures set lease_until = null where id = $1 and status = 'running'`,
      [id],
    );
  }

  /** Step 1, once per job: returns the affected experiments. */
  private async deleteRows(job: ErasureRow): Promise<string[]> {
    return withTransaction(this.deps.pool, async (client) => {
      // The job's row lock makes a second worker (one that took over a
      // lapsed lease) wait here and then skip the step.
      const { rows } = await client.query<{ deleted: boolean; affected: string[] }>(
        `select deleted_at is not null as deleted, affected_experiment_ids::text[] as affected
         from erasures where id = $1 for update`,
        [job.id],
      );
      const current = rows[0];
      if (current === undefined) throw new Error(`erasure ${job.id} vanished`);
      if (current.deleted) return current.affected;
      const removed = await deleteSubjectRows(client, job.subject_ids);
      await client.query(
        `update erasures set deleted_at = clock_timestamp(), events = $2, exposures = $3,
           pending_attributions = $4, affected_experiment_ids = $5::uuid[]
         where id = $1`,
        [
          job.id,
          removed.events,
          removed.exposures,
          removed.pendingAttributions,
          removed.experimentIds,
        ],
      );
      return removed.experimentIds;
    });
  }

  /** Ends a running job with its audit row; undefined when it was no longer running. */
  private async finish(
    id: string,
    status: "done" | "failed",
    error: string,
    data: Record<string, unknown>,
  ): Promise<Record<string, unknown> | undefined> {
    return withTransaction(this.deps.pool, async (client) => {
      const { rows } = await client.query<ErasureRow>(
        `update erasures set status = $2, error = $3, finished_at = clock_timestamp(),
           lease_until = null
         where id = $1 and status = 'running'
         returning ${ERASURE_COLUMNS}`,
        [id, status, error],
      );
      const row = rows[0];
      if (row === undefined) return undefined;
      const counts = {
        events: Number(row.events),
        exposures: Number(row.exposures),
        pendingAttributions: Number(row.pending_attributions),
        affectedExperiments: row.affected_experiment_ids.length,
      };
      // The system acts here: no actor.
      await insertAudit(client, {
        actorId: null,
        entityType: ERASURE_AUDIT_ENTITY,
        entityId: id,
        action: status === "done" ? "completed" : "failed",
        fromStatus: "running",
        toStatus: status,
        data: { ...counts, ...data },
      });
      return counts;
    });
  }
}
