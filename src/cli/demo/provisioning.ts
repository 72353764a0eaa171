/**
 * Provisioning through the API: users, keys and review policies, the catalog
 * and flags, and the experiments taken through the real review flow.
 */
import {
  accessV1,
  ConnectError,
  createLottyClient,
  type LottyClient,
} from "../../../clients/node/src/index.js";
import { Role, PropertyType, FlagType, ExperimentStatus, type Experiment } from "./proto.js";
import {
  type Handle,
  type UserSpec,
  USERS,
  REVIEW_POLICIES,
  EVENT_TYPES,
  METRICS,
  jsonValue,
  FLAGS,
  type ExperimentPlan,
} from "./tenant.js";
import { type DemoUser, type DemoExperiment, type DemoSummary, DemoError } from "./summary.js";
import { type Run, unlessNotFound, findOrCreate, required, statusName } from "./helpers.js";

export async function checkAdmin(admin: LottyClient): Promise<void> {
  const { user } = await admin.access.getCurrentUser({});
  if (!user?.roles.includes(Role.ADMIN)) {
    throw new DemoError(
      `LOTTY_API_KEY belongs to ${user?.email ?? "an unknown user"}, who is not an admin: ` +
        "the demo creates users and needs an admin's key.",
    );
  }
}

async function listUsersByEmail(admin: LottyClient): Promise<Map<string, accessV1.User>> {
  const users = new Map<string, accessV1.User>();
  let pageToken = "";
  do {
    const page = await admin.access.listUsers({ pageSize: 500, pageToken });
    for (const user of page.users) users.set(user.email, user);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return users;
}

const sameSet = <T>(a: readonly T[], b: readonly T[]) =>
  a.length === b.length && a.every((x) => b.includes(x));

/** The user with `spec.email`, created when missing. */
async function ensureUser(
  run: Run,
  spec: UserSpec,
  known: Map<string, accessV1.User>,
): Promise<{ value: accessV1.User; created: boolean }> {
  return findOrCreate(
    run,
    `user ${spec.email}`,
    // Listed once up front; listed again only after losing a race to create it.
    async () => known.get(spec.email) ?? (await listUsersByEmail(run.admin)).get(spec.email),
    async () => required((await run.admin.access.createUser(spec)).user, "a user"),
  );
}

/** Every user of the tenant; a user created now gets a personal key, printed once. */
export async function ensureUsers(
  run: Run,
  newApiKeys: DemoSummary["newApiKeys"],
): Promise<Record<Handle, DemoUser>> {
  run.log("Users and API keys");
  const known = await listUsersByEmail(run.admin);
  const result = {} as Record<Handle, DemoUser>;
  for (const [handle, spec] of Object.entries(USERS) as [Handle, UserSpec][]) {
    const found = await ensureUser(run, spec, known);
    const { created } = found;
    let user = found.value;
    if (created) {
      const { secret } = await run.admin.access.createApiKey({
        userId: user.id,
        name: "demo: personal key",
      });
      run.personalKeys.set(handle, secret);
      newApiKeys.push({ email: spec.email, secret });
      run.log(`    API key (shown only now): ${secret}`);
    } else if (!sameSet(user.roles, spec.roles)) {
      const { user: updated } = await run.admin.access.updateUser({
        id: user.id,
        roles: spec.roles,
      });
      user = required(updated, "a user");
      run.log(`  gave ${spec.email} the roles ${spec.roles.map((r) => Role[r]).join(", ")}`);
    }
    run.userIds.set(handle, user.id);
    result[handle] = {
      id: user.id,
      email: user.email,
      displayName: user.displayName,
      roles: [...user.roles],
      created,
    };
  }
  const reused = Object.values(result).filter((u) => !u.created).length;
  if (reused > 0) {
    run.log(
      `  ${reused} user(s) found from an earlier run: their keys were printed then ` +
        "(issue new ones with AccessService/CreateApiKey)",
    );
  }
  return result;
}

/** Clients being made, per run (keyed by its clients map), so concurrent callers share one key. */
const making = new WeakMap<Run["clients"], Map<Handle, Promise<LottyClient>>>();

/**
 * A client acting as the user: with the personal key when this run created
 * the user, else with a temporary key, revoked when the run ends.
 */
export async function actAs(run: Run, handle: Handle): Promise<LottyClient> {
  const client = run.clients.get(handle);
  if (client !== undefined) return client;
  let pending = making.get(run.clients);
  if (pending === undefined) making.set(run.clients, (pending = new Map()));
  let made = pending.get(handle);
  if (made === undefined) {
    made = (async () => {
      let key = run.personalKeys.get(handle);
      if (key === undefined) {
        const { apiKey, secret } = await run.admin.access.createApiKey({
          userId: required(run.userIds.get(handle), `the user ${handle}`),
          name: `demo run ${new Date().toISOString()}`,
        });
        run.runKeys.push(required(apiKey, "an API key").id);
        key = secret;
      }
      const fresh = createLottyClient({ baseUrl: run.baseUrl, apiKey: key });
      run.clients.set(handle, fresh);
      return fresh;
    })();
    pending.set(handle, made);
    made.finally(() => pending.delete(handle)).catch(() => {});
  }
  return made;
}

export async function revokeRunKeys(run: Run): Promise<void> {
  for (const id of run.runKeys.splice(0)) {
    await run.admin.access.revokeApiKey({ id }).catch((error: unknown) => {
      run.log(`  could not revoke the temporary key ${id}: ${ConnectError.from(error).message}`);
    });
  }
}

export async function ensureReviewPolicies(
  run: Run,
  users: Record<Handle, DemoUser>,
): Promise<void> {
  run.log("Review policies");
  for (const policy of REVIEW_POLICIES) {
    const experimenterId = users[policy.experimenter].id;
    const approverIds = policy.approvers.map((h) => users[h].id);
    const current = required(
      (await run.admin.access.getReviewPolicy({ experimenterId })).policy,
      "a review policy",
    );
    const label = `review policy of ${users[policy.experimenter].email}`;
    if (
      !current.isDefault &&
      current.minApprovals === policy.minApprovals &&
      sameSet(current.approverIds, approverIds)
    ) {
      run.reused.push(label);
      continue;
    }
    await run.admin.access.setReviewPolicy({
      experimenterId,
      approverIds,
      minApprovals: policy.minApprovals,
    });
    run.created.push(label);
    run.log(
      `  ${users[policy.experimenter].email}: ${policy.minApprovals} of ` +
        policy.approvers.map((h) => users[h].email).join(", "),
    );
  }
}

// ---------------------------------------------------------------------------
// Catalog and flags
// ---------------------------------------------------------------------------

export async function ensureCatalog(run: Run): Promise<void> {
  run.log("Event types and metrics");
  const catalog = run.admin.catalog;
  for (const spec of EVENT_TYPES) {
    const key = spec.key ?? "";
    const { value } = await findOrCreate(
      run,
      `event type ${key}`,
      async () => (await unlessNotFound(catalog.getEventType({ key })))?.eventType,
      async () =>
        required((await catalog.createEventType({ eventType: spec })).eventType, "an event type"),
    );
    if (value.archived) throw new DemoError(`event type ${key} is archived; the demo needs it`);
    for (const property of spec.properties ?? []) {
      if (property.type !== PropertyType.NUMBER) continue;
      const declared = value.properties.find((p) => p.name === property.name);
      if (declared?.type !== PropertyType.NUMBER) {
        throw new DemoError(
          `event type ${key} must declare ${property.name} as a number property; it does not`,
        );
      }
    }
  }
  for (const spec of METRICS) {
    const key = spec.key ?? "";
    const { value } = await findOrCreate(
      run,
      `metric ${key}`,
      async () => (await unlessNotFound(catalog.getMetric({ key })))?.metric,
      async () => required((await catalog.createMetric({ metric: spec })).metric, "a metric"),
    );
    if (value.archived) throw new DemoError(`metric ${key} is archived; the demo needs it`);
  }
}

/** The flags, each created by the experimenter who owns its experiment. */
export async function ensureFlags(run: Run): Promise<void> {
  run.log("Flags");
  for (const { owner, defaultValue, ...spec } of FLAGS) {
    const { value } = await findOrCreate(
      run,
      `flag ${spec.key}`,
      async () => (await unlessNotFound(run.admin.flags.getFlag({ key: spec.key })))?.flag,
      async () => {
        const { flags } = await actAs(run, owner);
        const { flag } = await flags.createFlag({ ...spec, defaultValue: jsonValue(defaultValue) });
        return required(flag, "a flag");
      },
    );
    if (value.archived) throw new DemoError(`flag ${spec.key} is archived; the demo needs it`);
    if (value.type !== spec.type) {
      throw new DemoError(`flag ${spec.key} exists with type ${FlagType[value.type]}`);
    }
  }
}

// ---------------------------------------------------------------------------
// Experiments and the review flow
// ---------------------------------------------------------------------------

async function findExperiment(run: Run, plan: ExperimentPlan): Promise<Experiment | undefined> {
  let pageToken = "";
  do {
    const page = await run.admin.experiments.listExperiments({
      flagKey: plan.spec.flagKey,
      pageSize: 500,
      pageToken,
    });
    // Newest first: a later experiment of the same name wins.
    const found = page.experiments.find((e) => e.name === plan.spec.name);
    if (found !== undefined) return found;
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return undefined;
}

type ExperimentCalls = LottyClient["experiments"];

interface Step {
  /** Who acts. */
  who: Handle;
  /** What is done, for the log ("submitted", "approved" …). */
  what: string;
  call: (experiments: ExperimentCalls) => Promise<{ experiment?: Experiment }>;
}

/**
 * The next lifecycle call that takes `experiment` towards `plan.target`, or
 * undefined when it is there or past it (or off the path: rejected, paused,
 * completed …), in which case it is left as it is.
 */
function nextStep(run: Run, plan: ExperimentPlan, experiment: Experiment): Step | undefined {
  const { id } = experiment;
  switch (experiment.status) {
    case ExperimentStatus.DRAFT:
      return {
        who: plan.owner,
        what: "submitted",
        call: (e) => e.submitExperiment({ id, comment: "Ready for review" }),
      };
    case ExperimentStatus.IN_REVIEW: {
      const approved = new Set(experiment.approvals.map((a) => a.approverId));
      // Towards IN_REVIEW: one approval of two, so it waits for the second reviewer.
      if (plan.target === "in_review" && (approved.size > 0 || experiment.requiredApprovals < 2)) {
        return undefined;
      }
      const policy = REVIEW_POLICIES.find((p) => p.experimenter === plan.owner);
      const reviewer = policy?.approvers.find((h) => !approved.has(run.userIds.get(h) ?? ""));
      if (reviewer === undefined) {
        throw new DemoError(
          `experiment ${plan.label} needs more approvals than its review policy's approvers can give`,
        );
      }
      return {
        who: reviewer,
        what: "approved",
        call: (e) => e.approveExperiment({ id, comment: "Hypothesis and metrics look right." }),
      };
    }
    case ExperimentStatus.APPROVED:
      if (plan.target !== "running") return undefined;
      return { who: plan.owner, what: "started", call: (e) => e.startExperiment({ id }) };
    default:
      return undefined;
  }
}

/** Finds or creates the experiment, then takes it through review towards its target. */
export async function ensureExperiment(
  run: Run,
  plan: ExperimentPlan,
): Promise<{ experiment: Experiment; created: boolean }> {
  const made = await findOrCreate(
    run,
    `experiment ${plan.label} "${plan.spec.name}"`,
    () => findExperiment(run, plan),
    async () => {
      const { experiments } = await actAs(run, plan.owner);
      const { experiment } = await experiments.createExperiment({ experiment: plan.spec });
      return required(experiment, "an experiment");
    },
  );
  let experiment = made.value;
  if (!made.created) {
    run.log(`  experiment ${plan.label} found: ${statusName(experiment.status)}`);
  }
  for (let step = nextStep(run, plan, experiment); step; step = nextStep(run, plan, experiment)) {
    const answer = await step.call((await actAs(run, step.who)).experiments);
    experiment = required(answer.experiment, "an experiment");
    run.log(
      `  experiment ${plan.label} ${step.what} by ${USERS[step.who].email}: ` +
        statusName(experiment.status),
    );
  }
  return { experiment, created: made.created };
}

export function describeExperiment(
  plan: ExperimentPlan,
  experiment: Experiment,
  created: boolean,
): DemoExperiment {
  return {
    label: plan.label,
    id: experiment.id,
    name: experiment.name,
    flagKey: experiment.flagKey,
    ownerEmail: USERS[plan.owner].email,
    status: experiment.status,
    statusName: statusName(experiment.status),
    approvals: experiment.approvals.length,
    requiredApprovals: experiment.requiredApprovals,
    created,
  };
}
