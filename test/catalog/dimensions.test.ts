/**
 * The catalog's analysis dimensions (docs/segments.md): create, list,
 * update and archive, each audited; the key and cap rules with the field
 * named; who may write them.
 */
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Code, ConnectError } from "@connectrpc/connect";
import { Role } from "../../gen/lotty/access/v1/access_pb.js";
import { CatalogService } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { client } from "../support/clients.js";
import { makeUser } from "../support/builders.js";
import { query } from "../events/support.js";

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(async () => {
  await t?.stop();
});

const catalog = () => client(CatalogService, t.baseUrl, t.adminKey);

async function failure(call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("no error");
}

describe("dimensions", () => {
  it("creates with a default cap, lists, updates and archives, auditing each change", async () => {
    const { dimension } = await catalog().createDimension({
      dimension: { key: "country", displayName: " Country ", description: "ISO code" },
    });
    expect(dimension).toMatchObject({
      key: "country",
      displayName: "Country",
      maxValues: 50,
      archived: false,
    });
    await catalog().createDimension({
      dimension: { key: "app_version", displayName: "App version", maxValues: 1000 },
    });
    const updated = await catalog().updateDimension({
      dimension: { key: "country", displayName: "Country code", maxValues: 20 },
    });
    expect(updated.dimension).toMatchObject({ displayName: "Country code", maxValues: 20 });
    const archived = await catalog().archiveDimension({ key: "app_version" });
    expect(archived.dimension?.archived).toBe(true);
    // Idempotent, and nothing more is audited.
    await catalog().archiveDimension({ key: "app_version" });
    expect((await catalog().listDimensions({})).dimensions.map((d) => d.key)).toEqual(["country"]);
    expect(
      (await catalog().listDimensions({ includeArchived: true })).dimensions.map((d) => d.key),
    ).toEqual(["app_version", "country"]);
    const page = await catalog().listDimensions({ includeArchived: true, pageSize: 1 });
    expect(page.dimensions.map((d) => d.key)).toEqual(["app_version"]);
    const next = await catalog().listDimensions({
      includeArchived: true,
      pageSize: 1,
      pageToken: page.nextPageToken,
    });
    expect(next.dimensions.map((d) => d.key)).toEqual(["country"]);
    expect(next.nextPageToken).toBe("");
    const audit = await query<{ entity_id: string; action: string; data: unknown }>(
      t,
      `select entity_id, action, data from audit_log where entity_type = 'dimension' order by at, action`,
    );
    expect(audit.map((r) => `${r.entity_id} ${r.action}`)).toEqual([
      "country dimension.created",
      "app_version dimension.created",
      "country dimension.updated",
      "app_version dimension.archived",
    ]);
    expect(audit[2]?.data).toMatchObject({
      before: { maxValues: 50 },
      after: { maxValues: 20, displayName: "Country code" },
    });
    const again = await failure(() =>
      catalog().updateDimension({ dimension: { key: "app_version", displayName: "x" } }),
    );
    expect(again.code).toBe(Code.FailedPrecondition);
  });

  it("names the field of a bad dimension", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ key: "", displayName: "x" }, /dimension\.key: is required/],
      [{ key: "1abc", displayName: "x" }, /dimension\.key: must be 1–64 characters/],
      [{ key: "app.version", displayName: "x" }, /dimension\.key: /],
      [{ key: "and", displayName: "x" }, /dimension\.key: "and" is a reserved word/],
      [{ key: "ok", displayName: "" }, /dimension\.display_name: is required/],
      [{ key: "ok", displayName: "x", maxValues: 1 }, /dimension\.max_values: must be 2–1000/],
      [{ key: "ok", displayName: "x", maxValues: 1001 }, /dimension\.max_values: /],
    ];
    for (const [dimension, message] of cases) {
      const error = await failure(() => catalog().createDimension({ dimension }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(message);
    }
    await catalog().createDimension({ dimension: { key: "screen", displayName: "Screen" } });
    const duplicate = await failure(() =>
      catalog().createDimension({ dimension: { key: "screen", displayName: "Screen" } }),
    );
    expect(duplicate.code).toBe(Code.AlreadyExists);
    expect((await failure(() => catalog().archiveDimension({ key: "missing" }))).code).toBe(
      Code.NotFound,
    );
  });

  it("lets readers list and only editors write", async () => {
    const viewer = await makeUser(t, Role.VIEWER);
    const experimenter = await makeUser(t, Role.EXPERIMENTER);
    const as = (key: string) => client(CatalogService, t.baseUrl, key);
    await as(viewer.key).listDimensions({});
    const denied = await failure(() =>
      as(viewer.key).createDimension({ dimension: { key: "tier", displayName: "Tier" } }),
    );
    expect(denied.code).toBe(Code.PermissionDenied);
    await as(experimenter.key).createDimension({ dimension: { key: "tier", displayName: "Tier" } });
  });
});
