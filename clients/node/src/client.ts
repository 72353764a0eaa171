/**
 * createLottyClient: one transport, typed clients for every Lotty service,
 * a default deadline on every call and retries for calls that are safe to
 * repeat.
 */
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { AccessService } from "../../../gen/lotty/access/v1/access_pb.js";
import { CatalogService } from "../../../gen/lotty/catalog/v1/catalog_pb.js";
import { DecisionService } from "../../../gen/lotty/decision/v1/decision_pb.js";
import { EventService } from "../../../gen/lotty/events/v1/events_pb.js";
import { ExperimentService } from "../../../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagService } from "../../../gen/lotty/flags/v1/flags_pb.js";
import { GuardrailService } from "../../../gen/lotty/guardrails/v1/guardrails_pb.js";
import { LearningService } from "../../../gen/lotty/learnings/v1/learnings_pb.js";
import { NotificationService } from "../../../gen/lotty/notifications/v1/notifications_pb.js";
import { ReportService } from "../../../gen/lotty/reports/v1/reports_pb.js";
import { EventExportService } from "../../../gen/lotty/reports/v1/event_export_pb.js";
import { retryInterceptor, type RetryOptions } from "./retry.js";

/** The wire protocols Lotty serves on its one port. */
export type LottyProtocol = "connect" | "grpc" | "grpc-web";

export interface LottyClientOptions {
  /** Where Lotty listens, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** An API key (`lotty_…`), sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Default `connect`. gRPC always uses HTTP/2. */
  protocol?: LottyProtocol;
  /**
   * HTTP version for Connect and gRPC-Web: `1.1` (default; works through
   * any proxy) or `2` (h2c with prior knowledge, or TLS with ALPN).
   */
  httpVersion?: "1.1" | "2";
  /**
   * Certificates (PEM) to trust for an `https://` baseUrl whose certificate
   * is not signed by a public CA (a private CA or a self-signed server).
   * Default: Node's trusted CAs (and NODE_EXTRA_CA_CERTS).
   */
  ca?: string | Buffer;
  /** Connect only: protobuf binary instead of JSON. Default false. */
  binary?: boolean;
  /**
   * Deadline of each call in milliseconds, retries included; a call's own
   * `timeoutMs` option overrides it. Default 5,000. 0 means none.
   */
  timeoutMs?: number;
  /** Retries of safe calls; `false` turns them off. See RetryOptions. */
  retry?: Partial<RetryOptions> | false;
  /** Extra interceptors, run inside the auth and retry ones. */
  interceptors?: Interceptor[];
}

export const DEFAULT_TIMEOUT_MS = 5_000;

/** Typed clients for every service, sharing one transport. */
export interface LottyClient {
  access: Client<typeof AccessService>;
  flags: Client<typeof FlagService>;
  experiments: Client<typeof ExperimentService>;
  catalog: Client<typeof CatalogService>;
  decision: Client<typeof DecisionService>;
  events: Client<typeof EventService>;
  reports: Client<typeof ReportService>;
  /** Raw event exports (docs/event-export.md). */
  eventExports: Client<typeof EventExportService>;
  guardrails: Client<typeof GuardrailService>;
  notifications: Client<typeof NotificationService>;
  learnings: Client<typeof LearningService>;
  /** The transport, for services or tools this object does not cover. */
  transport: Transport;
}

/** Sets `Authorization: Bearer <key>` on every request. */
export function bearerAuth(apiKey: string): Interceptor {
  const value = `Bearer ${apiKey}`;
  return (next) => (req) => {
    req.header.set("authorization", value);
    return next(req);
  };
}

export function createLottyTransport(options: LottyClientOptions): Transport {
  const protocol = options.protocol ?? "connect";
  const interceptors: Interceptor[] = [];
  if (options.apiKey !== undefined) interceptors.push(bearerAuth(options.apiKey));
  if (options.retry !== false) interceptors.push(retryInterceptor(options.retry ?? {}));
  interceptors.push(...(options.interceptors ?? []));
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const common = {
    baseUrl: options.baseUrl,
    interceptors,
    ...(timeout > 0 ? { defaultTimeoutMs: timeout } : {}),
    ...(options.ca !== undefined ? { nodeOptions: { ca: options.ca } } : {}),
  };
  switch (protocol) {
    case "connect":
      return createConnectTransport({
        ...common,
        httpVersion: options.httpVersion ?? "1.1",
        useBinaryFormat: options.binary ?? false,
      });
    case "grpc":
      return createGrpcTransport(common);
    case "grpc-web":
      return createGrpcWebTransport({ ...common, httpVersion: options.httpVersion ?? "1.1" });
    default:
      throw new Error(`unknown protocol "${String(protocol)}": use connect, grpc or grpc-web`);
  }
}

/**
 * Creates typed clients for every Lotty service over one transport.
 *
 * ```ts
 * const lotty = createLottyClient({ baseUrl: "http://127.0.0.1:8080", apiKey });
 * const { decisions } = await lotty.decision.decide({ subjectId: "u1", flagKeys: ["f"] });
 * ```
 */
export function createLottyClient(options: LottyClientOptions): LottyClient {
  const transport = createLottyTransport(options);
  return {
    access: createClient(AccessService, transport),
    flags: createClient(FlagService, transport),
    experiments: createClient(ExperimentService, transport),
    catalog: createClient(CatalogService, transport),
    decision: createClient(DecisionService, transport),
    events: createClient(EventService, transport),
    reports: createClient(ReportService, transport),
    eventExports: createClient(EventExportService, transport),
    guardrails: createClient(GuardrailService, transport),
    notifications: createClient(NotificationService, transport),
    learnings: createClient(LearningService, transport),
    transport,
  };
}
