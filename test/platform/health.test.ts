import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  Code,
  type Client,
  ConnectError,
  createClient,
  createRouterTransport,
  type ConnectRouter,
} from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { AccessService } from "../../gen/lotty/access/v1/access_pb.js";
import { healthRoutes, type HealthOptions } from "../../src/platform/health.js";

/** A switchable health source that counts how often it is asked. */
function probe(initiallyServing = true) {
  const state = { serving: initiallyServing, calls: 0 };
  const isServing = () => {
    state.calls += 1;
    return state.serving;
  };
  return { state, isServing };
}

/** A Health client for a router that also serves AccessService. */
function healthClient(isServing: () => boolean | Promise<boolean>, options: HealthOptions = {}) {
  const transport = createRouterTransport((router: ConnectRouter) => {
    router.service(AccessService, {});
    healthRoutes(isServing, options)(router);
  });
  return createClient(Health, transport);
}

/** Starts a Watch that the test reads message by message and ends with `controller`. */
function openWatch(client: Client<typeof Health>, service: string) {
  const controller = new AbortController();
  const responses = client.watch({ service }, { signal: controller.signal });
  return { stream: responses[Symbol.asyncIterator](), controller };
}

async function codeOf(promise: Promise<unknown>): Promise<Code | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

describe("grpc.health.v1.Health/Check", () => {
  it("follows isServing for the whole server", async () => {
    const { state, isServing } = probe(true);
    const client = healthClient(isServing);

    expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    state.serving = false;
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);
    state.serving = true;
    expect((await client.check({})).status).toBe(ServingStatus.SERVING);
  });

  it("knows the services registered on the router", async () => {
    const { state, isServing } = probe(true);
    const client = healthClient(isServing);

    const check = (service: string) => client.check({ service }).then((r) => r.status);
    expect(await check("lotty.access.v1.AccessService")).toBe(ServingStatus.SERVING);
    expect(await check("grpc.health.v1.Health")).toBe(ServingStatus.SERVING);
    state.serving = false;
    expect(await check("lotty.access.v1.AccessService")).toBe(ServingStatus.NOT_SERVING);
  });

  it("uses the serviceNames option instead of the router when given", async () => {
    const client = healthClient(() => true, { serviceNames: () => ["lotty.flags.v1.FlagService"] });

    expect((await client.check({ service: "lotty.flags.v1.FlagService" })).status).toBe(
      ServingStatus.SERVING,
    );
    expect(await codeOf(client.check({ service: "lotty.access.v1.AccessService" }))).toBe(
      Code.NotFound,
    );
  });

  it("fails an unknown service with NOT_FOUND", async () => {
    const client = healthClient(() => true);

    const error = await client.check({ service: "lotty.nope.v1.NopeService" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.NotFound);
    expect(error?.rawMessage).toBe("unknown service: lotty.nope.v1.NopeService");
  });

  it("awaits an async isServing and counts a failure as NOT_SERVING", async () => {
    let healthy = true;
    const client = healthClient(async () => {
      await delay(1);
      if (!healthy) throw new Error("database unreachable");
      return true;
    });

    expect((await client.check({})).status).toBe(ServingStatus.SERVING);
    healthy = false;
    expect((await client.check({})).status).toBe(ServingStatus.NOT_SERVING);
  });
});

describe("grpc.health.v1.Health/Watch", () => {
  it("sends the current status, then each change", async () => {
    const { state, isServing } = probe(true);
    const client = healthClient(isServing, { watchIntervalMs: 10 });
    const { stream, controller } = openWatch(client, "");

    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    state.serving = false;
    expect((await stream.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
    state.serving = true;
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    controller.abort();
    expect(await codeOf(stream.next())).toBe(Code.Canceled);
  });

  it("polls once a second by default and sends nothing while the status holds", async () => {
    const { state, isServing } = probe(false);
    const client = healthClient(isServing);
    const { stream, controller } = openWatch(client, "lotty.access.v1.AccessService");

    const started = Date.now();
    expect((await stream.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
    state.serving = true;
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(1900);
    expect(state.calls).toBe(2);
    controller.abort();
    expect(await codeOf(stream.next())).toBe(Code.Canceled);
  });

  it("reports an unknown service as SERVICE_UNKNOWN without ending the stream", async () => {
    const names = ["lotty.access.v1.AccessService"];
    const client = healthClient(() => true, { serviceNames: () => names, watchIntervalMs: 10 });
    const { stream, controller } = openWatch(client, "lotty.flags.v1.FlagService");

    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVICE_UNKNOWN);
    names.push("lotty.flags.v1.FlagService"); // the service becomes known later
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    controller.abort();
    expect(await codeOf(stream.next())).toBe(Code.Canceled);
  });
});

describe("grpc.health.v1.Health/List", () => {
  it("reports the server and every known service", async () => {
    const { state, isServing } = probe(true);
    const client = healthClient(isServing);

    const statuses = async () =>
      Object.fromEntries(
        Object.entries((await client.list({})).statuses).map(([name, r]) => [name, r.status]),
      );
    expect(await statuses()).toEqual({
      "": ServingStatus.SERVING,
      "lotty.access.v1.AccessService": ServingStatus.SERVING,
      "grpc.health.v1.Health": ServingStatus.SERVING,
    });
    state.serving = false;
    expect(await statuses()).toEqual({
      "": ServingStatus.NOT_SERVING,
      "lotty.access.v1.AccessService": ServingStatus.NOT_SERVING,
      "grpc.health.v1.Health": ServingStatus.NOT_SERVING,
    });
  });
});

describe("grpc.health.v1.Health over a real HTTP/2 server", () => {
  // The in-memory transport only runs the handler when the client pulls, so
  // whether Watch stops polling when the client leaves shows on a real server.
  const { state, isServing } = probe(true);
  let server: http2.Http2Server;
  let client: Client<typeof Health>;
  const sessions = new Set<http2.ServerHttp2Session>();

  beforeAll(async () => {
    server = http2.createServer(
      connectNodeAdapter({ routes: healthRoutes(isServing, { watchIntervalMs: 10 }) }),
    );
    server.on("session", (session) => {
      sessions.add(session);
      session.on("close", () => sessions.delete(session));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    client = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  });

  afterAll(async () => {
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve, reject) =>
      server.close((error) => (error ? reject(error) : resolve())),
    );
  });

  it("Watch delivers a change over gRPC and stops polling when the client leaves", async () => {
    const { stream, controller } = openWatch(client, "");

    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    state.serving = false;
    expect((await stream.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
    await delay(50);
    expect(state.calls).toBeGreaterThan(3); // the server polls on its own

    controller.abort();
    expect(await codeOf(stream.next())).toBe(Code.Canceled);
    await delay(50); // the cancellation reaches the server
    const callsAfterAbort = state.calls;
    await delay(100); // ten intervals
    expect(state.calls).toBe(callsAfterAbort);
  });
});
