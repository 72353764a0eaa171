/**
 * Which roles may call which RPC: the one table the auth interceptor
 * consults. An RPC missing here is denied to everyone (test/platform
 * checks that every served RPC is listed). ROLE_ADMIN is always allowed.
 */
import { Role } from "../../gen/lotty/access/v1/access_pb.js";

const { ADMIN, EXPERIMENTER, APPROVER, VIEWER, SERVICE } = Role;

/** People who may read configuration and results. */
const READERS = [EXPERIMENTER, APPROVER, VIEWER];
/** People who may change configuration. */
const EDITORS = [EXPERIMENTER];
/** People who may review experiments (subject to the review policy). */
const REVIEWERS = [APPROVER];
const NOBODY_ELSE: Role[] = [];

/** Services that need no API key: probes and descriptor discovery. */
export const PUBLIC_SERVICES: ReadonlySet<string> = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/** Roles besides ROLE_ADMIN allowed per service and method. */
export const ACCESS_POLICY: Readonly<Record<string, Readonly<Record<string, Role[]>>>> = {
  "lotty.access.v1.AccessService": {
    CreateUser: NOBODY_ELSE,
    GetUser: NOBODY_ELSE,
    ListUsers: NOBODY_ELSE,
    UpdateUser: NOBODY_ELSE,
    CreateApiKey: NOBODY_ELSE,
    ListApiKeys: NOBODY_ELSE,
    RevokeApiKey: NOBODY_ELSE,
    SetReviewPolicy: NOBODY_ELSE,
    GetReviewPolicy: READERS,
    GetCurrentUser: [...READERS, SERVICE],
  },
  "lotty.flags.v1.FlagService": {
    CreateFlag: EDITORS,
    GetFlag: READERS,
    ListFlags: READERS,
    UpdateFlag: EDITORS,
    ArchiveFlag: EDITORS,
  },
  "lotty.experiments.v1.ExperimentService": {
    CreateExperiment: EDITORS,
    GetExperiment: READERS,
    ListExperiments: READERS,
    UpdateExperiment: EDITORS,
    ListExperimentVersions: READERS,
    SubmitExperiment: EDITORS,
    // Which approvers may review whose experiment is the review policy's
    // business, checked by the service on top of this table.
    ApproveExperiment: REVIEWERS,
    RequestChanges: REVIEWERS,
    RejectExperiment: REVIEWERS,
    ReworkExperiment: EDITORS,
    StartExperiment: EDITORS,
    PauseExperiment: EDITORS,
    ResumeExperiment: EDITORS,
    CompleteExperiment: EDITORS,
    ArchiveExperiment: EDITORS,
    GetExperimentHistory: READERS,
    ControlRamp: EDITORS,
    ListRampEvents: READERS,
  },
  "lotty.decision.v1.DecisionService": {
    Decide: [SERVICE, ...READERS],
    GetParticipationPolicy: READERS,
    SetParticipationPolicy: NOBODY_ELSE,
    // In-process evaluation (docs/local-evaluation.md): services and admins.
    WatchConfiguration: [SERVICE],
    GetConfiguration: [SERVICE],
  },
  "lotty.catalog.v1.CatalogService": {
    CreateEventType: EDITORS,
    GetEventType: READERS,
    ListEventTypes: READERS,
    UpdateEventType: EDITORS,
    ArchiveEventType: EDITORS,
    CreateMetric: EDITORS,
    GetMetric: READERS,
    ListMetrics: READERS,
    UpdateMetric: EDITORS,
    ArchiveMetric: EDITORS,
    CreateDimension: EDITORS,
    ListDimensions: READERS,
    UpdateDimension: EDITORS,
    ArchiveDimension: EDITORS,
    CreateSavedSegment: EDITORS,
    GetSavedSegment: READERS,
    ListSavedSegments: READERS,
    UpdateSavedSegment: EDITORS,
    DeleteSavedSegment: EDITORS,
    ListSavedSegmentVersions: READERS,
  },
  "lotty.events.v1.EventService": {
    IngestEvents: [SERVICE],
  },
  "lotty.reports.v1.ReportService": {
    GetExperimentReport: READERS,
    WatchExperimentReport: READERS,
    ExportExperimentReport: READERS,
    GetOutcomeReport: READERS,
    ListSegmentValues: READERS,
  },
  // Raw events carry subject ids: people who change experiments, not
  // every reader of reports (docs/event-export.md).
  "lotty.reports.v1.EventExportService": {
    StartEventExport: EDITORS,
    GetEventExport: EDITORS,
    ListEventExports: EDITORS,
    ReadEventExport: EDITORS,
    CreateEventExportLink: EDITORS,
  },
  "lotty.guardrails.v1.GuardrailService": {
    ListGuardrailTriggers: READERS,
  },
  "lotty.notifications.v1.NotificationService": {
    // Channel urls can carry tokens (shown masked), so viewers and approvers
    // cannot list them either.
    CreateChannel: EDITORS,
    ListChannels: EDITORS,
    CreateRule: EDITORS,
    ListRules: EDITORS,
    ListDeliveries: EDITORS,
    // Alarms carry figures and event type names, no channel: like reports.
    ListDataQualityAlarms: READERS,
  },
  // Data rights (docs/data-rights.md): admins only.
  "lotty.privacy.v1.PrivacyService": {
    EraseSubjects: NOBODY_ELSE,
    GetErasure: NOBODY_ELSE,
    ListErasures: NOBODY_ELSE,
    ExportSubjectData: NOBODY_ELSE,
  },
  "lotty.learnings.v1.LearningService": {
    UpsertLearning: EDITORS,
    GetLearning: READERS,
    SearchLearnings: READERS,
    FindSimilar: READERS,
    ListLearningHistory: READERS,
    GetMetaAnalysis: READERS,
  },
};

export function isPublicService(service: string): boolean {
  return PUBLIC_SERVICES.has(service);
}

export function allowedRoles(service: string, method: string): Role[] {
  const roles = ACCESS_POLICY[service]?.[method];
  return roles === undefined ? [] : [ADMIN, ...roles];
}
