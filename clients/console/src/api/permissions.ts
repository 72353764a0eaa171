/**
 * What the signed-in user may do, from the same access table the server
 * enforces (src/platform/access-policy.ts), so a button is shown exactly
 * when the call would pass the role check. The server still decides: a
 * PERMISSION_DENIED (for example from a review policy) is shown as an error.
 */
import { allowedRoles } from "../../../../src/platform/access-policy.js";
import type { Role } from "../../../../gen/lotty/access/v1/access_pb.js";

export function may(roles: readonly Role[], service: string, method: string): boolean {
  const allowed = allowedRoles(service, method);
  return roles.some((role) => allowed.includes(role));
}

export const SERVICES = {
  experiments: "lotty.experiments.v1.ExperimentService",
  flags: "lotty.flags.v1.FlagService",
  catalog: "lotty.catalog.v1.CatalogService",
  reports: "lotty.reports.v1.ReportService",
  eventExports: "lotty.reports.v1.EventExportService",
  guardrails: "lotty.guardrails.v1.GuardrailService",
  notifications: "lotty.notifications.v1.NotificationService",
  access: "lotty.access.v1.AccessService",
  learnings: "lotty.learnings.v1.LearningService",
} as const;
