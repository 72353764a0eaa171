/**
 * Helpers for experiment tests: refused calls, history actions, what must not
 * move. Users, flags, teams and experiments per status are built with
 * test/support/builders.ts.
 */
import { ConnectError } from "@connectrpc/connect";
import { ExperimentAction } from "../../gen/lotty/experiments/v1/experiments_pb.js";
import type { LifecycleAction } from "../../src/experiments/lifecycle.js";
import type { Actor } from "../support/builders.js";

/** The ConnectError a call fails with; throws if it succeeds. */
export async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** The history action each lifecycle action is recorded as. */
export const HISTORY_ACTION: Readonly<Record<LifecycleAction, ExperimentAction>> = {
  submit: ExperimentAction.SUBMITTED,
  approve: ExperimentAction.APPROVED,
  request_changes: ExperimentAction.CHANGES_REQUESTED,
  reject: ExperimentAction.REJECTED,
  rework: ExperimentAction.REWORKED,
  start: ExperimentAction.STARTED,
  pause: ExperimentAction.PAUSED,
  resume: ExperimentAction.RESUMED,
  complete: ExperimentAction.COMPLETED,
  archive: ExperimentAction.ARCHIVED,
};

/** What must not move when a call is refused: the experiment, its history and its versions. */
export async function snapshot(reader: Actor, id: string) {
  const [{ experiment }, { entries }, { versions }] = await Promise.all([
    reader.experiments.getExperiment({ id }),
    reader.experiments.getExperimentHistory({ id }),
    reader.experiments.listExperimentVersions({ id }),
  ]);
  if (experiment === undefined) throw new Error("GetExperiment returned no experiment");
  return { experiment, entries, versions };
}
