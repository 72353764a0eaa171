/**
 * The one place Lotty's service implementations are built: every module's
 * RPC handler (its private `service.ts`), wired to what one App owns.
 * `app.ts` calls {@link buildServices} once; `connect.ts` registers the result.
 */
import type pg from "pg";
import type { Logger } from "./platform/logging.js";
import type { Authenticator } from "./platform/auth.js";
import type { DatabaseHandle } from "./platform/database-handle.js";
import type { ChangePublisher } from "./platform/changes.js";
import type { Bus, BusNames } from "./platform/bus.js";
import { AccessServiceImpl } from "./access/service.js";
import { CatalogServiceImpl } from "./catalog/service.js";
import { FlagServiceImpl } from "./flags/service.js";
import { ExperimentServiceImpl } from "./experiments/service.js";
import { experimentsUsingSavedSegment, findActiveExperimentOnFlag } from "./experiments/lookup.js";
import type { SnapshotStore } from "./decision/snapshot.js";
import { localSigningKeys, type DecisionSigner } from "./decision/decision-id.js";
import type { ServerDecide } from "./decision/decide.js";
import { ParticipationPolicyService } from "./decision/policy-service.js";
import { DecisionServiceImpl } from "./decision/service.js";
import type { EventStore } from "./events/store.js";
import type { EventMetrics } from "./events/metrics.js";
import { RateLimiter } from "./platform/rate-limit.js";
import { EventServiceImpl } from "./events/service.js";
import { ReportServiceImpl } from "./reports/service.js";
import { EventExportServiceImpl } from "./reports/event-export-service.js";
import { GuardrailServiceImpl } from "./guardrails/service.js";
import type { SecretBox } from "./notifications/secrets.js";
import { NotificationServiceImpl } from "./notifications/service.js";
import { PrivacyServiceImpl } from "./privacy/service.js";
import { ConfigurationSync } from "./decision/sync.js";
import type { ServiceKeyRegistry } from "./access/service-keys.js";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { Role } from "../gen/lotty/access/v1/access_pb.js";
import {
  LocalSigningKeySchema,
  type LocalSigningKey,
} from "../gen/lotty/decision/v1/decision_pb.js";
import { principalKey } from "./platform/request-context.js";
import { LearningRecorder } from "./learnings/recorder.js";
import { LearningServiceImpl } from "./learnings/service.js";

/** What the services need from the App; thunks for what exists only once the database/NATS are up. */
export interface ServiceDeps {
  db: DatabaseHandle;
  authenticator: Authenticator;
  changes: ChangePublisher;
  snapshots: SnapshotStore;
  signer: () => DecisionSigner | undefined;
  /** The server secret (decision ids, local signing keys); undefined until the database is up. */
  serverSecret: () => string | undefined;
  /** Service API keys, for local decision ids (access/service-keys.ts). */
  serviceKeys: ServiceKeyRegistry;
  /** Decide as every transport serves it (decision/decide.ts). */
  decide: ServerDecide;
  bus: () => Bus | undefined;
  names: BusNames;
  eventStore: () => EventStore | undefined;
  /** Events per second per API key (LOTTY_INGEST_RATE_LIMIT). */
  ingestRateLimit: number;
  /** The per-key Decide/OFREP limit, shared with the fast path and OFREP (app.ts). */
  decideLimit?: (apiKeyId: string) => void;
  eventMetrics: EventMetrics;
  logger: Logger;
  /** The pool for plain SQL reads (reports, guardrails, notifications). */
  pool: () => pg.Pool;
  /** Seals notification channel secrets. */
  secrets: () => SecretBox;
  /** Aborted on shutdown. */
  shutdown: AbortSignal;
  /** Wakes the erasure workers after EraseSubjects committed a job. */
  erasureRequested: () => void;
  /** The raw event export directory (LOTTY_EXPORT_DIR). */
  exportDir: string;
  /** Wakes the event export workers after StartEventExport committed a job. */
  eventExportRequested: () => void;
}

/** Every service implementation of one Lotty instance. */
export interface Services {
  access: AccessServiceImpl;
  catalog: CatalogServiceImpl;
  flags: FlagServiceImpl;
  experiments: ExperimentServiceImpl;
  decision: DecisionServiceImpl;
  events: EventServiceImpl;
  reports: ReportServiceImpl;
  eventExports: EventExportServiceImpl;
  guardrails: GuardrailServiceImpl;
  notifications: NotificationServiceImpl;
  privacy: PrivacyServiceImpl;
  learnings: LearningServiceImpl;
}

export function buildServices(deps: ServiceDeps): Services {
  const reports = new ReportServiceImpl({
    em: () => deps.db.orm.em.fork(),
    pool: deps.pool,
    shutdown: deps.shutdown,
  });
  return {
    access: new AccessServiceImpl({
      db: deps.db,
      authenticator: deps.authenticator,
      keysChanged: () => deps.serviceKeys.changed(),
    }),
    // Catalog gets "which experiments use this saved segment?" (for
    // DeleteSavedSegment) passed in rather than importing experiments.
    catalog: new CatalogServiceImpl({
      db: deps.db,
      changes: deps.changes,
      pool: deps.pool,
      savedSegmentUsers: experimentsUsingSavedSegment,
    }),
    // Flags gets "is an experiment active on this flag?" (for ArchiveFlag)
    // passed in rather than importing the experiments module.
    flags: new FlagServiceImpl({
      db: deps.db,
      changes: deps.changes,
      activeExperimentOnFlag: findActiveExperimentOnFlag,
    }),
    experiments: new ExperimentServiceImpl({
      db: deps.db,
      changes: deps.changes,
      outcomeReport: (id) => reports.outcomeReportJson(id),
      learnings: new LearningRecorder(deps.pool),
    }),
    decision: new DecisionServiceImpl({
      decide: deps.decide,
      ...(deps.decideLimit ? { limit: deps.decideLimit } : {}),
      policy: new ParticipationPolicyService({ db: deps.db, changes: deps.changes }),
      sync: new ConfigurationSync({
        snapshots: deps.snapshots,
        signingKey: signingKeys(deps.serverSecret),
      }),
    }),
    events: new EventServiceImpl({
      snapshots: deps.snapshots,
      signer: deps.signer,
      serverSecret: deps.serverSecret,
      serviceKeys: deps.serviceKeys,
      bus: deps.bus,
      names: deps.names,
      store: deps.eventStore,
      limiter: new RateLimiter(deps.ingestRateLimit),
      metrics: deps.eventMetrics,
      logger: deps.logger,
    }),
    reports,
    eventExports: new EventExportServiceImpl({
      em: () => deps.db.orm.em.fork(),
      pool: deps.pool,
      dir: deps.exportDir,
      serverSecret: deps.serverSecret,
      exportRequested: deps.eventExportRequested,
    }),
    guardrails: new GuardrailServiceImpl({ pool: deps.pool }),
    notifications: new NotificationServiceImpl({ pool: deps.pool, secrets: deps.secrets }),
    learnings: new LearningServiceImpl({ pool: deps.pool, em: () => deps.db.orm.em.fork() }),
    privacy: new PrivacyServiceImpl({
      pool: deps.pool,
      erasureRequested: deps.erasureRequested,
    }),
  };
}

/**
 * The local signing key of the caller of the configuration stream
 * (docs/local-evaluation.md#signing-key): derived from the server secret
 * and the caller's API key id, for ROLE_SERVICE callers only (an admin
 * reads the configuration but signs nothing). Derived keys are cached per
 * key id.
 */
function signingKeys(
  serverSecret: () => string | undefined,
): (ctx: HandlerContext) => LocalSigningKey | undefined {
  let cache: { secret: string; keyFor: (keyId: string) => Uint8Array } | undefined;
  return (ctx) => {
    const principal = ctx.values.get(principalKey);
    const secret = serverSecret();
    if (principal === undefined || secret === undefined) return undefined;
    if (!principal.roles.has(Role.SERVICE)) return undefined;
    if (cache?.secret !== secret) cache = { secret, keyFor: localSigningKeys(secret) };
    return create(LocalSigningKeySchema, {
      keyId: principal.apiKeyId,
      secret: cache.keyFor(principal.apiKeyId),
    });
  };
}
