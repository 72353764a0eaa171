import { describe, expect, it } from "vitest";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Outcome } from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import {
  emptyFilter,
  filterProblems,
  filterRequest,
  filterSearch,
  isFiltered,
  parseDay,
  parseFilter,
  splitList,
  writeFilter,
} from "./filters.js";

describe("filter ⇄ URL", () => {
  it("reads nothing as the empty filter", () => {
    expect(parseFilter(new URLSearchParams(""))).toEqual(emptyFilter());
    expect(isFiltered(emptyFilter())).toBe(false);
    expect(filterSearch(emptyFilter())).toBe("");
  });

  it("round-trips every filter and keeps other parameters", () => {
    const params = new URLSearchParams(
      'q=blue+"checkout+flow"+-mobile&flag=checkout_button&owner=u-1&outcome=rollback&from=2026-11-01&to=2026-11-30' +
        "&country=de&country=FR&platform=ios&primary_metric=conversion_rate&tag=pricing&tag=checkout" +
        "&guardrail=fired&writeup=needed&impact_metric=revenue",
    );
    const filter = parseFilter(params);
    expect(filter).toEqual({
      query: 'blue "checkout flow" -mobile',
      flagKey: "checkout_button",
      ownerId: "u-1",
      outcome: Outcome.ROLLBACK,
      from: "2026-11-01",
      to: "2026-11-30",
      countries: ["de", "FR"],
      platforms: ["ios"],
      primaryMetricKey: "conversion_rate",
      tags: ["pricing", "checkout"],
      guardrailFired: "yes",
      needsWritingUp: "yes",
    });
    const back = writeFilter(filter, params);
    expect(back.get("impact_metric")).toBe("revenue");
    expect(parseFilter(back)).toEqual(filter);
    expect(back.getAll("tag")).toEqual(["pricing", "checkout"]);
  });

  it("writes the no side of the yes/no filters and drops what is empty", () => {
    const back = writeFilter(
      { ...emptyFilter(), guardrailFired: "no", needsWritingUp: "no", query: "  " },
      new URLSearchParams("q=old&tag=x&page=abc"),
    );
    expect(back.toString()).toBe("page=abc&guardrail=not_fired&writeup=done");
  });

  it("ignores unreadable values", () => {
    const filter = parseFilter(
      new URLSearchParams("outcome=shipped&from=yesterday&to=2026-02-30&guardrail=maybe"),
    );
    expect(filter).toEqual(emptyFilter());
  });

  it("accepts comma-separated lists in one parameter", () => {
    expect(parseFilter(new URLSearchParams("country=de,%20fr&country=de")).countries).toEqual([
      "de",
      "fr",
    ]);
  });
});

describe("helpers", () => {
  it("splits lists", () => {
    expect(splitList(" de, FR ,,ios,de ")).toEqual(["de", "FR", "ios"]);
    expect(splitList("")).toEqual([]);
  });
  it("parses days in UTC", () => {
    expect(parseDay("2026-12-06")?.toISOString()).toBe("2026-12-06T00:00:00.000Z");
    expect(parseDay("2026-13-01")).toBeUndefined();
    expect(parseDay("06.12.2026")).toBeUndefined();
  });
  it("finds an end before the start", () => {
    expect(filterProblems({ ...emptyFilter(), from: "2026-12-06", to: "2026-12-05" })).toEqual([
      { field: "completed_before", message: "the end date is before the start date" },
    ]);
    expect(filterProblems({ ...emptyFilter(), from: "2026-12-06", to: "2026-12-06" })).toEqual([]);
  });
});

describe("filterRequest", () => {
  it("leaves unset filters unset", () => {
    const request = filterRequest(emptyFilter());
    expect(request).toMatchObject({ query: "", outcome: Outcome.UNSPECIFIED, tags: [] });
    expect(request.flagKey).toBeUndefined();
    expect(request.guardrailFired).toBeUndefined();
    expect(request.needsWritingUp).toBeUndefined();
    expect(request.completedAfter).toBeUndefined();
  });
  it("makes the end date inclusive and maps yes/no to booleans", () => {
    const request = filterRequest({
      ...emptyFilter(),
      query: " blue ",
      flagKey: "f",
      from: "2026-11-01",
      to: "2026-11-30",
      guardrailFired: "no",
      needsWritingUp: "yes",
    });
    expect(request.query).toBe("blue");
    expect(request.flagKey).toBe("f");
    expect(timestampDate(request.completedAfter as never).toISOString()).toBe(
      "2026-11-01T00:00:00.000Z",
    );
    expect(timestampDate(request.completedBefore as never).toISOString()).toBe(
      "2026-12-01T00:00:00.000Z",
    );
    expect(request.guardrailFired).toBe(false);
    expect(request.needsWritingUp).toBe(true);
  });
});
