/** Helpers for experiment tests: users with keys, a flag, a valid experiment, fixtures per status. */
import { randomBytes } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { AccessService, Role } from "../../gen/lotty/access/v1/access_pb.js";
import { FlagService, FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import {
  ExperimentAction,
  ExperimentSchema,
  ExperimentService,
  ExperimentStatus,
  Outcome,
  type Experiment,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import type { ExperimentStatusName } from "../../src/experiments/entities.js";
import type { LifecycleAction } from "../../src/experiments/lifecycle.js";
import { client } from "../support/clients.js";
import type { TestApp } from "../support/app.js";

export interface Actor {
  id: string;
  key: string;
  experiments: ReturnType<typeof client<typeof ExperimentService>>;
}

export type ExperimentInit = MessageInitShape<typeof ExperimentSchema>;

export async function makeUser(t: TestApp, ...roles: Role[]): Promise<Actor> {
  const access = client(AccessService, t.baseUrl, t.adminKey);
  const suffix = randomBytes(4).toString("hex");
  const { user } = await access.createUser({
    email: `${Role[roles[0] ?? Role.VIEWER].toLowerCase()}-${suffix}@example.com`,
    displayName: `User ${suffix}`,
    roles,
  });
  const { secret } = await access.createApiKey({ userId: user!.id, name: "test" });
  return { id: user!.id, key: secret, experiments: client(ExperimentService, t.baseUrl, secret) };
}

export async function makeFlag(t: TestApp, key = `flag_${randomBytes(4).toString("hex")}`) {
  const flags = client(FlagService, t.baseUrl, t.adminKey);
  await flags.createFlag({
    key,
    type: FlagType.STRING,
    defaultValue: create(ValueSchema, { kind: { case: "stringValue", value: "grey" } }),
    description: "button colour",
    tags: [],
  });
  return key;
}

export const str = (value: string) => create(ValueSchema, { kind: { case: "stringValue", value } });
export const num = (value: number) => create(ValueSchema, { kind: { case: "numberValue", value } });

/** A valid 50/50 experiment on `flagKey` with the reference metrics. */
export function validExperiment(flagKey: string, overrides: ExperimentInit = {}): Experiment {
  return create(ExperimentSchema, {
    flagKey,
    name: "Blue button",
    description: "Blue converts better than grey",
    audiencePercent: 100,
    variants: [
      { key: "control", value: str("grey"), weight: 50, control: true },
      { key: "blue", value: str("blue"), weight: 50, control: false },
    ],
    targetingRule: 'country IN ["RU", "KZ"] AND app_version >= "1.6.0"',
    primaryMetricKey: "conversion_rate",
    metricKeys: ["conversions"],
    guardrails: [],
    conflictDomains: [],
    priority: 0,
    ...overrides,
  });
}

/** The ConnectError a call fails with; throws if it succeeds. */
export async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

export const STATUS_ENUM: Readonly<Record<ExperimentStatusName, ExperimentStatus>> = {
  draft: ExperimentStatus.DRAFT,
  in_review: ExperimentStatus.IN_REVIEW,
  approved: ExperimentStatus.APPROVED,
  rejected: ExperimentStatus.REJECTED,
  running: ExperimentStatus.RUNNING,
  paused: ExperimentStatus.PAUSED,
  completed: ExperimentStatus.COMPLETED,
  archived: ExperimentStatus.ARCHIVED,
};

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

/** Actions decided by the owner's review policy rather than by ownership. */
export const REVIEW_ACTIONS: ReadonlySet<LifecycleAction> = new Set([
  "approve",
  "request_changes",
  "reject",
]);

/** The justification `act` completes with. */
export const JUSTIFICATION = "blue won on conversion rate";

/**
 * Calls the RPC of `action` on experiment `id` as `actor`, with a valid
 * request: a comment where the RPC takes one, and for complete a rollout
 * of variant "blue" with a justification.
 */
export async function act(
  actor: Actor,
  action: LifecycleAction,
  id: string,
  comment = `${action} by test`,
): Promise<Experiment> {
  const e = actor.experiments;
  const call = {
    submit: () => e.submitExperiment({ id, comment }),
    approve: () => e.approveExperiment({ id, comment }),
    request_changes: () => e.requestChanges({ id, comment }),
    reject: () => e.rejectExperiment({ id, comment }),
    rework: () => e.reworkExperiment({ id, comment }),
    start: () => e.startExperiment({ id }),
    pause: () => e.pauseExperiment({ id, comment }),
    resume: () => e.resumeExperiment({ id }),
    complete: () =>
      e.completeExperiment({
        id,
        outcome: Outcome.ROLLOUT,
        winnerVariantKey: "blue",
        justification: JUSTIFICATION,
      }),
    archive: () => e.archiveExperiment({ id }),
  }[action];
  const { experiment } = await call();
  if (experiment === undefined) throw new Error(`${action} returned no experiment`);
  return experiment;
}

/** The actions that take a fresh draft to each status (default review policy). */
export const PATH_TO: Readonly<Record<ExperimentStatusName, readonly LifecycleAction[]>> = {
  draft: [],
  in_review: ["submit"],
  approved: ["submit", "approve"],
  rejected: ["submit", "reject"],
  running: ["submit", "approve", "start"],
  paused: ["submit", "approve", "start", "pause"],
  completed: ["submit", "approve", "start", "complete"],
  archived: ["submit", "approve", "start", "complete", "archive"],
};

/** An experiment owner and a reviewer allowed by the owner's review policy. */
export interface Team {
  owner: Actor;
  approver: Actor;
}

export interface FixtureOptions {
  /** The flag to put the experiment on; a fresh one by default. */
  flagKey?: string;
  overrides?: ExperimentInit;
}

/**
 * A fresh experiment (on a fresh flag unless one is given) driven through
 * the RPCs to `status`: the owner creates and acts, the approver reviews.
 */
export async function experimentIn(
  t: TestApp,
  team: Team,
  status: ExperimentStatusName,
  options: FixtureOptions = {},
): Promise<Experiment> {
  const flagKey = options.flagKey ?? (await makeFlag(t));
  const { experiment } = await team.owner.experiments.createExperiment({
    experiment: validExperiment(flagKey, options.overrides),
  });
  if (experiment === undefined) throw new Error("CreateExperiment returned no experiment");
  let current = experiment;
  for (const action of PATH_TO[status]) {
    current = await act(
      REVIEW_ACTIONS.has(action) ? team.approver : team.owner,
      action,
      current.id,
    );
  }
  if (current.status !== STATUS_ENUM[status]) {
    throw new Error(`fixture ended ${ExperimentStatus[current.status]}, not ${status}`);
  }
  return current;
}

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
