/**
 * lotty.catalog.v1.CatalogService over the real server: the seeded catalog,
 * CRUD round trips, one test per validation rule, archive semantics, the
 * audit rows and the config-change notifications every mutation leaves,
 * paging and the role checks.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import pg from "pg";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { AccessService, Role } from "../../gen/lotty/access/v1/access_pb.js";
import { CatalogService, MetricKind, PropertyType } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { findUnusableMetricKeys } from "../../src/catalog/lookup.js";
import { startTestApp, waitFor, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { TEST_NATS_URL } from "../support/env.js";

/** The fields of lotty.catalog.v1.EventType a client sets (plus output-only ones, to prove they are ignored). */
interface EventTypeInput {
  key?: string;
  name?: string;
  description?: string;
  properties?: { name: string; type: PropertyType; required?: boolean }[];
  requiresExposure?: boolean;
  archived?: boolean;
  builtin?: boolean;
}

/** The fields of lotty.catalog.v1.Metric a client sets (plus output-only ones). */
interface MetricInput {
  key?: string;
  name?: string;
  description?: string;
  kind?: MetricKind;
  eventTypeKey?: string;
  property?: string;
  percentile?: number;
  numeratorMetricKey?: string;
  denominatorMetricKey?: string;
  requiresExposure?: boolean;
  archived?: boolean;
  builtin?: boolean;
}

interface ConfigMessage {
  subject: string;
  body: { kind: string; key: string; action: string; at: string };
}

let testApp: TestApp;
let admin: Client<typeof CatalogService>;
let db: pg.Client;
let nc: NatsConnection;
let adminUserId: string;
const configMessages: ConfigMessage[] = [];
const roleKeys = new Map<Role, string>();

beforeAll(async () => {
  testApp = await startTestApp();
  admin = client(CatalogService, testApp.baseUrl, testApp.adminKey);
  db = new pg.Client({ connectionString: testApp.database.url });
  await db.connect();

  nc = await connect({ servers: TEST_NATS_URL });
  nc.subscribe(`${testApp.app.names.subjectPrefix}.config.>`, {
    callback: (error, msg) => {
      if (error === null) {
        configMessages.push({ subject: msg.subject, body: msg.json<ConfigMessage["body"]>() });
      }
    },
  });
  await nc.flush();

  const access = client(AccessService, testApp.baseUrl, testApp.adminKey);
  adminUserId = (await access.getCurrentUser({})).user?.id ?? "";
  for (const role of [Role.EXPERIMENTER, Role.VIEWER]) {
    const name = Role[role].toLowerCase();
    const { user } = await access.createUser({
      email: `${name}@catalog.example.com`,
      displayName: `Catalog ${name}`,
      roles: [role],
    });
    const { secret } = await access.createApiKey({ userId: user?.id ?? "", name });
    roleKeys.set(role, secret);
  }
});

afterAll(async () => {
  await nc?.close();
  await db?.end();
  await testApp?.stop();
});

/** The ConnectError a call fails with; throws if it succeeds. */
async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** A fresh key unique within this file's database. */
function uniqueKey(tag: string): string {
  return `${tag}_${randomBytes(4).toString("hex")}`;
}

async function auditRows(entityType: string, entityId: string) {
  const { rows } = await db.query<{
    action: string;
    actor_id: string;
    data: Record<string, unknown> | null;
  }>(
    "select action, actor_id, data from audit_log where entity_type = $1 and entity_id = $2 order by at, action",
    [entityType, entityId],
  );
  return rows;
}

/** Waits for the config-change message of one mutation and returns it. */
async function configMessage(kind: string, key: string, action: string): Promise<ConfigMessage> {
  const matches = () =>
    configMessages.filter(
      (m) => m.body.kind === kind && m.body.key === key && m.body.action === action,
    );
  await waitFor(() => matches().length > 0, 5_000, `config message ${kind} ${key} ${action}`);
  const [first] = matches();
  if (first === undefined) throw new Error("unreachable");
  return first;
}

function eventTypeInput(overrides: EventTypeInput = {}): EventTypeInput {
  return {
    key: uniqueKey("et"),
    name: "Checkout completed",
    description: "The subject paid for an order.",
    properties: [
      { name: "amount", type: PropertyType.NUMBER, required: true },
      { name: "currency", type: PropertyType.STRING, required: false },
    ],
    requiresExposure: true,
    ...overrides,
  };
}

async function createEventType(overrides: EventTypeInput = {}) {
  const { eventType } = await admin.createEventType({ eventType: eventTypeInput(overrides) });
  if (eventType === undefined) throw new Error("CreateEventType returned no event type");
  return eventType;
}

async function createMetric(metric: MetricInput & { kind: MetricKind }) {
  const created = await admin.createMetric({
    metric: { key: uniqueKey("m"), name: "A metric", ...metric },
  });
  if (created.metric === undefined) throw new Error("CreateMetric returned no metric");
  return created.metric;
}

/** An active event type with a number property `amount` and a string property `currency`. */
let shared: { key: string };
beforeAll(async () => {
  shared = await createEventType({ key: uniqueKey("shared") });
});

describe("a fresh install", () => {
  it("has the built-in exposure type and the seeded conversion, error and latency types", async () => {
    const { eventTypes, nextPageToken } = await admin.listEventTypes({ pageSize: 500 });
    expect(nextPageToken).toBe("");
    const seeded = eventTypes.filter((t) =>
      ["exposure", "conversion", "error", "latency"].includes(t.key),
    );
    expect(
      seeded.map((t) => ({
        key: t.key,
        builtin: t.builtin,
        archived: t.archived,
        requiresExposure: t.requiresExposure,
        properties: t.properties.map((p) => ({ name: p.name, type: p.type, required: p.required })),
      })),
    ).toEqual([
      {
        key: "conversion",
        builtin: false,
        archived: false,
        requiresExposure: true,
        properties: [{ name: "value", type: PropertyType.NUMBER, required: false }],
      },
      {
        key: "error",
        builtin: false,
        archived: false,
        requiresExposure: true,
        properties: [{ name: "code", type: PropertyType.STRING, required: false }],
      },
      {
        key: "exposure",
        builtin: true,
        archived: false,
        requiresExposure: false,
        properties: [],
      },
      {
        key: "latency",
        builtin: false,
        archived: false,
        requiresExposure: true,
        properties: [{ name: "ms", type: PropertyType.NUMBER, required: true }],
      },
    ]);
    expect(seeded.every((t) => t.name !== "" && t.createdAt !== undefined)).toBe(true);
  });

  it("has the seven reference metrics with the right kinds and definitions", async () => {
    const { metrics } = await admin.listMetrics({ pageSize: 500 });
    const reference = metrics
      .filter((m) => m.builtin)
      .map((m) => ({
        key: m.key,
        kind: m.kind,
        eventTypeKey: m.eventTypeKey,
        property: m.property,
        percentile: m.percentile,
        numerator: m.numeratorMetricKey,
        denominator: m.denominatorMetricKey,
        archived: m.archived,
      }));
    const metric = (
      key: string,
      kind: MetricKind,
      eventTypeKey: string,
      extra: Partial<(typeof reference)[number]> = {},
    ) => ({
      key,
      kind,
      eventTypeKey,
      property: "",
      percentile: 0,
      numerator: "",
      denominator: "",
      archived: false,
      ...extra,
    });
    expect(reference).toEqual([
      metric("conversion_rate", MetricKind.CONVERSION_RATE, "conversion"),
      metric("conversions", MetricKind.COUNT, "conversion"),
      metric("error_rate", MetricKind.RATIO, "", { numerator: "errors", denominator: "exposures" }),
      metric("errors", MetricKind.COUNT, "error"),
      metric("exposures", MetricKind.COUNT, "exposure"),
      metric("latency_mean", MetricKind.MEAN, "latency", { property: "ms" }),
      metric("latency_p95", MetricKind.PERCENTILE, "latency", { property: "ms", percentile: 95 }),
    ]);
  });
});

describe("CreateEventType and GetEventType", () => {
  it("round-trips every input field and stores property types by name", async () => {
    const input = eventTypeInput({
      name: "  Checkout completed ",
      description: " Paid. \n Second line. ",
      properties: [
        { name: "amount", type: PropertyType.NUMBER, required: true },
        { name: "currency", type: PropertyType.STRING, required: false },
        { name: "first_order", type: PropertyType.BOOL, required: false },
        { name: "paid_at", type: PropertyType.TIMESTAMP, required: true },
      ],
      archived: true,
      builtin: true,
    });
    const { eventType } = await admin.createEventType({ eventType: input });
    expect(eventType?.key).toBe(input.key);
    expect(eventType?.name).toBe("Checkout completed");
    expect(eventType?.description).toBe("Paid. \n Second line.");
    expect(eventType?.properties.map((p) => [p.name, p.type, p.required])).toEqual([
      ["amount", PropertyType.NUMBER, true],
      ["currency", PropertyType.STRING, false],
      ["first_order", PropertyType.BOOL, false],
      ["paid_at", PropertyType.TIMESTAMP, true],
    ]);
    expect(eventType?.requiresExposure).toBe(true);
    expect(eventType?.archived).toBe(false);
    expect(eventType?.builtin).toBe(false);
    expect(eventType?.createdAt).toBeDefined();

    const fetched = await admin.getEventType({ key: input.key ?? "" });
    expect(fetched.eventType).toEqual(eventType);

    const { rows } = await db.query<{ properties: unknown; builtin: boolean }>(
      "select properties, builtin from event_types where key = $1",
      [input.key],
    );
    expect(rows).toEqual([
      {
        builtin: false,
        properties: [
          { name: "amount", type: "number", required: true },
          { name: "currency", type: "string", required: false },
          { name: "first_order", type: "bool", required: false },
          { name: "paid_at", type: "timestamp", required: true },
        ],
      },
    ]);
  });

  it("accepts keys with capitals, digits, '-' and '.' up to 64 characters", async () => {
    for (const key of ["Checkout.Completed-v2", `a${"b".repeat(63)}`]) {
      const eventType = await createEventType({ key, properties: [] });
      expect(eventType.key).toBe(key);
    }
  });

  it("writes an audit row and publishes a config change", async () => {
    const eventType = await createEventType();
    const rows = await auditRows("event_type", eventType.key);
    expect(rows.map((r) => [r.action, r.actor_id])).toEqual([["event_type.created", adminUserId]]);
    expect(rows[0]?.data).toMatchObject({ name: "Checkout completed", requiresExposure: true });
    const message = await configMessage("event_type", eventType.key, "created");
    expect(message.subject).toBe(`${testApp.app.names.subjectPrefix}.config.event_type`);
    expect(message.body).toEqual({
      kind: "event_type",
      key: eventType.key,
      action: "created",
      at: expect.any(String),
    });
  });

  it("rejects a taken key with ALREADY_EXISTS naming the key, built-in and archived ones too", async () => {
    const archived = await createEventType();
    await admin.archiveEventType({ key: archived.key });
    for (const key of [shared.key, "exposure", archived.key]) {
      const error = await errorOf(
        admin.createEventType({ eventType: eventTypeInput({ key, name: "Second" }) }),
      );
      expect([key, error.code]).toEqual([key, Code.AlreadyExists]);
      expect(error.rawMessage).toMatch(/^event_type\.key: /);
      expect(error.rawMessage).toContain(key);
    }
    const { rows } = await db.query("select name from event_types where key = $1", [shared.key]);
    expect(rows).toEqual([{ name: "Checkout completed" }]);
  });

  it("answers NOT_FOUND for an unknown key and INVALID_ARGUMENT for a missing one", async () => {
    const missing = await errorOf(admin.getEventType({ key: "no_such_type" }));
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.rawMessage).toContain("no_such_type");
    const empty = await errorOf(admin.getEventType({ key: "" }));
    expect(empty.code).toBe(Code.InvalidArgument);
    expect(empty.rawMessage).toMatch(/^key: /);
  });
});

describe("event type validation", () => {
  const cases: [string, () => { eventType?: EventTypeInput }, string][] = [
    ["a missing event type", () => ({}), "event_type"],
    ["an empty key", () => ({ eventType: eventTypeInput({ key: "" }) }), "event_type.key"],
    [
      "a key starting with a digit",
      () => ({ eventType: eventTypeInput({ key: "1st" }) }),
      "event_type.key",
    ],
    [
      "a key with a space",
      () => ({ eventType: eventTypeInput({ key: "check out" }) }),
      "event_type.key",
    ],
    [
      "a key of 65 characters",
      () => ({ eventType: eventTypeInput({ key: "k".repeat(65) }) }),
      "event_type.key",
    ],
    ["an empty name", () => ({ eventType: eventTypeInput({ name: "  " }) }), "event_type.name"],
    [
      "a name over 200 characters",
      () => ({ eventType: eventTypeInput({ name: "n".repeat(201) }) }),
      "event_type.name",
    ],
    [
      "a description over 2,000 characters",
      () => ({ eventType: eventTypeInput({ description: "d".repeat(2001) }) }),
      "event_type.description",
    ],
    [
      "a description with a control character",
      () => ({ eventType: eventTypeInput({ description: "a\u0000b" }) }),
      "event_type.description",
    ],
    [
      "more than 50 properties",
      () => ({
        eventType: eventTypeInput({
          properties: Array.from({ length: 51 }, (_, i) => ({
            name: `p${i}`,
            type: PropertyType.STRING,
          })),
        }),
      }),
      "event_type.properties",
    ],
    [
      "an empty property name",
      () => ({
        eventType: eventTypeInput({ properties: [{ name: "", type: PropertyType.STRING }] }),
      }),
      "event_type.properties[0].name",
    ],
    [
      "a property name with a '-'",
      () => ({
        eventType: eventTypeInput({ properties: [{ name: "a-b", type: PropertyType.STRING }] }),
      }),
      "event_type.properties[0].name",
    ],
    [
      "a duplicate property name",
      () => ({
        eventType: eventTypeInput({
          properties: [
            { name: "amount", type: PropertyType.NUMBER },
            { name: "amount", type: PropertyType.STRING },
          ],
        }),
      }),
      "event_type.properties[1].name",
    ],
    [
      "an unspecified property type",
      () => ({
        eventType: eventTypeInput({
          properties: [{ name: "amount", type: PropertyType.UNSPECIFIED }],
        }),
      }),
      "event_type.properties[0].type",
    ],
  ];

  it.each(cases.map(([rule, request, field]) => [rule, field, request] as const))(
    "rejects %s with INVALID_ARGUMENT naming %s",
    async (_rule, field, request) => {
      const req = request();
      const error = await errorOf(admin.createEventType(req));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage.startsWith(`${field}: `)).toBe(true);
      if (req.eventType?.key !== undefined && req.eventType.key !== "") {
        const { rows } = await db.query("select 1 from event_types where key = $1", [
          req.eventType.key,
        ]);
        expect(rows).toEqual([]);
      }
    },
  );

  it("names every problem of a request in one error", async () => {
    const error = await errorOf(
      admin.createEventType({
        eventType: {
          key: "9",
          name: "",
          properties: [{ name: "x", type: PropertyType.UNSPECIFIED }],
        },
      }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    for (const field of ["event_type.key", "event_type.name", "event_type.properties[0].type"]) {
      expect(error.rawMessage).toContain(`${field}: `);
    }
  });
});

describe("UpdateEventType", () => {
  it("replaces name, description, properties and requires_exposure, with audit and notification", async () => {
    const created = await createEventType();
    const { eventType } = await admin.updateEventType({
      eventType: {
        key: created.key,
        name: "Order paid",
        description: "",
        properties: [
          { name: "amount", type: PropertyType.NUMBER, required: false },
          { name: "coupon", type: PropertyType.BOOL, required: true },
        ],
        requiresExposure: false,
      },
    });
    expect(eventType?.name).toBe("Order paid");
    expect(eventType?.description).toBe("");
    expect(eventType?.properties.map((p) => [p.name, p.type, p.required])).toEqual([
      ["amount", PropertyType.NUMBER, false],
      ["coupon", PropertyType.BOOL, true],
    ]);
    expect(eventType?.requiresExposure).toBe(false);
    expect(eventType?.createdAt).toEqual(created.createdAt);
    expect((await admin.getEventType({ key: created.key })).eventType).toEqual(eventType);

    const rows = await auditRows("event_type", created.key);
    expect(rows.map((r) => r.action)).toEqual(["event_type.created", "event_type.updated"]);
    expect(rows[1]?.data).toMatchObject({
      before: { name: "Checkout completed", requiresExposure: true },
      after: { name: "Order paid", requiresExposure: false },
    });
    const message = await configMessage("event_type", created.key, "updated");
    expect(message.body).toMatchObject({ kind: "event_type", key: created.key, action: "updated" });
  });

  it("refuses to change the built-in exposure type with FAILED_PRECONDITION", async () => {
    const error = await errorOf(
      admin.updateEventType({ eventType: eventTypeInput({ key: "exposure", name: "Seen" }) }),
    );
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain("exposure");
    expect((await admin.getEventType({ key: "exposure" })).eventType?.name).toBe("Exposure");
  });

  it("lets the seeded conversion type change", async () => {
    const { eventType } = await admin.updateEventType({
      eventType: {
        key: "conversion",
        name: "Conversion",
        description: "The subject completed the goal.",
        properties: [
          { name: "value", type: PropertyType.NUMBER },
          { name: "plan", type: PropertyType.STRING },
        ],
        requiresExposure: true,
      },
    });
    expect(eventType?.properties.map((p) => p.name)).toEqual(["value", "plan"]);
  });

  it("answers NOT_FOUND for an unknown key", async () => {
    const error = await errorOf(
      admin.updateEventType({ eventType: eventTypeInput({ key: "no_such_type" }) }),
    );
    expect(error.code).toBe(Code.NotFound);
  });

  it("validates as create does", async () => {
    const error = await errorOf(
      admin.updateEventType({ eventType: eventTypeInput({ key: shared.key, name: "" }) }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^event_type\.name: /);
  });

  it("allows removing and retyping properties no metric reads", async () => {
    const created = await createEventType();
    const { eventType } = await admin.updateEventType({
      eventType: {
        ...eventTypeInput({ key: created.key }),
        properties: [{ name: "amount", type: PropertyType.STRING, required: true }],
      },
    });
    expect(eventType?.properties.map((p) => [p.name, p.type])).toEqual([
      ["amount", PropertyType.STRING],
    ]);
  });

  it("keeps a property that metrics read as a number: FAILED_PRECONDITION naming them", async () => {
    const created = await createEventType();
    const sum = await createMetric({
      kind: MetricKind.SUM,
      eventTypeKey: created.key,
      property: "amount",
    });
    const attempts: EventTypeInput["properties"][] = [
      [{ name: "currency", type: PropertyType.STRING }],
      [{ name: "amount", type: PropertyType.STRING }],
    ];
    for (const properties of attempts) {
      const error = await errorOf(
        admin.updateEventType({ eventType: eventTypeInput({ key: created.key, properties }) }),
      );
      expect(error.code).toBe(Code.FailedPrecondition);
      expect(error.rawMessage).toMatch(/^event_type\.properties: /);
      expect(error.rawMessage).toContain('"amount"');
      expect(error.rawMessage).toContain(sum.key);
    }
    const kept = await admin.updateEventType({
      eventType: eventTypeInput({
        key: created.key,
        properties: [{ name: "amount", type: PropertyType.NUMBER, required: false }],
      }),
    });
    expect(kept.eventType?.properties).toHaveLength(1);
  });

  it("refuses to change an archived type with FAILED_PRECONDITION", async () => {
    const created = await createEventType();
    await admin.archiveEventType({ key: created.key });
    const error = await errorOf(
      admin.updateEventType({ eventType: eventTypeInput({ key: created.key }) }),
    );
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain("archived");
  });
});

describe("ArchiveEventType", () => {
  it("refuses the built-in exposure type with FAILED_PRECONDITION", async () => {
    const error = await errorOf(admin.archiveEventType({ key: "exposure" }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain("exposure");
    expect((await admin.getEventType({ key: "exposure" })).eventType?.archived).toBe(false);
  });

  it("archives once: hidden from lists unless asked, still readable, idempotent", async () => {
    const created = await createEventType();
    const first = await admin.archiveEventType({ key: created.key });
    expect(first.eventType?.archived).toBe(true);
    const again = await admin.archiveEventType({ key: created.key });
    expect(again.eventType).toEqual(first.eventType);
    expect((await admin.getEventType({ key: created.key })).eventType?.archived).toBe(true);

    const active = await admin.listEventTypes({ pageSize: 500 });
    expect(active.eventTypes.map((t) => t.key)).not.toContain(created.key);
    const all = await admin.listEventTypes({ pageSize: 500, includeArchived: true });
    expect(all.eventTypes.find((t) => t.key === created.key)?.archived).toBe(true);

    expect((await auditRows("event_type", created.key)).map((r) => r.action)).toEqual([
      "event_type.created",
      "event_type.archived",
    ]);
    await configMessage("event_type", created.key, "archived");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const archivedMessages = configMessages.filter(
      (m) => m.body.key === created.key && m.body.action === "archived",
    );
    expect(archivedMessages).toHaveLength(1);
  });

  it("makes the type unusable by new metrics while metrics over it keep working", async () => {
    const created = await createEventType();
    const existing = await createMetric({ kind: MetricKind.COUNT, eventTypeKey: created.key });
    await admin.archiveEventType({ key: created.key });
    const error = await errorOf(
      admin.createMetric({
        metric: {
          key: uniqueKey("m"),
          name: "Late",
          kind: MetricKind.COUNT,
          eventTypeKey: created.key,
        },
      }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^metric\.event_type_key: /);
    expect(error.rawMessage).toContain("archived");
    const still = await admin.getMetric({ key: existing.key });
    expect(still.metric?.archived).toBe(false);
    expect(still.metric?.eventTypeKey).toBe(created.key);
  });

  it("lets the seeded error type be archived", async () => {
    const { eventType } = await admin.archiveEventType({ key: "error" });
    expect(eventType?.archived).toBe(true);
    expect((await admin.getMetric({ key: "errors" })).metric?.archived).toBe(false);
  });

  it("answers NOT_FOUND for an unknown key", async () => {
    const error = await errorOf(admin.archiveEventType({ key: "no_such_type" }));
    expect(error.code).toBe(Code.NotFound);
  });
});

describe("CreateMetric and GetMetric", () => {
  it.each([
    ["COUNT", { kind: MetricKind.COUNT }, { kind: "count", property: null, percentile: null }],
    [
      "CONVERSION_RATE",
      { kind: MetricKind.CONVERSION_RATE },
      { kind: "conversion_rate", property: null, percentile: null },
    ],
    [
      "SUM",
      { kind: MetricKind.SUM, property: "amount" },
      { kind: "sum", property: "amount", percentile: null },
    ],
    [
      "MEAN",
      { kind: MetricKind.MEAN, property: "amount" },
      { kind: "mean", property: "amount", percentile: null },
    ],
    [
      "PERCENTILE",
      { kind: MetricKind.PERCENTILE, property: "amount", percentile: 99 },
      { kind: "percentile", property: "amount", percentile: 99 },
    ],
  ] as const)("round-trips a %s metric", async (_kind, fields, stored) => {
    const input: MetricInput = {
      key: uniqueKey("m"),
      name: " Order value ",
      description: "Per order.",
      eventTypeKey: shared.key,
      requiresExposure: true,
      archived: true,
      builtin: true,
      ...fields,
    };
    const { metric } = await admin.createMetric({ metric: input });
    expect(metric).toMatchObject({
      key: input.key,
      name: "Order value",
      description: "Per order.",
      kind: fields.kind,
      eventTypeKey: shared.key,
      property: "property" in fields ? fields.property : "",
      percentile: "percentile" in fields ? fields.percentile : 0,
      numeratorMetricKey: "",
      denominatorMetricKey: "",
      requiresExposure: true,
      archived: false,
      builtin: false,
    });
    expect((await admin.getMetric({ key: input.key ?? "" })).metric).toEqual(metric);
    const { rows } = await db.query(
      "select kind, event_type_key, property, percentile, numerator_key, denominator_key from metrics where key = $1",
      [input.key],
    );
    expect(rows).toEqual([
      { ...stored, event_type_key: shared.key, numerator_key: null, denominator_key: null },
    ]);
  });

  it("round-trips a RATIO metric of a COUNT and a SUM metric", async () => {
    const orders = await createMetric({ kind: MetricKind.COUNT, eventTypeKey: shared.key });
    const revenue = await createMetric({
      kind: MetricKind.SUM,
      eventTypeKey: shared.key,
      property: "amount",
    });
    const ratio = await createMetric({
      kind: MetricKind.RATIO,
      numeratorMetricKey: revenue.key,
      denominatorMetricKey: orders.key,
    });
    expect(ratio).toMatchObject({
      kind: MetricKind.RATIO,
      eventTypeKey: "",
      property: "",
      percentile: 0,
      numeratorMetricKey: revenue.key,
      denominatorMetricKey: orders.key,
    });
    expect((await admin.getMetric({ key: ratio.key })).metric).toEqual(ratio);
    const { rows } = await db.query(
      "select kind, event_type_key, numerator_key, denominator_key from metrics where key = $1",
      [ratio.key],
    );
    expect(rows).toEqual([
      {
        kind: "ratio",
        event_type_key: null,
        numerator_key: revenue.key,
        denominator_key: orders.key,
      },
    ]);
  });

  it("writes an audit row and publishes a config change", async () => {
    const metric = await createMetric({ kind: MetricKind.COUNT, eventTypeKey: shared.key });
    const rows = await auditRows("metric", metric.key);
    expect(rows.map((r) => [r.action, r.actor_id])).toEqual([["metric.created", adminUserId]]);
    expect(rows[0]?.data).toMatchObject({ kind: "count", eventTypeKey: shared.key });
    const message = await configMessage("metric", metric.key, "created");
    expect(message.subject).toBe(`${testApp.app.names.subjectPrefix}.config.metric`);
    expect(message.body).toEqual({
      kind: "metric",
      key: metric.key,
      action: "created",
      at: expect.any(String),
    });
  });

  it("rejects a taken key with ALREADY_EXISTS naming the key", async () => {
    const error = await errorOf(
      admin.createMetric({
        metric: {
          key: "conversion_rate",
          name: "Mine",
          kind: MetricKind.COUNT,
          eventTypeKey: shared.key,
        },
      }),
    );
    expect(error.code).toBe(Code.AlreadyExists);
    expect(error.rawMessage).toMatch(/^metric\.key: /);
    expect(error.rawMessage).toContain("conversion_rate");
    expect((await admin.getMetric({ key: "conversion_rate" })).metric?.kind).toBe(
      MetricKind.CONVERSION_RATE,
    );
  });

  it("answers NOT_FOUND for an unknown key and INVALID_ARGUMENT for a malformed one", async () => {
    const missing = await errorOf(admin.getMetric({ key: "no_such_metric" }));
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.rawMessage).toContain("no_such_metric");
    const malformed = await errorOf(admin.getMetric({ key: "no such metric" }));
    expect(malformed.code).toBe(Code.InvalidArgument);
    expect(malformed.rawMessage).toMatch(/^key: /);
  });
});

describe("metric validation", () => {
  let mean: string;
  let archivedCount: string;
  let archivedType: string;
  beforeAll(async () => {
    mean = (
      await createMetric({ kind: MetricKind.MEAN, eventTypeKey: shared.key, property: "amount" })
    ).key;
    archivedCount = (await createMetric({ kind: MetricKind.COUNT, eventTypeKey: shared.key })).key;
    await admin.archiveMetric({ key: archivedCount });
    archivedType = (await createEventType()).key;
    await admin.archiveEventType({ key: archivedType });
  });

  const count = (): MetricInput => ({
    key: uniqueKey("m"),
    name: "Orders",
    kind: MetricKind.COUNT,
    eventTypeKey: shared.key,
  });
  const ratio = (): MetricInput => ({
    key: uniqueKey("m"),
    name: "Errors per exposure",
    kind: MetricKind.RATIO,
    numeratorMetricKey: "conversions",
    denominatorMetricKey: "exposures",
  });
  const percentile = (): MetricInput => ({
    key: uniqueKey("m"),
    name: "p99 amount",
    kind: MetricKind.PERCENTILE,
    eventTypeKey: shared.key,
    property: "amount",
    percentile: 99,
  });

  const cases: [string, () => { metric?: MetricInput }, string][] = [
    ["a missing metric", () => ({}), "metric"],
    ["an empty key", () => ({ metric: { ...count(), key: "" } }), "metric.key"],
    ["a malformed key", () => ({ metric: { ...count(), key: "_orders" } }), "metric.key"],
    ["an empty name", () => ({ metric: { ...count(), name: "" } }), "metric.name"],
    [
      "a description over 2,000 characters",
      () => ({ metric: { ...count(), description: "d".repeat(2001) } }),
      "metric.description",
    ],
    [
      "an unspecified kind",
      () => ({ metric: { ...count(), kind: MetricKind.UNSPECIFIED } }),
      "metric.kind",
    ],
    [
      "COUNT without an event type",
      () => ({ metric: { ...count(), eventTypeKey: "" } }),
      "metric.event_type_key",
    ],
    [
      "CONVERSION_RATE over an unknown event type",
      () => ({
        metric: { ...count(), kind: MetricKind.CONVERSION_RATE, eventTypeKey: "no_such_type" },
      }),
      "metric.event_type_key",
    ],
    [
      "COUNT over an archived event type",
      () => ({ metric: { ...count(), eventTypeKey: archivedType } }),
      "metric.event_type_key",
    ],
    [
      "COUNT with a property",
      () => ({ metric: { ...count(), property: "amount" } }),
      "metric.property",
    ],
    [
      "COUNT with a percentile",
      () => ({ metric: { ...count(), percentile: 95 } }),
      "metric.percentile",
    ],
    [
      "COUNT with a numerator",
      () => ({ metric: { ...count(), numeratorMetricKey: "exposures" } }),
      "metric.numerator_metric_key",
    ],
    [
      "COUNT with a denominator",
      () => ({ metric: { ...count(), denominatorMetricKey: "exposures" } }),
      "metric.denominator_metric_key",
    ],
    [
      "SUM without a property",
      () => ({ metric: { ...count(), kind: MetricKind.SUM } }),
      "metric.property",
    ],
    [
      "MEAN over a property the type does not declare",
      () => ({ metric: { ...count(), kind: MetricKind.MEAN, property: "tax" } }),
      "metric.property",
    ],
    [
      "SUM over a string property",
      () => ({ metric: { ...count(), kind: MetricKind.SUM, property: "currency" } }),
      "metric.property",
    ],
    [
      "PERCENTILE without a percentile",
      () => ({ metric: { ...percentile(), percentile: 0 } }),
      "metric.percentile",
    ],
    [
      "PERCENTILE of 100",
      () => ({ metric: { ...percentile(), percentile: 100 } }),
      "metric.percentile",
    ],
    [
      "PERCENTILE below 0",
      () => ({ metric: { ...percentile(), percentile: -5 } }),
      "metric.percentile",
    ],
    [
      "PERCENTILE with a numerator",
      () => ({ metric: { ...percentile(), numeratorMetricKey: "errors" } }),
      "metric.numerator_metric_key",
    ],
    [
      "RATIO with an event type",
      () => ({ metric: { ...ratio(), eventTypeKey: shared.key } }),
      "metric.event_type_key",
    ],
    [
      "RATIO with a property",
      () => ({ metric: { ...ratio(), property: "amount" } }),
      "metric.property",
    ],
    [
      "RATIO with a percentile",
      () => ({ metric: { ...ratio(), percentile: 50 } }),
      "metric.percentile",
    ],
    [
      "RATIO without a numerator",
      () => ({ metric: { ...ratio(), numeratorMetricKey: "" } }),
      "metric.numerator_metric_key",
    ],
    [
      "RATIO without a denominator",
      () => ({ metric: { ...ratio(), denominatorMetricKey: "" } }),
      "metric.denominator_metric_key",
    ],
    [
      "RATIO of a metric divided by itself",
      () => ({ metric: { ...ratio(), numeratorMetricKey: "exposures" } }),
      "metric.denominator_metric_key",
    ],
    [
      "RATIO of an unknown metric",
      () => ({ metric: { ...ratio(), numeratorMetricKey: "no_such_metric" } }),
      "metric.numerator_metric_key",
    ],
    [
      "RATIO of an archived metric",
      () => ({ metric: { ...ratio(), denominatorMetricKey: archivedCount } }),
      "metric.denominator_metric_key",
    ],
    [
      "RATIO of a MEAN metric",
      () => ({ metric: { ...ratio(), numeratorMetricKey: mean } }),
      "metric.numerator_metric_key",
    ],
    [
      "RATIO of a RATIO metric",
      () => ({ metric: { ...ratio(), denominatorMetricKey: "error_rate" } }),
      "metric.denominator_metric_key",
    ],
  ];

  it.each(cases.map(([rule, request, field]) => [rule, field, request] as const))(
    "rejects %s with INVALID_ARGUMENT naming %s",
    async (_rule, field, request) => {
      const req = request();
      const error = await errorOf(admin.createMetric(req));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage.startsWith(`${field}: `)).toBe(true);
      if (req.metric?.key !== undefined && req.metric.key !== "") {
        const { rows } = await db.query("select 1 from metrics where key = $1", [req.metric.key]);
        expect(rows).toEqual([]);
      }
    },
  );

  it("rejects a ratio naming itself", async () => {
    const metric = await createMetric({ kind: MetricKind.COUNT, eventTypeKey: shared.key });
    const error = await errorOf(
      admin.updateMetric({
        metric: {
          key: metric.key,
          name: "Self",
          kind: MetricKind.RATIO,
          numeratorMetricKey: metric.key,
          denominatorMetricKey: "exposures",
        },
      }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^metric\.numerator_metric_key: /);
  });
});

describe("UpdateMetric", () => {
  it("replaces every input field, with audit and notification", async () => {
    const created = await createMetric({
      kind: MetricKind.COUNT,
      eventTypeKey: shared.key,
      description: "Orders.",
    });
    const { metric } = await admin.updateMetric({
      metric: {
        key: created.key,
        name: "Median order",
        kind: MetricKind.PERCENTILE,
        eventTypeKey: shared.key,
        property: "amount",
        percentile: 50,
        requiresExposure: true,
      },
    });
    expect(metric).toMatchObject({
      key: created.key,
      name: "Median order",
      description: "",
      kind: MetricKind.PERCENTILE,
      property: "amount",
      percentile: 50,
      requiresExposure: true,
      createdAt: created.createdAt,
    });
    expect((await admin.getMetric({ key: created.key })).metric).toEqual(metric);
    const rows = await auditRows("metric", created.key);
    expect(rows.map((r) => r.action)).toEqual(["metric.created", "metric.updated"]);
    expect(rows[1]?.data).toMatchObject({
      before: { kind: "count", property: null },
      after: { kind: "percentile", property: "amount", percentile: 50 },
    });
    await configMessage("metric", created.key, "updated");
  });

  it("can turn a metric into a ratio, clearing the fields the kind does not use", async () => {
    const created = await createMetric({
      kind: MetricKind.MEAN,
      eventTypeKey: shared.key,
      property: "amount",
    });
    const asRatio = await admin.updateMetric({
      metric: {
        key: created.key,
        name: "Conversions per exposure",
        kind: MetricKind.RATIO,
        numeratorMetricKey: "conversions",
        denominatorMetricKey: "exposures",
      },
    });
    expect(asRatio.metric).toMatchObject({
      eventTypeKey: "",
      property: "",
      numeratorMetricKey: "conversions",
    });
    const { rows } = await db.query(
      "select event_type_key, property, numerator_key, denominator_key from metrics where key = $1",
      [created.key],
    );
    expect(rows).toEqual([
      {
        event_type_key: null,
        property: null,
        numerator_key: "conversions",
        denominator_key: "exposures",
      },
    ]);
  });

  it("keeps a metric that ratios divide a COUNT or SUM: FAILED_PRECONDITION naming kind", async () => {
    const base = await createMetric({ kind: MetricKind.COUNT, eventTypeKey: shared.key });
    const ratio = await createMetric({
      kind: MetricKind.RATIO,
      numeratorMetricKey: base.key,
      denominatorMetricKey: "exposures",
    });
    const error = await errorOf(
      admin.updateMetric({
        metric: {
          key: base.key,
          name: "Mean",
          kind: MetricKind.MEAN,
          eventTypeKey: shared.key,
          property: "amount",
        },
      }),
    );
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toMatch(/^metric\.kind: /);
    expect(error.rawMessage).toContain(ratio.key);
    const asSum = await admin.updateMetric({
      metric: {
        key: base.key,
        name: "Sum",
        kind: MetricKind.SUM,
        eventTypeKey: shared.key,
        property: "amount",
      },
    });
    expect(asSum.metric?.kind).toBe(MetricKind.SUM);
  });

  it("validates as create does", async () => {
    const error = await errorOf(
      admin.updateMetric({
        metric: {
          key: "conversions",
          name: "Conversions",
          kind: MetricKind.COUNT,
          eventTypeKey: "no_such_type",
        },
      }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^metric\.event_type_key: /);
  });

  it("answers NOT_FOUND for an unknown key", async () => {
    const error = await errorOf(
      admin.updateMetric({
        metric: {
          key: "no_such_metric",
          name: "X",
          kind: MetricKind.COUNT,
          eventTypeKey: shared.key,
        },
      }),
    );
    expect(error.code).toBe(Code.NotFound);
  });

  it("refuses to change an archived metric with FAILED_PRECONDITION", async () => {
    const created = await createMetric({ kind: MetricKind.COUNT, eventTypeKey: shared.key });
    await admin.archiveMetric({ key: created.key });
    const error = await errorOf(
      admin.updateMetric({
        metric: { key: created.key, name: "X", kind: MetricKind.COUNT, eventTypeKey: shared.key },
      }),
    );
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain("archived");
  });
});

describe("ArchiveMetric", () => {
  it("archives a seeded metric once; ratios over it keep working but new ones cannot use it", async () => {
    const first = await admin.archiveMetric({ key: "exposures" });
    expect(first.metric?.archived).toBe(true);
    expect(first.metric?.builtin).toBe(true);
    const again = await admin.archiveMetric({ key: "exposures" });
    expect(again.metric).toEqual(first.metric);

    const errorRate = await admin.getMetric({ key: "error_rate" });
    expect(errorRate.metric).toMatchObject({ archived: false, denominatorMetricKey: "exposures" });
    const error = await errorOf(
      admin.createMetric({
        metric: {
          key: uniqueKey("m"),
          name: "Conversions per exposure",
          kind: MetricKind.RATIO,
          numeratorMetricKey: "conversions",
          denominatorMetricKey: "exposures",
        },
      }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^metric\.denominator_metric_key: /);

    const listed = await admin.listMetrics({ pageSize: 500 });
    expect(listed.metrics.map((m) => m.key)).not.toContain("exposures");
    const all = await admin.listMetrics({ pageSize: 500, includeArchived: true });
    expect(all.metrics.find((m) => m.key === "exposures")?.archived).toBe(true);

    expect((await auditRows("metric", "exposures")).map((r) => [r.action, r.actor_id])).toEqual([
      ["metric.archived", adminUserId],
    ]);
    const message = await configMessage("metric", "exposures", "archived");
    expect(message.body).toMatchObject({ kind: "metric", key: "exposures", action: "archived" });
  });

  it("answers NOT_FOUND for an unknown key", async () => {
    const error = await errorOf(admin.archiveMetric({ key: "no_such_metric" }));
    expect(error.code).toBe(Code.NotFound);
  });
});

describe("findUnusableMetricKeys", () => {
  it("returns the unknown and archived keys, once each, in the order given", async () => {
    const active = await createMetric({ kind: MetricKind.COUNT, eventTypeKey: shared.key });
    const archived = await createMetric({ kind: MetricKind.COUNT, eventTypeKey: shared.key });
    await admin.archiveMetric({ key: archived.key });
    const em = testApp.app.db.orm.em.fork();
    expect(
      await findUnusableMetricKeys(em, [
        archived.key,
        active.key,
        "conversion_rate",
        "no_such_metric",
        archived.key,
      ]),
    ).toEqual([archived.key, "no_such_metric"]);
    expect(await findUnusableMetricKeys(em, [])).toEqual([]);
    expect(await findUnusableMetricKeys(em, ["latency_p95", active.key])).toEqual([]);
  });
});

describe("paging", () => {
  it("walks every event type page in key order without duplicates or gaps", async () => {
    for (let i = 0; i < 7; i++) await createEventType({ key: uniqueKey(`page${i}`) });
    const all = await admin.listEventTypes({ pageSize: 500, includeArchived: true });
    expect(all.eventTypes.length).toBeGreaterThanOrEqual(11);
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await admin.listEventTypes({
        pageSize: 3,
        pageToken: token,
        includeArchived: true,
      });
      expect(page.eventTypes.length).toBeLessThanOrEqual(3);
      seen.push(...page.eventTypes.map((t) => t.key));
      token = page.nextPageToken;
      pages += 1;
    } while (token !== "" && pages < 100);
    expect(seen).toEqual(all.eventTypes.map((t) => t.key));
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBe(Math.ceil(seen.length / 3));
  });

  it("walks every metric page in key order without duplicates or gaps", async () => {
    for (let i = 0; i < 5; i++)
      await createMetric({ kind: MetricKind.COUNT, eventTypeKey: shared.key });
    const all = await admin.listMetrics({ pageSize: 500 });
    expect(all.metrics.length).toBeGreaterThanOrEqual(10);
    expect(all.metrics.every((m) => !m.archived)).toBe(true);
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await admin.listMetrics({ pageSize: 4, pageToken: token });
      seen.push(...page.metrics.map((m) => m.key));
      token = page.nextPageToken;
      pages += 1;
    } while (token !== "" && pages < 100);
    expect(seen).toEqual(all.metrics.map((m) => m.key));
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe("roles", () => {
  it("denies a viewer CreateMetric but lets it list metrics", async () => {
    const viewer = client(CatalogService, testApp.baseUrl, roleKeys.get(Role.VIEWER));
    const key = uniqueKey("m");
    const error = await errorOf(
      viewer.createMetric({
        metric: { key, name: "Nope", kind: MetricKind.COUNT, eventTypeKey: shared.key },
      }),
    );
    expect(error.code).toBe(Code.PermissionDenied);
    const { rows } = await db.query("select 1 from metrics where key = $1", [key]);
    expect(rows).toEqual([]);
    const listed = await viewer.listMetrics({});
    expect(listed.metrics.map((m) => m.key)).toContain("conversion_rate");
  });

  it("lets an experimenter create a metric, audited under their id", async () => {
    const experimenter = client(CatalogService, testApp.baseUrl, roleKeys.get(Role.EXPERIMENTER));
    const { metric } = await experimenter.createMetric({
      metric: {
        key: uniqueKey("m"),
        name: "Mine",
        kind: MetricKind.COUNT,
        eventTypeKey: shared.key,
      },
    });
    const rows = await auditRows("metric", metric?.key ?? "");
    expect(rows).toHaveLength(1);
    expect(rows[0]?.actor_id).not.toBe(adminUserId);
  });
});
