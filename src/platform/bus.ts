/**
 * NATS JetStream: the connection (reconnecting forever), the streams Lotty
 * uses, provisioned idempotently at start, and the connection state that
 * /ready reports.
 *
 * Streams (prefix "LOTTY" in production; tests use their own prefix):
 *   <P>_EVENTS     <p>.events.>     ingested events, deduplicated by event id
 *   <P>_DECISIONS  <p>.decisions.>  decision log written asynchronously by decide
 *   <P>_LIFECYCLE  <p>.lifecycle.>  experiment.* and guardrail.* notifications
 *   <P>_CONFIG     <p>.config.>     configuration changes that refresh decide snapshots
 *   <P>_COUNTED    <p>.counted.>    experiments whose counts the event store just committed (guardrail monitor)
 *   <P>_DEADLETTER <p>.deadletter.> messages a consumer could not process, kept for inspection
 *
 * Plain NATS subjects (no stream; a missed one only delays work a poll):
 *   <p>.privacy.erasures           an erasure job was requested (wakes erasure workers)
 *   <p>.reports.exports            an event export was requested (wakes export workers)
 *   <p>.access.keys                a service API key or a user's roles changed (reloads
 *                                  the service key registry of ingesting nodes)
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  jetstream,
  jetstreamManager,
  AckPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { Logger } from "./logging.js";
import { retry } from "./timing.js";

const NANOS_PER_SECOND = 1_000_000_000;
const DAY_SECONDS = 86_400;

export interface StreamSpec {
  config: Partial<StreamConfig> & { name: string; subjects: string[] };
  consumers: (Partial<ConsumerConfig> & { durable_name: string })[];
}

export interface BusNames {
  /** Upper-case stream name prefix, e.g. "LOTTY". */
  streamPrefix: string;
  /** Lower-case subject prefix, e.g. "lotty". */
  subjectPrefix: string;
}

export function busNames(prefix = "LOTTY"): BusNames {
  return { streamPrefix: prefix.toUpperCase(), subjectPrefix: prefix.toLowerCase() };
}

/**
 * The names on the bus, in one table: the subjects Lotty publishes on and
 * the durable consumers (stream and durable name) that read them.
 */
export function busSubjects(names: BusNames) {
  const s = names.subjectPrefix;
  return {
    /** Ingested event batches (stream EVENTS). */
    events: `${s}.events.batch`,
    /** Decision log batches (stream DECISIONS). */
    decisions: `${s}.decisions.batch`,
    /** Experiments whose counts the event store just committed (stream COUNTED). */
    counted: `${s}.counted.events`,
    /** Event messages the event store could not apply (stream DEADLETTER). */
    deadLetterEvents: `${s}.deadletter.events`,
    /** Configuration changes of one kind (stream CONFIG). */
    config: (kind: string) => `${s}.config.${kind}`,
    /** Every configuration change, whatever its kind (a subscription filter). */
    anyConfig: `${s}.config.>`,
    /** Lifecycle notifications of one trigger (stream LIFECYCLE). */
    lifecycle: (trigger: string) => `${s}.lifecycle.${trigger}`,
    /** "An erasure job was requested": wakes erasure workers (plain NATS, no stream). */
    erasures: `${s}.privacy.erasures`,
    /** "An event export was requested": wakes export workers (plain NATS, no stream). */
    eventExports: `${s}.reports.exports`,
    /** "Service API keys changed": reloads the access module's service key registry (plain NATS). */
    serviceKeys: `${s}.access.keys`,
  };
}

/** The durable consumers: the stream (by suffix) each one reads and its name. */
export const DURABLE_CONSUMERS = {
  /** The event store (src/events/consumer.ts). */
  eventStore: { stream: "EVENTS", durable: "event-store" },
  /** The guardrail monitor (src/guardrails/monitor.ts). */
  guardrailMonitor: { stream: "COUNTED", durable: "guardrail-monitor" },
  /** The notifier (src/notifications/notifier.ts). */
  notifier: { stream: "LIFECYCLE", durable: "notifier" },
} as const;

export type DurableConsumerName = keyof typeof DURABLE_CONSUMERS;

/** The stream name and durable name of one durable consumer. */
export function durableConsumer(
  names: BusNames,
  consumer: DurableConsumerName,
): { stream: string; durable: string } {
  const { stream, durable } = DURABLE_CONSUMERS[consumer];
  return { stream: `${names.streamPrefix}_${stream}`, durable };
}

/**
 * The streams every Lotty deployment has, with their durable consumers;
 * `replicas` copies of each (LOTTY_NATS_REPLICAS; more than one needs a
 * NATS cluster with at least that many JetStream servers).
 */
export function lottyStreams(names: BusNames, replicas = 1): StreamSpec[] {
  const { streamPrefix: S, subjectPrefix: s } = names;
  const stream = (
    suffix: string,
    maxAgeDays: number,
    extra: Partial<StreamConfig> = {},
  ): StreamSpec => ({
    config: {
      name: `${S}_${suffix}`,
      subjects: [`${s}.${suffix.toLowerCase()}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: maxAgeDays * DAY_SECONDS * NANOS_PER_SECOND,
      num_replicas: replicas,
      ...extra,
    },
    consumers: [],
  });
  const events = stream("EVENTS", 7, { duplicate_window: 2 * 60 * NANOS_PER_SECOND });
  // The event store never gives up on a message by itself (poison messages
  // are moved to DEADLETTER by the consumer).
  events.consumers.push({
    durable_name: DURABLE_CONSUMERS.eventStore.durable,
    ack_policy: AckPolicy.Explicit,
    max_deliver: -1,
    ack_wait: 30 * NANOS_PER_SECOND,
    max_ack_pending: 200,
  });
  // The guardrail monitor acks signals after the evaluation that covered them.
  const counted = stream("COUNTED", 1);
  counted.consumers.push({
    durable_name: DURABLE_CONSUMERS.guardrailMonitor.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    max_deliver: -1,
    ack_wait: 30 * NANOS_PER_SECOND,
    max_ack_pending: 10_000,
  });
  // The notifier acks lifecycle events once their deliveries are recorded.
  const lifecycle = stream("LIFECYCLE", 30);
  lifecycle.consumers.push({
    durable_name: DURABLE_CONSUMERS.notifier.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    max_deliver: -1,
    ack_wait: 30 * NANOS_PER_SECOND,
    max_ack_pending: 1_000,
  });
  return [
    events,
    stream("DECISIONS", 7),
    lifecycle,
    counted,
    stream("CONFIG", 1, { max_msgs_per_subject: 16 }),
    stream("DEADLETTER", 30),
  ];
}

export type BusState = "connecting" | "connected" | "reconnecting" | "closed";

export class Bus {
  state: BusState = "connected";
  readonly js: JetStreamClient;

  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
    private readonly logger: Logger,
  ) {
    this.js = jetstream(nc);
    void this.watchStatus();
  }

  /** Connects, retrying until a server answers or `signal` aborts. */
  static async connect(servers: string[], logger: Logger, signal?: AbortSignal): Promise<Bus> {
    const bus = await retry(
      async () => {
        const nc = await connect({
          servers,
          name: "lotty",
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          timeout: 2_000,
          // No Error per request just for its async stack trace (the
          // decision log's publishes made that a visible share of decide's
          // CPU); request errors still say what failed.
          noAsyncTraces: true,
        });
        const jsm = await jetstreamManager(nc, { timeout: 5_000 });
        logger.info({ server: nc.getServer() }, "NATS connected");
        return new Bus(nc, jsm, logger);
      },
      {
        delayMs: 500,
        signal,
        warn: (error, attempt) =>
          logger.warn({ err: error, servers, attempt }, "NATS not reachable yet; retrying"),
      },
    );
    if (bus === undefined) throw new Error("NATS connect aborted");
    return bus;
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      switch (status.type) {
        case "disconnect":
        case "reconnecting":
          if (this.state !== "reconnecting") this.logger.warn("NATS disconnected; reconnecting");
          this.state = "reconnecting";
          break;
        case "reconnect":
          this.state = "connected";
          this.logger.info("NATS reconnected");
          break;
        case "close":
          this.state = "closed";
          break;
        default:
          break;
      }
    }
    this.state = "closed";
  }

  get connected(): boolean {
    return this.state === "connected" && !this.nc.isClosed();
  }

  /** Creates or updates each stream and its durable consumers. Safe to run again. */
  async provision(specs: StreamSpec[]): Promise<void> {
    for (const spec of specs) {
      await this.ensureStream(spec.config);
      for (const consumer of spec.consumers) {
        await this.ensureConsumer(spec.config.name, consumer);
      }
    }
  }

  private async ensureStream(config: StreamSpec["config"]): Promise<void> {
    await this.createOrUpdateStream(config);
    const replicas = config.num_replicas ?? 1;
    if (replicas > 1) {
      // A single server accepts an update to more replicas and keeps one
      // copy; only a clustered stream reports its cluster.
      const info = await this.jsm.streams.info(config.name);
      if (info.cluster === undefined) {
        throw new Error(
          `stream ${config.name} needs ${replicas} replicas (LOTTY_NATS_REPLICAS) but NATS is a single server; ` +
            `use a NATS cluster with at least ${replicas} JetStream servers, or LOTTY_NATS_REPLICAS=1`,
        );
      }
    }
  }

  private async createOrUpdateStream(config: StreamSpec["config"]): Promise<void> {
    try {
      const info = await this.jsm.streams.info(config.name);
      const { name: _name, storage: _storage, ...mutable } = config;
      await this.jsm.streams.update(config.name, { ...info.config, ...mutable });
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) {
        throw replicasProblem(config, error) ?? error;
      }
      try {
        await this.jsm.streams.add(config);
      } catch (addError) {
        // Another replica created it between our info and add: that is fine.
        if (!isApiError(addError, 10058 /* stream name already in use */)) {
          throw replicasProblem(config, addError) ?? addError;
        }
      }
    }
  }

  private async ensureConsumer(
    stream: string,
    config: StreamSpec["consumers"][number],
  ): Promise<void> {
    try {
      await this.jsm.consumers.info(stream, config.durable_name);
      await this.jsm.consumers.update(stream, config.durable_name, config);
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
      await this.jsm.consumers.add(stream, config);
    }
  }

  /**
   * Drains subscriptions and closes the connection. A drain cannot finish
   * while the server is away, so it is given `timeoutMs` before closing.
   */
  async close(timeoutMs = 2_000): Promise<void> {
    if (this.nc.isClosed()) return;
    const drained = this.connected
      ? this.nc.drain().then(
          () => true,
          () => false,
        )
      : Promise.resolve(false);
    // Cleared once settled: a pending timer would hold this bus (and the
    // app around it) for the rest of `timeoutMs` after the drain.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs).unref();
    });
    try {
      if (!(await Promise.race([drained, timeout]))) await this.nc.close().catch(() => {});
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A clear error when NATS cannot hold the replicas asked for (a single
 * server, or a cluster with fewer JetStream servers); undefined otherwise.
 */
function replicasProblem(config: StreamSpec["config"], error: unknown): Error | undefined {
  const replicas = config.num_replicas ?? 1;
  if (replicas <= 1 || !(error instanceof JetStreamApiError)) return undefined;
  // 10074: replicas > 1 in non-clustered mode; 10005 and 10023: no suitable
  // peers / insufficient resources for the placement.
  if (![10074, 10005, 10023].includes(error.code)) return undefined;
  return new Error(
    `stream ${config.name} needs ${replicas} replicas (LOTTY_NATS_REPLICAS) but NATS cannot place them: ` +
      `${error.message}; use a NATS cluster with at least ${replicas} JetStream servers, or LOTTY_NATS_REPLICAS=1`,
  );
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}
