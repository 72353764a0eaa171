/**
 * Composes one Lotty process: configuration → logger, metrics, readiness →
 * the one-port server (listening at once, so /health answers) → in the
 * background: PostgreSQL (embedded when DATABASE_URL is unset), migrations,
 * bootstrap admin, NATS (a local nats-server when needed), stream
 * provisioning. /ready turns 200 when all of that is done.
 *
 * Longer than the ~400 lines other files keep to, on purpose: it is the one
 * place where the process's start and stop order is written down (services
 * are built in services.ts, routes in connect.ts); split, that order would
 * have to be read across files.
 */
import type http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import pg from "pg";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Config } from "./platform/config.js";
import { createLogger, type Logger } from "./platform/logging.js";
import { createMetrics, type Metrics } from "./platform/metrics.js";
import { Readiness } from "./platform/readiness.js";
import { DEFAULT_LIMITS, OnePortServer } from "./platform/http-server.js";
import { readTlsFiles, type TlsMaterial } from "./platform/tls.js";
import { applyCors, httpEndpoints } from "./platform/http-endpoints.js";
import { createStaticSite, packageRoot } from "./platform/static-site.js";
import { createRpcHandler } from "./platform/rpc-handler.js";
import { createOfrep } from "./decision/ofrep.js";
import { conformGrpcMessages, isGrpcRequest } from "./platform/grpc-message.js";
import { errorInterceptor } from "./platform/errors.js";
import {
  metricsInterceptor,
  requestLogInterceptor,
  tracingInterceptor,
} from "./platform/interceptors.js";
import { Authenticator, authInterceptor } from "./platform/auth.js";
import { requestIdKey } from "./platform/request-context.js";
import { DatabaseHandle } from "./platform/database-handle.js";
import { migrate } from "./platform/database.js";
import { openOrm } from "./orm.js";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "./platform/embedded-postgres.js";
import { Bus, busNames, busSubjects, lottyStreams, type BusNames } from "./platform/bus.js";
import { isListening, startLocalNats, type LocalNats } from "./platform/local-nats.js";
import { retry } from "./platform/timing.js";
import { ensureServerSecret } from "./platform/settings.js";
import { ChangePublisher } from "./platform/changes.js";
import { OutboxRelay } from "./platform/outbox.js";
import { SnapshotStore } from "./decision/snapshot.js";
import { DecisionLog } from "./decision/decision-log.js";
import { createDecisionMetrics } from "./decision/metrics.js";
import type { DecisionServiceImpl } from "./decision/service.js";
import { createServerDecide, type ServerDecide } from "./decision/decide.js";
import { createFastDecide } from "./decision/fast-path.js";
import { decideLimit } from "./decision/decide-limit.js";
import { createDecisionSigner, type DecisionSigner } from "./decision/decision-id.js";
import { ensureBootstrapAdmin } from "./access/bootstrap.js";
import { keyLookup } from "./access/service.js";
import { ServiceKeyRegistry } from "./access/service-keys.js";
import { lottyRoutes } from "./connect.js";
import { buildServices } from "./services.js";
import { backfillLearnings } from "./learnings/recorder.js";
import { EventStore } from "./events/store.js";
import { EventConsumer } from "./events/consumer.js";
import type { EventServiceImpl } from "./events/service.js";
import { createEventMetrics, type EventMetrics } from "./events/metrics.js";
import type { ReportServiceImpl } from "./reports/service.js";
import { GuardrailMonitor, publishCounted } from "./guardrails/monitor.js";
import { RampDriver } from "./autopilot/driver.js";
import { createRampMetrics, type RampMetrics } from "./autopilot/metrics.js";
import { createGuardrailMetrics, type GuardrailMetrics } from "./guardrails/metrics.js";
import { createSecretBox, type SecretBox } from "./notifications/secrets.js";
import { Notifier } from "./notifications/notifier.js";
import { DeliveryDispatcher } from "./notifications/dispatcher.js";
import { DigestScheduler } from "./notifications/digests.js";
import { DataQualityMonitor, type DataQualitySettings } from "./dataquality/monitor.js";
import { createNotificationMetrics, type NotificationMetrics } from "./notifications/metrics.js";
import { ErasureWorker } from "./privacy/worker.js";
import { EventExportWorker } from "./reports/event-export-worker.js";
import { createEventExportDownload } from "./reports/event-export-link.js";
import { expireEventExportsOf } from "./reports/event-exports.js";

/** Limits applied to every RPC (documented in docs/architecture.md). */
export const RPC_LIMITS = {
  /** Largest request message accepted; larger is RESOURCE_EXHAUSTED. */
  readMaxBytes: 4 * 1024 * 1024,
  /** Largest response message sent. */
  writeMaxBytes: 16 * 1024 * 1024,
  /** Longest deadline a client may ask for; longer is INVALID_ARGUMENT. */
  maxTimeoutMs: 5 * 60_000,
};

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The client's x-request-id when well-formed, else a new UUID. */
function requestIdOf(given: string | string[] | undefined): string {
  return typeof given === "string" && REQUEST_ID.test(given) ? given : crypto.randomUUID();
}

export interface AppOptions {
  config: Config;
  logger?: Logger;
  /** Where embedded PostgreSQL and nats-server keep data; default ./.lotty */
  dataDir?: string;
  /** Stream/subject prefix; tests give each file its own. Default: LOTTY_NATS_PREFIX (LOTTY). */
  busPrefix?: string;
  /** Interface to listen on; default all. */
  host?: string;
  /** How long shutdown waits for in-flight RPCs. */
  shutdownGraceMs?: number;
  /**
   * How often the guardrail monitor sweeps every guarded experiment without
   * a signal (default 5 s); a test that must see a breach found through
   * its signal sets it long.
   */
  guardrailSweepMs?: number;
  /** How often the ramp autopilot evaluates (default 5 s); tests make it short. */
  rampIntervalMs?: number;
  /** How often the data-quality monitor runs (default 60 s). */
  dataQualityIntervalMs?: number;
  /** Overrides of the data-quality alarm rules (docs/notifications.md#data-quality-alarms). */
  dataQuality?: Partial<DataQualitySettings>;
  /** How often the digest scheduler looks for due digests (default 60 s). */
  digestIntervalMs?: number;
  /** Called when starting a dependency fails for good. */
  onFatal?: (error: unknown) => void;
}

/** What one App has once its dependencies are up (all undefined before). */
interface Live {
  bus?: Bus;
  /** The event store. */
  eventStore?: EventStore;
  /** The pool reports, guardrails and notifications read with. */
  reportPool?: pg.Pool;
  /** The event store consumer (workers role). */
  eventConsumer?: EventConsumer;
  /** The guardrail monitor (workers role). */
  guardrailMonitor?: GuardrailMonitor;
  /** The ramp autopilot (workers role). */
  rampDriver?: RampDriver;
  /** Lifecycle events → deliveries (workers role). */
  notifier?: Notifier;
  /** Sends deliveries (workers role). */
  dispatcher?: DeliveryDispatcher;
  /** Data-quality alarms (workers role). */
  dataQualityMonitor?: DataQualityMonitor;
  /** Scheduled digests (workers role). */
  digestScheduler?: DigestScheduler;
  /** Runs erasure jobs (workers role), with its own pool. */
  erasureWorker?: ErasureWorker;
  erasurePool?: pg.Pool;
  /** The bus subscription that wakes the erasure worker. */
  erasureWake?: { unsubscribe(): void };
  /** Writes raw event export files (workers role). */
  eventExportWorker?: EventExportWorker;
  /** The bus subscription that wakes the event export worker. */
  eventExportWake?: { unsubscribe(): void };
  /** Seals notification channel secrets. */
  secretBox?: SecretBox;
  signer?: DecisionSigner;
  /** A generated bootstrap admin key to show once (first start only). */
  generatedAdminKey?: string;
  /** Signs decision ids and seals channel secrets (LOTTY_DECISION_SECRET or the stored one). */
  serverSecret?: string;
}

export class App {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly readiness = new Readiness();
  readonly db = new DatabaseHandle();
  readonly names: BusNames;
  readonly changes: ChangePublisher;
  /** Relays configuration notices and lifecycle events staged with their changes. */
  private readonly outbox: OutboxRelay;
  readonly snapshots: SnapshotStore;
  /** Service API keys, for checking local decision ids at ingestion. */
  readonly serviceKeys: ServiceKeyRegistry;
  readonly decisionLog: DecisionLog;
  /** The decide service, also callable in-process (tests, benchmarks). */
  readonly decision: DecisionServiceImpl;
  /** Decide as every transport serves it: the RPC, the fast path and OFREP. */
  readonly decide: ServerDecide;
  /** IngestEvents, also callable in-process (tests, benchmarks). */
  readonly events: EventServiceImpl;
  readonly eventMetrics: EventMetrics;
  readonly guardrailMetrics: GuardrailMetrics;
  readonly rampMetrics: RampMetrics;
  readonly notificationMetrics: NotificationMetrics;
  /** Reports, also callable in-process (tests, benchmarks). */
  readonly reports: ReportServiceImpl;

  private readonly config: Config;
  /** This process serves the API (roles api or all). */
  private readonly serveApi: boolean;
  /** This process runs the workers (roles workers or all). */
  private readonly runWorkers: boolean;
  /** What exists once the database and NATS are up; read through the getters below. */
  private readonly live: Live = {};
  private readonly dataDir: string;
  private readonly server: OnePortServer;
  /** The certificate being served, for logs (TLS only). */
  private certificateInfo: Record<string, string> = {};
  private readonly shutdown = new AbortController();
  private embedded: EmbeddedDatabase | undefined;
  private localNats: LocalNats | undefined;
  private orm: MikroORM | undefined;
  private migrated = false;
  private provisioned = false;
  private startup: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: AppOptions) {
    this.config = options.config;
    this.serveApi = this.config.roles !== "workers";
    this.runWorkers = this.config.roles !== "api";
    this.logger = options.logger ?? createLogger(this.config.logLevel);
    this.metrics = createMetrics();
    this.dataDir = options.dataDir ?? path.resolve(".lotty");
    this.names = busNames(options.busPrefix ?? this.config.natsPrefix);
    const authenticator = new Authenticator(keyLookup(this.db));
    this.outbox = new OutboxRelay(
      () => this.live.reportPool,
      () => this.live.bus,
      this.logger,
    );
    this.changes = new ChangePublisher(this.outbox, this.names, this.logger);
    this.snapshots = new SnapshotStore(
      () => (this.db.isOpen ? this.db.orm : undefined),
      this.logger,
    );
    this.serviceKeys = new ServiceKeyRegistry(
      () => (this.db.isOpen ? this.db.orm : undefined),
      () => this.live.bus,
      this.names,
      this.logger,
    );
    // A decide node answers with its own changes as soon as their RPC returns.
    if (this.serveApi) this.changes.onLocalChange(() => this.snapshots.refresh());
    const decisionMetrics = createDecisionMetrics(this.metrics.registry);
    this.decisionLog = new DecisionLog(
      () => this.live.bus,
      this.names,
      decisionMetrics.logDropped,
      this.logger,
    );
    this.eventMetrics = createEventMetrics(this.metrics.registry);
    this.guardrailMetrics = createGuardrailMetrics(this.metrics.registry);
    this.rampMetrics = createRampMetrics(this.metrics.registry);
    this.notificationMetrics = createNotificationMetrics(this.metrics.registry);
    this.decide = createServerDecide({
      snapshots: this.snapshots,
      signer: () => this.live.signer,
      log: this.decisionLog,
      metrics: decisionMetrics,
    });
    const limitDecide = decideLimit(this.config.decideRateLimit);
    const services = buildServices({
      db: this.db,
      authenticator,
      changes: this.changes,
      snapshots: this.snapshots,
      signer: () => this.live.signer,
      serverSecret: () => this.live.serverSecret,
      serviceKeys: this.serviceKeys,
      decide: this.decide,
      bus: () => this.live.bus,
      names: this.names,
      eventStore: () => this.live.eventStore,
      ingestRateLimit: this.config.ingestRateLimit,
      decideLimit: limitDecide,
      eventMetrics: this.eventMetrics,
      logger: this.logger,
      pool: () => this.pool(),
      secrets: () => {
        if (this.live.secretBox === undefined) {
          throw new ConnectError("the database is not ready yet; retry shortly", Code.Unavailable);
        }
        return this.live.secretBox;
      },
      shutdown: this.shutdown.signal,
      erasureRequested: () => this.erasureRequested(),
      exportDir: this.config.exportDir,
      eventExportRequested: () => this.eventExportRequested(),
    });
    const { decision } = services;
    this.decision = decision;
    this.events = services.events;
    this.reports = services.reports;
    const rpc = createRpcHandler({
      logger: this.logger,
      routes: lottyRoutes({
        services,
        readiness: this.readiness,
        serveApi: this.serveApi,
      }),
      interceptors: [
        tracingInterceptor(),
        errorInterceptor(this.logger),
        requestLogInterceptor(this.logger),
        metricsInterceptor(this.metrics),
        authInterceptor(authenticator),
      ],
      ...RPC_LIMITS,
      // Unknown JSON fields and enum names are errors, not silently dropped:
      // ["ROLE_VIEWER", "ROLE_NOPE"] must not quietly create a viewer.
      jsonOptions: { ignoreUnknownFields: false },
      shutdownSignal: this.shutdown.signal,
      contextValues: (req) =>
        createContextValues().set(requestIdKey, requestIdOf(req.headers["x-request-id"])),
      fallback: httpEndpoints(this.readiness, this.metrics.registry),
    });
    const corsOrigins = this.config.corsOrigins;
    const fastDecide = this.serveApi
      ? createFastDecide({
          decide: this.decide,
          limit: limitDecide,
          authenticator,
          metrics: this.metrics,
          logger: this.logger,
          readMaxBytes: RPC_LIMITS.readMaxBytes,
          maxTimeoutMs: RPC_LIMITS.maxTimeoutMs,
          requestId: requestIdOf,
        })
      : () => false;
    const ofrep = this.serveApi
      ? createOfrep({
          decide: this.decide,
          limit: limitDecide,
          authenticator,
          metrics: this.metrics,
          logger: this.logger,
          readMaxBytes: RPC_LIMITS.readMaxBytes,
          requestId: requestIdOf,
        })
      : () => false;
    // One-time download links of raw event exports (docs/event-export.md).
    const eventExportDownload = this.serveApi
      ? createEventExportDownload({
          pool: () => this.live.reportPool,
          serverSecret: () => this.live.serverSecret,
          dir: this.config.exportDir,
          logger: this.logger,
        })
      : () => false;
    // The console: a browser client of the contract, served on the same
    // origin as the RPCs (no CORS needed). Workers-only processes serve no API.
    const consoleSite = this.serveApi
      ? createStaticSite({
          mount: "/console/",
          root:
            this.config.consoleDir ??
            path.join(packageRoot(path.dirname(fileURLToPath(import.meta.url))), "dist", "console"),
          missingHint:
            "The Lotty console has not been built: run `npm run console:build` (npm start builds it).",
        })
      : () => false;
    const certificate = this.config.tls === undefined ? undefined : readTlsFiles(this.config.tls);
    if (certificate !== undefined) this.certificateInfo = describeCertificate(certificate);
    this.server = new OnePortServer(
      (req, res) => {
        if (consoleSite(req, res)) return;
        if (applyCors(corsOrigins, req, res)) return;
        if (
          req.httpVersionMajor === 1 &&
          fastDecide(req as http.IncomingMessage, res as http.ServerResponse)
        ) {
          return;
        }
        if (ofrep(req as http.IncomingMessage, res as http.ServerResponse)) return;
        if (eventExportDownload(req as http.IncomingMessage, res as http.ServerResponse)) return;
        if (isGrpcRequest(req)) conformGrpcMessages(res);
        rpc(req, res);
      },
      DEFAULT_LIMITS,
      certificate,
    );
    this.readiness.add("database", async () => {
      if (!this.migrated || this.orm === undefined) return false;
      return (await this.orm.checkConnection()).ok;
    });
    this.readiness.add("migrations", () => this.migrated);
    this.readiness.add("nats", () => this.provisioned && this.live.bus?.connected === true);
    if (this.serveApi) this.readiness.add("snapshot", () => this.snapshots.ready);
  }

  /** The pool for plain SQL reads (reports, guardrails, notifications). */
  pool(): pg.Pool {
    if (this.live.reportPool === undefined) {
      throw new ConnectError("the database is not ready yet; retry shortly", Code.Unavailable);
    }
    return this.live.reportPool;
  }

  get port(): number {
    return this.server.port;
  }

  /** The NATS connection; set once NATS is up. */
  get bus(): Bus | undefined {
    return this.live.bus;
  }

  /** The event store; set once the database is up. */
  get eventStore(): EventStore | undefined {
    return this.live.eventStore;
  }

  /** The pool reports read the rollups with; set once the database is up. */
  get reportPool(): pg.Pool | undefined {
    return this.live.reportPool;
  }

  /** The event store consumer; runs in processes with the workers role. */
  get eventConsumer(): EventConsumer | undefined {
    return this.live.eventConsumer;
  }

  /** The guardrail monitor; runs in processes with the workers role. */
  get guardrailMonitor(): GuardrailMonitor | undefined {
    return this.live.guardrailMonitor;
  }

  /** The ramp autopilot; runs in processes with the workers role. */
  get rampDriver(): RampDriver | undefined {
    return this.live.rampDriver;
  }

  /** Data-quality alarms; runs in processes with the workers role. */
  get dataQualityMonitor(): DataQualityMonitor | undefined {
    return this.live.dataQualityMonitor;
  }

  /** Scheduled digests; runs in processes with the workers role. */
  get digestScheduler(): DigestScheduler | undefined {
    return this.live.digestScheduler;
  }

  /** Lifecycle events → deliveries; runs in processes with the workers role. */
  get notifier(): Notifier | undefined {
    return this.live.notifier;
  }

  /** Runs erasure jobs; in processes with the workers role. */
  get erasureWorker(): ErasureWorker | undefined {
    return this.live.erasureWorker;
  }

  /**
   * Wakes the erasure workers after a job was recorded: this process's
   * directly, others (a separate workers process) through the bus. A
   * worker that misses the message finds the job at its next poll.
   */
  private erasureRequested(): void {
    this.live.erasureWorker?.poke();
    const bus = this.live.bus;
    if (bus === undefined || !bus.connected) return;
    try {
      bus.nc.publish(busSubjects(this.names).erasures, "");
    } catch {
      // The poll finds the job.
    }
  }

  /** Writes raw event export files; in processes with the workers role. */
  get eventExportWorker(): EventExportWorker | undefined {
    return this.live.eventExportWorker;
  }

  /** Wakes the event export workers after a job was recorded (as erasureRequested). */
  private eventExportRequested(): void {
    this.live.eventExportWorker?.poke();
    const bus = this.live.bus;
    if (bus === undefined || !bus.connected) return;
    try {
      bus.nc.publish(busSubjects(this.names).eventExports, "");
    } catch {
      // The poll finds the job.
    }
  }

  /** The embedded PostgreSQL's data directory; undefined with DATABASE_URL. */
  get embeddedDataDir(): string | undefined {
    return this.embedded?.dataDir;
  }

  /** A generated bootstrap admin key to show once (first start only). */
  get generatedAdminKey(): string | undefined {
    return this.live.generatedAdminKey;
  }

  /** Signs decision ids and seals channel secrets (LOTTY_DECISION_SECRET or the stored one). */
  get serverSecret(): string | undefined {
    return this.live.serverSecret;
  }

  /** "https" when the port serves TLS (LOTTY_TLS_CERT_FILE/LOTTY_TLS_KEY_FILE), else "http". */
  get scheme(): "http" | "https" {
    return this.server.tls ? "https" : "http";
  }

  /**
   * Re-reads the certificate and key files (SIGHUP) and serves new
   * connections with them. Returns false, logging why, when TLS is off or the
   * files are not usable; the current certificate then stays in use.
   */
  reloadTls(): boolean {
    if (this.config.tls === undefined) {
      this.logger.warn("TLS reload requested, but TLS is off (LOTTY_TLS_CERT_FILE is not set)");
      return false;
    }
    let certificate: TlsMaterial;
    try {
      certificate = readTlsFiles(this.config.tls);
    } catch (error) {
      this.logger.error(
        { err: error },
        `TLS reload failed, still serving the previous certificate: ${(error as Error).message}`,
      );
      return false;
    }
    this.server.setCertificate(certificate);
    this.certificateInfo = describeCertificate(certificate);
    this.logger.info(this.certificateInfo, "TLS certificate reloaded (new connections use it)");
    return true;
  }

  /** Listens, then brings dependencies up in the background. */
  async start(): Promise<number> {
    const port = await this.server.listen(this.config.port, this.options.host);
    this.logger.info(
      { port, roles: this.config.roles, scheme: this.scheme, ...this.certificateInfo },
      this.server.tls ? "listening (TLS only: HTTP/1.1 and HTTP/2 by ALPN)" : "listening",
    );
    this.startup = this.startDependencies().catch((error: unknown) => {
      if (this.shutdown.signal.aborted) return;
      this.logger.fatal({ err: error }, "could not start a dependency");
      this.options.onFatal?.(error);
    });
    return port;
  }

  /** Resolves once dependencies are up (or startup gave up). */
  async started(): Promise<void> {
    await this.startup;
  }

  private async startDependencies(): Promise<void> {
    await Promise.all([this.startDatabase(), this.startNats()]);
    if (this.shutdown.signal.aborted) return;
    const { bus, eventStore } = this.live;
    if (this.runWorkers && bus !== undefined && eventStore !== undefined) {
      this.live.eventConsumer = new EventConsumer(
        bus,
        this.names,
        eventStore,
        this.eventMetrics,
        this.logger,
        (experimentIds) => publishCounted(bus, this.names, experimentIds),
      );
      this.live.eventConsumer.start();
      this.live.guardrailMonitor = new GuardrailMonitor({
        bus,
        names: this.names,
        db: this.db,
        pool: this.pool(),
        changes: this.changes,
        metrics: this.guardrailMetrics,
        logger: this.logger,
        sweepMs: this.options.guardrailSweepMs,
      });
      this.live.guardrailMonitor.start();
      this.live.rampDriver = new RampDriver({
        db: this.db,
        pool: this.pool(),
        changes: this.changes,
        reports: this.reports.builder,
        logger: this.logger,
        intervalMs: this.options.rampIntervalMs,
        metrics: this.rampMetrics,
      });
      this.live.rampDriver.start();
      const dispatcher = (this.live.dispatcher = new DeliveryDispatcher({
        pool: this.pool(),
        secrets: this.live.secretBox!,
        metrics: this.notificationMetrics,
        logger: this.logger,
      }));
      this.live.dispatcher.start();
      this.live.notifier = new Notifier({
        bus,
        names: this.names,
        pool: this.pool(),
        metrics: this.notificationMetrics,
        logger: this.logger,
        queued: () => dispatcher.poke(),
      });
      this.live.notifier.start();
      this.live.dataQualityMonitor = new DataQualityMonitor({
        pool: this.pool(),
        changes: this.changes,
        reports: this.reports.builder,
        logger: this.logger,
        intervalMs: this.options.dataQualityIntervalMs,
        settings: this.options.dataQuality,
      });
      this.live.dataQualityMonitor.start();
      this.live.digestScheduler = new DigestScheduler({
        pool: this.pool(),
        reports: this.reports.builder,
        logger: this.logger,
        intervalMs: this.options.digestIntervalMs,
        queued: () => dispatcher.poke(),
      });
      this.live.digestScheduler.start();
      const erasureWorker = (this.live.erasureWorker = new ErasureWorker({
        pool: this.live.erasurePool!,
        logger: this.logger,
        rebuilt: (experimentIds) => {
          publishCounted(bus, this.names, experimentIds);
          // Export files written before the erasure still hold the erased
          // subjects' events: they expire now (docs/data-rights.md).
          void expireEventExportsOf(this.pool(), experimentIds).then(
            (expired) => {
              if (expired > 0) this.live.eventExportWorker?.poke();
            },
            (error: unknown) =>
              this.logger.error({ err: error }, "could not expire event exports after an erasure"),
          );
        },
      }));
      erasureWorker.start();
      this.live.erasureWake = bus.nc.subscribe(busSubjects(this.names).erasures, {
        callback: () => erasureWorker.poke(),
      });
      const eventExportWorker = (this.live.eventExportWorker = new EventExportWorker({
        pool: this.pool(),
        dir: this.config.exportDir,
        logger: this.logger,
      }));
      eventExportWorker.start();
      this.live.eventExportWake = bus.nc.subscribe(busSubjects(this.names).eventExports, {
        callback: () => eventExportWorker.poke(),
      });
    }
    this.logger.info("dependencies ready");
  }

  private async startDatabase(): Promise<void> {
    let url = this.config.databaseUrl;
    if (url === undefined) {
      this.embedded = await startEmbeddedPostgres(this.dataDir, this.logger);
      url = this.embedded.url;
    }
    const orm = (this.orm = await openOrm(url));
    const applied = await retry(() => migrate(orm, url), {
      delayMs: 500,
      signal: this.shutdown.signal,
      warn: (error, attempt) =>
        this.logger.warn(
          { err: error, attempt },
          "database not reachable or migration failed; retrying",
        ),
    });
    if (applied === undefined) return;
    if (applied.length > 0) this.logger.info({ applied }, "migrations applied");
    const em = this.orm.em.fork();
    const bootstrap = await ensureBootstrapAdmin(em, this.config.bootstrapAdminKey);
    this.live.generatedAdminKey = bootstrap.generatedKey;
    this.live.serverSecret = await ensureServerSecret(em, this.config.serverSecret);
    this.live.signer = createDecisionSigner(this.live.serverSecret);
    this.live.secretBox = createSecretBox(this.live.serverSecret);
    this.live.eventStore = new EventStore(url, { retentionDays: this.config.eventRetentionDays });
    this.live.reportPool = new pg.Pool({
      connectionString: url,
      max: 6,
      connectionTimeoutMillis: 5_000,
      statement_timeout: 60_000,
      // Report queries run for milliseconds; when the planner over-estimates
      // one (parameters it cannot see), JIT compilation took seconds.
      options: "-c jit=off",
    });
    // Errors of idle clients (database restarts) are reported on the next query.
    this.live.reportPool.on("error", () => {});
    if (this.runWorkers) {
      // Erasures scan every event partition and rebuild whole experiments:
      // no 60 s statement limit, and their own connections.
      this.live.erasurePool = new pg.Pool({
        connectionString: url,
        max: 3,
        connectionTimeoutMillis: 5_000,
      });
      this.live.erasurePool.on("error", () => {});
    }
    // Learnings of experiments completed before the learnings library
    // existed (idempotent; two counts when there is nothing to do).
    try {
      const written = await backfillLearnings(this.orm.em.fork(), this.live.reportPool);
      if (written > 0) this.logger.info({ written }, "learnings backfilled");
    } catch (error) {
      this.logger.warn(
        { err: error },
        "learnings backfill failed; it is retried at the next start",
      );
    }
    this.db.set(this.orm);
    this.migrated = true;
    if (this.serveApi) await Promise.all([this.snapshots.start(), this.serviceKeys.start()]);
  }

  private async startNats(): Promise<void> {
    if (this.config.natsUrlDefaulted && !(await isListening("127.0.0.1", 4222))) {
      this.localNats = await startLocalNats(this.dataDir, this.logger);
    }
    const bus = (this.live.bus = await Bus.connect(
      this.config.natsUrls,
      this.logger,
      this.shutdown.signal,
    ));
    const provisioned = await retry(
      async () => {
        await bus.provision(lottyStreams(this.names, this.config.natsReplicas));
        // Only decide nodes keep a snapshot.
        if (this.serveApi) {
          this.snapshots.listen(bus, this.names);
          this.serviceKeys.listen(bus, this.names);
        }
        return true;
      },
      {
        delayMs: 500,
        signal: this.shutdown.signal,
        warn: (error, attempt) =>
          this.logger.warn({ err: error, attempt }, "JetStream provisioning failed; retrying"),
      },
    );
    if (provisioned === undefined) return;
    this.provisioned = true;
    // What was staged while NATS was away (or by a process that died) goes now.
    this.outbox.start();
  }

  /**
   * Graceful stop: refuse new work, let in-flight RPCs finish, then drain
   * NATS, close the pool and stop the processes Lotty started itself.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info("shutting down");
      // Aborting the shutdown signal ends streaming RPCs (e.g. health Watch)
      // and startup retries; unary calls in flight still complete.
      this.shutdown.abort();
      await this.server.close(this.options.shutdownGraceMs ?? 10_000);
      await this.startup;
      await this.snapshots.stop();
      await this.serviceKeys.stop();
      await this.live.eventConsumer?.stop();
      await this.live.guardrailMonitor?.stop();
      await this.live.rampDriver?.stop();
      await this.live.dataQualityMonitor?.stop();
      await this.live.digestScheduler?.stop();
      await this.live.notifier?.stop();
      await this.live.dispatcher?.stop();
      this.live.erasureWake?.unsubscribe();
      await this.live.erasureWorker?.stop();
      this.live.eventExportWake?.unsubscribe();
      await this.live.eventExportWorker?.stop();
      await this.decisionLog.stop();
      this.outbox.stop();
      await this.live.bus?.close();
      await this.live.eventStore?.close();
      await this.live.reportPool?.end();
      await this.live.erasurePool?.end();
      await this.orm?.close(true);
      this.db.set(undefined);
      await this.localNats?.stop();
      await this.embedded?.stop();
      this.metrics.close();
      this.logger.info("stopped");
    })();
    return this.stopping;
  }
}

function describeCertificate(certificate: TlsMaterial): Record<string, string> {
  return {
    certificateSubject: certificate.subject.replace(/\n/g, ", "),
    certificateFingerprint256: certificate.fingerprint256,
    certificateValidTo: certificate.validTo,
  };
}
