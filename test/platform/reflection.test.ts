import { execFile } from "node:child_process";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { create, createFileRegistry, createRegistry, fromBinary } from "@bufbuild/protobuf";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  file_google_protobuf_descriptor,
} from "@bufbuild/protobuf/wkt";
import { Code, createClient, createRouterTransport, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflection as ServerReflectionV1,
  file_grpc_reflection_v1_reflection,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1alpha,
  file_grpc_reflection_v1alpha_reflection,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { AccessService, file_lotty_access_v1_access } from "../../gen/lotty/access/v1/access_pb.js";
import { healthRoutes } from "../../src/platform/health.js";
import { reflectionRoutes } from "../../src/platform/reflection.js";

const ACCESS_PROTO = "lotty/access/v1/access.proto";
const TIMESTAMP_PROTO = "google/protobuf/timestamp.proto";
const DESCRIPTOR_PROTO = "google/protobuf/descriptor.proto";
const EXT_PROTO = "lotty/reflectiontest/v1/ext.proto";
const AUDIT_EXTENSION_NUMBER = 50001;

/**
 * A file that only exists in this test: it extends google.protobuf.MessageOptions,
 * so the extension lookups have something to find.
 */
const extensionRegistry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: EXT_PROTO,
    package: "lotty.reflectiontest.v1",
    syntax: "proto3",
    dependency: [DESCRIPTOR_PROTO],
    extension: [
      {
        name: "audit_owner",
        number: AUDIT_EXTENSION_NUMBER,
        label: FieldDescriptorProto_Label.OPTIONAL,
        type: FieldDescriptorProto_Type.STRING,
        extendee: ".google.protobuf.MessageOptions",
        jsonName: "auditOwner",
      },
    ],
  }),
  (name) => (name === DESCRIPTOR_PROTO ? file_google_protobuf_descriptor : undefined),
);

const registry = createRegistry(
  file_lotty_access_v1_access,
  file_grpc_health_v1_health,
  extensionRegistry,
);

type ReflectionService = typeof ServerReflectionV1 | typeof ServerReflectionV1alpha;

/** A request as both versions accept it (they are wire- and shape-identical). */
interface ReflectionRequestInit {
  host?: string;
  messageRequest:
    | { case: "fileByFilename"; value: string }
    | { case: "fileContainingSymbol"; value: string }
    | {
        case: "fileContainingExtension";
        value: { containingType: string; extensionNumber: number };
      }
    | { case: "allExtensionNumbersOfType"; value: string }
    | { case: "listServices"; value: string };
}

function transportFor(serviceNames?: () => readonly string[]) {
  return createRouterTransport(reflectionRoutes(registry, serviceNames ? { serviceNames } : {}));
}

/** Sends `requests` on one ServerReflectionInfo stream and collects the answers. */
async function reflect(
  service: ReflectionService,
  requests: ReflectionRequestInit[],
  transport = transportFor(() => ["lotty.access.v1.AccessService", "grpc.health.v1.Health"]),
) {
  async function* send() {
    yield* requests;
  }
  const responses = [];
  if (service === ServerReflectionV1) {
    const client = createClient(ServerReflectionV1, transport);
    for await (const response of client.serverReflectionInfo(send())) responses.push(response);
  } else {
    const client = createClient(ServerReflectionV1alpha, transport);
    for await (const response of client.serverReflectionInfo(send())) responses.push(response);
  }
  return responses;
}

async function reflectOne(service: ReflectionService, request: ReflectionRequestInit) {
  const [response, ...rest] = await reflect(service, [request]);
  expect(rest).toHaveLength(0);
  if (!response) throw new Error("no reflection response");
  return response;
}

/** The decoded file descriptors of a file_descriptor_response, in order. */
async function filesFor(
  service: ReflectionService,
  request: ReflectionRequestInit,
): Promise<FileDescriptorProto[]> {
  const { messageResponse } = await reflectOne(service, request);
  if (messageResponse.case !== "fileDescriptorResponse") {
    throw new Error(`expected fileDescriptorResponse, got ${messageResponse.case}`);
  }
  return messageResponse.value.fileDescriptorProto.map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
}

async function errorFor(service: ReflectionService, request: ReflectionRequestInit) {
  const { messageResponse } = await reflectOne(service, request);
  if (messageResponse.case !== "errorResponse") {
    throw new Error(`expected errorResponse, got ${messageResponse.case}`);
  }
  return {
    errorCode: messageResponse.value.errorCode,
    errorMessage: messageResponse.value.errorMessage,
  };
}

const symbol = (value: string): ReflectionRequestInit => ({
  messageRequest: { case: "fileContainingSymbol", value },
});

describe.each([
  ["grpc.reflection.v1", ServerReflectionV1],
  ["grpc.reflection.v1alpha", ServerReflectionV1alpha],
] as const)("%s.ServerReflection", (_name, service) => {
  it("lists the names serviceNames() returns, asking it on every request", async () => {
    const names = ["lotty.access.v1.AccessService"];
    const transport = transportFor(() => names);
    const listServices: ReflectionRequestInit = {
      messageRequest: { case: "listServices", value: "*" },
    };
    const listed = async () => {
      const [response] = await reflect(service, [listServices], transport);
      return response?.messageResponse.case === "listServicesResponse"
        ? response.messageResponse.value.service.map((s) => s.name)
        : [];
    };

    expect(await listed()).toEqual(["lotty.access.v1.AccessService"]);
    names.push("grpc.health.v1.Health");
    expect(await listed()).toEqual(["lotty.access.v1.AccessService", "grpc.health.v1.Health"]);
  });

  it("lists the services registered on the router when no names are given", async () => {
    const transport = createRouterTransport((router: ConnectRouter) => {
      router.service(AccessService, {});
      healthRoutes(() => true)(router);
      reflectionRoutes(registry)(router);
    });
    const [response] = await reflect(
      service,
      [{ messageRequest: { case: "listServices", value: "" } }],
      transport,
    );
    const listed =
      response?.messageResponse.case === "listServicesResponse"
        ? response.messageResponse.value.service.map((s) => s.name).sort()
        : [];
    expect(listed).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "lotty.access.v1.AccessService",
    ]);
  });

  it("returns a service's file followed by its imports", async () => {
    const files = await filesFor(service, symbol("lotty.access.v1.AccessService"));

    expect(files.map((f) => f.name)).toEqual([ACCESS_PROTO, TIMESTAMP_PROTO]);
    const [access, timestamp] = files;
    expect(access?.package).toBe("lotty.access.v1");
    expect(access?.syntax).toBe("proto3");
    expect(access?.dependency).toEqual([TIMESTAMP_PROTO]);
    expect(access?.service.map((s) => s.name)).toEqual(["AccessService"]);
    expect(access?.service[0]?.method.map((m) => m.name)).toContain("CreateUser");
    expect(access?.service[0]?.method.find((m) => m.name === "CreateUser")).toMatchObject({
      inputType: ".lotty.access.v1.CreateUserRequest",
      outputType: ".lotty.access.v1.CreateUserResponse",
    });
    expect(access?.messageType.find((m) => m.name === "User")?.field.map((f) => f.name)).toEqual([
      "id",
      "email",
      "display_name",
      "roles",
      "created_at",
      "updated_at",
    ]);
    expect(timestamp?.package).toBe("google.protobuf");
    expect(timestamp?.messageType.map((m) => m.name)).toEqual(["Timestamp"]);
  });

  it.each([
    ["a method", "lotty.access.v1.AccessService.CreateUser"],
    ["a message", "lotty.access.v1.CreateUserRequest"],
    ["a field", "lotty.access.v1.User.display_name"],
    ["an enum", "lotty.access.v1.Role"],
    ["an enum value", "lotty.access.v1.ROLE_ADMIN"],
  ])("finds the file declaring %s", async (_kind, name) => {
    const files = await filesFor(service, symbol(name));
    expect(files.map((f) => f.name)).toEqual([ACCESS_PROTO, TIMESTAMP_PROTO]);
  });

  it("finds well-known types, which have no imports", async () => {
    const files = await filesFor(service, symbol("google.protobuf.Timestamp"));
    expect(files.map((f) => f.name)).toEqual([TIMESTAMP_PROTO]);
  });

  it("returns a file by its name", async () => {
    const files = await filesFor(service, {
      messageRequest: { case: "fileByFilename", value: "grpc/health/v1/health.proto" },
    });
    expect(files.map((f) => f.name)).toEqual(["grpc/health/v1/health.proto"]);
    expect(files[0]?.service[0]?.method.map((m) => m.name)).toEqual(["Check", "Watch", "List"]);
  });

  it("does not resend an import already sent on the same stream", async () => {
    const responses = await reflect(service, [
      symbol("lotty.access.v1.User"),
      symbol("lotty.access.v1.ApiKey"),
      symbol("google.protobuf.Timestamp"),
    ]);
    const names = responses.map((r) =>
      r.messageResponse.case === "fileDescriptorResponse"
        ? r.messageResponse.value.fileDescriptorProto.map(
            (bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name,
          )
        : [],
    );
    // The requested file is always sent; its imports only once per stream.
    expect(names).toEqual([[ACCESS_PROTO, TIMESTAMP_PROTO], [ACCESS_PROTO], [TIMESTAMP_PROTO]]);
  });

  it("answers unknown symbols and files with NOT_FOUND and echoes the request", async () => {
    const response = await reflectOne(service, {
      host: "reflection.test",
      ...symbol("lotty.access.v1.NoSuchThing"),
    });
    expect(response.validHost).toBe("reflection.test");
    expect(response.originalRequest?.messageRequest).toEqual({
      case: "fileContainingSymbol",
      value: "lotty.access.v1.NoSuchThing",
    });
    expect(response.messageResponse).toEqual({
      case: "errorResponse",
      value: expect.objectContaining({
        errorCode: 5,
        errorMessage: "symbol not found: lotty.access.v1.NoSuchThing",
      }),
    });
    expect(
      await errorFor(service, { messageRequest: { case: "fileByFilename", value: "nope.proto" } }),
    ).toEqual({ errorCode: Code.NotFound, errorMessage: "file not found: nope.proto" });
  });

  it("keeps the stream open after an error", async () => {
    const responses = await reflect(service, [
      symbol("no.such.Symbol"),
      symbol("lotty.access.v1.AccessService"),
    ]);
    expect(responses.map((r) => r.messageResponse.case)).toEqual([
      "errorResponse",
      "fileDescriptorResponse",
    ]);
  });

  it("finds the file declaring an extension, with its imports", async () => {
    const files = await filesFor(service, {
      messageRequest: {
        case: "fileContainingExtension",
        value: {
          containingType: "google.protobuf.MessageOptions",
          extensionNumber: AUDIT_EXTENSION_NUMBER,
        },
      },
    });
    expect(files.map((f) => f.name)).toEqual([EXT_PROTO, DESCRIPTOR_PROTO]);
    expect(files[0]?.extension.map((e) => [e.name, e.number])).toEqual([
      ["audit_owner", AUDIT_EXTENSION_NUMBER],
    ]);
    expect(files[1]?.messageType.map((m) => m.name)).toContain("MessageOptions");

    const byName = await filesFor(service, symbol("lotty.reflectiontest.v1.audit_owner"));
    expect(byName.map((f) => f.name)).toEqual([EXT_PROTO, DESCRIPTOR_PROTO]);
  });

  it("answers an unknown extension with NOT_FOUND", async () => {
    expect(
      await errorFor(service, {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.MessageOptions", extensionNumber: 49999 },
        },
      }),
    ).toEqual({
      errorCode: Code.NotFound,
      errorMessage: "extension 49999 of google.protobuf.MessageOptions not found",
    });
  });

  it("lists the extension numbers of a type", async () => {
    const ask = (value: string) =>
      reflectOne(service, { messageRequest: { case: "allExtensionNumbersOfType", value } });

    const extended = await ask("google.protobuf.MessageOptions");
    expect(extended.messageResponse).toEqual({
      case: "allExtensionNumbersResponse",
      value: expect.objectContaining({
        baseTypeName: "google.protobuf.MessageOptions",
        extensionNumber: [AUDIT_EXTENSION_NUMBER],
      }),
    });
    const plain = await ask("lotty.access.v1.User");
    expect(plain.messageResponse).toEqual({
      case: "allExtensionNumbersResponse",
      value: expect.objectContaining({
        baseTypeName: "lotty.access.v1.User",
        extensionNumber: [],
      }),
    });
    expect(
      await errorFor(service, {
        messageRequest: { case: "allExtensionNumbersOfType", value: "lotty.access.v1.Nope" },
      }),
    ).toEqual({
      errorCode: Code.NotFound,
      errorMessage: "message type not found: lotty.access.v1.Nope",
    });
  });
});

describe("reflection over a real HTTP/2 server, read by buf curl", () => {
  const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
  const run = promisify(execFile);
  let server: http2.Http2Server;
  let baseUrl: string;
  const sessions = new Set<http2.ServerHttp2Session>();

  beforeAll(async () => {
    const routes = (router: ConnectRouter) => {
      router.service(AccessService, {});
      healthRoutes(() => true)(router);
      reflectionRoutes(
        createRegistry(
          file_lotty_access_v1_access,
          file_grpc_health_v1_health,
          file_grpc_reflection_v1_reflection,
          file_grpc_reflection_v1alpha_reflection,
        ),
      )(router);
    };
    server = http2.createServer(connectNodeAdapter({ routes }));
    server.on("session", (session) => {
      sessions.add(session);
      session.on("close", () => sessions.delete(session));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve, reject) =>
      server.close((error) => (error ? reject(error) : resolve())),
    );
  });

  /** Runs buf curl over gRPC; the server lives in this process, so this must not block. */
  async function bufCurl(...args: string[]): Promise<string> {
    const { stdout } = await run(
      buf,
      ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args],
      { timeout: 30_000 },
    );
    return stdout;
  }

  it.each(["grpc-v1", "grpc-v1alpha"])("lists the services (%s)", async (reflectProtocol) => {
    const stdout = await bufCurl("--reflect-protocol", reflectProtocol, "--list-services", baseUrl);
    expect(stdout.trim().split("\n").sort()).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "lotty.access.v1.AccessService",
    ]);
  });

  it("lists the methods, which needs every file and import", async () => {
    const stdout = await bufCurl("--list-methods", baseUrl);
    const methods = stdout.trim().split("\n");
    expect(methods).toContain("lotty.access.v1.AccessService/CreateUser");
    expect(methods).toContain("grpc.health.v1.Health/Watch");
    expect(methods).toContain("grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
  });

  it("calls Health/Check with the schema it got through reflection", async () => {
    const stdout = await bufCurl("-d", "{}", `${baseUrl}/grpc.health.v1.Health/Check`);
    expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
  });
});
