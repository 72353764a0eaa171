/**
 * Every service Lotty serves on its one port, each with its module's
 * implementation (test/access/auth-matrix.test.ts checks that no RPC
 * answers UNIMPLEMENTED).
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { createRegistry, type DescService } from "@bufbuild/protobuf";
import { AccessService, file_lotty_access_v1_access } from "../gen/lotty/access/v1/access_pb.js";
import {
  CatalogService,
  file_lotty_catalog_v1_catalog,
} from "../gen/lotty/catalog/v1/catalog_pb.js";
import {
  DecisionService,
  file_lotty_decision_v1_decision,
} from "../gen/lotty/decision/v1/decision_pb.js";
import { EventService, file_lotty_events_v1_events } from "../gen/lotty/events/v1/events_pb.js";
import {
  ExperimentService,
  file_lotty_experiments_v1_experiments,
} from "../gen/lotty/experiments/v1/experiments_pb.js";
import { FlagService, file_lotty_flags_v1_flags } from "../gen/lotty/flags/v1/flags_pb.js";
import {
  GuardrailService,
  file_lotty_guardrails_v1_guardrails,
} from "../gen/lotty/guardrails/v1/guardrails_pb.js";
import {
  LearningService,
  file_lotty_learnings_v1_learnings,
} from "../gen/lotty/learnings/v1/learnings_pb.js";
import {
  NotificationService,
  file_lotty_notifications_v1_notifications,
} from "../gen/lotty/notifications/v1/notifications_pb.js";
import {
  PrivacyService,
  file_lotty_privacy_v1_privacy,
} from "../gen/lotty/privacy/v1/privacy_pb.js";
import {
  ReportService,
  file_lotty_reports_v1_reports,
} from "../gen/lotty/reports/v1/reports_pb.js";
import {
  EventExportService,
  file_lotty_reports_v1_event_export,
} from "../gen/lotty/reports/v1/event_export_pb.js";
import { file_grpc_health_v1_health } from "../gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { Services } from "./services.js";
import type { Readiness } from "./platform/readiness.js";
import { healthRoutes } from "./platform/health.js";
import { reflectionRoutes } from "./platform/reflection.js";

/** Every lotty.* service of the public contract. */
export const LOTTY_SERVICES: readonly DescService[] = [
  AccessService,
  FlagService,
  ExperimentService,
  DecisionService,
  CatalogService,
  EventService,
  ReportService,
  EventExportService,
  GuardrailService,
  NotificationService,
  LearningService,
  PrivacyService,
];

/** Descriptors served by reflection (their imports are found automatically). */
export const descriptorRegistry = createRegistry(
  file_lotty_access_v1_access,
  file_lotty_flags_v1_flags,
  file_lotty_experiments_v1_experiments,
  file_lotty_decision_v1_decision,
  file_lotty_catalog_v1_catalog,
  file_lotty_events_v1_events,
  file_lotty_reports_v1_reports,
  file_lotty_reports_v1_event_export,
  file_lotty_guardrails_v1_guardrails,
  file_lotty_notifications_v1_notifications,
  file_lotty_learnings_v1_learnings,
  file_lotty_privacy_v1_privacy,
  file_grpc_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_grpc_reflection_v1alpha_reflection,
);

export interface RouteDeps {
  /** Every service implementation, built once by `buildServices` (services.ts). */
  services: Services;
  readiness: Readiness;
  /** False for a workers-only process: it serves health and reflection only. */
  serveApi: boolean;
}

export function lottyRoutes(deps: RouteDeps) {
  return (router: ConnectRouter): void => {
    if (deps.serveApi) {
      const s = deps.services;
      router.service(AccessService, s.access);
      router.service(CatalogService, s.catalog);
      router.service(FlagService, s.flags);
      router.service(ExperimentService, s.experiments);
      router.service(DecisionService, s.decision);
      router.service(EventService, s.events);
      router.service(ReportService, s.reports);
      router.service(EventExportService, s.eventExports);
      router.service(GuardrailService, s.guardrails);
      router.service(NotificationService, s.notifications);
      router.service(PrivacyService, s.privacy);
      router.service(LearningService, s.learnings);
    }
    healthRoutes(() => deps.readiness.isReady())(router);
    reflectionRoutes(descriptorRegistry)(router);
  };
}
