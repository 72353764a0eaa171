/**
 * lotty.access.v1.AccessService over the real server: users, paging, API
 * keys, revocation and review policies, with the audit rows they leave.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import pg from "pg";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { AccessService, Role, type User } from "../../gen/lotty/access/v1/access_pb.js";
import { hashApiKey } from "../../src/platform/auth.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";

let testApp: TestApp;
let admin: Client<typeof AccessService>;
let db: pg.Client;
let adminUser: User;

beforeAll(async () => {
  testApp = await startTestApp();
  admin = client(AccessService, testApp.baseUrl, testApp.adminKey);
  db = new pg.Client({ connectionString: testApp.database.url });
  await db.connect();
  const current = await admin.getCurrentUser({});
  if (current.user === undefined) throw new Error("GetCurrentUser returned no user");
  adminUser = current.user;
});

afterAll(async () => {
  await db?.end();
  await testApp?.stop();
});

/** POSTs a Connect JSON request on a fresh connection (no keep-alive). */
function postJson(
  path: string,
  body: unknown,
  key: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${testApp.baseUrl}${path}`,
      {
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** The ConnectError a call fails with; throws if it succeeds. */
async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

async function auditActions(entityId: string): Promise<string[]> {
  const { rows } = await db.query<{ action: string }>(
    "select action from audit_log where entity_id = $1 order by at, action",
    [entityId],
  );
  return rows.map((r) => r.action);
}

let counter = 0;
/** A fresh, unique e-mail address for this file's database. */
function email(tag: string): string {
  counter += 1;
  return `${tag}-${counter}-${randomUUID().slice(0, 8)}@example.com`;
}

async function createUser(tag: string, roles: Role[], displayName = `User ${tag}`): Promise<User> {
  const { user } = await admin.createUser({ email: email(tag), displayName, roles });
  if (user === undefined) throw new Error("CreateUser returned no user");
  return user;
}

describe("GetCurrentUser", () => {
  it("returns the bootstrap admin for the bootstrap key", async () => {
    const res = await admin.getCurrentUser({});
    expect(res.user?.email).toBe("admin@lotty.local");
    expect(res.user?.roles).toEqual([Role.ADMIN]);
    expect(res.user?.id).toMatch(/^[0-9a-f-]{36}$/);
    const { rows } = await db.query<{ id: string }>("select id from api_keys where key_hash = $1", [
      hashApiKey(testApp.adminKey),
    ]);
    expect(rows).toHaveLength(1);
    expect(res.apiKeyId).toBe(rows[0]?.id);
  });
});

describe("CreateUser", () => {
  it("stores the e-mail lower-cased and trimmed, and round-trips the roles", async () => {
    const tag = `Mixed.Case-${randomUUID().slice(0, 8)}`;
    const given = `  ${tag}@Example.COM `;
    const { user } = await admin.createUser({
      email: given,
      displayName: "  Ada Lovelace ",
      roles: [Role.APPROVER, Role.EXPERIMENTER],
    });
    expect(user?.email).toBe(`${tag.toLowerCase()}@example.com`);
    expect(user?.displayName).toBe("Ada Lovelace");
    expect(user?.roles).toEqual([Role.EXPERIMENTER, Role.APPROVER]);
    expect(user?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(user?.createdAt).toBeDefined();

    const { rows } = await db.query<{ email: string; roles: string[] }>(
      "select email, roles from users where id = $1",
      [user?.id],
    );
    expect(rows).toEqual([
      { email: `${tag.toLowerCase()}@example.com`, roles: ["experimenter", "approver"] },
    ]);

    const fetched = await admin.getUser({ id: user?.id ?? "" });
    expect(fetched.user).toEqual(user);
  });

  it("records an audit row for the new user, naming the acting admin", async () => {
    const user = await createUser("audited", [Role.VIEWER]);
    expect(await auditActions(user.id)).toEqual(["user.created"]);
    const { rows } = await db.query<{ actor_id: string; entity_type: string }>(
      "select actor_id, entity_type from audit_log where entity_id = $1",
      [user.id],
    );
    expect(rows).toEqual([{ actor_id: adminUser.id, entity_type: "user" }]);
  });

  it("rejects a duplicate e-mail (in any case) with ALREADY_EXISTS naming the field", async () => {
    const address = email("dup");
    await admin.createUser({ email: address, displayName: "First", roles: [Role.VIEWER] });
    const error = await errorOf(
      admin.createUser({
        email: address.toUpperCase(),
        displayName: "Second",
        roles: [Role.APPROVER],
      }),
    );
    expect(error.code).toBe(Code.AlreadyExists);
    expect(error.rawMessage).toMatch(/^email: /);
    expect(error.rawMessage).toContain(address);

    const { rows } = await db.query<{ display_name: string }>(
      "select display_name from users where email = $1",
      [address],
    );
    expect(rows).toEqual([{ display_name: "First" }]);
  });

  it("rejects a request without roles, naming roles", async () => {
    const error = await errorOf(
      admin.createUser({ email: email("noroles"), displayName: "No roles", roles: [] }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^roles: /);
  });
});

describe("GetUser", () => {
  it("answers NOT_FOUND for an unknown id and INVALID_ARGUMENT for a malformed one", async () => {
    const unknown = randomUUID();
    const missing = await errorOf(admin.getUser({ id: unknown }));
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.rawMessage).toContain(unknown);

    const malformed = await errorOf(admin.getUser({ id: "42" }));
    expect(malformed.code).toBe(Code.InvalidArgument);
    expect(malformed.rawMessage).toMatch(/^id: /);
  });
});

describe("ListUsers", () => {
  it("walks every page in e-mail order without duplicates or gaps", async () => {
    for (let i = 0; i < 7; i++) await createUser("page", [Role.VIEWER]);
    const all = await admin.listUsers({ pageSize: 500 });
    expect(all.nextPageToken).toBe("");
    expect(all.users.length).toBeGreaterThanOrEqual(8);

    const seen: string[] = [];
    const pageSizes: number[] = [];
    let token = "";
    for (let pages = 0; pages < 100; pages++) {
      const page = await admin.listUsers({ pageSize: 3, pageToken: token });
      pageSizes.push(page.users.length);
      seen.push(...page.users.map((u) => u.email));
      token = page.nextPageToken;
      if (token === "") break;
    }
    expect(token).toBe("");
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(all.users.map((u) => u.email));
    expect(seen).toEqual([...seen].sort());
    expect(pageSizes.slice(0, -1).every((n) => n === 3)).toBe(true);
    expect(pageSizes.at(-1)).toBe(all.users.length - 3 * (pageSizes.length - 1));
    expect(pageSizes.at(-1)).toBeGreaterThan(0);
  });
});

describe("UpdateUser", () => {
  it("replaces the roles and keeps the display name when none is given", async () => {
    const user = await createUser("update", [Role.VIEWER, Role.SERVICE], "Grace");
    const { user: updated } = await admin.updateUser({
      id: user.id,
      roles: [Role.APPROVER, Role.EXPERIMENTER],
    });
    expect(updated?.roles).toEqual([Role.EXPERIMENTER, Role.APPROVER]);
    expect(updated?.displayName).toBe("Grace");
    expect(updated?.email).toBe(user.email);

    const fetched = await admin.getUser({ id: user.id });
    expect(fetched.user?.roles).toEqual([Role.EXPERIMENTER, Role.APPROVER]);
    expect(await auditActions(user.id)).toEqual(["user.created", "user.updated"]);
  });

  it("changes only the display name when roles are empty", async () => {
    const user = await createUser("rename", [Role.EXPERIMENTER], "Old name");
    const { user: updated } = await admin.updateUser({ id: user.id, displayName: " New name " });
    expect(updated?.displayName).toBe("New name");
    expect(updated?.roles).toEqual([Role.EXPERIMENTER]);
  });

  it("lets a key see its new roles at once", async () => {
    const user = await createUser("promote", [Role.VIEWER]);
    const { secret } = await admin.createApiKey({ userId: user.id, name: "promote" });
    const own = client(AccessService, testApp.baseUrl, secret);
    expect((await errorOf(own.listUsers({}))).code).toBe(Code.PermissionDenied);
    await admin.updateUser({ id: user.id, roles: [Role.ADMIN] });
    expect((await own.listUsers({})).users.length).toBeGreaterThan(0);
    await admin.updateUser({ id: user.id, roles: [Role.VIEWER] });
    expect((await errorOf(own.listUsers({}))).code).toBe(Code.PermissionDenied);
  });

  it("refuses to demote the last admin with FAILED_PRECONDITION and changes nothing", async () => {
    const admins = (await admin.listUsers({ pageSize: 500 })).users.filter((u) =>
      u.roles.includes(Role.ADMIN),
    );
    expect(admins.map((u) => u.id)).toEqual([adminUser.id]);
    const before = await auditActions(adminUser.id);

    const error = await errorOf(
      admin.updateUser({ id: adminUser.id, roles: [Role.VIEWER], displayName: "Demoted" }),
    );
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toMatch(/^roles: /);

    const after = await admin.getUser({ id: adminUser.id });
    expect(after.user?.roles).toEqual([Role.ADMIN]);
    expect(after.user?.displayName).toBe(adminUser.displayName);
    expect(await auditActions(adminUser.id)).toEqual(before);
    // The admin key still works as admin.
    expect((await admin.listUsers({ pageSize: 1 })).users).toHaveLength(1);
  });

  it("allows demoting an admin while another admin remains", async () => {
    const second = await createUser("admin2", [Role.ADMIN]);
    const { user } = await admin.updateUser({ id: second.id, roles: [Role.VIEWER] });
    expect(user?.roles).toEqual([Role.VIEWER]);
    // Now the bootstrap admin is the only one again.
    const error = await errorOf(admin.updateUser({ id: adminUser.id, roles: [Role.APPROVER] }));
    expect(error.code).toBe(Code.FailedPrecondition);
  });

  it("answers NOT_FOUND for an unknown user", async () => {
    const error = await errorOf(admin.updateUser({ id: randomUUID(), roles: [Role.VIEWER] }));
    expect(error.code).toBe(Code.NotFound);
  });
});

describe("CreateApiKey", () => {
  it("issues a lotty_ secret that authenticates as the user and is never listed", async () => {
    const user = await createUser("keyholder", [Role.VIEWER]);
    const res = await admin.createApiKey({ userId: user.id, name: " ci runner " });
    expect(res.secret.startsWith("lotty_")).toBe(true);
    expect(res.secret.length - "lotty_".length).toBeGreaterThanOrEqual(43);
    expect(res.secret).toMatch(/^lotty_[A-Za-z0-9_-]+$/);
    expect(res.apiKey?.userId).toBe(user.id);
    expect(res.apiKey?.name).toBe("ci runner");
    expect(res.apiKey?.prefix).toBe(res.secret.slice(0, 12));
    expect(res.apiKey?.createdAt).toBeDefined();
    expect(res.apiKey?.revokedAt).toBeUndefined();
    const keyId = res.apiKey?.id ?? "";

    const own = client(AccessService, testApp.baseUrl, res.secret);
    const current = await own.getCurrentUser({});
    expect(current.user?.id).toBe(user.id);
    expect(current.user?.email).toBe(user.email);
    expect(current.user?.roles).toEqual([Role.VIEWER]);
    expect(current.apiKeyId).toBe(keyId);

    const listed = await admin.listApiKeys({ userId: user.id });
    expect(listed.apiKeys.map((k) => k.id)).toEqual([keyId]);
    expect(listed.apiKeys[0]).toEqual(res.apiKey);

    // Neither the secret nor its hash appears anywhere in the listing's JSON.
    const raw = await postJson(
      "/lotty.access.v1.AccessService/ListApiKeys",
      { userId: user.id },
      testApp.adminKey,
    );
    expect(raw.status).toBe(200);
    const body = raw.body;
    expect(body).toContain(keyId);
    expect(body).not.toContain(res.secret);
    expect(body).not.toContain(res.secret.slice(12));
    expect(body).not.toContain(hashApiKey(res.secret));

    // Only the hash is stored.
    const { rows } = await db.query<{ key_hash: string }>(
      "select key_hash from api_keys where id = $1",
      [keyId],
    );
    expect(rows).toEqual([{ key_hash: hashApiKey(res.secret) }]);
    expect(await auditActions(keyId)).toEqual(["api_key.created"]);
  });

  it("issues distinct secrets and lists keys newest first", async () => {
    const user = await createUser("twokeys", [Role.SERVICE]);
    const first = await admin.createApiKey({ userId: user.id, name: "first" });
    const second = await admin.createApiKey({ userId: user.id, name: "second" });
    expect(first.secret).not.toBe(second.secret);
    const listed = await admin.listApiKeys({ userId: user.id });
    expect(listed.apiKeys.map((k) => k.name)).toEqual(["second", "first"]);
  });

  it("answers NOT_FOUND for an unknown user and INVALID_ARGUMENT for an empty name", async () => {
    const missing = await errorOf(admin.createApiKey({ userId: randomUUID(), name: "x" }));
    expect(missing.code).toBe(Code.NotFound);

    const user = await createUser("noname", [Role.VIEWER]);
    const unnamed = await errorOf(admin.createApiKey({ userId: user.id, name: "  " }));
    expect(unnamed.code).toBe(Code.InvalidArgument);
    expect(unnamed.rawMessage).toMatch(/^name: /);
    expect((await admin.listApiKeys({ userId: user.id })).apiKeys).toEqual([]);
  });
});

describe("RevokeApiKey", () => {
  it("makes the key UNAUTHENTICATED at once; revoking twice succeeds and changes nothing", async () => {
    const user = await createUser("revoked", [Role.EXPERIMENTER]);
    const { apiKey, secret } = await admin.createApiKey({ userId: user.id, name: "short-lived" });
    const keyId = apiKey?.id ?? "";
    const own = client(AccessService, testApp.baseUrl, secret);
    // Use the key first so the server has it cached.
    expect((await own.getCurrentUser({})).apiKeyId).toBe(keyId);

    const first = await admin.revokeApiKey({ id: keyId });
    expect(first.apiKey?.id).toBe(keyId);
    expect(first.apiKey?.revokedAt).toBeDefined();

    const error = await errorOf(own.getCurrentUser({}));
    expect(error.code).toBe(Code.Unauthenticated);

    const second = await admin.revokeApiKey({ id: keyId });
    expect(second.apiKey?.revokedAt).toEqual(first.apiKey?.revokedAt);
    expect((await errorOf(own.getCurrentUser({}))).code).toBe(Code.Unauthenticated);

    const listed = await admin.listApiKeys({ userId: user.id });
    expect(listed.apiKeys).toHaveLength(1);
    expect(listed.apiKeys[0]?.revokedAt).toEqual(first.apiKey?.revokedAt);

    // One audit row for the creation and one for the (single) revocation.
    expect(await auditActions(keyId)).toEqual(["api_key.created", "api_key.revoked"]);
  });

  it("revoking one key leaves the user's other keys working", async () => {
    const user = await createUser("twokeys-revoke", [Role.VIEWER]);
    const a = await admin.createApiKey({ userId: user.id, name: "a" });
    const b = await admin.createApiKey({ userId: user.id, name: "b" });
    await admin.revokeApiKey({ id: a.apiKey?.id ?? "" });
    const current = await client(AccessService, testApp.baseUrl, b.secret).getCurrentUser({});
    expect(current.apiKeyId).toBe(b.apiKey?.id);
  });

  it("answers NOT_FOUND for an unknown key and INVALID_ARGUMENT for a malformed id", async () => {
    expect((await errorOf(admin.revokeApiKey({ id: randomUUID() }))).code).toBe(Code.NotFound);
    const malformed = await errorOf(admin.revokeApiKey({ id: "key-1" }));
    expect(malformed.code).toBe(Code.InvalidArgument);
    expect(malformed.rawMessage).toMatch(/^id: /);
  });
});

describe("Set/GetReviewPolicy", () => {
  let experimenter: User;
  let approverA: User;
  let approverB: User;
  let viewer: User;

  beforeAll(async () => {
    experimenter = await createUser("experimenter", [Role.EXPERIMENTER]);
    approverA = await createUser("approver-a", [Role.APPROVER]);
    approverB = await createUser("approver-b", [Role.APPROVER, Role.VIEWER]);
    viewer = await createUser("viewer", [Role.VIEWER]);
  });

  it("returns the default policy when none was set", async () => {
    const { policy } = await admin.getReviewPolicy({ experimenterId: experimenter.id });
    expect(policy?.experimenterId).toBe(experimenter.id);
    expect(policy?.isDefault).toBe(true);
    expect(policy?.minApprovals).toBe(1);
    expect(policy?.approverIds).toEqual([]);
    expect(policy?.updatedAt).toBeUndefined();
  });

  it("stores a policy that round-trips, with an audit row", async () => {
    const set = await admin.setReviewPolicy({
      experimenterId: experimenter.id,
      approverIds: [approverA.id, approverB.id],
      minApprovals: 2,
    });
    expect(set.policy?.experimenterId).toBe(experimenter.id);
    expect(set.policy?.approverIds).toEqual([approverA.id, approverB.id]);
    expect(set.policy?.minApprovals).toBe(2);
    expect(set.policy?.isDefault).toBe(false);
    expect(set.policy?.updatedAt).toBeDefined();

    const got = await admin.getReviewPolicy({ experimenterId: experimenter.id });
    expect(got.policy).toEqual(set.policy);
    expect(await auditActions(experimenter.id)).toEqual(["user.created", "review_policy.set"]);

    // An approver may read it too.
    const { secret } = await admin.createApiKey({ userId: approverA.id, name: "read" });
    const asApprover = client(AccessService, testApp.baseUrl, secret);
    expect((await asApprover.getReviewPolicy({ experimenterId: experimenter.id })).policy).toEqual(
      set.policy,
    );
  });

  it("replaces a policy; an empty approver list is an explicit, non-default policy", async () => {
    const other = await createUser("experimenter-2", [Role.EXPERIMENTER]);
    await admin.setReviewPolicy({
      experimenterId: other.id,
      approverIds: [approverA.id],
      minApprovals: 1,
    });
    const replaced = await admin.setReviewPolicy({
      experimenterId: other.id,
      approverIds: [],
      minApprovals: 3,
    });
    const { policy } = await admin.getReviewPolicy({ experimenterId: other.id });
    expect(policy).toEqual(replaced.policy);
    expect(policy?.approverIds).toEqual([]);
    expect(policy?.minApprovals).toBe(3);
    expect(policy?.isDefault).toBe(false);
  });

  it("rejects the experimenter among the approvers, naming approver_ids", async () => {
    const error = await errorOf(
      admin.setReviewPolicy({
        experimenterId: experimenter.id,
        approverIds: [approverA.id, experimenter.id],
        minApprovals: 1,
      }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain("approver_ids");
  });

  it("rejects an approver without ROLE_APPROVER or ROLE_ADMIN", async () => {
    const error = await errorOf(
      admin.setReviewPolicy({
        experimenterId: experimenter.id,
        approverIds: [approverA.id, viewer.id],
        minApprovals: 1,
      }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^approver_ids\[1\]: /);
    expect(error.rawMessage).toContain(viewer.id);
  });

  it("accepts an admin as approver", async () => {
    const other = await createUser("experimenter-3", [Role.EXPERIMENTER]);
    const { policy } = await admin.setReviewPolicy({
      experimenterId: other.id,
      approverIds: [adminUser.id],
      minApprovals: 1,
    });
    expect(policy?.approverIds).toEqual([adminUser.id]);
  });

  it("answers NOT_FOUND for an unknown experimenter or approver", async () => {
    const unknown = randomUUID();
    const set = await errorOf(
      admin.setReviewPolicy({ experimenterId: unknown, approverIds: [], minApprovals: 1 }),
    );
    expect(set.code).toBe(Code.NotFound);
    expect(set.rawMessage).toContain(unknown);

    const get = await errorOf(admin.getReviewPolicy({ experimenterId: unknown }));
    expect(get.code).toBe(Code.NotFound);

    const approver = await errorOf(
      admin.setReviewPolicy({
        experimenterId: experimenter.id,
        approverIds: [unknown],
        minApprovals: 1,
      }),
    );
    expect(approver.code).toBe(Code.NotFound);
    expect(approver.rawMessage).toContain("approver_ids[0]");
  });

  it("rejects min_approvals above the number of approvers or below 1", async () => {
    const above = await errorOf(
      admin.setReviewPolicy({
        experimenterId: experimenter.id,
        approverIds: [approverA.id, approverB.id],
        minApprovals: 3,
      }),
    );
    expect(above.code).toBe(Code.InvalidArgument);
    expect(above.rawMessage).toMatch(/^min_approvals: /);

    const zero = await errorOf(
      admin.setReviewPolicy({ experimenterId: experimenter.id, approverIds: [], minApprovals: 0 }),
    );
    expect(zero.code).toBe(Code.InvalidArgument);
    expect(zero.rawMessage).toMatch(/^min_approvals: /);
  });

  it("rejects a user who is neither experimenter nor admin as experimenter", async () => {
    const error = await errorOf(
      admin.setReviewPolicy({ experimenterId: viewer.id, approverIds: [], minApprovals: 1 }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^experimenter_id: /);
  });

  it("left the stored policy unchanged after the rejected requests", async () => {
    const { policy } = await admin.getReviewPolicy({ experimenterId: experimenter.id });
    expect(policy?.approverIds).toEqual([approverA.id, approverB.id]);
    expect(policy?.minApprovals).toBe(2);
    expect(policy?.isDefault).toBe(false);
    expect(await auditActions(experimenter.id)).toEqual(["user.created", "review_policy.set"]);
  });
});
