/**
 * The report window (src/reports/window.ts): defaults, rounding to whole
 * minutes, validation of `to` and `bucket_seconds`, the automatic bucket
 * choice and the bucket end times.
 */
import { describe, expect, it } from "@jest/globals";
import { timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { bucketEnds, resolveWindow, type ReportWindow } from "../../src/analytics/index.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** 2026-01-10T12:00:00Z, a whole minute. */
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);

function ts(ms: number): Timestamp {
  return timestampFromMs(ms);
}

/** The ConnectError thrown by `f`, or fails. */
function errorOf(f: () => unknown): ConnectError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectError);
    return error as ConnectError;
  }
  throw new Error("expected an error, got none");
}

function expectInvalid(f: () => unknown, field: string): ConnectError {
  const error = errorOf(f);
  expect(error.code).toBe(Code.InvalidArgument);
  expect(error.rawMessage).toMatch(new RegExp(`(^|; )${field}: `));
  return error;
}

describe("resolveWindow defaults", () => {
  it("uses defaults.from for an unset from and defaults.now for an unset to", () => {
    const w = resolveWindow({ bucketSeconds: 3600 }, { from: T0, now: T0 + 5 * HOUR });
    expect(w).toEqual({ from: T0, to: T0 + 5 * HOUR, bucketSeconds: 3600 });
  });

  it("prefers the requested from and to over the defaults", () => {
    const w = resolveWindow(
      { from: ts(T0 + HOUR), to: ts(T0 + 2 * HOUR), bucketSeconds: 60 },
      { from: T0, now: T0 + 10 * HOUR },
    );
    expect(w).toEqual({ from: T0 + HOUR, to: T0 + 2 * HOUR, bucketSeconds: 60 });
  });

  it("mixes a requested from with the default now", () => {
    const w = resolveWindow(
      { from: ts(T0 + 30 * MIN), bucketSeconds: 60 },
      { from: T0, now: T0 + HOUR },
    );
    expect(w).toEqual({ from: T0 + 30 * MIN, to: T0 + HOUR, bucketSeconds: 60 });
  });
});

describe("resolveWindow rounding", () => {
  it("rounds from down and to up to whole minutes", () => {
    // from 12:00:59.999 → 12:00; to 12:10:00.001 → 12:11.
    const w = resolveWindow(
      { from: ts(T0 + 59_999), to: ts(T0 + 10 * MIN + 1), bucketSeconds: 60 },
      { from: 0, now: 0 },
    );
    expect(w.from).toBe(T0);
    expect(w.to).toBe(T0 + 11 * MIN);
  });

  it("rounds the defaults too", () => {
    // defaults.from 12:00:30 → 12:00; now 12:05:30 → 12:06.
    const w = resolveWindow(
      { bucketSeconds: 60 },
      { from: T0 + 30_000, now: T0 + 5 * MIN + 30_000 },
    );
    expect(w).toEqual({ from: T0, to: T0 + 6 * MIN, bucketSeconds: 60 });
  });

  it("keeps whole minutes as they are", () => {
    const w = resolveWindow(
      { from: ts(T0), to: ts(T0 + 7 * MIN), bucketSeconds: 60 },
      { from: 0, now: 0 },
    );
    expect(w).toEqual({ from: T0, to: T0 + 7 * MIN, bucketSeconds: 60 });
  });

  it("rounds a sub-minute window inside one minute to that whole minute", () => {
    // 12:00:10 → 12:00:20 becomes [12:00, 12:01).
    const w = resolveWindow(
      { from: ts(T0 + 10_000), to: ts(T0 + 20_000), bucketSeconds: 0 },
      { from: 0, now: 0 },
    );
    expect(w).toEqual({ from: T0, to: T0 + MIN, bucketSeconds: 60 });
  });

  it("honours the nanos of a timestamp (to millisecond precision)", () => {
    // to = T0 + 1 min + 1 ms (nanos 1,000,000) rounds up to T0 + 2 min.
    const to: Timestamp = { ...ts(T0 + MIN), nanos: 1_000_000 };
    const w = resolveWindow({ from: ts(T0), to, bucketSeconds: 60 }, { from: 0, now: 0 });
    expect(w.to).toBe(T0 + 2 * MIN);
  });
});

describe("resolveWindow validation of to", () => {
  it("rejects to equal to from, naming to", () => {
    const e = expectInvalid(
      () => resolveWindow({ from: ts(T0), to: ts(T0), bucketSeconds: 0 }, { from: 0, now: 0 }),
      "to",
    );
    expect(e.rawMessage).toContain("after from");
  });

  it("rejects to before from, naming to", () => {
    expectInvalid(
      () =>
        resolveWindow({ from: ts(T0), to: ts(T0 - MIN), bucketSeconds: 60 }, { from: 0, now: 0 }),
      "to",
    );
  });

  it("rejects a default now that is not after the requested from", () => {
    expectInvalid(
      () => resolveWindow({ from: ts(T0 + HOUR), bucketSeconds: 0 }, { from: T0, now: T0 + HOUR }),
      "to",
    );
  });

  it("rejects a requested to not after the default from", () => {
    expectInvalid(
      () => resolveWindow({ to: ts(T0 - 1), bucketSeconds: 0 }, { from: T0, now: T0 + HOUR }),
      "to",
    );
  });

  it("accepts to one millisecond after from", () => {
    const w = resolveWindow(
      { from: ts(T0), to: ts(T0 + 1), bucketSeconds: 0 },
      { from: 0, now: 0 },
    );
    expect(w).toEqual({ from: T0, to: T0 + MIN, bucketSeconds: 60 });
  });

  it("names both to and bucket_seconds when both are wrong", () => {
    const e = expectInvalid(
      () => resolveWindow({ from: ts(T0), to: ts(T0), bucketSeconds: 90 }, { from: 0, now: 0 }),
      "to",
    );
    expect(e.rawMessage).toMatch(/(^|; )bucket_seconds: /);
  });
});

describe("resolveWindow validation of bucket_seconds", () => {
  const request = (bucketSeconds: number) => ({
    from: ts(T0),
    to: ts(T0 + 10 * MIN),
    bucketSeconds,
  });

  it.each([
    ["below the minimum", 59],
    ["30 seconds", 30],
    ["negative", -60],
    ["above the maximum (30 days + 1 minute)", 2_592_060],
    ["far above the maximum", 86_400 * 365],
  ])("rejects a length %s, naming bucket_seconds", (_name, b) => {
    const e = expectInvalid(() => resolveWindow(request(b), { from: 0, now: 0 }), "bucket_seconds");
    expect(e.rawMessage).toContain("60–2592000");
  });

  it.each([61, 90, 3_601, 86_399])("rejects %i seconds (not a multiple of 60)", (b) => {
    const e = expectInvalid(() => resolveWindow(request(b), { from: 0, now: 0 }), "bucket_seconds");
    expect(e.rawMessage).toContain("multiple of 60");
  });

  it("accepts the bounds 60 and 2,592,000 (the latter for a window it fits)", () => {
    expect(resolveWindow(request(60), { from: 0, now: 0 }).bucketSeconds).toBe(60);
    expect(resolveWindow(request(2_592_000), { from: 0, now: 0 }).bucketSeconds).toBe(2_592_000);
  });

  it("keeps an explicit bucket length, even one that gives few buckets", () => {
    const w = resolveWindow(
      { from: ts(T0), to: ts(T0 + 3 * DAY), bucketSeconds: 900 },
      { from: 0, now: 0 },
    );
    expect(w.bucketSeconds).toBe(900);
  });
});

describe("resolveWindow automatic bucket choice", () => {
  const auto = (lengthMs: number) =>
    resolveWindow({ from: ts(T0), to: ts(T0 + lengthMs), bucketSeconds: 0 }, { from: 0, now: 0 })
      .bucketSeconds;

  it.each([
    // [window, expected bucket]: the smallest of 60, 300, 900, 3600, 21600, 86400 with ≤ 100 buckets.
    [MIN, 60],
    [100 * MIN, 60], // 100 one-minute buckets: still allowed
    [101 * MIN, 300], // 101 > 100 → 5 minutes (20.2 buckets)
    [500 * MIN, 300], // 500/5 = 100
    [501 * MIN, 900], // 501/5 = 100.2 → 15 minutes
    [1500 * MIN, 900], // 1500/15 = 100
    [1501 * MIN, 3600],
    [100 * HOUR, 3600],
    [100 * HOUR + MIN, 21_600],
    [600 * HOUR, 21_600], // 600/6 = 100
    [600 * HOUR + MIN, 86_400],
    [100 * DAY, 86_400],
  ])("chooses for a window of %i ms a bucket of %i s", (length, expected) => {
    expect(auto(length)).toBe(expected);
  });

  it("falls back to one day when even daily buckets give more than 100", () => {
    expect(auto(101 * DAY)).toBe(86_400);
    expect(auto(3 * 365 * DAY)).toBe(86_400);
  });

  it("chooses on the rounded window", () => {
    // 12:00:30 → 13:40:30 is 100 minutes raw but 101 once rounded ([12:00, 13:41)).
    const w = resolveWindow(
      { from: ts(T0 + 30_000), to: ts(T0 + 100 * MIN + 30_000), bucketSeconds: 0 },
      { from: 0, now: 0 },
    );
    expect(w.to - w.from).toBe(101 * MIN);
    expect(w.bucketSeconds).toBe(300);
  });
});

describe("resolveWindow bucket count limit", () => {
  it("accepts exactly 1000 explicit buckets", () => {
    const w = resolveWindow(
      { from: ts(T0), to: ts(T0 + 1000 * MIN), bucketSeconds: 60 },
      { from: 0, now: 0 },
    );
    expect(bucketEnds(w)).toHaveLength(1000);
  });

  it("rejects more than 1000 explicit buckets, naming bucket_seconds", () => {
    const e = expectInvalid(
      () =>
        resolveWindow(
          { from: ts(T0), to: ts(T0 + 1001 * MIN), bucketSeconds: 60 },
          { from: 0, now: 0 },
        ),
      "bucket_seconds",
    );
    expect(e.rawMessage).toContain("1000");
  });

  it("counts a partial last bucket: 1000 hours and 1 minute in 1-hour buckets is over the limit", () => {
    // 999 h 1 min / 1 h = 999.02 buckets: fine; 1000 h 1 min / 1 h = 1000.02: too many.
    expect(() =>
      resolveWindow(
        { from: ts(T0), to: ts(T0 + 999 * HOUR + MIN), bucketSeconds: 3600 },
        { from: 0, now: 0 },
      ),
    ).not.toThrow();
    expectInvalid(
      () =>
        resolveWindow(
          { from: ts(T0), to: ts(T0 + 1000 * HOUR + MIN), bucketSeconds: 3600 },
          { from: 0, now: 0 },
        ),
      "bucket_seconds",
    );
  });
});

describe("bucketEnds", () => {
  const window = (lengthMs: number, bucketSeconds: number): ReportWindow => ({
    from: T0,
    to: T0 + lengthMs,
    bucketSeconds,
  });

  it("gives one end per bucket, the last one to, when the window divides evenly", () => {
    expect(bucketEnds(window(3 * HOUR, 3600))).toEqual([T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]);
  });

  it("ends a partial last bucket at to", () => {
    // 2 h 10 min in 1-hour buckets: 13:00, 14:00, then 14:10 (= to).
    expect(bucketEnds(window(2 * HOUR + 10 * MIN, 3600))).toEqual([
      T0 + HOUR,
      T0 + 2 * HOUR,
      T0 + 2 * HOUR + 10 * MIN,
    ]);
  });

  it("gives the single end to when the bucket is longer than the window", () => {
    expect(bucketEnds(window(5 * MIN, 86_400))).toEqual([T0 + 5 * MIN]);
  });

  it("gives ceil(length / bucket) strictly increasing ends on resolved windows", () => {
    for (const [length, b] of [
      [MIN, 0],
      [101 * MIN, 0],
      [7 * DAY + 13 * MIN, 0],
      [1000 * MIN, 60],
      [17 * MIN, 300],
    ] as const) {
      const w = resolveWindow(
        { from: ts(T0), to: ts(T0 + length), bucketSeconds: b },
        { from: 0, now: 0 },
      );
      const ends = bucketEnds(w);
      expect(ends).toHaveLength(Math.ceil((w.to - w.from) / (w.bucketSeconds * 1000)));
      expect(ends.at(-1)).toBe(w.to);
      for (let i = 1; i < ends.length; i++) {
        expect(ends[i]).toBeGreaterThan(ends[i - 1] ?? Infinity);
      }
      expect(ends[0]).toBeGreaterThan(w.from);
    }
  });
});
