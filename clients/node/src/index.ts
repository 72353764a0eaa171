/**
 * @lotty/client: typed clients for every Lotty service, a batching
 * EventSender and decideAndExpose. See README.md.
 */
export {
  bearerAuth,
  createLottyClient,
  createLottyTransport,
  DEFAULT_TIMEOUT_MS,
  type LottyClient,
  type LottyClientOptions,
  type LottyProtocol,
} from "./client.js";
export {
  backoffDelayMs,
  DEFAULT_RETRY,
  isRetrySafe,
  retryInterceptor,
  skipRetries,
  type RetryOptions,
} from "./retry.js";
export {
  EventSender,
  MAX_BATCH_SIZE,
  type EventSenderOptions,
  type EventSenderStats,
  type OutgoingEvent,
  type QueuedEvent,
  type RejectedEvent,
} from "./event-sender.js";
export {
  decideAndExpose,
  type DecideAndExposeInput,
  type ExposedDecision,
} from "./decide-and-expose.js";

export {
  createLocalDecider,
  LOCAL_DECIDER_DEFAULTS,
  type LocalDecider,
  type LocalDeciderLogger,
  type LocalDeciderOptions,
  type LocalDeciderState,
  type LocalDeciderStatus,
  type LocalDecideRequest,
  type LocalDecision,
  type LocalExposeInput,
} from "./local-decider.js";

export * as accessV1 from "../../../gen/lotty/access/v1/access_pb.js";
export * as catalogV1 from "../../../gen/lotty/catalog/v1/catalog_pb.js";
export * as decisionV1 from "../../../gen/lotty/decision/v1/decision_pb.js";
export * as eventsV1 from "../../../gen/lotty/events/v1/events_pb.js";
export * as experimentsV1 from "../../../gen/lotty/experiments/v1/experiments_pb.js";
export * as flagsV1 from "../../../gen/lotty/flags/v1/flags_pb.js";
export * as guardrailsV1 from "../../../gen/lotty/guardrails/v1/guardrails_pb.js";
export * as learningsV1 from "../../../gen/lotty/learnings/v1/learnings_pb.js";
export * as notificationsV1 from "../../../gen/lotty/notifications/v1/notifications_pb.js";
export * as reportsV1 from "../../../gen/lotty/reports/v1/reports_pb.js";
export * as eventExportV1 from "../../../gen/lotty/reports/v1/event_export_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
