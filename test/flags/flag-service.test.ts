/**
 * lotty.flags.v1.FlagService over the real server: typed defaults for every
 * flag type, validation, paging and tag filters, updates, archiving, the
 * audit rows and NATS notifications each change leaves, and the role table.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import pg from "pg";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { AccessService, Role } from "../../gen/lotty/access/v1/access_pb.js";
import { FlagService, FlagType, type Flag } from "../../gen/lotty/flags/v1/flags_pb.js";
import { requireActiveFlag } from "../../src/flags/lookup.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { TEST_NATS_URL } from "../support/env.js";

let t: TestApp;
let admin: Client<typeof FlagService>;
let adminBinary: Client<typeof FlagService>;
let adminUserId: string;
let viewer: Client<typeof FlagService>;
let experimenter: Client<typeof FlagService>;
let experimenterUserId: string;
let db: pg.Client;

beforeAll(async () => {
  t = await startTestApp();
  admin = client(FlagService, t.baseUrl, t.adminKey);
  adminBinary = client(FlagService, t.baseUrl, t.adminKey, "connect-binary-h2");
  const access = client(AccessService, t.baseUrl, t.adminKey);
  adminUserId = (await access.getCurrentUser({})).user?.id ?? "";
  const keyFor = async (role: Role) => {
    const name = Role[role].toLowerCase();
    const { user } = await access.createUser({
      email: `${name}@flags.example.com`,
      displayName: `Flags ${name}`,
      roles: [role],
    });
    const { secret } = await access.createApiKey({ userId: user?.id ?? "", name });
    return { userId: user?.id ?? "", secret };
  };
  viewer = client(FlagService, t.baseUrl, (await keyFor(Role.VIEWER)).secret);
  const exp = await keyFor(Role.EXPERIMENTER);
  experimenter = client(FlagService, t.baseUrl, exp.secret);
  experimenterUserId = exp.userId;
  db = new pg.Client({ connectionString: t.database.url });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await t?.stop();
});

/** A plain JSON value as a google.protobuf.Value. */
function val(json: JsonValue): Value {
  return fromJson(ValueSchema, json);
}

/** A Value from a response as plain JSON. */
function json(value: Value | undefined): JsonValue | undefined {
  return value === undefined ? undefined : toJson(ValueSchema, value);
}

let counter = 0;
/** A fresh flag key, unique in this file's database. */
function newKey(tag: string): string {
  counter += 1;
  return `${tag}.${String(counter).padStart(3, "0")}-${randomBytes(3).toString("hex")}`;
}

async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

async function createFlag(
  type: FlagType,
  defaultValue: JsonValue,
  extra: { key?: string; description?: string; tags?: string[] } = {},
): Promise<Flag> {
  const { flag } = await admin.createFlag({
    key: extra.key ?? newKey("f"),
    type,
    defaultValue: val(defaultValue),
    description: extra.description ?? "",
    tags: extra.tags ?? [],
  });
  if (flag === undefined) throw new Error("CreateFlag returned no flag");
  return flag;
}

async function auditRows(key: string) {
  const { rows } = await db.query<{
    action: string;
    actor_id: string;
    entity_type: string;
    data: { changed: string[] } | null;
  }>(
    "select action, actor_id, entity_type, data from audit_log where entity_type = 'flag' and entity_id = $1 order by at, action",
    [key],
  );
  return rows;
}

const ROUND_TRIPS: [string, FlagType, JsonValue, JsonValue, string][] = [
  ["STRING", FlagType.STRING, "blue", "green", "string"],
  ["NUMBER", FlagType.NUMBER, 42.5, -7, "number"],
  ["BOOL", FlagType.BOOL, true, false, "bool"],
  ["JSON", FlagType.JSON, { colors: ["red", 1, null], nested: { on: true } }, [1, "two"], "json"],
];

describe("round trips", () => {
  it.each(ROUND_TRIPS)(
    "FLAG_TYPE_%s: create, get, list, update and archive",
    async (_name, type, initial, updated, stored) => {
      const key = newKey(`rt-${stored}`);
      const tag = `rt-${randomBytes(4).toString("hex")}`;
      const created = await createFlag(type, initial, {
        key,
        description: "  The colour of the checkout button  ",
        tags: [tag, "checkout"],
      });
      expect(created.key).toBe(key);
      expect(created.type).toBe(type);
      expect(json(created.defaultValue)).toEqual(initial);
      expect(created.description).toBe("The colour of the checkout button");
      expect(created.tags).toEqual([tag, "checkout"]);
      expect(created.archived).toBe(false);
      expect(created.createdBy).toBe(adminUserId);
      expect(created.createdAt).toBeDefined();

      const { rows } = await db.query<{ type: string; default_value: unknown; tags: string[] }>(
        "select type, default_value, tags from flags where key = $1",
        [key],
      );
      expect(rows).toEqual([{ type: stored, default_value: initial, tags: [tag, "checkout"] }]);

      const got = (await admin.getFlag({ key })).flag;
      expect(got).toEqual(created);

      const listed = await admin.listFlags({ tag });
      expect(listed.flags).toEqual([created]);
      expect(listed.nextPageToken).toBe("");

      const after = (await admin.updateFlag({ key, defaultValue: val(updated) })).flag;
      expect(json(after?.defaultValue)).toEqual(updated);
      expect(after?.type).toBe(type);
      expect(after?.description).toBe(created.description);
      expect(after?.tags).toEqual(created.tags);
      expect(json((await admin.getFlag({ key })).flag?.defaultValue)).toEqual(updated);

      const archived = (await admin.archiveFlag({ key })).flag;
      expect(archived?.archived).toBe(true);
      expect(json(archived?.defaultValue)).toEqual(updated);
      expect((await admin.getFlag({ key })).flag?.archived).toBe(true);
      expect((await admin.listFlags({ tag })).flags).toEqual([]);
    },
  );

  it.each([
    ["JSON null", FlagType.JSON, null],
    ["JSON string", FlagType.JSON, "just a string"],
    ["JSON empty object", FlagType.JSON, {}],
    ["JSON empty list", FlagType.JSON, []],
    ["empty STRING", FlagType.STRING, ""],
    ["STRING that looks like JSON", FlagType.STRING, '{"a":1}'],
    ["zero", FlagType.NUMBER, 0],
    ["false", FlagType.BOOL, false],
  ] as [string, FlagType, JsonValue][])(
    "keeps a %s default exactly",
    async (_name, type, value) => {
      const flag = await createFlag(type, value);
      expect(json(flag.defaultValue)).toEqual(value);
      expect(json((await admin.getFlag({ key: flag.key })).flag?.defaultValue)).toEqual(value);
      const { rows } = await db.query<{ v: string }>(
        "select default_value::text as v from flags where key = $1",
        [flag.key],
      );
      expect(JSON.parse(rows[0]?.v ?? "undefined")).toEqual(value);
    },
  );

  it("updates a JSON default to null and back", async () => {
    const flag = await createFlag(FlagType.JSON, { a: 1 });
    const toNull = await admin.updateFlag({ key: flag.key, defaultValue: val(null) });
    expect(json(toNull.flag?.defaultValue)).toBeNull();
    expect(json((await admin.getFlag({ key: flag.key })).flag?.defaultValue)).toBeNull();
    const back = await admin.updateFlag({ key: flag.key, defaultValue: val({ b: [2] }) });
    expect(json(back.flag?.defaultValue)).toEqual({ b: [2] });
  });

  it("works over the binary Connect protocol too", async () => {
    const key = newKey("binary");
    const { flag } = await adminBinary.createFlag({
      key,
      type: FlagType.NUMBER,
      defaultValue: val(3),
      tags: ["bin"],
    });
    expect(json(flag?.defaultValue)).toBe(3);
    expect((await adminBinary.getFlag({ key })).flag).toEqual(flag);
  });
});

describe("CreateFlag validation", () => {
  it.each([
    ["STRING", FlagType.STRING, 42, "a string", "FLAG_TYPE_STRING", "a number"],
    ["NUMBER", FlagType.NUMBER, "42", "a number", "FLAG_TYPE_NUMBER", "a string"],
    ["BOOL", FlagType.BOOL, "true", "a bool", "FLAG_TYPE_BOOL", "a string"],
    ["BOOL given null", FlagType.BOOL, null, "a bool", "FLAG_TYPE_BOOL", "null"],
    [
      "STRING given an object",
      FlagType.STRING,
      { a: 1 },
      "a string",
      "FLAG_TYPE_STRING",
      "an object",
    ],
  ] as [string, FlagType, JsonValue, string, string, string][])(
    "rejects a mismatched default for %s, naming default_value and the expected type",
    async (_name, type, value, expected, typeName, got) => {
      const key = newKey("mismatch");
      const error = await errorOf(
        admin.createFlag({ key, type, defaultValue: val(value), description: "", tags: [] }),
      );
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toBe(
        `default_value: must be ${expected} for a ${typeName} flag, got ${got}`,
      );
      expect(await errorOf(admin.getFlag({ key }))).toMatchObject({ code: Code.NotFound });
    },
  );

  it("rejects non-finite numbers (binary protocol) and oversized JSON values", async () => {
    const nan = await errorOf(
      adminBinary.createFlag({
        key: newKey("nan"),
        type: FlagType.NUMBER,
        defaultValue: create(ValueSchema, { kind: { case: "numberValue", value: Number.NaN } }),
      }),
    );
    expect(nan.code).toBe(Code.InvalidArgument);
    expect(nan.rawMessage).toMatch(/^default_value: must be a finite number/);

    const nested = await errorOf(
      adminBinary.createFlag({
        key: newKey("inf"),
        type: FlagType.JSON,
        defaultValue: create(ValueSchema, {
          kind: {
            case: "listValue",
            value: {
              values: [{ kind: { case: "numberValue", value: Number.POSITIVE_INFINITY } }],
            },
          },
        }),
      }),
    );
    expect(nested.rawMessage).toMatch(/^default_value\[0\]: must be a finite number/);

    const big = await errorOf(
      admin.createFlag({
        key: newKey("big"),
        type: FlagType.JSON,
        defaultValue: val({ blob: "x".repeat(64 * 1024) }),
      }),
    );
    expect(big.code).toBe(Code.InvalidArgument);
    expect(big.rawMessage).toMatch(/^default_value: must be at most 65536 bytes as JSON/);

    const long = await errorOf(
      admin.createFlag({
        key: newKey("long"),
        type: FlagType.STRING,
        defaultValue: val("y".repeat(10_001)),
      }),
    );
    expect(long.rawMessage).toBe("default_value: must be at most 10000 characters");
    const exact = await createFlag(FlagType.STRING, "y".repeat(10_000));
    expect((json(exact.defaultValue) as string).length).toBe(10_000);

    const nul = await errorOf(
      admin.createFlag({
        key: newKey("nul"),
        type: FlagType.STRING,
        defaultValue: val("a\u0000b"),
      }),
    );
    expect(nul.rawMessage).toMatch(/^default_value: a string must not contain the NUL character/);
  });

  it("requires a type and a default value", async () => {
    const noType = await errorOf(admin.createFlag({ key: newKey("notype"), defaultValue: val(1) }));
    expect(noType.code).toBe(Code.InvalidArgument);
    expect(noType.rawMessage).toMatch(/^type: is required/);

    const noValue = await errorOf(
      admin.createFlag({ key: newKey("novalue"), type: FlagType.BOOL }),
    );
    expect(noValue.code).toBe(Code.InvalidArgument);
    expect(noValue.rawMessage).toMatch(/^default_value: is required/);

    const nothing = await errorOf(admin.createFlag({}));
    expect(nothing.rawMessage).toBe(
      "key: is required; type: is required: use FLAG_TYPE_STRING, FLAG_TYPE_NUMBER, FLAG_TYPE_BOOL or FLAG_TYPE_JSON; default_value: is required",
    );
  });

  it.each([
    ["upper case", "Button_color"],
    ["a space", "button color"],
    ["101 characters", `a${"b".repeat(100)}`],
    ["empty", ""],
    ["a leading digit", "1button"],
    ["a leading underscore", "_button"],
    ["a slash", "checkout/button"],
  ])("rejects a key with %s, naming key", async (_name, key) => {
    const error = await errorOf(
      admin.createFlag({ key, type: FlagType.BOOL, defaultValue: val(true) }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^key: /);
  });

  it("accepts a 100-character key using every allowed character", async () => {
    const key = `a0_.-${randomBytes(4).toString("hex")}`.padEnd(100, "z");
    const flag = await createFlag(FlagType.BOOL, true, { key });
    expect(flag.key).toBe(key);
  });

  it.each([
    ["upper case", ["Beta"], "tags[0]"],
    ["a space", ["ok", "not ok"], "tags[1]"],
    ["51 characters", ["t".repeat(51)], "tags[0]"],
    ["an empty tag", [""], "tags[0]"],
    ["a leading dash", ["-x"], "tags[0]"],
    ["21 distinct tags", Array.from({ length: 21 }, (_, i) => `t${i}`), "tags"],
  ])("rejects tags with %s, naming the tag", async (_name, tags, field) => {
    const error = await errorOf(
      admin.createFlag({ key: newKey("tags"), type: FlagType.BOOL, defaultValue: val(true), tags }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage.startsWith(`${field}: `)).toBe(true);
  });

  it("removes duplicate tags, keeping the first occurrence's order", async () => {
    const tags = ["b", "team:growth", "b", "a.1", "team:growth"];
    const flag = await createFlag(FlagType.BOOL, false, { tags });
    expect(flag.tags).toEqual(["b", "team:growth", "a.1"]);
    // 20 distinct tags plus duplicates are fine.
    const twenty = Array.from({ length: 20 }, (_, i) => `t${i}`);
    const many = await createFlag(FlagType.BOOL, false, { tags: [...twenty, "t0", "t1"] });
    expect(many.tags).toEqual(twenty);
  });

  it("limits the description to 2,000 characters without control characters", async () => {
    const long = await errorOf(
      admin.createFlag({
        key: newKey("desc"),
        type: FlagType.BOOL,
        defaultValue: val(true),
        description: "d".repeat(2_001),
      }),
    );
    expect(long.rawMessage).toBe("description: must be at most 2000 characters");
    const control = await errorOf(
      admin.createFlag({
        key: newKey("desc"),
        type: FlagType.BOOL,
        defaultValue: val(true),
        description: "bell \u0007",
      }),
    );
    expect(control.rawMessage).toBe("description: must not contain control characters");
    const ok = await createFlag(FlagType.BOOL, true, { description: "d".repeat(2_000) });
    expect(ok.description).toHaveLength(2_000);
    const multiline = await createFlag(FlagType.BOOL, true, { description: "line 1\nline 2" });
    expect(multiline.description).toBe("line 1\nline 2");
  });

  it("rejects a duplicate key with ALREADY_EXISTS, even when the first is archived", async () => {
    const flag = await createFlag(FlagType.STRING, "one");
    const again = await errorOf(
      admin.createFlag({ key: flag.key, type: FlagType.BOOL, defaultValue: val(true) }),
    );
    expect(again.code).toBe(Code.AlreadyExists);
    expect(again.rawMessage).toMatch(new RegExp(`^key: a flag with key "${flag.key}"`));
    await admin.archiveFlag({ key: flag.key });
    const afterArchive = await errorOf(
      admin.createFlag({ key: flag.key, type: FlagType.STRING, defaultValue: val("two") }),
    );
    expect(afterArchive.code).toBe(Code.AlreadyExists);
    expect(json((await admin.getFlag({ key: flag.key })).flag?.defaultValue)).toBe("one");
    expect((await auditRows(flag.key)).map((r) => r.action)).toEqual([
      "flag.created",
      "flag.archived",
    ]);
  });
});

describe("GetFlag, UpdateFlag and ArchiveFlag on unknown or malformed keys", () => {
  it("answer NOT_FOUND naming the key", async () => {
    const key = newKey("missing");
    // Each call starts only when awaited: a rejection nobody awaits yet
    // would be reported as unhandled.
    for (const call of [
      () => admin.getFlag({ key }),
      () => admin.updateFlag({ key, description: "x" }),
      () => admin.archiveFlag({ key }),
    ]) {
      const error = await errorOf(call());
      expect(error.code).toBe(Code.NotFound);
      expect(error.rawMessage).toBe(`key: flag "${key}" not found`);
    }
  });

  it("answer INVALID_ARGUMENT for an empty or malformed key", async () => {
    expect(await errorOf(admin.getFlag({ key: "" }))).toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "key: is required",
    });
    expect((await errorOf(admin.archiveFlag({ key: "NOPE" }))).code).toBe(Code.InvalidArgument);
    expect((await errorOf(admin.updateFlag({ key: "a b" }))).code).toBe(Code.InvalidArgument);
  });
});

describe("ListFlags", () => {
  it("pages through 7 flags 3 at a time, ordered by key, each seen once", async () => {
    const tag = `page-${randomBytes(4).toString("hex")}`;
    const keys: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      keys.push((await createFlag(FlagType.NUMBER, i, { tags: [tag] })).key);
    }
    // Flags without the tag are not listed.
    await createFlag(FlagType.NUMBER, 99, { tags: ["other"] });
    const seen: string[] = [];
    const sizes: number[] = [];
    let pageToken = "";
    do {
      const res = await viewer.listFlags({ tag, pageSize: 3, pageToken });
      sizes.push(res.flags.length);
      seen.push(...res.flags.map((f) => f.key));
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual([...keys].sort());
  });

  it("pages through every flag without a filter, in key order", async () => {
    const all: string[] = [];
    let pageToken = "";
    do {
      const res = await admin.listFlags({ pageSize: 4, pageToken, includeArchived: true });
      expect(res.flags.length).toBeLessThanOrEqual(4);
      all.push(...res.flags.map((f) => f.key));
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    const { rows } = await db.query<{ key: string }>("select key from flags order by key");
    expect(all).toEqual(rows.map((r) => r.key));
    expect(new Set(all).size).toBe(all.length);
  });

  it("leaves archived flags out unless include_archived is set", async () => {
    const tag = `arch-${randomBytes(4).toString("hex")}`;
    const live = await createFlag(FlagType.BOOL, true, { tags: [tag] });
    const gone = await createFlag(FlagType.BOOL, true, { tags: [tag] });
    await admin.archiveFlag({ key: gone.key });
    expect((await admin.listFlags({ tag })).flags.map((f) => f.key)).toEqual([live.key]);
    const everything = await admin.listFlags({ tag, includeArchived: true });
    expect(everything.flags.map((f) => [f.key, f.archived])).toEqual(
      [
        [live.key, false],
        [gone.key, true],
      ].sort(),
    );
  });

  it("rejects a bad tag filter", async () => {
    const tag = await errorOf(admin.listFlags({ tag: "Not A Tag" }));
    expect(tag.code).toBe(Code.InvalidArgument);
    expect(tag.rawMessage).toMatch(/^tag: /);
  });
});

describe("UpdateFlag", () => {
  it("changes only the fields that are set", async () => {
    const flag = await createFlag(FlagType.STRING, "a", { description: "first", tags: ["x", "y"] });
    const desc = (await admin.updateFlag({ key: flag.key, description: "second" })).flag;
    expect(desc?.description).toBe("second");
    expect(json(desc?.defaultValue)).toBe("a");
    expect(desc?.tags).toEqual(["x", "y"]);

    const tags = (await admin.updateFlag({ key: flag.key, tags: ["z", "z", "x"] })).flag;
    expect(tags?.tags).toEqual(["z", "x"]);
    expect(tags?.description).toBe("second");

    const cleared = (await admin.updateFlag({ key: flag.key, description: "", clearTags: true }))
      .flag;
    expect(cleared?.description).toBe("");
    expect(cleared?.tags).toEqual([]);
    expect(json(cleared?.defaultValue)).toBe("a");
    expect(cleared?.type).toBe(FlagType.STRING);

    expect((await auditRows(flag.key)).map((r) => [r.action, r.data?.changed])).toEqual([
      ["flag.created", ["type", "defaultValue", "description", "tags"]],
      ["flag.updated", ["description"]],
      ["flag.updated", ["tags"]],
      ["flag.updated", ["description", "tags"]],
    ]);
  });

  it("rejects a value of another type, naming default_value, and changes nothing", async () => {
    const flag = await createFlag(FlagType.NUMBER, 1);
    const error = await errorOf(
      admin.updateFlag({ key: flag.key, defaultValue: val("2"), description: "changed" }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe(
      "default_value: must be a number for a FLAG_TYPE_NUMBER flag, got a string",
    );
    const after = (await admin.getFlag({ key: flag.key })).flag;
    expect(json(after?.defaultValue)).toBe(1);
    expect(after?.description).toBe("");
  });

  it("rejects clear_tags together with tags, naming clear_tags", async () => {
    const flag = await createFlag(FlagType.BOOL, true, { tags: ["keep"] });
    const error = await errorOf(admin.updateFlag({ key: flag.key, tags: ["a"], clearTags: true }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^clear_tags: /);
    expect((await admin.getFlag({ key: flag.key })).flag?.tags).toEqual(["keep"]);
  });

  it("treats an update that changes nothing as a no-op: no audit row, no new updated_at", async () => {
    const flag = await createFlag(FlagType.JSON, { b: 1, a: 2 }, { tags: ["same"] });
    const res = await admin.updateFlag({
      key: flag.key,
      defaultValue: val({ a: 2, b: 1 }),
      tags: ["same"],
      description: "",
    });
    expect(res.flag?.updatedAt).toEqual(flag.updatedAt);
    expect((await auditRows(flag.key)).map((r) => r.action)).toEqual(["flag.created"]);
  });

  it("answers FAILED_PRECONDITION for an archived flag", async () => {
    const flag = await createFlag(FlagType.STRING, "v");
    await admin.archiveFlag({ key: flag.key });
    const error = await errorOf(admin.updateFlag({ key: flag.key, defaultValue: val("w") }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toBe(
      `key: flag "${flag.key}" is archived; archived flags cannot be changed`,
    );
    expect(json((await admin.getFlag({ key: flag.key })).flag?.defaultValue)).toBe("v");
  });
});

describe("ArchiveFlag", () => {
  it("is a no-op the second time, returning the archived flag", async () => {
    const flag = await createFlag(FlagType.BOOL, true);
    const first = (await admin.archiveFlag({ key: flag.key })).flag;
    const second = (await admin.archiveFlag({ key: flag.key })).flag;
    expect(first?.archived).toBe(true);
    expect(second).toEqual(first);
    expect((await auditRows(flag.key)).map((r) => r.action)).toEqual([
      "flag.created",
      "flag.archived",
    ]);
  });

  it("refuses while an experiment on the flag is running", async () => {
    const flag = await createFlag(FlagType.BOOL, false);
    const id = randomUUID();
    await db.query(
      `insert into experiments (id, flag_key, owner_id, status, version, config, created_at, updated_at)
       values ($1, $2, $3, 'running', 1, '{}'::jsonb, now(), now())`,
      [id, flag.key, adminUserId],
    );
    const error = await errorOf(admin.archiveFlag({ key: flag.key }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain(`running experiment (${id})`);
    expect((await admin.getFlag({ key: flag.key })).flag?.archived).toBe(false);

    await db.query("update experiments set status = 'completed' where id = $1", [id]);
    expect((await admin.archiveFlag({ key: flag.key })).flag?.archived).toBe(true);
  });
});

describe("requireActiveFlag", () => {
  it("returns an active flag and names the field for missing, malformed or archived ones", async () => {
    const active = await createFlag(FlagType.STRING, "on");
    const archived = await createFlag(FlagType.STRING, "off");
    await admin.archiveFlag({ key: archived.key });
    const em = t.app.db.orm.em.fork();

    const found = await requireActiveFlag(em, active.key, "experiment.flag_key");
    expect(found.key).toBe(active.key);
    expect(found.defaultValue).toBe("on");
    // Inside a transaction it locks the row FOR SHARE and still answers.
    const inTx = await em
      .fork()
      .transactional((tx) => requireActiveFlag(tx, active.key, "experiment.flag_key"));
    expect(inTx.key).toBe(active.key);

    const failure = (p: Promise<unknown>) => errorOf(p);
    expect(await failure(requireActiveFlag(em, archived.key, "experiment.flag_key"))).toMatchObject(
      {
        code: Code.FailedPrecondition,
        rawMessage: `experiment.flag_key: flag "${archived.key}" is archived; archived flags cannot get new experiments`,
      },
    );
    const missing = newKey("missing");
    expect(await failure(requireActiveFlag(em, missing, "experiment.flag_key"))).toMatchObject({
      code: Code.NotFound,
      rawMessage: `experiment.flag_key: flag "${missing}" not found`,
    });
    expect(await failure(requireActiveFlag(em, "", "experiment.flag_key"))).toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "experiment.flag_key: is required",
    });
    expect((await failure(requireActiveFlag(em, "Bad Key", "flag_key"))).rawMessage).toMatch(
      /^flag_key: must start with a lower-case letter/,
    );
  });
});

describe("audit and notifications", () => {
  it("writes one audit row per change, with attribute names but never values", async () => {
    const secretish = `value-${randomBytes(6).toString("hex")}`;
    const flag = await createFlag(FlagType.STRING, secretish, { description: "about" });
    await admin.updateFlag({ key: flag.key, defaultValue: val(`${secretish}-2`) });
    await admin.archiveFlag({ key: flag.key });
    const rows = await auditRows(flag.key);
    expect(rows).toEqual([
      {
        action: "flag.created",
        actor_id: adminUserId,
        entity_type: "flag",
        data: { changed: ["type", "defaultValue", "description"] },
      },
      {
        action: "flag.updated",
        actor_id: adminUserId,
        entity_type: "flag",
        data: { changed: ["defaultValue"] },
      },
      {
        action: "flag.archived",
        actor_id: adminUserId,
        entity_type: "flag",
        data: { changed: ["archivedAt"] },
      },
    ]);
    expect(JSON.stringify(rows)).not.toContain(secretish);
  });

  it("publishes a config change on NATS after each change, not after no-ops or failures", async () => {
    const nc: NatsConnection = await connect({ servers: TEST_NATS_URL });
    try {
      const subject = `${t.app.names.subjectPrefix}.config.flag`;
      const sub = nc.subscribe(subject, { timeout: 10_000 });
      await nc.flush();
      const key = newKey("nats");
      await admin.createFlag({ key, type: FlagType.BOOL, defaultValue: val(true) });
      await errorOf(admin.createFlag({ key, type: FlagType.BOOL, defaultValue: val(true) }));
      await admin.updateFlag({ key, defaultValue: val(true) }); // unchanged: no notification
      await admin.updateFlag({ key, defaultValue: val(false) });
      await admin.archiveFlag({ key });
      await admin.archiveFlag({ key }); // already archived: no notification
      await errorOf(admin.updateFlag({ key, description: "too late" }));
      const marker = newKey("marker");
      await admin.createFlag({ key: marker, type: FlagType.BOOL, defaultValue: val(true) });

      const received: { kind: string; key: string; action: string; at: string }[] = [];
      for await (const msg of sub) {
        const body = msg.json<{ kind: string; key: string; action: string; at: string }>();
        received.push(body);
        if (body.key === marker) break;
      }
      expect(received.map(({ kind, key: k, action }) => ({ kind, key: k, action }))).toEqual([
        { kind: "flag", key, action: "created" },
        { kind: "flag", key, action: "updated" },
        { kind: "flag", key, action: "archived" },
        { kind: "flag", key: marker, action: "created" },
      ]);
      expect(Number.isNaN(Date.parse(received[0]?.at ?? ""))).toBe(false);
    } finally {
      await nc.close();
    }
  });
});

describe("roles", () => {
  it("lets a viewer get and list flags but not change them", async () => {
    const flag = await createFlag(FlagType.STRING, "visible", { tags: ["roles"] });
    expect((await viewer.getFlag({ key: flag.key })).flag).toEqual(flag);
    expect((await viewer.listFlags({ tag: "roles" })).flags.map((f) => f.key)).toContain(flag.key);
    for (const call of [
      () =>
        viewer.createFlag({ key: newKey("viewer"), type: FlagType.BOOL, defaultValue: val(true) }),
      () => viewer.updateFlag({ key: flag.key, defaultValue: val("changed") }),
      () => viewer.archiveFlag({ key: flag.key }),
    ]) {
      expect((await errorOf(call())).code).toBe(Code.PermissionDenied);
    }
    expect(json((await admin.getFlag({ key: flag.key })).flag?.defaultValue)).toBe("visible");
  });

  it("lets an experimenter create, update and archive, recorded as the creator", async () => {
    const key = newKey("exp");
    const { flag } = await experimenter.createFlag({
      key,
      type: FlagType.NUMBER,
      defaultValue: val(1),
    });
    expect(flag?.createdBy).toBe(experimenterUserId);
    await experimenter.updateFlag({ key, defaultValue: val(2) });
    await experimenter.archiveFlag({ key });
    expect((await auditRows(key)).map((r) => r.actor_id)).toEqual([
      experimenterUserId,
      experimenterUserId,
      experimenterUserId,
    ]);
  });
});

describe("the Connect JSON protocol", () => {
  async function post(method: string, body: unknown) {
    const res = await fetch(`${t.baseUrl}/lotty.flags.v1.FlagService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it("rejects a string default for a BOOL flag, naming default_value", async () => {
    const res = await post("CreateFlag", {
      key: newKey("json"),
      type: "FLAG_TYPE_BOOL",
      defaultValue: "true",
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      code: "invalid_argument",
      message: "default_value: must be a bool for a FLAG_TYPE_BOOL flag, got a string",
    });
  });

  it("takes and returns values as plain JSON, null included", async () => {
    const key = newKey("json");
    const created = await post("CreateFlag", {
      key,
      type: "FLAG_TYPE_JSON",
      defaultValue: { limits: [1, 2.5], label: "x", off: null },
      tags: ["api"],
    });
    expect(created.status).toBe(200);
    expect(created.body.flag).toMatchObject({
      key,
      type: "FLAG_TYPE_JSON",
      defaultValue: { limits: [1, 2.5], label: "x", off: null },
      tags: ["api"],
    });
    const updated = await post("UpdateFlag", { key, defaultValue: null });
    expect(updated.status).toBe(200);
    expect((updated.body.flag as { defaultValue: unknown }).defaultValue).toBeNull();
  });

  it("rejects a lone surrogate in a string value instead of failing in PostgreSQL", async () => {
    const res = await fetch(`${t.baseUrl}/lotty.flags.v1.FlagService/CreateFlag`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
      body: `{"key":"${newKey("surrogate")}","type":"FLAG_TYPE_STRING","defaultValue":"a\\ud800b"}`,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(
      /^default_value: a string must be valid Unicode/,
    );
  });
});
