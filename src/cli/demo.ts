/**
 * `npm run demo`: loads a demo tenant into a running Lotty through its public
 * API (the Node client package only) and drives simulated members through it.
 *
 * The tenant is Stride, a fitness app's product team:
 *
 * - users in every role (admin, two experimenters, two approvers, a viewer and
 *   the workout backend as a service account), each with an API key printed
 *   once when the user is created, and a review policy per experimenter;
 * - event types `workout_completed`, `promo_click`, `purchase` (`amount`),
 *   `error` and `latency` (`ms`), and metrics over them;
 * - flags `workout_summary_layout`, `shoe_promo_banner`, `onboarding_checklist`;
 * - experiment A (cards vs classic summary) with a clear winner, left RUNNING
 *   so its report stays live; experiment B (the promo banner) whose treatment
 *   is slow and fails, so its guardrail pauses it; experiment C waiting for
 *   its second approval (IN_REVIEW).
 *
 * Every experiment goes through the real review flow with the right user's
 * key: the owner creates and submits, the approvers approve, the owner starts.
 *
 * Re-running is safe. Users are found by email, flags, event types and
 * metrics by key, experiments by flag and name, and reused. An experiment
 * already past its target stage (B paused, A completed, C approved …) is left
 * as it is; one short of it (a draft, a pending approval) is moved on. A
 * running A gets traffic only while its report has no subjects: the result is
 * already in, and more of the same simulation would only repeat it. B gets
 * traffic whenever it is RUNNING, since its guardrail looks at a trailing
 * window. Users created earlier act through a temporary key that is revoked
 * at the end of the run, so no keys pile up.
 *
 * Environment: LOTTY_API_KEY (an admin's key, required), LOTTY_URL (default
 * http://127.0.0.1:8080).
 */
import { pathToFileURL } from "node:url";
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  accessV1,
  catalogV1,
  Code,
  ConnectError,
  createLottyClient,
  decideAndExpose,
  EventSender,
  experimentsV1,
  flagsV1,
  type LottyClient,
  type reportsV1,
} from "../../clients/node/src/index.js";
import { sleep } from "../platform/timing.js";

const { Role } = accessV1;
const { MetricKind, PropertyType } = catalogV1;
const { FlagType } = flagsV1;
const { Direction, ExperimentStatus, GuardrailAction } = experimentsV1;

type Role = accessV1.Role;
type Experiment = experimentsV1.Experiment;
type ExperimentStatus = experimentsV1.ExperimentStatus;
type ExperimentInit = MessageInitShape<typeof experimentsV1.ExperimentSchema>;
type Report = reportsV1.Report;

export const DEFAULT_URL = "http://127.0.0.1:8080";
export const DEFAULT_SUBJECTS = 2_000;
export const DEFAULT_GUARDRAIL_TIMEOUT_MS = 60_000;
const REPORT_TIMEOUT_MS = 60_000;
const SNAPSHOT_TIMEOUT_MS = 15_000;
const DECIDE_CONCURRENCY = 16;

// ---------------------------------------------------------------------------
// The tenant, as data
// ---------------------------------------------------------------------------

/** The tenant's people and services, by role in the story. */
export type Handle =
  "admin" | "growthPm" | "commercePm" | "headOfProduct" | "dataLead" | "viewer" | "backend";

interface UserSpec {
  email: string;
  displayName: string;
  roles: Role[];
}

const person = (email: string, displayName: string, role: Role): UserSpec => ({
  email: `${email}@stride.example`,
  displayName,
  roles: [role],
});

export const USERS: Readonly<Record<Handle, UserSpec>> = {
  admin: person("nora.lindqvist", "Nora Lindqvist (platform admin)", Role.ADMIN),
  growthPm: person("sam.okafor", "Sam Okafor (growth PM)", Role.EXPERIMENTER),
  commercePm: person("ines.moreau", "Ines Moreau (commerce PM)", Role.EXPERIMENTER),
  headOfProduct: person("priya.raman", "Priya Raman (head of product)", Role.APPROVER),
  dataLead: person("tom.becker", "Tom Becker (data science lead)", Role.APPROVER),
  viewer: person("ana.silva", "Ana Silva (customer success)", Role.VIEWER),
  backend: person("workout-backend.svc", "Workout backend (service account)", Role.SERVICE),
};

/** Who reviews each experimenter's experiments, and how many approvals they need. */
const REVIEW_POLICIES: { experimenter: Handle; approvers: Handle[]; minApprovals: number }[] = [
  { experimenter: "growthPm", approvers: ["headOfProduct", "dataLead"], minApprovals: 2 },
  { experimenter: "commercePm", approvers: ["headOfProduct", "dataLead"], minApprovals: 1 },
];

const number = (name: string, required = false) => ({
  name,
  type: PropertyType.NUMBER,
  required,
});
const text = (name: string) => ({ name, type: PropertyType.STRING, required: false });

/** Event types the demo sends; `error` and `latency` are seeded in a fresh install. */
const EVENT_TYPES: MessageInitShape<typeof catalogV1.EventTypeSchema>[] = [
  {
    key: "workout_completed",
    name: "Workout completed",
    description: "A member finished a workout and saw the summary screen.",
    properties: [number("duration_min"), text("workout_type")],
    requiresExposure: true,
  },
  {
    key: "promo_click",
    name: "Promo click",
    description: "A member tapped a shop promotion.",
    properties: [text("placement")],
    requiresExposure: true,
  },
  {
    key: "purchase",
    name: "Purchase",
    description: "A completed order in the in-app shop.",
    properties: [number("amount", true), text("currency")],
    requiresExposure: true,
  },
  {
    key: "error",
    name: "Error",
    description: "A client-side error.",
    properties: [text("code")],
    requiresExposure: true,
  },
  {
    key: "latency",
    name: "Latency",
    description: "How long a screen took to load.",
    properties: [number("ms", true)],
    requiresExposure: true,
  },
];

type MetricInit = MessageInitShape<typeof catalogV1.MetricSchema>;
const metric = (
  key: string,
  name: string,
  kind: catalogV1.MetricKind,
  fields: Pick<
    MetricInit,
    | "description"
    | "eventTypeKey"
    | "property"
    | "percentile"
    | "numeratorMetricKey"
    | "denominatorMetricKey"
    | "requiresExposure"
  >,
): MetricInit => ({ key, name, kind, requiresExposure: true, ...fields });

/** Metrics in creation order (a ratio after its parts); the last four are seeded. */
const METRICS: MetricInit[] = [
  metric("workout_completion_rate", "Workout completion rate", MetricKind.CONVERSION_RATE, {
    eventTypeKey: "workout_completed",
    description: "Exposed members who completed at least one workout.",
  }),
  metric("workouts_per_member", "Workouts per member", MetricKind.COUNT, {
    eventTypeKey: "workout_completed",
  }),
  metric("purchase_rate", "Purchase rate", MetricKind.CONVERSION_RATE, {
    eventTypeKey: "purchase",
  }),
  metric("purchase_revenue", "Purchase revenue", MetricKind.SUM, {
    eventTypeKey: "purchase",
    property: "amount",
  }),
  metric("average_order_value", "Average order value", MetricKind.MEAN, {
    eventTypeKey: "purchase",
    property: "amount",
  }),
  metric("promo_click_rate", "Promo click rate", MetricKind.CONVERSION_RATE, {
    eventTypeKey: "promo_click",
  }),
  metric("exposures", "Exposures", MetricKind.COUNT, {
    eventTypeKey: "exposure",
    requiresExposure: false,
  }),
  metric("errors", "Errors", MetricKind.COUNT, { eventTypeKey: "error" }),
  metric("error_rate", "Error rate", MetricKind.RATIO, {
    numeratorMetricKey: "errors",
    denominatorMetricKey: "exposures",
  }),
  metric("latency_p95", "Latency p95", MetricKind.PERCENTILE, {
    eventTypeKey: "latency",
    property: "ms",
    percentile: 95,
  }),
];

type FlagValue = string | boolean;
const jsonValue = (value: FlagValue) =>
  typeof value === "string"
    ? { kind: { case: "stringValue" as const, value } }
    : { kind: { case: "boolValue" as const, value } };

const FLAGS: {
  key: string;
  owner: Handle;
  type: flagsV1.FlagType;
  defaultValue: FlagValue;
  description: string;
  tags: string[];
}[] = [
  {
    key: "workout_summary_layout",
    owner: "growthPm",
    type: FlagType.STRING,
    defaultValue: "classic",
    description: 'Layout of the screen after a workout: "classic" list or "cards".',
    tags: ["demo", "workouts"],
  },
  {
    key: "shoe_promo_banner",
    owner: "commercePm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: "Running-shoe promotion banner on the home screen.",
    tags: ["demo", "commerce"],
  },
  {
    key: "onboarding_checklist",
    owner: "growthPm",
    type: FlagType.BOOL,
    defaultValue: false,
    description: "Checklist of first steps for new members.",
    tags: ["demo", "onboarding"],
  },
];

const variant = (key: string, value: FlagValue, weight: number, control = false) => ({
  key,
  value: jsonValue(value),
  weight,
  control,
});

const guardrail = (metricKey: string, threshold: number) => ({
  metricKey,
  threshold,
  direction: Direction.INCREASE_IS_BAD,
  windowSeconds: 120,
  minSampleSize: 100,
  action: GuardrailAction.PAUSE,
});

export type Label = "A" | "B" | "C";
type Target = "running" | "in_review";

interface ExperimentPlan {
  label: Label;
  owner: Handle;
  /** How far the demo takes it. */
  target: Target;
  spec: ExperimentInit & { flagKey: string; name: string };
}

const EXPERIMENTS: Record<Label, ExperimentPlan> = {
  A: {
    label: "A",
    owner: "growthPm",
    target: "running",
    spec: {
      flagKey: "workout_summary_layout",
      name: "Workout summary: cards vs classic",
      description:
        "Showing the workout summary as cards (pace, heart rate, streak) makes members " +
        "come back for their next workout more often than the classic list.",
      audiencePercent: 100,
      variants: [variant("classic", "classic", 50, true), variant("cards", "cards", 50)],
      targetingRule: "",
      primaryMetricKey: "workout_completion_rate",
      metricKeys: ["workouts_per_member", "purchase_rate", "purchase_revenue"],
    },
  },
  B: {
    label: "B",
    owner: "commercePm",
    target: "running",
    spec: {
      flagKey: "shoe_promo_banner",
      name: "Shoe promo banner on the home screen",
      description:
        "A banner for the new running shoe on the home screen raises promo clicks. " +
        "Guarded: the banner loads a large image carousel.",
      audiencePercent: 100,
      variants: [variant("no_banner", false, 50, true), variant("banner", true, 50)],
      targetingRule: 'platform IN ["ios", "android"]',
      primaryMetricKey: "promo_click_rate",
      metricKeys: ["purchase_rate", "purchase_revenue", "error_rate", "latency_p95"],
      guardrails: [guardrail("error_rate", 0.05), guardrail("latency_p95", 1_200)],
    },
  },
  C: {
    label: "C",
    owner: "growthPm",
    target: "in_review",
    spec: {
      flagKey: "onboarding_checklist",
      name: "Onboarding checklist for new members",
      description:
        "A checklist of first steps (connect a watch, plan a week, first run) gets new " +
        "members to their first completed workout.",
      audiencePercent: 50,
      variants: [variant("no_checklist", false, 25, true), variant("checklist", true, 25)],
      targetingRule: 'app_version >= "5.4.0"',
      primaryMetricKey: "workout_completion_rate",
      metricKeys: ["workouts_per_member"],
    },
  },
};

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

export interface DemoOptions {
  baseUrl: string;
  /** An admin's API key. */
  apiKey: string;
  /** Simulated members sent through experiment A (B gets half, at least 200). Default 2,000. */
  subjects?: number;
  /** Progress lines; default: standard output. */
  log?: (line: string) => void;
  /** How long to wait for B's guardrail to pause it. Default 60 s. */
  guardrailTimeoutMs?: number;
}

export interface DemoUser {
  id: string;
  email: string;
  displayName: string;
  roles: Role[];
  created: boolean;
}

export interface DemoExperiment {
  label: Label;
  id: string;
  name: string;
  flagKey: string;
  ownerEmail: string;
  status: ExperimentStatus;
  statusName: string;
  approvals: number;
  requiredApprovals: number;
  created: boolean;
}

export interface Traffic {
  /** Members decided. */
  decided: number;
  /** Members exposed per variant (those the decision put in a variant). */
  exposed: Record<string, number>;
  /** Events sent per variant and type, exposures included. */
  events: Record<string, Record<string, number>>;
  /** Members per variant who sent at least one event of each type. */
  members: Record<string, Record<string, number>>;
  rejected: number;
  dropped: number;
}

export interface WinnerHighlights {
  metricKey: string;
  control: { key: string; subjects: number; value: number };
  treatment: { key: string; subjects: number; value: number };
  absoluteDiff: number;
  relativeDiff: number;
  ciLow: number;
  ciHigh: number;
  pValue: number;
  adjustedPValue: number;
  adjustedSignificant: boolean;
  chanceToBeatControl: number;
  srmMismatch: boolean;
}

export interface TriggerHighlights {
  id: string;
  metricKey: string;
  observedValue: number;
  threshold: number;
  variantKey: string;
  sampleSize: number;
  windowSeconds: number;
  triggeredAt: string;
}

export interface DemoSummary {
  baseUrl: string;
  users: Record<Handle, DemoUser>;
  /** Keys of users created by this run: shown only here. */
  newApiKeys: { email: string; secret: string }[];
  eventTypes: string[];
  metrics: string[];
  flags: string[];
  experiments: Record<Label, DemoExperiment>;
  /** Traffic this run sent, per experiment. */
  traffic: Partial<Record<"A" | "B", Traffic>>;
  /** Experiment A's primary metric, treatment against control. */
  winner?: WinnerHighlights;
  /** The guardrail trigger that paused B. */
  trigger?: TriggerHighlights;
  /** What this run created and what it found. */
  created: string[];
  reused: string[];
}

/** A problem the user can fix; printed without a stack. */
export class DemoError extends Error {}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

interface Run {
  baseUrl: string;
  admin: LottyClient;
  log: (line: string) => void;
  created: string[];
  reused: string[];
  userIds: Map<Handle, string>;
  /** Keys of the users this run created (their personal keys). */
  personalKeys: Map<Handle, string>;
  /** Clients acting as users, made on first use. */
  clients: Map<Handle, LottyClient>;
  /** Ids of this run's temporary keys, revoked at the end. */
  runKeys: string[];
}

function codeOf(error: unknown): Code {
  return ConnectError.from(error).code;
}

/** The call's result, or undefined when it fails with NOT_FOUND. */
async function unlessNotFound<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (codeOf(error) === Code.NotFound) return undefined;
    throw error;
  }
}

/**
 * Finds a thing or creates it. A create that loses a race with another run
 * (ALREADY_EXISTS) finds the winner's.
 */
async function findOrCreate<T>(
  run: Run,
  label: string,
  find: () => Promise<T | undefined>,
  create: () => Promise<T>,
): Promise<{ value: T; created: boolean }> {
  const found = await find();
  if (found !== undefined) {
    run.reused.push(label);
    return { value: found, created: false };
  }
  try {
    const value = await create();
    run.created.push(label);
    run.log(`  created ${label}`);
    return { value, created: true };
  } catch (error) {
    if (codeOf(error) !== Code.AlreadyExists) throw error;
    const again = await find();
    if (again === undefined) throw error;
    run.reused.push(label);
    return { value: again, created: false };
  }
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the server answered without ${what}`);
  return value;
}

/** Polls `check` until it returns a value or `timeoutMs` passes (then undefined). */
async function poll<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined || Date.now() >= deadline) return value;
    await sleep(intervalMs);
  }
}

/** Runs `work` for every item, at most `limit` at a time. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A deterministic generator of numbers in [0, 1), seeded by a string (FNV-1a, mulberry32). */
function seeded(seed: string): () => number {
  let state = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) state = Math.imul(state ^ seed.charCodeAt(i), 0x01000193);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One of the keys, with probabilities in proportion to the weights. */
function pick(random: () => number, weights: Record<string, number>): string {
  const entries = Object.entries(weights);
  let r = random() * entries.reduce((sum, [, w]) => sum + w, 0);
  for (const [value, w] of entries) {
    r -= w;
    if (r < 0) return value;
  }
  return entries[entries.length - 1]![0];
}

const between = (random: () => number, low: number, high: number) =>
  Math.round(low + random() * (high - low));

const percent = (x: number) => `${(x * 100).toFixed(1)} %`;
const statusName = (status: ExperimentStatus) => ExperimentStatus[status] ?? String(status);

// ---------------------------------------------------------------------------
// Users, keys and review policies
// ---------------------------------------------------------------------------

async function checkAdmin(admin: LottyClient): Promise<void> {
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
async function ensureUsers(
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

/**
 * A client acting as the user: with the personal key when this run created
 * the user, else with a temporary key, revoked when the run ends.
 */
async function actAs(run: Run, handle: Handle): Promise<LottyClient> {
  let client = run.clients.get(handle);
  if (client === undefined) {
    let key = run.personalKeys.get(handle);
    if (key === undefined) {
      const { apiKey, secret } = await run.admin.access.createApiKey({
        userId: required(run.userIds.get(handle), `the user ${handle}`),
        name: `demo run ${new Date().toISOString()}`,
      });
      run.runKeys.push(required(apiKey, "an API key").id);
      key = secret;
    }
    client = createLottyClient({ baseUrl: run.baseUrl, apiKey: key });
    run.clients.set(handle, client);
  }
  return client;
}

async function revokeRunKeys(run: Run): Promise<void> {
  for (const id of run.runKeys.splice(0)) {
    await run.admin.access.revokeApiKey({ id }).catch((error: unknown) => {
      run.log(`  could not revoke the temporary key ${id}: ${ConnectError.from(error).message}`);
    });
  }
}

async function ensureReviewPolicies(run: Run, users: Record<Handle, DemoUser>): Promise<void> {
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

async function ensureCatalog(run: Run): Promise<void> {
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
async function ensureFlags(run: Run): Promise<void> {
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
async function ensureExperiment(
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

function describeExperiment(
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

// ---------------------------------------------------------------------------
// Simulated members
// ---------------------------------------------------------------------------

interface Member {
  subjectId: string;
  attributes: JsonObject;
  random: () => number;
}

/** Member `i` of the simulated population: stable id and attributes. */
function member(i: number, flagKey: string): Member {
  const subjectId = `member-${String(i).padStart(5, "0")}`;
  const profile = seeded(subjectId);
  return {
    subjectId,
    attributes: {
      country: pick(profile, { US: 35, GB: 15, DE: 15, FR: 10, BR: 15, JP: 10 }),
      platform: pick(profile, { ios: 45, android: 45, web: 10 }),
      app_version: pick(profile, { "5.2.0": 20, "5.3.1": 35, "5.4.0": 45 }),
    },
    // Behaviour per flag, the same on every run.
    random: seeded(`${subjectId}:${flagKey}`),
  };
}

interface OutgoingEvent {
  eventType: string;
  properties?: JsonObject;
}

/** What a member does after seeing `variantKey`. */
type Behaviour = (variantKey: string, random: () => number) => OutgoingEvent[];

/** A: cards make members complete workouts much more often. */
const workoutBehaviour: Behaviour = (variantKey, random) => {
  const events: OutgoingEvent[] = [];
  const completes = random() < (variantKey === "cards" ? 0.55 : 0.3);
  if (completes) {
    const workouts = between(random, 1, 3);
    for (let i = 0; i < workouts; i++) {
      events.push({
        eventType: "workout_completed",
        properties: {
          duration_min: between(random, 15, 75),
          workout_type: pick(random, { run: 5, strength: 3, yoga: 2 }),
        },
      });
    }
  }
  if (random() < (variantKey === "cards" ? 0.09 : 0.07)) {
    events.push({
      eventType: "purchase",
      properties: { amount: between(random, 1_500, 14_000) / 100, currency: "EUR" },
    });
  }
  return events;
};

/** B: the banner gets clicks (and some shoe sales), but its carousel is slow and often fails. */
const bannerBehaviour: Behaviour = (variantKey, random) => {
  const banner = variantKey === "banner";
  const events: OutgoingEvent[] = [
    {
      eventType: "latency",
      properties: { ms: banner ? between(random, 900, 2_600) : between(random, 150, 420) },
    },
  ];
  if (random() < (banner ? 0.3 : 0.01)) {
    events.push({
      eventType: "error",
      properties: { code: banner ? "HOME_CAROUSEL_TIMEOUT" : "NETWORK" },
    });
  }
  if (random() < (banner ? 0.12 : 0.05)) {
    events.push({ eventType: "promo_click", properties: { placement: "home" } });
    if (random() < 0.3) {
      events.push({
        eventType: "purchase",
        properties: { amount: between(random, 8_990, 14_990) / 100, currency: "EUR" },
      });
    }
  }
  return events;
};

/** Waits until decide answers for the flag from `experimentId` (the snapshot has it). */
async function untilDecided(service: LottyClient, flagKey: string, experimentId: string) {
  const seen = await poll(async () => {
    const { decisions } = await service.decision.decide({
      subjectId: "demo-probe",
      flagKeys: [flagKey],
    });
    return decisions[0]?.experimentId === experimentId ? true : undefined;
  }, SNAPSHOT_TIMEOUT_MS);
  if (seen === undefined) {
    throw new Error(`decide did not pick up experiment ${experimentId} within 15 s`);
  }
}

/**
 * Decides `flagKey` for members 1…count as the backend does (decideAndExpose
 * with their attributes), then sends what each exposed member does.
 */
async function simulate(
  service: LottyClient,
  flagKey: string,
  count: number,
  behaviour: Behaviour,
): Promise<Traffic> {
  const traffic: Traffic = {
    decided: 0,
    exposed: {},
    events: {},
    members: {},
    rejected: 0,
    dropped: 0,
  };
  let firstProblem = "";
  const sender = new EventSender(service.events, {
    maxBufferedEvents: 100_000,
    flushIntervalMs: 200,
    onRejected: (rejected) => {
      traffic.rejected += rejected.length;
      firstProblem ||= rejected[0]?.error.message ?? "";
    },
    onDropped: (events, reason) => {
      traffic.dropped += events.length;
      firstProblem ||= reason.message;
    },
  });
  const tally = (counts: Traffic["events"], variantKey: string, eventType: string) => {
    const perType = (counts[variantKey] ??= {});
    perType[eventType] = (perType[eventType] ?? 0) + 1;
  };
  const members = Array.from({ length: count }, (_, i) => member(i + 1, flagKey));
  try {
    await forEachLimited(members, DECIDE_CONCURRENCY, async ({ subjectId, attributes, random }) => {
      const decision = await decideAndExpose(service.decision, sender, {
        subjectId,
        flagKey,
        attributes,
      });
      traffic.decided++;
      if (decision.exposureEventId === undefined) return;
      const { variantKey, decisionId } = decision;
      traffic.exposed[variantKey] = (traffic.exposed[variantKey] ?? 0) + 1;
      tally(traffic.events, variantKey, "exposure");
      const events = behaviour(variantKey, random);
      for (const event of events) {
        sender.send({ ...event, decisionId });
        tally(traffic.events, variantKey, event.eventType);
      }
      for (const type of new Set(events.map((e) => e.eventType))) {
        tally(traffic.members, variantKey, type);
      }
    });
  } finally {
    await sender.close();
  }
  if (traffic.rejected + traffic.dropped > 0) {
    throw new Error(
      `${traffic.rejected} event(s) rejected and ${traffic.dropped} dropped: ${firstProblem}`,
    );
  }
  return traffic;
}

/** Simulates `subjects` members on the experiment's flag as the backend, and logs what was sent. */
async function sendTraffic(
  run: Run,
  experiment: Experiment,
  subjects: number,
  behaviour: Behaviour,
): Promise<Traffic> {
  const service = await actAs(run, "backend");
  await untilDecided(service, experiment.flagKey, experiment.id);
  run.log(`  simulating ${subjects} members on ${experiment.flagKey} as the workout backend …`);
  const traffic = await simulate(service, experiment.flagKey, subjects, behaviour);
  let exposed = 0;
  for (const { key } of experiment.variants) {
    const sent = Object.entries(traffic.events[key] ?? {}).map(([type, n]) => `${n} ${type}`);
    run.log(`    ${key}: ${sent.join(", ") || "nothing"}`);
    exposed += traffic.exposed[key] ?? 0;
  }
  if (traffic.decided > exposed) {
    run.log(
      `    ${traffic.decided - exposed} member(s) got the flag's default (outside the ` +
        "targeting rule, or after a pause): no exposure",
    );
  }
  return traffic;
}

// ---------------------------------------------------------------------------
// Experiment A: traffic and the winner
// ---------------------------------------------------------------------------

async function reportOf(reader: LottyClient, experimentId: string): Promise<Report> {
  return required((await reader.reports.getExperimentReport({ experimentId })).report, "a report");
}

const metricOf = (report: Report, variantKey: string, metricKey: string) =>
  report.variants
    .find((v) => v.variantKey === variantKey)
    ?.metrics.find((m) => m.metricKey === metricKey);

/** Whether the report counts every exposure and workout sent. */
function reportShows(report: Report, traffic: Traffic): boolean {
  if ((report.dataHealth?.pendingAttributionEvents ?? 0) > 0) return false;
  return Object.entries(traffic.events).every(([variantKey, perType]) => {
    const v = report.variants.find((r) => r.variantKey === variantKey);
    const workouts = metricOf(report, variantKey, "workouts_per_member")?.value ?? 0;
    return (
      v !== undefined &&
      v.subjects === traffic.exposed[variantKey] &&
      v.exposures === perType.exposure &&
      workouts === (perType.workout_completed ?? 0)
    );
  });
}

function winnerOf(report: Report): WinnerHighlights | undefined {
  const control = report.variants.find((v) => v.control);
  const treatment = report.variants.find((v) => !v.control);
  if (control === undefined || treatment === undefined) return undefined;
  const key = report.primaryMetricKey;
  const c = metricOf(report, control.variantKey, key);
  const t = metricOf(report, treatment.variantKey, key);
  const comparison = t?.comparison;
  if (c === undefined || t === undefined || comparison === undefined) return undefined;
  return {
    metricKey: key,
    control: { key: control.variantKey, subjects: control.subjects, value: c.value },
    treatment: { key: treatment.variantKey, subjects: treatment.subjects, value: t.value },
    absoluteDiff: comparison.absoluteDiff,
    relativeDiff: comparison.relativeDiff,
    ciLow: comparison.ciLow,
    ciHigh: comparison.ciHigh,
    pValue: comparison.pValue,
    adjustedPValue: comparison.adjustedPValue,
    adjustedSignificant: comparison.adjustedSignificant,
    chanceToBeatControl: comparison.chanceToBeatControl,
    srmMismatch: report.srm?.mismatch ?? false,
  };
}

async function runWinner(
  run: Run,
  experiment: Experiment,
  subjects: number,
  summary: DemoSummary,
): Promise<void> {
  const reader = run.admin;
  if (experiment.status !== ExperimentStatus.RUNNING) {
    run.log(`  A is ${statusName(experiment.status)}: left as it is, no traffic sent`);
  } else if ((await reportOf(reader, experiment.id)).subjects > 0) {
    run.log("  A already has members in its report: no new traffic (the result is in)");
  } else {
    const traffic = await sendTraffic(run, experiment, subjects, workoutBehaviour);
    summary.traffic.A = traffic;
    const shown = await poll(
      async () => (reportShows(await reportOf(reader, experiment.id), traffic) ? true : undefined),
      REPORT_TIMEOUT_MS,
      500,
    );
    if (shown === undefined) run.log("  the report does not show every event yet; look again soon");
  }
  summary.winner = winnerOf(await reportOf(reader, experiment.id));
  const w = summary.winner;
  if (w !== undefined) {
    run.log(
      `  ${w.metricKey}: ${w.treatment.key} ${percent(w.treatment.value)} vs ` +
        `${w.control.key} ${percent(w.control.value)} (p = ${w.pValue.toPrecision(2)}, ` +
        `adjusted significant: ${w.adjustedSignificant})`,
    );
  }
}

// ---------------------------------------------------------------------------
// Experiment B: the guardrail
// ---------------------------------------------------------------------------

async function runGuardrail(
  run: Run,
  experiment: Experiment,
  subjects: number,
  timeoutMs: number,
  summary: DemoSummary,
): Promise<Experiment> {
  const reader = run.admin;
  let current = experiment;
  if (current.status === ExperimentStatus.RUNNING) {
    summary.traffic.B = await sendTraffic(run, current, subjects, bannerBehaviour);
    run.log(`  waiting up to ${Math.round(timeoutMs / 1000)} s for the guardrail …`);
    const paused = await poll(async () => {
      const { experiment: e } = await reader.experiments.getExperiment({ id: current.id });
      return e?.status === ExperimentStatus.PAUSED ? e : undefined;
    }, timeoutMs);
    if (paused === undefined) {
      run.log("  not paused yet: the guardrail monitor may be behind; list the triggers later");
    } else {
      current = paused;
    }
  } else {
    run.log(`  B is ${statusName(current.status)}: left as it is, no traffic sent`);
  }
  const { triggers } = await reader.guardrails.listGuardrailTriggers({
    experimentId: current.id,
  });
  const trigger = triggers[0];
  if (trigger !== undefined) {
    summary.trigger = {
      id: trigger.id,
      metricKey: trigger.metricKey,
      observedValue: trigger.observedValue,
      threshold: trigger.threshold,
      variantKey: trigger.variantKey,
      sampleSize: trigger.sampleSize,
      windowSeconds: trigger.windowSeconds,
      triggeredAt:
        trigger.triggeredAt === undefined ? "" : timestampDate(trigger.triggeredAt).toISOString(),
    };
    run.log(`  guardrail fired: ${describeTrigger(summary.trigger)}`);
  }
  return current;
}

const describeTrigger = (t: TriggerHighlights) =>
  `${t.metricKey} ${Number(t.observedValue.toPrecision(3))} > ${t.threshold} in variant ` +
  `${t.variantKey} over the last ${t.windowSeconds} s (sample ${t.sampleSize}) at ${t.triggeredAt}`;

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const log = options.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const subjects = options.subjects ?? DEFAULT_SUBJECTS;
  const run: Run = {
    baseUrl: options.baseUrl,
    admin: createLottyClient({ baseUrl: options.baseUrl, apiKey: options.apiKey }),
    log,
    created: [],
    reused: [],
    userIds: new Map(),
    personalKeys: new Map(),
    clients: new Map(),
    runKeys: [],
  };
  await checkAdmin(run.admin);
  log(`Loading the Stride demo tenant into ${options.baseUrl}`);
  try {
    const newApiKeys: DemoSummary["newApiKeys"] = [];
    const users = await ensureUsers(run, newApiKeys);
    await ensureReviewPolicies(run, users);
    await ensureCatalog(run);
    await ensureFlags(run);
    const summary: DemoSummary = {
      baseUrl: options.baseUrl,
      users,
      newApiKeys,
      eventTypes: EVENT_TYPES.map((e) => e.key ?? ""),
      metrics: METRICS.map((m) => m.key ?? ""),
      flags: FLAGS.map((f) => f.key),
      experiments: {} as Record<Label, DemoExperiment>,
      traffic: {},
      created: run.created,
      reused: run.reused,
    };
    for (const plan of Object.values(EXPERIMENTS)) {
      log(`Experiment ${plan.label}: ${plan.spec.name}`);
      const ensured = await ensureExperiment(run, plan);
      let experiment = ensured.experiment;
      if (plan.label === "A") await runWinner(run, experiment, subjects, summary);
      if (plan.label === "B") {
        experiment = await runGuardrail(
          run,
          experiment,
          Math.max(200, Math.ceil(subjects / 2)),
          options.guardrailTimeoutMs ?? DEFAULT_GUARDRAIL_TIMEOUT_MS,
          summary,
        );
      }
      summary.experiments[plan.label] = describeExperiment(plan, experiment, ensured.created);
    }
    return summary;
  } finally {
    await revokeRunKeys(run);
  }
}

// ---------------------------------------------------------------------------
// What to open
// ---------------------------------------------------------------------------

type Command = (method: string, body: object) => string[];

function guideA(a: DemoExperiment, w: WinnerHighlights | undefined, cmd: Command): string[] {
  const lines = [`A · "${a.name}" (${a.id}) is ${a.statusName}.`];
  if (w !== undefined) {
    const points = (x: number) => (x * 100).toFixed(1);
    lines.push(
      `  ${w.metricKey}: ${w.treatment.key} ${percent(w.treatment.value)} of ` +
        `${w.treatment.subjects} members vs ${w.control.key} ${percent(w.control.value)} of ` +
        `${w.control.subjects}: ${w.absoluteDiff >= 0 ? "+" : ""}${points(w.absoluteDiff)} ` +
        `points (95 % CI ${points(w.ciLow)} to ${points(w.ciHigh)}), p = ` +
        `${w.pValue.toPrecision(2)}, chance to beat control ${percent(w.chanceToBeatControl)}.`,
    );
  }
  lines.push(
    "  The report:",
    ...cmd("lotty.reports.v1.ReportService/GetExperimentReport", { experimentId: a.id }),
    '  Look for: the "cards" variant\'s first metric (workout_completion_rate): comparison with',
    "  adjustedSignificant true and ciLow above 0; srm without mismatch (the 50/50 split held).",
  );
  if (a.status === ExperimentStatus.RUNNING) {
    lines.push(
      "  Left RUNNING on purpose, so the report stays live (Ctrl-C stops the stream):",
      ...cmd("lotty.reports.v1.ReportService/WatchExperimentReport", { experimentId: a.id }),
      '  Ship the winner when convinced (as the owner or an admin), then make "cards" the default:',
      ...cmd("lotty.experiments.v1.ExperimentService/CompleteExperiment", {
        id: a.id,
        outcome: "OUTCOME_ROLLOUT",
        winnerVariantKey: "cards",
        justification: "Cards raise the workout completion rate",
      }),
    );
  } else if (a.status === ExperimentStatus.COMPLETED) {
    lines.push(
      "  The report it was completed on:",
      ...cmd("lotty.reports.v1.ReportService/GetOutcomeReport", { experimentId: a.id }),
    );
  }
  return lines;
}

function guideB(b: DemoExperiment, t: TriggerHighlights | undefined, cmd: Command): string[] {
  const lines = [`B · "${b.name}" (${b.id}) is ${b.statusName}.`];
  lines.push(
    t === undefined
      ? "  No guardrail trigger yet: list the triggers again in a minute."
      : `  Its guardrail fired: ${describeTrigger(t)}.`,
    "  The trigger record:",
    ...cmd("lotty.guardrails.v1.GuardrailService/ListGuardrailTriggers", { experimentId: b.id }),
    '  Look for: observedValue above threshold, variantKey "banner", action GUARDRAIL_ACTION_PAUSE.',
    "  Its history: the last entry is EXPERIMENT_ACTION_GUARDRAIL_PAUSED, without an actor.",
    ...cmd("lotty.experiments.v1.ExperimentService/GetExperimentHistory", { id: b.id }),
    "  Its report: more promo clicks, but error_rate and latency_p95 far above the control's.",
    ...cmd("lotty.reports.v1.ReportService/GetExperimentReport", { experimentId: b.id }),
  );
  if (b.status === ExperimentStatus.PAUSED) {
    lines.push(
      "  Decide serves every member the flag's default (false, DECISION_REASON_DEFAULT):",
      ...cmd("lotty.decision.v1.DecisionService/Decide", {
        subjectId: "member-00001",
        flagKeys: [b.flagKey],
        attributes: { platform: "ios" },
      }),
    );
  }
  return lines;
}

function guideC(c: DemoExperiment, cmd: Command): string[] {
  const lines = [
    `C · "${c.name}" (${c.id}) is ${c.statusName} with ${c.approvals} of ` +
      `${c.requiredApprovals} approvals.`,
  ];
  if (c.status === ExperimentStatus.IN_REVIEW) {
    lines.push(
      "  Experiments waiting for review:",
      ...cmd("lotty.experiments.v1.ExperimentService/ListExperiments", {
        status: "EXPERIMENT_STATUS_IN_REVIEW",
      }),
      `  Look for: "${c.name}" with one approval (${USERS.headOfProduct.email})`,
      `  and requiredApprovals 2. ${USERS.dataLead.email} gives the second one with his own key:`,
      "  ExperimentService/ApproveExperiment with the same -d '" +
        JSON.stringify({ id: c.id }) +
        "'.",
    );
  }
  return lines;
}

/** The guide printed after a run: what each experiment shows and the commands to look. */
export function guide(summary: DemoSummary): string[] {
  const url = summary.baseUrl.replace(/\/+$/, "");
  const cmd: Command = (method, body) => [
    "    npx buf curl --protocol grpc --http2-prior-knowledge \\",
    `      -H "Authorization: Bearer $LOTTY_API_KEY" -d '${JSON.stringify(body)}' \\`,
    `      ${url}/${method}`,
  ];
  const { A, B, C } = summary.experiments;
  const users = Object.values(summary.users).map(
    (u) => `${u.email} (${u.roles.map((r) => Role[r]?.toLowerCase()).join(", ")})`,
  );
  return [
    "",
    "=== In the console ===",
    `Open ${url}/console/ and sign in with your admin key (or a demo user's key).`,
    `  A, the winner:          ${url}/console/experiments/${A.id}/results`,
    `  B, paused by guardrail: ${url}/console/experiments/${B.id}/results`,
    `  C, waiting for review:  ${url}/console/experiments/${C.id}`,
    "",
    "=== What to open ===",
    "Every command uses your admin key: export LOTTY_API_KEY=… first.",
    "",
    ...guideA(A, summary.winner, cmd),
    "",
    ...guideB(B, summary.trigger, cmd),
    "",
    ...guideC(C, cmd),
    "",
    "Plain curl works as well (Connect JSON over HTTP/1.1), e.g.",
    `    curl -sS ${url}/lotty.reports.v1.ReportService/GetExperimentReport \\`,
    `      -H 'Content-Type: application/json' -H "Authorization: Bearer $LOTTY_API_KEY" \\`,
    `      -d '${JSON.stringify({ experimentId: A.id })}'`,
    "",
    `Users: ${users.join(", ")}.`,
    summary.newApiKeys.length > 0
      ? "Their API keys are printed above, once: keep them."
      : "Their API keys were printed by the run that created them.",
    `This run created ${summary.created.length} and reused ${summary.reused.length} object(s); ` +
      "running it again reuses everything.",
  ];
}

async function main(): Promise<number> {
  const apiKey = process.env.LOTTY_API_KEY?.trim() ?? "";
  if (apiKey === "") {
    console.error(
      "demo: LOTTY_API_KEY is not set. Set it to an admin's API key (the key printed at " +
        "Lotty's first start, or LOTTY_BOOTSTRAP_ADMIN_KEY), e.g. LOTTY_API_KEY=lotty_… npm run demo",
    );
    return 2;
  }
  const baseUrl = process.env.LOTTY_URL?.trim() || DEFAULT_URL;
  try {
    const summary = await runDemo({ baseUrl, apiKey });
    process.stdout.write(`${guide(summary).join("\n")}\n`);
    return 0;
  } catch (error) {
    if (error instanceof DemoError) {
      console.error(`demo: ${error.message}`);
      return 2;
    }
    const failure = ConnectError.from(error);
    console.error(`demo failed: ${failure.message}`);
    if (failure.code === Code.Unauthenticated) {
      console.error("Check LOTTY_API_KEY: the server does not know this key.");
    } else if (failure.code === Code.Unavailable || failure.code === Code.DeadlineExceeded) {
      console.error(`Is Lotty running at ${baseUrl}? Set LOTTY_URL to point elsewhere.`);
    }
    return 1;
  }
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
