/**
 * The one port over every protocol: Connect (JSON over HTTP/1.1, binary over
 * HTTP/2), gRPC and gRPC-Web through the generated clients, plus the
 * reference gRPC stack (@grpc/grpc-js with @grpc/proto-loader). Also the
 * limits every RPC shares: bad input is never INTERNAL, request size and
 * deadline caps, request ids, metrics, and a clean stop.
 */
import http from "node:http";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { toBinary, create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  AccessService,
  CreateUserRequestSchema,
  Role,
  type User,
} from "../../gen/lotty/access/v1/access_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import {
  TRANSPORT_KINDS,
  bearer,
  client,
  transport,
  type TransportKind,
} from "../support/clients.js";

let testApp: TestApp;
let adminUser: User;
/** Every error message seen in this file, to check none leaks internals. */
const errorMessages: string[] = [];

beforeAll(async () => {
  testApp = await startTestApp();
  const { user } = await client(AccessService, testApp.baseUrl, testApp.adminKey).getCurrentUser(
    {},
  );
  if (user === undefined) throw new Error("no current user");
  adminUser = user;
});

afterAll(async () => {
  await testApp?.stop();
});

function adminOver(kind: TransportKind): Client<typeof AccessService> {
  return client(AccessService, testApp.baseUrl, testApp.adminKey, kind);
}

/** The ConnectError a call fails with (recorded for the leak check); throws on success. */
async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    const e = ConnectError.from(error);
    errorMessages.push(e.rawMessage);
    return e;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One plain HTTP/1.1 request on its own connection. */
function request(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Uint8Array,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${testApp.baseUrl}${path}`,
      { method, agent: false, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A Connect unary JSON call made by hand, as a browser's fetch would. */
async function postJson(path: string, body: unknown, key = testApp.adminKey) {
  const res = await request(
    "POST",
    path,
    { "content-type": "application/json", authorization: `Bearer ${key}` },
    JSON.stringify(body),
  );
  const parsed = JSON.parse(res.body) as { code?: string; message?: string };
  if (parsed.message !== undefined) errorMessages.push(parsed.message);
  return { ...res, json: parsed };
}

let emailCounter = 0;
function email(tag: string): string {
  emailCounter += 1;
  return `${tag}-${emailCounter}-${randomUUID().slice(0, 8)}@transports.example.com`;
}

describe("the same answers over every transport", () => {
  it("GetCurrentUser is identical over connect-json-h1, connect-binary-h2, grpc and grpc-web", async () => {
    const answers = await Promise.all(
      TRANSPORT_KINDS.map((kind) => adminOver(kind).getCurrentUser({})),
    );
    const [first, ...rest] = answers;
    expect(first?.user?.email).toBe("admin@lotty.local");
    expect(first?.user?.roles).toEqual([Role.ADMIN]);
    expect(first?.apiKeyId).toMatch(/^[0-9a-f-]{36}$/);
    for (const answer of rest) expect(answer).toEqual(first);
  });

  it("CreateUser over each transport stores the same thing, readable over every transport", async () => {
    const created = new Map<TransportKind, User>();
    for (const kind of TRANSPORT_KINDS) {
      const address = email(kind);
      const { user } = await adminOver(kind).createUser({
        email: address.toUpperCase(),
        displayName: "Same Everywhere",
        roles: [Role.VIEWER, Role.APPROVER],
      });
      if (user === undefined) throw new Error(`no user over ${kind}`);
      expect([kind, user.email, user.displayName, user.roles]).toEqual([
        kind,
        address,
        "Same Everywhere",
        [Role.APPROVER, Role.VIEWER],
      ]);
      created.set(kind, user);
    }
    expect(new Set([...created.values()].map((u) => u.id)).size).toBe(TRANSPORT_KINDS.length);

    for (const [creator, user] of created) {
      for (const reader of TRANSPORT_KINDS) {
        const { user: read } = await adminOver(reader).getUser({ id: user.id });
        expect([creator, reader, read]).toEqual([creator, reader, user]);
      }
    }
  });

  it("an error has the same code and message over every transport", async () => {
    const address = email("dup");
    await adminOver("grpc").createUser({ email: address, displayName: "D", roles: [Role.VIEWER] });
    const errors = [];
    for (const kind of TRANSPORT_KINDS) {
      const e = await errorOf(
        adminOver(kind).createUser({ email: address, displayName: "D", roles: [Role.VIEWER] }),
      );
      errors.push({ kind, code: e.code, message: e.rawMessage });
    }
    for (const e of errors) {
      expect(e).toEqual({
        kind: e.kind,
        code: Code.AlreadyExists,
        message: `email: a user with email ${address} already exists`,
      });
    }
  });
});

describe("request ids", () => {
  it.each(TRANSPORT_KINDS)("a response carries x-request-id (%s)", async (kind) => {
    let id: string | null = null;
    await adminOver(kind).getCurrentUser({}, { onHeader: (h) => (id = h.get("x-request-id")) });
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it.each(TRANSPORT_KINDS)("an error carries x-request-id (%s)", async (kind) => {
    const e = await errorOf(adminOver(kind).getUser({ id: randomUUID() }));
    expect(e.code).toBe(Code.NotFound);
    expect(e.metadata.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("echoes a well-formed client request id and replaces a malformed one", async () => {
    const given = `test-${randomUUID()}`;
    let echoed: string | null = null;
    await adminOver("grpc").getCurrentUser(
      {},
      { headers: { "x-request-id": given }, onHeader: (h) => (echoed = h.get("x-request-id")) },
    );
    expect(echoed).toBe(given);

    const res = await request(
      "POST",
      "/lotty.access.v1.AccessService/GetCurrentUser",
      {
        "content-type": "application/json",
        authorization: `Bearer ${testApp.adminKey}`,
        "x-request-id": "bad id with spaces",
      },
      "{}",
    );
    expect(res.status).toBe(200);
    expect(res.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("interoperability with @grpc/grpc-js and @grpc/proto-loader", () => {
  const protoDir = fileURLToPath(new URL("../../proto", import.meta.url));
  let definition: protoLoader.PackageDefinition;
  let grpcClient: grpc.Client;

  type UnaryCall = (
    request: object,
    metadata: grpc.Metadata,
    callback: (error: grpc.ServiceError | null, response?: Record<string, unknown>) => void,
  ) => grpc.ClientUnaryCall;

  function call(
    method: string,
    req: object,
    key: string | undefined,
  ): Promise<{ error: grpc.ServiceError | null; response?: Record<string, unknown> }> {
    const metadata = new grpc.Metadata();
    if (key !== undefined) metadata.set("authorization", `Bearer ${key}`);
    const fn = (grpcClient as unknown as Record<string, UnaryCall>)[method];
    if (fn === undefined) throw new Error(`no grpc-js method ${method}`);
    return new Promise((resolve) => {
      fn.call(grpcClient, req, metadata, (error, response) => resolve({ error, response }));
    });
  }

  beforeAll(() => {
    definition = protoLoader.loadSync("lotty/access/v1/access.proto", {
      includeDirs: [protoDir],
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      lotty: { access: { v1: { AccessService: grpc.ServiceClientConstructor } } };
    };
    const address = new URL(testApp.baseUrl).host;
    grpcClient = new loaded.lotty.access.v1.AccessService(
      address,
      grpc.credentials.createInsecure(),
    );
  });

  afterAll(() => grpcClient?.close());

  it("resolves google/protobuf/timestamp.proto from what proto-loader ships", () => {
    expect(Object.keys(definition)).toEqual(
      expect.arrayContaining([
        "google.protobuf.Timestamp",
        "lotty.access.v1.AccessService",
        "lotty.access.v1.User",
      ]),
    );
  });

  it("GetCurrentUser with a Bearer key returns the admin", async () => {
    const { error, response } = await call("getCurrentUser", {}, testApp.adminKey);
    expect(error).toBeNull();
    const user = response?.user as Record<string, unknown>;
    expect(user.id).toBe(adminUser.id);
    expect(user.email).toBe("admin@lotty.local");
    expect(user.displayName).toBe(adminUser.displayName);
    expect(user.roles).toEqual(["ROLE_ADMIN"]);
    expect(user.createdAt).toEqual({
      seconds: String(adminUser.createdAt?.seconds),
      nanos: adminUser.createdAt?.nanos,
    });
    expect(response?.apiKeyId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("a call without a key fails with status 16 UNAUTHENTICATED", async () => {
    const { error, response } = await call("getCurrentUser", {}, undefined);
    expect(response).toBeUndefined();
    expect(error?.code).toBe(16);
    expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(error?.details).toContain("missing API key");
  });

  it("CreateUser with enum names works and validation errors name the field", async () => {
    const address = email("grpcjs");
    const created = await call(
      "createUser",
      { email: address, displayName: "From grpc-js", roles: ["ROLE_EXPERIMENTER"] },
      testApp.adminKey,
    );
    expect(created.error).toBeNull();
    const user = created.response?.user as Record<string, unknown>;
    expect(user.email).toBe(address);
    expect(user.roles).toEqual(["ROLE_EXPERIMENTER"]);
    const viaConnect = await adminOver("grpc").getUser({ id: String(user.id) });
    expect(viaConnect.user?.roles).toEqual([Role.EXPERIMENTER]);

    const invalid = await call(
      "createUser",
      { email: "nope", displayName: "x", roles: ["ROLE_VIEWER"] },
      testApp.adminKey,
    );
    expect(invalid.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(decodeURIComponent(invalid.error?.details ?? "")).toMatch(/^email: /);
    expect(invalid.error?.metadata.get("x-request-id")[0]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("grpc-js shows the error message as the server wrote it", async () => {
    // grpc-message is percent-encoded on the wire; grpc-js decodes it with
    // decodeURI, so the server must escape only what the gRPC spec says
    // (bytes outside 0x20-0x7E, and '%'), not ':' or '@'.
    const invalid = await call(
      "createUser",
      { email: "nope", displayName: "x", roles: ["ROLE_VIEWER"] },
      testApp.adminKey,
    );
    expect(invalid.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(invalid.error?.details).toBe("email: must be an email address like name@example.com");
  });

  it("a viewer's key gets status 7 PERMISSION_DENIED for an admin RPC", async () => {
    const admin = adminOver("grpc");
    const { user } = await admin.createUser({
      email: email("viewer"),
      displayName: "Viewer",
      roles: [Role.VIEWER],
    });
    const { secret } = await admin.createApiKey({ userId: user?.id ?? "", name: "grpc-js" });
    const { error } = await call("listUsers", {}, secret);
    expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
  });
});

describe("bad input is INVALID_ARGUMENT naming the field, never INTERNAL", () => {
  it.each(TRANSPORT_KINDS)("an invalid e-mail (%s)", async (kind) => {
    const e = await errorOf(
      adminOver(kind).createUser({
        email: "not-an-email",
        displayName: "X",
        roles: [Role.VIEWER],
      }),
    );
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.rawMessage).toMatch(/^email: /);
  });

  it.each(["connect-binary-h2", "grpc"] as const)(
    "an unknown role value 99 in binary (%s)",
    async (kind) => {
      const e = await errorOf(
        adminOver(kind).createUser({
          email: email("role99"),
          displayName: "X",
          roles: [99 as Role],
        }),
      );
      expect(e.code).toBe(Code.InvalidArgument);
      expect(e.rawMessage).toMatch(/^roles\[0\]: unknown role 99/);
    },
  );

  it("an unknown role 99 in a hand-made binary body", async () => {
    const body = toBinary(
      CreateUserRequestSchema,
      create(CreateUserRequestSchema, {
        email: email("role99raw"),
        displayName: "X",
        roles: [Role.VIEWER, 99 as Role],
      }),
    );
    const res = await request(
      "POST",
      "/lotty.access.v1.AccessService/CreateUser",
      { "content-type": "application/proto", authorization: `Bearer ${testApp.adminKey}` },
      body,
    );
    expect(res.status).toBe(400);
    const json = JSON.parse(res.body) as { code: string; message: string };
    errorMessages.push(json.message);
    expect(json.code).toBe("invalid_argument");
    expect(json.message).toMatch(/^roles\[1\]: /);
  });

  it('an unknown role name "ROLE_NOPE" in JSON', async () => {
    const res = await postJson("/lotty.access.v1.AccessService/CreateUser", {
      email: email("nope"),
      displayName: "X",
      roles: ["ROLE_NOPE"],
    });
    expect(res.status).toBe(400);
    expect(res.json.code).toBe("invalid_argument");
    // Names the field, or the enum and the offending value.
    expect(res.json.message).toMatch(/roles|lotty\.access\.v1\.Role\b/);
  });

  it("an unknown role name next to a valid one is rejected, not silently dropped", async () => {
    const address = email("mixed");
    const res = await postJson("/lotty.access.v1.AccessService/CreateUser", {
      email: address,
      displayName: "X",
      roles: ["ROLE_VIEWER", "ROLE_NOPE"],
    });
    expect(res.json.code).toBe("invalid_argument");
    // Names the field, or the enum and the offending value.
    expect(res.json.message).toMatch(/roles|lotty\.access\.v1\.Role\b/);
    const all = await adminOver("grpc").listUsers({ pageSize: 500 });
    expect(all.users.map((u) => u.email)).not.toContain(address);
  });

  it("a JSON field of the wrong type, and a body that is not JSON", async () => {
    const wrongType = await postJson("/lotty.access.v1.AccessService/CreateUser", {
      email: 5,
      displayName: "X",
      roles: ["ROLE_VIEWER"],
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.code).toBe("invalid_argument");
    expect(wrongType.json.message).toContain("email");

    const notJson = await request(
      "POST",
      "/lotty.access.v1.AccessService/CreateUser",
      { "content-type": "application/json", authorization: `Bearer ${testApp.adminKey}` },
      "{not json",
    );
    expect(notJson.status).toBe(400);
    expect((JSON.parse(notJson.body) as { code: string }).code).toBe("invalid_argument");
  });

  it.each(TRANSPORT_KINDS)("an empty display name (%s)", async (kind) => {
    const e = await errorOf(
      adminOver(kind).createUser({
        email: email("blank"),
        displayName: "   ",
        roles: [Role.VIEWER],
      }),
    );
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.rawMessage).toMatch(/^display_name: /);
  });

  it("an empty request names every missing field", async () => {
    const e = await errorOf(adminOver("connect-binary-h2").createUser({}));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.rawMessage).toBe(
      "email: is required; display_name: is required; roles: at least one role is required",
    );
  });

  it.each(TRANSPORT_KINDS)("a non-UUID id for GetUser (%s)", async (kind) => {
    const e = await errorOf(adminOver(kind).getUser({ id: "user-1" }));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.rawMessage).toBe("id: must be a UUID");
  });

  it("a display name longer than 200 characters", async () => {
    const e = await errorOf(
      adminOver("grpc").createUser({
        email: email("long"),
        displayName: "é".repeat(201),
        roles: [Role.VIEWER],
      }),
    );
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.rawMessage).toMatch(/^display_name: /);
    // 200 characters, whatever their UTF-8 length, are fine.
    const ok = await adminOver("grpc").createUser({
      email: email("long-ok"),
      displayName: "😀".repeat(200),
      roles: [Role.VIEWER],
    });
    expect(ok.user?.displayName).toBe("😀".repeat(200));
  });

  // PostgreSQL cannot store U+0000 in text; validation must catch it first.
  it.each([
    ["display_name", { email: "nul-name@transports.example.com", displayName: "a\u0000b" }],
    ["email", { email: "nul\u0000mail@transports.example.com", displayName: "NUL" }],
  ])("a NUL character in %s", async (field, fields) => {
    const e = await errorOf(adminOver("grpc").createUser({ ...fields, roles: [Role.VIEWER] }));
    expect([Code[e.code], e.rawMessage.split(":")[0]]).toEqual(["InvalidArgument", field]);
  });

  it("a NUL character in an API key name", async () => {
    const e = await errorOf(
      adminOver("grpc").createApiKey({ userId: adminUser.id, name: "k\u0000" }),
    );
    expect([Code[e.code], e.rawMessage.split(":")[0]]).toEqual(["InvalidArgument", "name"]);
  });

  it("a page token that smuggles a NUL character", async () => {
    const token = Buffer.from(JSON.stringify({ a: "x\u0000" }), "utf8").toString("base64url");
    const e = await errorOf(adminOver("grpc").listUsers({ pageToken: token }));
    expect([Code[e.code], e.rawMessage.split(":")[0]]).toEqual(["InvalidArgument", "page_token"]);
  });

  it.each(TRANSPORT_KINDS)(
    "a request larger than 4 MiB is RESOURCE_EXHAUSTED (%s)",
    async (kind) => {
      // connect-node's HTTP/1.1 client stops sending the body once the early
      // answer arrives yet keeps the connection for reuse, which stalls the next
      // call on it; so HTTP/1.1 kinds get a connection of their own here.
      const agent = new http.Agent({ keepAlive: false });
      const interceptors = [bearer(testApp.adminKey)];
      const baseUrl = testApp.baseUrl;
      const t =
        kind === "connect-json-h1"
          ? createConnectTransport({
              baseUrl,
              httpVersion: "1.1",
              interceptors,
              nodeOptions: { agent },
            })
          : kind === "grpc-web"
            ? createGrpcWebTransport({
                baseUrl,
                httpVersion: "1.1",
                interceptors,
                nodeOptions: { agent },
              })
            : transport(kind, baseUrl, testApp.adminKey);
      try {
        const e = await errorOf(
          createClient(AccessService, t).createUser({
            email: email("huge"),
            displayName: "x".repeat(5_000_000),
            roles: [Role.VIEWER],
          }),
        );
        expect(e.code).toBe(Code.ResourceExhausted);
        expect(e.rawMessage).toContain("larger than configured readMaxBytes 4194304");
      } finally {
        agent.destroy();
      }
      // The server is still fine afterwards.
      expect((await adminOver(kind).getCurrentUser({})).user?.id).toBe(adminUser.id);
    },
  );

  it.each(["grpc", "connect-binary-h2"] as const)(
    "a deadline above 5 minutes is INVALID_ARGUMENT (%s)",
    async (kind) => {
      const e = await errorOf(adminOver(kind).getCurrentUser({}, { timeoutMs: 400_000 }));
      expect(e.code).toBe(Code.InvalidArgument);
      // Exactly 5 minutes is fine.
      const ok = await adminOver(kind).getCurrentUser({}, { timeoutMs: 300_000 });
      expect(ok.user?.id).toBe(adminUser.id);
    },
  );

  it("no error message carried a stack frame or SQL", () => {
    expect(errorMessages.length).toBeGreaterThan(20);
    for (const message of errorMessages) {
      expect(message).not.toMatch(/\n\s*at\s/);
      expect(message).not.toMatch(/\bat \S+ \(|\(\S+:\d+:\d+\)|node_modules|file:\/\//);
      expect(message).not.toMatch(/select|insert|SQL/i);
    }
  });
});

describe("/metrics", () => {
  function handled(text: string, method: string, code: string): number {
    const series = `rpc_server_handled_total{service="lotty.access.v1.AccessService",method="${method}",code="${code}"}`;
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  }

  it("counts a CreateUser with code OK", async () => {
    const before = await request("GET", "/metrics");
    expect(before.status).toBe(200);
    expect(before.headers["content-type"]).toContain("text/plain");

    await adminOver("connect-json-h1").createUser({
      email: email("metrics"),
      displayName: "Counted",
      roles: [Role.VIEWER],
    });
    await errorOf(adminOver("grpc").getUser({ id: "not-a-uuid" }));

    const after = await request("GET", "/metrics");
    expect(after.body).toContain(
      'rpc_server_handled_total{service="lotty.access.v1.AccessService",method="CreateUser",code="OK"}',
    );
    expect(handled(after.body, "CreateUser", "OK")).toBe(
      handled(before.body, "CreateUser", "OK") + 1,
    );
    expect(handled(after.body, "GetUser", "InvalidArgument")).toBe(
      handled(before.body, "GetUser", "InvalidArgument") + 1,
    );
    expect(after.body).toContain("rpc_server_handling_seconds_bucket{");
  });
});

describe("stop", () => {
  it("closes idle HTTP/1.1 keep-alive connections instead of waiting for the client", async () => {
    const other = await startTestApp();
    const agent = new http.Agent({ keepAlive: true });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        http
          .get(`${other.baseUrl}/health`, { agent }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          })
          .on("error", reject);
      });
      expect(status).toBe(200);
      const started = Date.now();
      const stopped = other.app.stop();
      const inTime = await Promise.race([
        stopped.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3_000)),
      ]);
      expect({ stoppedWithin3s: inTime, ms: Date.now() - started }).toEqual({
        stoppedWithin3s: true,
        ms: expect.any(Number),
      });
    } finally {
      agent.destroy();
      await other.stop();
    }
  });
});
