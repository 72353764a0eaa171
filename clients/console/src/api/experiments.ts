/**
 * Shared helpers of the experiment pages: who may act on an experiment,
 * how people and statuses are shown, and one call to refresh every
 * experiment query after a change.
 */
import { useCallback } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { createConnectQueryKey } from "@connectrpc/connect-query";
import { Role, type User } from "../../../../gen/lotty/access/v1/access_pb.js";
import {
  ExperimentService,
  ExperimentStatus,
  type Experiment,
} from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { may, SERVICES } from "./permissions.js";

/** The first 8 characters of a UUID: enough to tell people apart on a page. */
export function shortId(id: string): string {
  return id.length > 8 ? `${id.slice(0, 8)}…` : id;
}

/** How a user id is shown: "you" for the signed-in user, "Lotty (automatic)" for none. */
export function personLabel(id: string, me: string): string {
  if (id === "") return "Lotty (automatic)";
  if (id === me) return `you (${shortId(id)})`;
  return shortId(id);
}

/** The badge colour of a status; the status is always written out in words too. */
export function statusTone(status: ExperimentStatus): "good" | "bad" | "warn" | "" {
  switch (status) {
    case ExperimentStatus.RUNNING:
    case ExperimentStatus.APPROVED:
      return "good";
    case ExperimentStatus.REJECTED:
      return "bad";
    case ExperimentStatus.PAUSED:
    case ExperimentStatus.IN_REVIEW:
      return "warn";
    default:
      return "";
  }
}

/** Statuses in lifecycle order, for filters. */
export const STATUSES: readonly ExperimentStatus[] = [
  ExperimentStatus.DRAFT,
  ExperimentStatus.IN_REVIEW,
  ExperimentStatus.APPROVED,
  ExperimentStatus.REJECTED,
  ExperimentStatus.RUNNING,
  ExperimentStatus.PAUSED,
  ExperimentStatus.COMPLETED,
  ExperimentStatus.ARCHIVED,
];

/** Statuses whose experiment has (or had) traffic, so results exist. */
export function hasResults(status: ExperimentStatus): boolean {
  return (
    status === ExperimentStatus.RUNNING ||
    status === ExperimentStatus.PAUSED ||
    status === ExperimentStatus.COMPLETED ||
    status === ExperimentStatus.ARCHIVED
  );
}

/** Owner-or-admin actions: the role table allows it and the user owns it or is an admin. */
export function mayManage(user: User, experiment: Experiment, method: string): boolean {
  if (!may(user.roles, SERVICES.experiments, method)) return false;
  return experiment.ownerId === user.id || user.roles.includes(Role.ADMIN);
}

/** Review actions: the role table allows it and it is not the user's own experiment. */
export function mayReview(user: User, experiment: Experiment, method: string): boolean {
  return may(user.roles, SERVICES.experiments, method) && experiment.ownerId !== user.id;
}

/** Refreshes every ExperimentService query (lists, the page, versions, history). */
export function useInvalidateExperiments(): () => Promise<void> {
  const queryClient = useQueryClient();
  return useCallback(
    () =>
      queryClient.invalidateQueries({
        queryKey: createConnectQueryKey({ schema: ExperimentService, cardinality: undefined }),
      }),
    [queryClient],
  );
}
