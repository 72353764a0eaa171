/**
 * Authentication and the role table (src/platform/access-policy.ts) over the
 * real server: who may call what, and a review of the table itself.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AccessService, Role } from "../../gen/lotty/access/v1/access_pb.js";
import { LearningService } from "../../gen/lotty/learnings/v1/learnings_pb.js";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { LOTTY_SERVICES } from "../../src/connect.js";
import {
  ACCESS_POLICY,
  PUBLIC_SERVICES,
  allowedRoles,
  isPublicService,
} from "../../src/platform/access-policy.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { TRANSPORT_KINDS, client, transport } from "../support/clients.js";

const ROLES = [Role.ADMIN, Role.EXPERIMENTER, Role.APPROVER, Role.VIEWER, Role.SERVICE] as const;

/** What each AccessService RPC answers an allowed caller for an empty request. */
const EMPTY_REQUEST_OUTCOME: Record<string, Code | "OK"> = {
  CreateUser: Code.InvalidArgument,
  GetUser: Code.InvalidArgument,
  ListUsers: "OK",
  UpdateUser: Code.InvalidArgument,
  CreateApiKey: Code.InvalidArgument,
  ListApiKeys: Code.InvalidArgument,
  RevokeApiKey: Code.InvalidArgument,
  SetReviewPolicy: Code.InvalidArgument,
  GetReviewPolicy: Code.InvalidArgument,
  GetCurrentUser: "OK",
};

let testApp: TestApp;
const keys = new Map<Role, { userId: string; apiKeyId: string; secret: string }>();

beforeAll(async () => {
  testApp = await startTestApp();
  const admin = client(AccessService, testApp.baseUrl, testApp.adminKey);
  for (const role of ROLES) {
    const name = Role[role].toLowerCase();
    const { user } = await admin.createUser({
      email: `${name}@matrix.example.com`,
      displayName: `Matrix ${name}`,
      roles: [role],
    });
    const userId = user?.id ?? "";
    const { apiKey, secret } = await admin.createApiKey({ userId, name: `matrix-${name}` });
    keys.set(role, { userId, apiKeyId: apiKey?.id ?? "", secret });
  }
});

afterAll(async () => {
  await testApp?.stop();
});

function keyOf(role: Role): string {
  const key = keys.get(role);
  if (key === undefined) throw new Error(`no key for ${Role[role]}`);
  return key.secret;
}

/** Sets `authorization` to exactly `value`. */
function rawAuthorization(value: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", value);
    return next(req);
  };
}

/** Calls any method with an empty request; "OK" or the error's code. */
async function outcome(
  service: DescService,
  method: DescMethod,
  key: string | undefined,
): Promise<Code | "OK"> {
  const c = createClient(service, transport("connect-json-h1", testApp.baseUrl, key));
  const call = (c as unknown as Record<string, (req: object, opts: object) => unknown>)[
    method.localName
  ];
  if (call === undefined) throw new Error(`no client method for ${method.name}`);
  try {
    const result = call({}, { timeoutMs: 10_000 });
    if (method.methodKind === "server_streaming") {
      for await (const _ of result as AsyncIterable<unknown>) break;
    } else {
      await result;
    }
    return "OK";
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

function allows(service: DescService, method: DescMethod, role: Role): boolean {
  return allowedRoles(service.typeName, method.name).includes(role);
}

describe("authentication", () => {
  async function codeWith(interceptors: Interceptor[]) {
    const c = createClient(
      AccessService,
      createConnectTransport({ baseUrl: testApp.baseUrl, httpVersion: "1.1", interceptors }),
    );
    try {
      await c.getCurrentUser({});
      return { code: "OK" as const, message: "" };
    } catch (error) {
      const e = ConnectError.from(error);
      return { code: e.code, message: e.rawMessage };
    }
  }

  it("rejects a call without a key", async () => {
    const result = await codeWith([]);
    expect(result.code).toBe(Code.Unauthenticated);
    expect(result.message).toContain("Authorization: Bearer");
  });

  it.each([
    ["a Basic header", `Basic ${Buffer.from("admin:admin").toString("base64")}`],
    ["Bearer without a key", "Bearer"],
    ["Bearer with two tokens", "Bearer lotty_a lotty_b"],
    ["a bare key", "lotty_abcdef"],
  ])("rejects a malformed header: %s", async (_label, value) => {
    const result = await codeWith([rawAuthorization(value)]);
    expect(result.code).toBe(Code.Unauthenticated);
    expect(result.message).toMatch(/malformed Authorization header|missing API key/);
  });

  it("rejects an unknown key, even one shaped like a real key", async () => {
    const forged = `lotty_${randomBytes(32).toString("base64url")}`;
    const result = await codeWith([rawAuthorization(`Bearer ${forged}`)]);
    expect(result.code).toBe(Code.Unauthenticated);
    expect(result.message).toBe("unknown or revoked API key");
  });

  it("accepts the scheme case-insensitively", async () => {
    const c = createClient(
      AccessService,
      createConnectTransport({
        baseUrl: testApp.baseUrl,
        httpVersion: "1.1",
        interceptors: [rawAuthorization(`bearer ${testApp.adminKey}`)],
      }),
    );
    expect((await c.getCurrentUser({})).user?.email).toBe("admin@lotty.local");
  });

  it("rejects a revoked key, over every transport", async () => {
    const admin = client(AccessService, testApp.baseUrl, testApp.adminKey);
    const { user } = await admin.createUser({
      email: "revoked@matrix.example.com",
      displayName: "Revoked",
      roles: [Role.ADMIN],
    });
    const { apiKey, secret } = await admin.createApiKey({ userId: user?.id ?? "", name: "gone" });
    const own = client(AccessService, testApp.baseUrl, secret);
    expect((await own.getCurrentUser({})).user?.id).toBe(user?.id);
    await admin.revokeApiKey({ id: apiKey?.id ?? "" });
    for (const kind of TRANSPORT_KINDS) {
      const error = await client(AccessService, testApp.baseUrl, secret, kind)
        .getCurrentUser({})
        .then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        );
      expect([kind, error?.code]).toEqual([kind, Code.Unauthenticated]);
    }
  });

  it("checks the key before the role: an unknown key on an admin-only RPC is UNAUTHENTICATED", async () => {
    const c = client(AccessService, testApp.baseUrl, "lotty_nope");
    const error = await c.listUsers({}).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Unauthenticated);
  });
});

describe.each(ROLES.map((role) => [Role[role], role] as const))(
  "AccessService as ROLE_%s",
  (_name, role) => {
    it.each(AccessService.methods.map((m) => [m.name, m] as const))(
      "%s is allowed or PERMISSION_DENIED exactly as the table says",
      async (name, method) => {
        const result = await outcome(AccessService, method, keyOf(role));
        if (allows(AccessService, method, role)) {
          expect(result).not.toBe(Code.PermissionDenied);
          expect(result).not.toBe(Code.Unauthenticated);
          expect(result).toBe(EMPTY_REQUEST_OUTCOME[name]);
        } else {
          expect(result).toBe(Code.PermissionDenied);
        }
      },
    );

    it("GetCurrentUser names this role's user and key", async () => {
      const key = keys.get(role);
      const c = client(AccessService, testApp.baseUrl, key?.secret);
      const res = await c.getCurrentUser({});
      expect(res.user?.id).toBe(key?.userId);
      expect(res.user?.roles).toEqual([role]);
      expect(res.apiKeyId).toBe(key?.apiKeyId);
    });
  },
);

describe("every service of the contract", () => {
  it("is built: no RPC answers UNIMPLEMENTED to an admin", async () => {
    const unimplemented: string[] = [];
    for (const service of LOTTY_SERVICES) {
      for (const method of service.methods) {
        const result = await outcome(service, method, testApp.adminKey);
        if (result === Code.Unimplemented) unimplemented.push(`${service.typeName}/${method.name}`);
      }
    }
    expect(unimplemented).toEqual([]);
  });

  it("still check keys and roles first", async () => {
    const method = LearningService.method.searchLearnings;
    const anonymous = await outcome(LearningService, method, undefined);
    expect(anonymous).toBe(Code.Unauthenticated);
    const service = await outcome(LearningService, method, keyOf(Role.SERVICE));
    expect(service).toBe(Code.PermissionDenied);
  });

  it.each(ROLES.map((role) => [Role[role], role] as const))(
    "every RPC of every service follows the table for ROLE_%s",
    async (_name, role) => {
      const mismatches: string[] = [];
      for (const service of LOTTY_SERVICES) {
        if (service === AccessService) continue;
        for (const method of service.methods) {
          const result = await outcome(service, method, keyOf(role));
          const allowed = allows(service, method, role);
          const ok = allowed
            ? result !== Code.PermissionDenied && result !== Code.Unauthenticated
            : result === Code.PermissionDenied;
          if (!ok) {
            mismatches.push(
              `${service.typeName}/${method.name}: ${result === "OK" ? "OK" : Code[result]}`,
            );
          }
        }
      }
      expect(mismatches).toEqual([]);
    },
  );
});

describe("the ACCESS_POLICY table", () => {
  it("lists every method of every served service", () => {
    const missing = LOTTY_SERVICES.flatMap((service) =>
      service.methods
        .filter((m) => ACCESS_POLICY[service.typeName]?.[m.name] === undefined)
        .map((m) => `${service.typeName}/${m.name}`),
    );
    expect(missing).toEqual([]);
  });

  it("names no service or method that does not exist", () => {
    const known = new Map(
      LOTTY_SERVICES.map((s) => [s.typeName, new Set(s.methods.map((m) => m.name))]),
    );
    const unknown = Object.entries(ACCESS_POLICY).flatMap(([service, methods]) =>
      Object.keys(methods)
        .filter((method) => known.get(service)?.has(method) !== true)
        .map((method) => `${service}/${method}`),
    );
    expect(unknown).toEqual([]);
    expect(Object.keys(ACCESS_POLICY).sort()).toEqual(LOTTY_SERVICES.map((s) => s.typeName).sort());
  });

  it("always allows ROLE_ADMIN and never ROLE_UNSPECIFIED", () => {
    for (const service of LOTTY_SERVICES) {
      for (const method of service.methods) {
        const roles = allowedRoles(service.typeName, method.name);
        expect([method.name, roles.includes(Role.ADMIN)]).toEqual([method.name, true]);
        expect([method.name, roles.includes(Role.UNSPECIFIED)]).toEqual([method.name, false]);
      }
    }
  });

  it("denies everyone an RPC it does not list", () => {
    expect(allowedRoles("lotty.access.v1.AccessService", "DropAllUsers")).toEqual([]);
    expect(allowedRoles("lotty.nope.v1.NopeService", "Get")).toEqual([]);
  });

  it("allows ROLE_SERVICE only Decide, the configuration sync, IngestEvents and GetCurrentUser", () => {
    const forService = LOTTY_SERVICES.flatMap((service) =>
      service.methods
        .filter((m) => allowedRoles(service.typeName, m.name).includes(Role.SERVICE))
        .map((m) => `${service.typeName}/${m.name}`),
    );
    expect(forService.sort()).toEqual([
      "lotty.access.v1.AccessService/GetCurrentUser",
      "lotty.decision.v1.DecisionService/Decide",
      "lotty.decision.v1.DecisionService/GetConfiguration",
      "lotty.decision.v1.DecisionService/WatchConfiguration",
      "lotty.events.v1.EventService/IngestEvents",
    ]);
  });

  it("keeps AccessService administration to admins", () => {
    for (const method of AccessService.methods) {
      const roles = allowedRoles(AccessService.typeName, method.name);
      if (method.name === "GetCurrentUser") {
        expect(roles.sort()).toEqual([...ROLES].sort());
      } else if (method.name === "GetReviewPolicy") {
        expect(roles.sort()).toEqual(
          [Role.ADMIN, Role.EXPERIMENTER, Role.APPROVER, Role.VIEWER].sort(),
        );
      } else {
        expect([method.name, roles]).toEqual([method.name, [Role.ADMIN]]);
      }
    }
  });

  it("makes only health and reflection public", () => {
    expect([...PUBLIC_SERVICES].sort()).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
    for (const service of LOTTY_SERVICES) expect(isPublicService(service.typeName)).toBe(false);
  });
});

describe("health and reflection need no key", () => {
  it.each(TRANSPORT_KINDS)("grpc.health.v1.Health/Check answers SERVING (%s)", async (kind) => {
    const health = client(Health, testApp.baseUrl, undefined, kind);
    expect((await health.check({})).status).toBe(ServingStatus.SERVING);
    expect((await health.check({ service: "lotty.access.v1.AccessService" })).status).toBe(
      ServingStatus.SERVING,
    );
  });

  it.each([
    ["v1", ServerReflectionV1],
    ["v1alpha", ServerReflectionV1alpha],
  ] as const)("reflection %s lists the services without a key", async (_version, service) => {
    const reflection = createClient(
      service as typeof ServerReflectionV1,
      transport("grpc", testApp.baseUrl),
    );
    async function* requests() {
      yield { messageRequest: { case: "listServices" as const, value: "*" } };
    }
    const names: string[] = [];
    for await (const res of reflection.serverReflectionInfo(requests())) {
      if (res.messageResponse.case === "listServicesResponse") {
        names.push(...res.messageResponse.value.service.map((s) => s.name));
      }
    }
    for (const s of LOTTY_SERVICES) expect(names).toContain(s.typeName);
    expect(names).toContain("grpc.health.v1.Health");
  });
});
