/**
 * Operators' view: with no .proto files, `buf curl` discovers every service
 * through server reflection on the real server and calls one.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { LOTTY_SERVICES } from "../../src/connect.js";
import { startTestApp, type TestApp } from "../support/app.js";

const run = promisify(execFile);
const BUF = path.resolve("node_modules", ".bin", "buf");

describe("buf curl through reflection", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.stop();
  });

  it.each(["grpc-v1", "grpc-v1alpha"])(
    "lists every service with %s reflection",
    async (reflect) => {
      const { stdout } = await run(BUF, [
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol",
        reflect,
        "--list-services",
        t.baseUrl,
      ]);
      const listed = stdout.trim().split("\n").sort();
      expect(listed).toEqual(
        [
          ...LOTTY_SERVICES.map((s) => s.typeName),
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
        ].sort(),
      );
    },
  );

  it("calls an authenticated RPC using only reflected descriptors", async () => {
    const { stdout } = await run(BUF, [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-H",
      `Authorization: Bearer ${t.adminKey}`,
      "-d",
      "{}",
      `${t.baseUrl}/lotty.access.v1.AccessService/GetCurrentUser`,
    ]);
    const answer = JSON.parse(stdout) as { user: { email: string; roles: string[] } };
    expect(answer.user.email).toBe("admin@lotty.local");
    expect(answer.user.roles).toEqual(["ROLE_ADMIN"]);
  });

  it("reports UNAUTHENTICATED to buf curl without a key", async () => {
    const failure = await run(BUF, [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      "{}",
      `${t.baseUrl}/lotty.access.v1.AccessService/GetCurrentUser`,
    ]).then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    expect(failure).toContain("unauthenticated");
  });
});
