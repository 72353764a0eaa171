import { describe, expect, it } from "vitest";
import { create, toJson } from "@bufbuild/protobuf";
import { ValueSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { FlagSchema, FlagType } from "../../../../gen/lotty/flags/v1/flags_pb.js";
import { MetricKind } from "../../../../gen/lotty/catalog/v1/catalog_pb.js";
import { Direction, GuardrailAction } from "../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { GuardrailTriggerSchema } from "../../../../gen/lotty/guardrails/v1/guardrails_pb.js";
import {
  buildCreateFlagRequest,
  buildEventType,
  buildMetric,
  buildUpdateFlagRequest,
  describeMetric,
  EMPTY_METRIC_FORM,
  flagToForm,
  formErrors,
  parseFlagValue,
  parseTags,
  triggerComparison,
  triggerSentence,
  ruleText,
} from "./catalog.js";

describe("parseFlagValue", () => {
  it("accepts values of each type and explains the rest", () => {
    expect(parseFlagValue(FlagType.BOOL, "true")).toEqual({ ok: true, value: true });
    expect(parseFlagValue(FlagType.BOOL, "yes").ok).toBe(false);
    expect(parseFlagValue(FlagType.NUMBER, " 0.25 ")).toEqual({ ok: true, value: 0.25 });
    expect(parseFlagValue(FlagType.NUMBER, "").ok).toBe(false);
    expect(parseFlagValue(FlagType.NUMBER, "Infinity").ok).toBe(false);
    expect(parseFlagValue(FlagType.STRING, "blue")).toEqual({ ok: true, value: "blue" });
    expect(parseFlagValue(FlagType.JSON, '{"a": [1, null]}')).toEqual({
      ok: true,
      value: { a: [1, null] },
    });
    expect(parseFlagValue(FlagType.JSON, "{a: 1}").ok).toBe(false);
  });
});

describe("flag requests", () => {
  it("builds CreateFlag from the form, with tags split and the value typed", () => {
    const built = buildCreateFlagRequest({
      key: " button_color ",
      type: FlagType.STRING,
      defaultValue: "blue",
      description: "Colour",
      tags: "ui, checkout  web",
    });
    if (!("request" in built)) throw new Error("expected a request");
    expect(built.request.key).toBe("button_color");
    expect(built.request.tags).toEqual(["ui", "checkout", "web"]);
    expect(toJson(ValueSchema, built.request.defaultValue as never)).toBe("blue");
  });

  it("reports an unparsable default value at default_value before sending", () => {
    const built = buildCreateFlagRequest({
      key: "k",
      type: FlagType.NUMBER,
      defaultValue: "ten",
      description: "",
      tags: "",
    });
    expect(built).toEqual({
      errors: [{ field: "default_value", message: expect.stringContaining("number") as string }],
    });
  });

  it("clears tags on update only when the flag had some and all were removed", () => {
    const flag = create(FlagSchema, {
      key: "k",
      type: FlagType.BOOL,
      defaultValue: create(ValueSchema, { kind: { case: "boolValue", value: false } }),
      tags: ["a"],
      updatedAt: timestampFromDate(new Date()),
    });
    const form = flagToForm(flag);
    expect(form.defaultValue).toBe("false");
    const built = buildUpdateFlagRequest({ ...form, tags: "", defaultValue: "true" }, flag);
    if (!("request" in built)) throw new Error("expected a request");
    expect(built.request.clearTags).toBe(true);
    expect(built.request.tags).toEqual([]);
    const kept = buildUpdateFlagRequest(form, flag);
    if (!("request" in kept)) throw new Error("expected a request");
    expect(kept.request.clearTags).toBe(false);
    expect(kept.request.tags).toEqual(["a"]);
  });

  it("parses tags", () => {
    expect(parseTags(" a,,b  c ")).toEqual(["a", "b", "c"]);
    expect(parseTags("")).toEqual([]);
  });
});

describe("formErrors", () => {
  it("parses INVALID_ARGUMENT and ALREADY_EXISTS messages into field errors", () => {
    expect(
      formErrors(
        new ConnectError("key: is required; default_value: must be a bool", Code.InvalidArgument),
      ),
    ).toEqual([
      { field: "key", message: "is required" },
      { field: "default_value", message: "must be a bool" },
    ]);
    expect(
      formErrors(new ConnectError('key: a flag with key "x" already exists', Code.AlreadyExists)),
    ).toEqual([{ field: "key", message: 'a flag with key "x" already exists' }]);
    expect(formErrors(new ConnectError("boom", Code.Internal))).toEqual([]);
  });
});

describe("catalog messages", () => {
  it("trims event type fields", () => {
    const e = buildEventType({
      key: " signup ",
      name: " Sign-up ",
      description: "",
      requiresExposure: true,
      properties: [{ name: " plan ", type: 1, required: true }],
    });
    expect(e.key).toBe("signup");
    expect(e.name).toBe("Sign-up");
    expect(e.properties[0]?.name).toBe("plan");
  });

  it("empties the fields a metric kind does not use", () => {
    const ratio = buildMetric({
      ...EMPTY_METRIC_FORM,
      key: "r",
      name: "R",
      kind: MetricKind.RATIO,
      eventTypeKey: "conversion",
      property: "value",
      numeratorMetricKey: "errors",
      denominatorMetricKey: "exposures",
    });
    if (!("metric" in ratio)) throw new Error("expected a metric");
    expect(ratio.metric.eventTypeKey).toBe("");
    expect(ratio.metric.property).toBe("");
    expect(ratio.metric.percentile).toBe(0);
    expect(describeMetric(ratio.metric)).toBe("errors ÷ exposures");

    const p = buildMetric({
      ...EMPTY_METRIC_FORM,
      kind: MetricKind.PERCENTILE,
      eventTypeKey: "latency",
      property: "ms",
      percentile: "99",
    });
    if (!("metric" in p)) throw new Error("expected a metric");
    expect(p.metric.percentile).toBe(99);
    expect(describeMetric(p.metric)).toBe("p99 of latency.ms");

    expect(
      buildMetric({ ...EMPTY_METRIC_FORM, kind: MetricKind.PERCENTILE, percentile: "x" }),
    ).toEqual({
      errors: [{ field: "metric.percentile", message: expect.any(String) as string }],
    });
  });
});

describe("trigger words", () => {
  const t = create(GuardrailTriggerSchema, {
    id: "t1",
    experimentId: "e1",
    metricKey: "error_rate",
    threshold: 0.05,
    windowSeconds: 120,
    action: GuardrailAction.PAUSE,
    observedValue: 0.32727272727,
    direction: Direction.INCREASE_IS_BAD,
    variantKey: "banner",
    sampleSize: 223,
  });
  it("describes the breach", () => {
    expect(triggerComparison(t)).toBe("0.3273 > 0.05");
    expect(ruleText(t)).toBe("error_rate must not rise above 0.05 over 2 min");
    expect(triggerSentence(t)).toBe(
      "error_rate in variant banner rose to 0.3273 (threshold 0.05, 223 samples); paused the experiment.",
    );
    expect(
      triggerComparison({ ...t, direction: Direction.DECREASE_IS_BAD, observedValue: 0.01 }),
    ).toBe("0.01 < 0.05");
  });
});
