/** Pure units of the catalog's request validation: no server, no database. */
import { describe, expect, it } from "@jest/globals";
import { ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { MetricKind, MetricSchema, PropertyType } from "../../gen/lotty/catalog/v1/catalog_pb.js";
import {
  FieldViolations,
  KIND_FIELDS,
  checkKey,
  checkMetric,
  checkMetricReferences,
  metricKindFromName,
  metricKindName,
  propertyTypeFromName,
  propertyTypeName,
} from "../../src/catalog/validation.js";

function enumValues(e: Record<string, string | number>): number[] {
  return Object.values(e).filter((v): v is number => typeof v === "number" && v !== 0);
}

function messageOf(check: (v: FieldViolations) => void): string | undefined {
  const v = new FieldViolations();
  check(v);
  try {
    v.throwIfAny();
    return undefined;
  } catch (error) {
    return ConnectError.from(error).rawMessage;
  }
}

describe("enum names", () => {
  it("maps every PropertyType to a lower-case stored name and back", () => {
    for (const type of enumValues(PropertyType) as PropertyType[]) {
      const name = propertyTypeName(type);
      expect(name).toBe(PropertyType[type].toLowerCase());
      expect(propertyTypeFromName(name ?? "")).toBe(type);
    }
    expect(propertyTypeName(PropertyType.UNSPECIFIED)).toBeUndefined();
    expect(propertyTypeFromName("decimal")).toBe(PropertyType.UNSPECIFIED);
  });

  it("maps every MetricKind to a lower-case stored name and back, with its field rules", () => {
    for (const kind of enumValues(MetricKind) as MetricKind[]) {
      const name = metricKindName(kind);
      expect(name).toBe(MetricKind[kind].toLowerCase());
      expect(metricKindFromName(name ?? "")).toBe(kind);
      expect(KIND_FIELDS[name ?? "count"]).toBeDefined();
    }
    expect(metricKindName(MetricKind.CONVERSION_RATE)).toBe("conversion_rate");
    expect(metricKindName(MetricKind.UNSPECIFIED)).toBeUndefined();
  });
});

describe("checkKey", () => {
  it.each(["a", "conversion", "Checkout.Completed-v2", "x_1", `k${"0".repeat(63)}`])(
    "accepts %s",
    (key) => expect(messageOf((v) => checkKey(v, "key", key))).toBeUndefined(),
  );

  it.each(["", "1a", "_a", "-a", "a b", "a/b", "é", ` a`, `k${"0".repeat(64)}`])(
    "rejects %j naming the field",
    (key) => expect(messageOf((v) => checkKey(v, "key", key))).toMatch(/^key: /),
  );
});

describe("checkMetric", () => {
  it("keeps only the fields the kind uses and reports unknown references by field", () => {
    const v = new FieldViolations();
    const draft = checkMetric(
      v,
      "metric",
      create(MetricSchema, {
        key: "p90",
        name: "p90",
        kind: MetricKind.PERCENTILE,
        eventTypeKey: "latency",
        property: "ms",
        percentile: 90,
      }),
    );
    expect(v.size).toBe(0);
    expect(draft).toMatchObject({
      kind: "percentile",
      eventTypeKey: "latency",
      property: "ms",
      percentile: 90,
      numeratorKey: null,
      denominatorKey: null,
    });
    const message = messageOf((w) =>
      checkMetricReferences(w, "metric", draft, {
        eventType: {
          key: "latency",
          archived: false,
          properties: [{ name: "ms", type: "string", required: true }],
        },
      }),
    );
    expect(message).toMatch(/^metric\.property: .*string property/);
  });

  it("rejects a NaN percentile", () => {
    const message = messageOf((v) =>
      checkMetric(
        v,
        "metric",
        create(MetricSchema, {
          key: "p",
          name: "p",
          kind: MetricKind.PERCENTILE,
          eventTypeKey: "latency",
          property: "ms",
          percentile: Number.NaN,
        }),
      ),
    );
    expect(message).toMatch(/^metric\.percentile: /);
  });
});
