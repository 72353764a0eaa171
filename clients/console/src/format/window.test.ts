import { describe, expect, it } from "vitest";
import {
  fromLocalInput,
  parseIsoMinute,
  parseView,
  resolveWindow,
  segmentConditions,
  toIsoMinute,
  toLocalInput,
  windowProblem,
  withSegmentValues,
  writeView,
} from "./window.js";

describe("ISO minutes", () => {
  it("round-trips in UTC", () => {
    const d = new Date("2026-12-06T19:07:45Z");
    expect(toIsoMinute(d)).toBe("2026-12-06T19:07Z");
    expect(parseIsoMinute("2026-12-06T19:07Z")?.toISOString()).toBe("2026-12-06T19:07:00.000Z");
    expect(parseIsoMinute("2026-12-06T19:07:59Z")?.toISOString()).toBe("2026-12-06T19:07:00.000Z");
    expect(parseIsoMinute("2026-12-06T21:07+02:00")?.toISOString()).toBe(
      "2026-12-06T19:07:00.000Z",
    );
    expect(parseIsoMinute("yesterday")).toBeUndefined();
    expect(parseIsoMinute("")).toBeUndefined();
  });
  it("reads datetime-local values as UTC", () => {
    expect(fromLocalInput("2026-12-06T19:07")?.toISOString()).toBe("2026-12-06T19:07:00.000Z");
    expect(toLocalInput(new Date("2026-12-06T19:07:00Z"))).toBe("2026-12-06T19:07");
  });
});

describe("view ⇄ URL", () => {
  it("defaults to the whole experiment", () => {
    expect(parseView(new URLSearchParams(""))).toEqual({ window: "all" });
    expect(parseView(new URLSearchParams("window=bogus")).window).toBe("all");
  });
  it("round-trips a custom view and keeps other parameters", () => {
    const params = new URLSearchParams(
      "window=custom&from=2026-12-01T00:00Z&to=2026-12-06T19:07Z&metric=error_rate&segment=country%3DRU&x=1",
    );
    const view = parseView(params);
    expect(view.from?.toISOString()).toBe("2026-12-01T00:00:00.000Z");
    expect(view.metric).toBe("error_rate");
    expect(view.segment).toEqual(["country=RU"]);
    const back = writeView(view, params);
    expect(back.get("from")).toBe("2026-12-01T00:00Z");
    expect(back.get("to")).toBe("2026-12-06T19:07Z");
    expect(back.get("segment")).toBe("country=RU");
    expect(back.get("x")).toBe("1");
  });
  it("reads and writes the segment filter and the breakdown", () => {
    const params = new URLSearchParams(
      "window=all&segment=country%3DDE&segment=platform%3Dios&segment=country%3D(other)&segment=junk&breakdown=platform",
    );
    const view = parseView(params);
    expect(segmentConditions(view.segment)).toEqual([
      { dimension: "country", values: ["DE", "(other)"] },
      { dimension: "platform", values: ["ios"] },
    ]);
    expect(view.breakdown).toBe("platform");
    const next = withSegmentValues(view, "country", ["FR"]);
    const back = writeView({ ...next, breakdown: undefined }, params);
    expect(back.getAll("segment")).toEqual(["platform=ios", "junk", "country=FR"]);
    expect(back.has("breakdown")).toBe(false);
    expect(withSegmentValues({ window: "all", segment: ["a=b"] }, "a", [])).toEqual({
      window: "all",
    });
  });
  it("drops from/to for relative windows", () => {
    const back = writeView(
      { window: "24h" },
      new URLSearchParams("from=2026-12-01T00:00Z&metric=a"),
    );
    expect(back.get("window")).toBe("24h");
    expect(back.has("from")).toBe(false);
    expect(back.has("metric")).toBe(false);
  });
  it("ignores from/to unless custom", () => {
    expect(parseView(new URLSearchParams("window=7d&from=2026-12-01T00:00Z")).from).toBeUndefined();
  });
});

describe("resolveWindow", () => {
  const now = new Date("2026-12-06T19:07:30Z");
  it("anchors relative windows to a whole minute and leaves the end open", () => {
    expect(resolveWindow({ window: "all" }, now)).toEqual({});
    expect(resolveWindow({ window: "24h" }, now).from?.toISOString()).toBe(
      "2026-12-05T19:07:00.000Z",
    );
    expect(resolveWindow({ window: "7d" }, now).from?.toISOString()).toBe(
      "2026-11-29T19:07:00.000Z",
    );
    expect(resolveWindow({ window: "7d" }, now).to).toBeUndefined();
  });
  it("flags a custom window that ends before it starts", () => {
    const from = new Date("2026-12-06T19:00:00Z");
    expect(windowProblem({ window: "custom", from, to: from })).toMatch(/after/);
    expect(windowProblem({ window: "custom", from })).toBeUndefined();
  });
});
