/** The verified-key cache, with a stand-in for the key store. */
import { describe, expect, it } from "@jest/globals";
import { Code, ConnectError } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { Authenticator, hashApiKey, type Principal } from "../../src/platform/auth.js";

const principal: Principal = {
  userId: "00000000-0000-4000-8000-000000000001",
  email: "svc@example.com",
  apiKeyId: "00000000-0000-4000-8000-000000000002",
  roles: new Set([Role.SERVICE]),
};

function store() {
  const state = { down: false, lookups: 0 };
  const lookup = async (hash: string) => {
    state.lookups++;
    if (state.down)
      throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    return hash === hashApiKey("lotty_good") ? principal : undefined;
  };
  return { state, lookup };
}

async function codeOf(promise: Promise<unknown>): Promise<Code | undefined> {
  return promise.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e).code,
  );
}

describe("Authenticator", () => {
  it("caches a verified key and looks it up again after the TTL", async () => {
    const { state, lookup } = store();
    const auth = new Authenticator(lookup, 50);
    expect(await auth.authenticate("Bearer lotty_good")).toBe(principal);
    expect(await auth.authenticate("Bearer lotty_good")).toBe(principal);
    expect(state.lookups).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    await auth.authenticate("Bearer lotty_good");
    expect(state.lookups).toBe(2);
  });

  it("shares one lookup among concurrent calls with the same key", async () => {
    const { state, lookup } = store();
    const auth = new Authenticator(lookup);
    await Promise.all(Array.from({ length: 10 }, () => auth.authenticate("Bearer lotty_good")));
    expect(state.lookups).toBe(1);
  });

  it("keeps serving a known key while the key store is down, and says UNAVAILABLE for unknown ones", async () => {
    const { state, lookup } = store();
    const auth = new Authenticator(lookup, 10);
    await auth.authenticate("Bearer lotty_good");
    state.down = true;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await auth.authenticate("Bearer lotty_good")).toBe(principal);
    expect(await codeOf(auth.authenticate("Bearer lotty_other"))).toBe(Code.Unavailable);
    state.down = false;
    expect(await codeOf(auth.authenticate("Bearer lotty_other"))).toBe(Code.Unauthenticated);
  });

  it("forgets an evicted key at once", async () => {
    const { state, lookup } = store();
    const auth = new Authenticator(lookup);
    await auth.authenticate("Bearer lotty_good");
    auth.evict((p) => p.apiKeyId === principal.apiKeyId);
    await auth.authenticate("Bearer lotty_good");
    expect(state.lookups).toBe(2);
  });

  it.each([
    [null, "missing API key"],
    ["", "missing API key"],
    ["Basic abc", "malformed Authorization header"],
    ["Bearer", "malformed Authorization header"],
  ])("rejects %j as UNAUTHENTICATED", async (header, message) => {
    const auth = new Authenticator(store().lookup);
    const error = await auth.authenticate(header).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Unauthenticated);
    expect(error?.rawMessage).toContain(message);
  });
});
