/**
 * The transactional outbox: messages written to PostgreSQL in the
 * transaction of the change they announce, relayed to JetStream after it
 * commits. A change is never announced without being stored, and a stored
 * change is announced even if NATS was down when it was made: the relay
 * publishes whatever is left at its next run (after each change, every
 * second, and at start).
 *
 * The relay takes rows with `for update skip locked`, so several processes
 * relay without publishing a row twice at the same time; a row is deleted
 * once JetStream has acknowledged it. A relay that dies between the
 * acknowledgement and the delete publishes the row again later, with the
 * same JetStream message id: the stream stores it once when that happens
 * within its duplicate window, and consumers deduplicate by their own keys
 * beyond it. Domain-free: callers give subjects and bodies.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { Bus } from "./bus.js";
import type { Logger } from "./logging.js";
import { throttledWarning } from "./throttled-warning.js";
import { continueStored, messageHeaders, SpanKind, storedTraceHeaders } from "./tracing.js";
import { withTransaction } from "./transaction.js";

/** A message to publish once the transaction that stages it commits. */
export interface OutboxMessage {
  subject: string;
  body: string;
  /** The JetStream message id (deduplication); a random one when absent. */
  msgId?: string;
}

/**
 * The insert of one message, with `?` (MikroORM) or `$n` (pg) placeholders.
 * The active trace context is stored with it (when tracing), so the relay
 * continues the trace of the change, whenever it publishes.
 */
export function outboxInsert(
  message: OutboxMessage,
  placeholders: "?" | "$n",
): { sql: string; params: (string | null)[] } {
  const values = placeholders === "?" ? "?, ?, ?, ?" : "$1, $2, $3, $4";
  const trace = storedTraceHeaders();
  return {
    sql: `insert into outbox (subject, body, msg_id, headers) values (${values})`,
    params: [
      message.subject,
      message.body,
      message.msgId ?? randomUUID(),
      trace === null ? null : JSON.stringify(trace),
    ],
  };
}

/** Rows taken per relay transaction. */
const BATCH = 100;
const PUBLISH_TIMEOUT_MS = 2_000;

export class OutboxRelay {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly warn: ReturnType<typeof throttledWarning>;

  constructor(
    private readonly pool: () => pg.Pool | undefined,
    private readonly bus: () => Bus | undefined,
    logger: Logger,
  ) {
    this.warn = throttledWarning(logger);
  }

  /** Relays every second from now on (what earlier runs could not publish, other processes' rows). */
  start(intervalMs = 1_000): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
    void this.flush();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Publishes what is in the outbox now; resolves once this process has
   * tried (a run under way finishes, then one more starts for rows staged
   * meanwhile). Never throws: what cannot be published stays for later.
   */
  flush(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    const run = (async () => {
      do {
        this.again = false;
        await this.relay().catch((error: unknown) =>
          this.warn(error, "could not relay the outbox to NATS; retrying", {}),
        );
      } while (this.again);
    })();
    this.running = run.finally(() => (this.running = undefined));
    return this.running;
  }

  /** Publishes batches until the outbox is empty or a publish fails. */
  private async relay(): Promise<void> {
    const pool = this.pool();
    const bus = this.bus();
    if (pool === undefined || bus === undefined || !bus.connected) return;
    for (;;) {
      const published = await withTransaction(pool, async (client) => {
        const { rows } = await client.query<{
          id: string;
          subject: string;
          body: string;
          msg_id: string;
          headers: Record<string, string> | null;
        }>(
          `select id, subject, body, msg_id, headers from outbox
           order by id limit $1 for update skip locked`,
          [BATCH],
        );
        const done: string[] = [];
        let failure: unknown;
        for (const row of rows) {
          try {
            await continueStored(
              row.headers,
              {
                name: `publish ${row.subject}`,
                kind: SpanKind.PRODUCER,
                attributes: {
                  "messaging.system": "nats",
                  "messaging.destination.name": row.subject,
                  "messaging.message.id": row.msg_id,
                },
              },
              (trace) =>
                bus.js.publish(row.subject, row.body, {
                  msgID: row.msg_id,
                  timeout: PUBLISH_TIMEOUT_MS,
                  headers: messageHeaders(trace),
                }),
            );
            done.push(row.id);
          } catch (error) {
            failure = error;
            break;
          }
        }
        if (done.length > 0) {
          await client.query(`delete from outbox where id = any($1::bigint[])`, [done]);
        }
        return { count: rows.length, done: done.length, failure };
      });
      if (published.failure !== undefined) throw published.failure;
      if (published.count < BATCH) return;
    }
  }
}
