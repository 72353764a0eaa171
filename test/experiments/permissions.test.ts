/**
 * Who may call what, over the real server: every ExperimentService RPC and
 * the create/read/update/archive RPCs of FlagService and CatalogService
 * against viewer, approver, service, experimenter and admin keys. For
 * experiments the experimenter is split into the owner and another
 * experimenter, and the admin is not the owner. Allowed calls are valid
 * requests on an experiment in a state that permits them, so they succeed;
 * refused ones get PERMISSION_DENIED and change nothing.
 *
 * The expectations are written out below and checked against the two
 * tables they come from (src/platform/access-policy.ts and
 * src/experiments/permissions.ts), so a change to either shows up here.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { FlagService, FlagType } from "../../gen/lotty/flags/v1/flags_pb.js";
import { CatalogService, MetricKind, PropertyType } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import {
  ExperimentStatus,
  type Experiment,
} from "../../gen/lotty/experiments/v1/experiments_pb.js";
import type { ExperimentStatusName } from "../../src/experiments/entities.js";
import { findTransition, type LifecycleAction } from "../../src/experiments/lifecycle.js";
import { denialReason, mayReview } from "../../src/experiments/permissions.js";
import { allowedRoles } from "../../src/platform/access-policy.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { errorOf, snapshot } from "./support.js";
import {
  STATUS_ENUM,
  act,
  experimentIn,
  makeFlag,
  makeUser,
  str,
  validExperiment,
  type Actor,
  type Team,
} from "../support/builders.js";

/** The callers of the experiment matrix. */
const EXPERIMENT_CALLERS = [
  "viewer",
  "approver",
  "service",
  "owner",
  "experimenter",
  "admin",
] as const;
type ExperimentCaller = (typeof EXPERIMENT_CALLERS)[number];

/** The callers of the flag and catalog matrices (nothing there is owned). */
const CALLERS = ["viewer", "approver", "service", "experimenter", "admin"] as const;
type Caller = (typeof CALLERS)[number];

const ROLE_OF: Record<ExperimentCaller, Role> = {
  viewer: Role.VIEWER,
  approver: Role.APPROVER,
  service: Role.SERVICE,
  owner: Role.EXPERIMENTER,
  experimenter: Role.EXPERIMENTER,
  admin: Role.ADMIN,
};

const READERS: ExperimentCaller[] = ["viewer", "approver", "owner", "experimenter", "admin"];
const OWNER_OR_ADMIN: ExperimentCaller[] = ["owner", "admin"];
const REVIEWERS: ExperimentCaller[] = ["approver", "admin"];

type ExperimentRpc =
  | { method: string; kind: "read" }
  | { method: string; kind: "create" }
  | { method: string; kind: "update" }
  | { method: string; kind: "lifecycle"; action: LifecycleAction; from: ExperimentStatusName };

/** Every ExperimentService RPC with the callers that may use it. */
const EXPERIMENT_MATRIX: [ExperimentRpc, ExperimentCaller[]][] = [
  [{ method: "CreateExperiment", kind: "create" }, ["owner", "experimenter", "admin"]],
  [{ method: "GetExperiment", kind: "read" }, READERS],
  [{ method: "ListExperiments", kind: "read" }, READERS],
  [{ method: "ListExperimentVersions", kind: "read" }, READERS],
  [{ method: "GetExperimentHistory", kind: "read" }, READERS],
  [{ method: "UpdateExperiment", kind: "update" }, OWNER_OR_ADMIN],
  [
    { method: "SubmitExperiment", kind: "lifecycle", action: "submit", from: "draft" },
    OWNER_OR_ADMIN,
  ],
  [
    { method: "ApproveExperiment", kind: "lifecycle", action: "approve", from: "in_review" },
    REVIEWERS,
  ],
  [
    { method: "RequestChanges", kind: "lifecycle", action: "request_changes", from: "in_review" },
    REVIEWERS,
  ],
  [
    { method: "RejectExperiment", kind: "lifecycle", action: "reject", from: "in_review" },
    REVIEWERS,
  ],
  [
    { method: "ReworkExperiment", kind: "lifecycle", action: "rework", from: "rejected" },
    OWNER_OR_ADMIN,
  ],
  [
    { method: "StartExperiment", kind: "lifecycle", action: "start", from: "approved" },
    OWNER_OR_ADMIN,
  ],
  [
    { method: "PauseExperiment", kind: "lifecycle", action: "pause", from: "running" },
    OWNER_OR_ADMIN,
  ],
  [
    { method: "ResumeExperiment", kind: "lifecycle", action: "resume", from: "paused" },
    OWNER_OR_ADMIN,
  ],
  [
    { method: "CompleteExperiment", kind: "lifecycle", action: "complete", from: "running" },
    OWNER_OR_ADMIN,
  ],
  [
    { method: "ArchiveExperiment", kind: "lifecycle", action: "archive", from: "completed" },
    OWNER_OR_ADMIN,
  ],
];

const EDITORS: Caller[] = ["experimenter", "admin"];
const FLAG_READERS: Caller[] = ["viewer", "approver", "experimenter", "admin"];

const FLAG_MATRIX: [string, Caller[]][] = [
  ["CreateFlag", EDITORS],
  ["GetFlag", FLAG_READERS],
  ["ListFlags", FLAG_READERS],
  ["UpdateFlag", EDITORS],
  ["ArchiveFlag", EDITORS],
];

const CATALOG_MATRIX: [string, Caller[]][] = [
  ["CreateEventType", EDITORS],
  ["GetEventType", FLAG_READERS],
  ["ListEventTypes", FLAG_READERS],
  ["UpdateEventType", EDITORS],
  ["ArchiveEventType", EDITORS],
  ["CreateMetric", EDITORS],
  ["GetMetric", FLAG_READERS],
  ["ListMetrics", FLAG_READERS],
  ["UpdateMetric", EDITORS],
  ["ArchiveMetric", EDITORS],
];

function cases<M, C extends string>(matrix: [M, C[]][], callers: readonly C[]) {
  return matrix.flatMap(([rpc, allowed]) =>
    callers.map((caller) => ({ rpc, caller, allowed: allowed.includes(caller) })),
  );
}

async function expectDenied(call: Promise<unknown>): Promise<ConnectError> {
  const error = await errorOf(call);
  expect(Code[error.code]).toBe(Code[Code.PermissionDenied]);
  return error;
}

/** Whether a Get call finds its object (false on NOT_FOUND). */
async function exists(get: Promise<unknown>): Promise<boolean> {
  return get.then(
    () => true,
    (error: unknown) => {
      expect(Code[ConnectError.from(error).code]).toBe(Code[Code.NotFound]);
      return false;
    },
  );
}

const unique = (tag: string) => `${tag}_${randomBytes(4).toString("hex")}`;

describe("the written-out matrices agree with the tables", () => {
  const ids: Record<ExperimentCaller, string> = {
    viewer: "00000000-0000-4000-8000-000000000001",
    approver: "00000000-0000-4000-8000-000000000002",
    service: "00000000-0000-4000-8000-000000000003",
    owner: "00000000-0000-4000-8000-000000000004",
    experimenter: "00000000-0000-4000-8000-000000000005",
    admin: "00000000-0000-4000-8000-000000000006",
  };

  it("ExperimentService", () => {
    for (const [rpc, allowed] of EXPERIMENT_MATRIX) {
      for (const caller of EXPERIMENT_CALLERS) {
        const role = ROLE_OF[caller];
        const actor = { userId: ids[caller], roles: new Set([role]) };
        let byTables = allowedRoles("lotty.experiments.v1.ExperimentService", rpc.method).includes(
          role,
        );
        if (rpc.kind === "update" || rpc.kind === "lifecycle") {
          const action = rpc.kind === "update" ? "update" : rpc.action;
          byTables &&=
            denialReason(actor, action, ids.owner, { approverIds: [] }) === undefined &&
            (action !== "approve" || mayReview(actor, ids.owner, { approverIds: [] }));
        }
        expect([rpc.method, caller, byTables]).toEqual([
          rpc.method,
          caller,
          allowed.includes(caller),
        ]);
      }
    }
  });

  it.each([
    ["lotty.flags.v1.FlagService", FLAG_MATRIX],
    ["lotty.catalog.v1.CatalogService", CATALOG_MATRIX],
  ] as const)("%s", (service, matrix) => {
    for (const [method, allowed] of matrix) {
      for (const caller of CALLERS) {
        expect([method, caller, allowedRoles(service, method).includes(ROLE_OF[caller])]).toEqual([
          method,
          caller,
          allowed.includes(caller),
        ]);
      }
    }
  });
});

describe("over the real server", () => {
  let t: TestApp;
  const actors = {} as Record<ExperimentCaller, Actor>;
  let team: Team;

  beforeAll(async () => {
    t = await startTestApp();
    for (const caller of EXPERIMENT_CALLERS) {
      actors[caller] = await makeUser(t, ROLE_OF[caller]);
    }
    team = { owner: actors.owner, approver: actors.approver };
  });
  afterAll(async () => {
    await t.stop();
  });

  describe("ExperimentService", () => {
    /** One running experiment of the owner for the read RPCs. */
    let readable: Promise<Experiment> | undefined;
    const readFixture = () => (readable ??= experimentIn(t, team, "running"));

    async function read(method: string, actor: Actor, experiment: Experiment) {
      const e = actor.experiments;
      switch (method) {
        case "GetExperiment": {
          const { experiment: got } = await e.getExperiment({ id: experiment.id });
          expect(got?.id).toBe(experiment.id);
          expect(got?.status).toBe(ExperimentStatus.RUNNING);
          return;
        }
        case "ListExperiments": {
          const { experiments } = await e.listExperiments({
            flagKey: experiment.flagKey,
            pageSize: 10,
          });
          expect(experiments.map((x) => x.id)).toEqual([experiment.id]);
          return;
        }
        case "ListExperimentVersions": {
          const { versions } = await e.listExperimentVersions({ id: experiment.id });
          expect(versions.map((v) => v.version)).toEqual([1]);
          return;
        }
        case "GetExperimentHistory": {
          const { entries } = await e.getExperimentHistory({ id: experiment.id });
          expect(entries).toHaveLength(4);
          return;
        }
      }
      throw new Error(`no read call for ${method}`);
    }

    it.each(cases(EXPERIMENT_MATRIX, EXPERIMENT_CALLERS))(
      "$rpc.method by $caller: allowed=$allowed",
      async ({ rpc, caller, allowed }) => {
        const actor = actors[caller];
        if (rpc.kind === "read") {
          const experiment = await readFixture();
          if (allowed) await read(rpc.method, actor, experiment);
          else await expectDenied(read(rpc.method, actor, experiment));
          return;
        }

        if (rpc.kind === "create") {
          const flagKey = await makeFlag(t);
          // Listed before the call starts: a create that finished first
          // would already be in the "before" list.
          const { experiments: beforeList } = await actors.admin.experiments.listExperiments({
            flagKey,
          });
          const call = actor.experiments.createExperiment({
            experiment: validExperiment(flagKey, { name: `by ${caller}` }),
          });
          if (allowed) {
            const { experiment } = await call;
            expect(experiment?.ownerId).toBe(actor.id);
            expect(experiment?.status).toBe(ExperimentStatus.DRAFT);
          } else {
            await expectDenied(call);
          }
          const { experiments } = await actors.admin.experiments.listExperiments({ flagKey });
          expect(experiments.length).toBe(beforeList.length + (allowed ? 1 : 0));
          return;
        }

        const from = rpc.kind === "update" ? "draft" : rpc.from;
        const fixture = await experimentIn(t, team, from);
        const before = await snapshot(actors.owner, fixture.id);
        const call =
          rpc.kind === "update"
            ? actor.experiments
                .updateExperiment({
                  experiment: {
                    ...validExperiment(fixture.flagKey, { name: `edited by ${caller}` }),
                    id: fixture.id,
                  },
                  expectedVersion: fixture.version,
                })
                .then((r) => r.experiment!)
            : act(actor, rpc.action, fixture.id);
        if (!allowed) {
          const error = await expectDenied(call);
          if (caller === "experimenter" && rpc.kind !== "lifecycle") {
            expect(error.rawMessage).toBe("only the owner or an admin may update this experiment");
          }
          expect(await snapshot(actors.owner, fixture.id)).toEqual(before);
          return;
        }
        const result = await call;
        if (rpc.kind === "update") {
          expect(result.version).toBe(fixture.version + 1);
          expect(result.name).toBe(`edited by ${caller}`);
          expect(result.ownerId).toBe(actors.owner.id);
        } else {
          const to = findTransition(rpc.from, rpc.action)!.to;
          expect(ExperimentStatus[result.status]).toBe(ExperimentStatus[STATUS_ENUM[to]]);
          const { entries } = await actors.owner.experiments.getExperimentHistory({
            id: fixture.id,
          });
          expect(entries.at(-1)?.actorId).toBe(actor.id);
        }
      },
    );

    it("tells a non-owner experimenter why a lifecycle action is refused", async () => {
      const fixture = await experimentIn(t, team, "approved");
      const error = await expectDenied(act(actors.experimenter, "start", fixture.id));
      expect(error.rawMessage).toBe("only the owner or an admin may start this experiment");
      const viewerError = await expectDenied(act(actors.viewer, "start", fixture.id));
      expect(viewerError.rawMessage).toBe(
        "lotty.experiments.v1.ExperimentService/StartExperiment is not allowed for your roles",
      );
    });

    it("lets an admin take an experiment it does not own through its whole lifecycle", async () => {
      const fixture = await experimentIn(t, team, "draft");
      const admin = actors.admin;
      await act(admin, "submit", fixture.id);
      await act(admin, "reject", fixture.id);
      await act(admin, "rework", fixture.id);
      await act(admin, "submit", fixture.id);
      await act(admin, "approve", fixture.id);
      for (const action of ["start", "pause", "resume", "complete", "archive"] as const) {
        await act(admin, action, fixture.id);
      }
      const { experiment } = await admin.experiments.getExperiment({ id: fixture.id });
      expect(experiment?.status).toBe(ExperimentStatus.ARCHIVED);
      expect(experiment?.ownerId).toBe(actors.owner.id);
    });
  });

  describe("FlagService", () => {
    const flags = (caller: Caller) => client(FlagService, t.baseUrl, actors[caller].key);
    const admin = () => flags("admin");
    async function freshFlag() {
      const key = unique("pflag");
      await admin().createFlag({
        key,
        type: FlagType.STRING,
        defaultValue: str("grey"),
        description: "",
        tags: ["perm"],
      });
      return key;
    }

    it.each(cases(FLAG_MATRIX, CALLERS))(
      "$rpc by $caller: allowed=$allowed",
      async ({ rpc, caller, allowed }) => {
        const c = flags(caller);
        const outcome = async (call: Promise<unknown>) => {
          if (allowed) return call;
          await expectDenied(call);
          return undefined;
        };
        switch (rpc) {
          case "CreateFlag": {
            const key = unique("pflag");
            await outcome(
              c.createFlag({
                key,
                type: FlagType.BOOL,
                defaultValue: { kind: { case: "boolValue", value: false } },
                description: "",
                tags: [],
              }),
            );
            // Created exactly when allowed.
            expect(await exists(admin().getFlag({ key }))).toBe(allowed);
            return;
          }
          case "GetFlag": {
            const key = await freshFlag();
            const got = (await outcome(c.getFlag({ key }))) as { flag?: { key: string } };
            if (allowed) expect(got.flag?.key).toBe(key);
            return;
          }
          case "ListFlags": {
            const listed = (await outcome(c.listFlags({ pageSize: 5 }))) as { flags: unknown[] };
            if (allowed) expect(listed.flags.length).toBeGreaterThan(0);
            return;
          }
          case "UpdateFlag": {
            const key = await freshFlag();
            await outcome(c.updateFlag({ key, defaultValue: str("red"), tags: [] }));
            const { flag } = await admin().getFlag({ key });
            expect(flag?.defaultValue?.kind).toEqual({
              case: "stringValue",
              value: allowed ? "red" : "grey",
            });
            return;
          }
          case "ArchiveFlag": {
            const key = await freshFlag();
            await outcome(c.archiveFlag({ key }));
            const { flag } = await admin().getFlag({ key });
            expect(flag?.archived).toBe(allowed);
            return;
          }
        }
        throw new Error(`no call for ${rpc}`);
      },
    );
  });

  describe("CatalogService", () => {
    const catalog = (caller: Caller): Client<typeof CatalogService> =>
      client(CatalogService, t.baseUrl, actors[caller].key);
    const admin = () => catalog("admin");
    const eventTypeInput = (key: string, name = "Checkout") => ({
      key,
      name,
      description: "",
      properties: [{ name: "amount", type: PropertyType.NUMBER, required: true }],
      requiresExposure: true,
    });
    const metricInput = (key: string, name = "Checkouts") => ({
      key,
      name,
      description: "",
      kind: MetricKind.COUNT,
      eventTypeKey: "conversion",
    });
    async function freshEventType() {
      const key = unique("pet");
      await admin().createEventType({ eventType: eventTypeInput(key) });
      return key;
    }
    async function freshMetric() {
      const key = unique("pmetric");
      await admin().createMetric({ metric: metricInput(key) });
      return key;
    }

    it.each(cases(CATALOG_MATRIX, CALLERS))(
      "$rpc by $caller: allowed=$allowed",
      async ({ rpc, caller, allowed }) => {
        const c = catalog(caller);
        const outcome = async (call: Promise<unknown>) => {
          if (allowed) return call;
          await expectDenied(call);
          return undefined;
        };
        switch (rpc) {
          case "CreateEventType": {
            const key = unique("pet");
            await outcome(c.createEventType({ eventType: eventTypeInput(key) }));
            expect(await exists(admin().getEventType({ key }))).toBe(allowed);
            return;
          }
          case "GetEventType": {
            const got = (await outcome(c.getEventType({ key: "conversion" }))) as {
              eventType?: { key: string };
            };
            if (allowed) expect(got.eventType?.key).toBe("conversion");
            return;
          }
          case "ListEventTypes": {
            const listed = (await outcome(c.listEventTypes({ pageSize: 50 }))) as {
              eventTypes: { key: string }[];
            };
            if (allowed) expect(listed.eventTypes.map((e) => e.key)).toContain("conversion");
            return;
          }
          case "UpdateEventType": {
            const key = await freshEventType();
            await outcome(c.updateEventType({ eventType: eventTypeInput(key, "Renamed") }));
            const { eventType } = await admin().getEventType({ key });
            expect(eventType?.name).toBe(allowed ? "Renamed" : "Checkout");
            return;
          }
          case "ArchiveEventType": {
            const key = await freshEventType();
            await outcome(c.archiveEventType({ key }));
            const { eventType } = await admin().getEventType({ key });
            expect(eventType?.archived).toBe(allowed);
            return;
          }
          case "CreateMetric": {
            const key = unique("pmetric");
            await outcome(c.createMetric({ metric: metricInput(key) }));
            expect(await exists(admin().getMetric({ key }))).toBe(allowed);
            return;
          }
          case "GetMetric": {
            const got = (await outcome(c.getMetric({ key: "conversion_rate" }))) as {
              metric?: { key: string };
            };
            if (allowed) expect(got.metric?.key).toBe("conversion_rate");
            return;
          }
          case "ListMetrics": {
            const listed = (await outcome(c.listMetrics({ pageSize: 50 }))) as {
              metrics: { key: string }[];
            };
            if (allowed) expect(listed.metrics.map((m) => m.key)).toContain("conversion_rate");
            return;
          }
          case "UpdateMetric": {
            const key = await freshMetric();
            await outcome(c.updateMetric({ metric: metricInput(key, "Renamed") }));
            const { metric } = await admin().getMetric({ key });
            expect(metric?.name).toBe(allowed ? "Renamed" : "Checkouts");
            return;
          }
          case "ArchiveMetric": {
            const key = await freshMetric();
            await outcome(c.archiveMetric({ key }));
            const { metric } = await admin().getMetric({ key });
            expect(metric?.archived).toBe(allowed);
            return;
          }
        }
        throw new Error(`no call for ${rpc}`);
      },
    );
  });
});
