/**
 * Builders of the state most tests (and the benchmarks, see bench/support.ts)
 * start from, made through the public RPCs: users with keys, flags, teams of
 * an owner and an approver, valid experiments and experiments driven to any
 * status, running experiments in particular.
 *
 * They take any server with a base URL and an admin key, so a test app and a
 * bench app both fit; `untilInSnapshot` and `runningExperiment` also read the
 * in-process app's decide snapshot.
 */
import { randomBytes } from "node:crypto";
import { create, fromJson, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { AccessService, Role } from "../../gen/lotty/access/v1/access_pb.js";
import { FlagService, FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import {
  ChannelKind,
  NotificationService,
} from "../../gen/lotty/notifications/v1/notifications_pb.js";
import {
  ExperimentSchema,
  ExperimentService,
  ExperimentStatus,
  Outcome,
  type Experiment,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import type { App } from "../../src/app.js";
import type { ExperimentStatusName } from "../../src/experiments/entities.js";
import type { LifecycleAction } from "../../src/experiments/lifecycle.js";
import { client } from "./clients.js";

/** A Lotty server to build through: a test app or a bench app. */
export interface Server {
  baseUrl: string;
  adminKey: string;
}

/** A server whose app runs in this process (its decide snapshot can be read). */
export interface LocalServer extends Server {
  app: App;
}

export interface Actor {
  id: string;
  key: string;
  experiments: ReturnType<typeof client<typeof ExperimentService>>;
}

/** An experiment owner and a reviewer allowed by the owner's review policy. */
export interface Team {
  owner: Actor;
  approver: Actor;
}

export type ExperimentInit = MessageInitShape<typeof ExperimentSchema>;

/** A fresh user with `roles` and an API key. */
export async function makeUser(t: Server, ...roles: Role[]): Promise<Actor> {
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

/** An experimenter and an approver. */
export async function makeTeam(t: Server): Promise<Team> {
  return {
    owner: await makeUser(t, Role.EXPERIMENTER),
    approver: await makeUser(t, Role.APPROVER),
  };
}

export const str = (value: string) => create(ValueSchema, { kind: { case: "stringValue", value } });
export const num = (value: number) => create(ValueSchema, { kind: { case: "numberValue", value } });

export function jsonValue(json: JsonValue): Value {
  return fromJson(ValueSchema, json);
}

export function uniqueKey(prefix = "flag"): string {
  return `${prefix}_${randomBytes(4).toString("hex")}`;
}

/** A string flag defaulting to "grey"; returns its key. */
/**
 * A webhook channel posting to `url` and a rule sending `triggers` of one
 * experiment to it, both named `name`; returns the channel's id.
 */
export async function webhookRule(
  t: Server,
  name: string,
  url: string,
  triggers: string[],
  experimentId: string,
): Promise<string> {
  const notifications = client(NotificationService, t.baseUrl, t.adminKey);
  const { channel } = await notifications.createChannel({
    channel: { name, kind: ChannelKind.WEBHOOK, url },
  });
  await notifications.createRule({
    rule: { name, triggers, experimentId, channelIds: [channel!.id] },
  });
  return channel!.id;
}

export async function makeFlag(t: Server, key = uniqueKey()) {
  const flags = client(FlagService, t.baseUrl, t.adminKey);
  await flags.createFlag({
    key,
    type: FlagType.STRING,
    defaultValue: str("grey"),
    description: "button colour",
    tags: [],
  });
  return key;
}

/** Creates a flag of `type` with `defaultValue`; returns its key. */
export async function makeTypedFlag(
  t: Server,
  type: FlagType,
  defaultValue: JsonValue,
  key = uniqueKey(FlagType[type].toLowerCase()),
  description = "decide test flag",
): Promise<string> {
  await client(FlagService, t.baseUrl, t.adminKey).createFlag({
    key,
    type,
    defaultValue: jsonValue(defaultValue),
    description,
    tags: [],
  });
  return key;
}

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

export interface VariantSpec {
  key: string;
  value: JsonValue;
  weight: number;
  control?: boolean;
}

/** Experiment fields for `variants` at `audiencePercent`, targeting everyone unless a rule is given. */
export function layout(
  variants: VariantSpec[],
  audiencePercent: number,
  extra: ExperimentInit = {},
): ExperimentInit {
  return {
    audiencePercent,
    variants: variants.map((v) => ({
      key: v.key,
      value: jsonValue(v.value),
      weight: v.weight,
      control: v.control === true,
    })),
    targetingRule: "",
    ...extra,
  };
}

/** The common layout of decide tests: control "grey" and "blue", 50/50, whole audience. */
export function greyBlue(extra: ExperimentInit = {}): ExperimentInit {
  return layout(
    [
      { key: "control", value: "grey", weight: 50, control: true },
      { key: "blue", value: "blue", weight: 50 },
    ],
    100,
    extra,
  );
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
  t: Server,
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

/** Creates, reviews and starts an experiment on `flagKey`; returns it once RUNNING. */
export async function runExperiment(
  t: Server,
  team: Team,
  flagKey: string,
  overrides: ExperimentInit,
): Promise<Experiment> {
  return experimentIn(t, team, "running", { flagKey, overrides });
}

/** Waits until the snapshot knows `flagKey` (and, if given, has `experimentId` running on it). */
export async function untilInSnapshot(
  t: LocalServer,
  flagKey: string,
  experimentId?: string,
): Promise<void> {
  const started = performance.now();
  for (;;) {
    const snapshot = t.app.snapshots.current;
    const experiment = snapshot?.experimentByFlag.get(flagKey);
    if (
      snapshot?.flags.has(flagKey) === true &&
      (experimentId === undefined ||
        (experiment?.id === experimentId && experiment.status === "running"))
    ) {
      return;
    }
    if (performance.now() - started > 5_000) {
      throw new Error(`snapshot never showed ${flagKey} ${experimentId ?? ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A flag with a running 50/50 experiment (in decide's snapshot); returns its key and experiment id. */
export async function runningExperiment(
  t: LocalServer,
): Promise<{ flagKey: string; experimentId: string }> {
  const team = await makeTeam(t);
  const flagKey = await makeTypedFlag(t, FlagType.STRING, "grey");
  const experiment = await runExperiment(t, team, flagKey, greyBlue());
  await untilInSnapshot(t, flagKey, experiment.id);
  return { flagKey, experimentId: experiment.id };
}
