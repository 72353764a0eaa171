/**
 * The hot-path metrics (src/platform/hot-metrics.ts) must read exactly like
 * prom-client's own Counter and Histogram: the same text exposition and
 * the same JSON for the same updates, bound or not.
 */
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { Counter, Histogram, Registry } from "prom-client";
import { HotCounter, HotHistogram } from "../../src/platform/hot-metrics.js";

const BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.1, 1];
const LABELS = ["service", "method", "code"] as const;
type Labels = Record<(typeof LABELS)[number], string>;

const update = fc.record({
  labels: fc.record({
    service: fc.constantFrom("a.v1.S", "b.v1.T"),
    method: fc.constantFrom("Decide", "Get"),
    code: fc.constantFrom("OK", "NotFound"),
  }),
  value: fc.oneof(fc.constantFrom(...BUCKETS, 0, 2), fc.double({ min: 0, max: 3, noNaN: true })),
  bound: fc.boolean(),
});

async function exposition(apply: (registry: Registry) => void): Promise<[string, unknown]> {
  const registry = new Registry();
  apply(registry);
  return [await registry.metrics(), await registry.getMetricsAsJSON()];
}

describe("hot metrics", () => {
  it("expose what prom-client's Counter and Histogram expose for the same updates", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(update, { maxLength: 40 }), async (updates) => {
        const config = (name: string) => ({ name, help: `help of ${name}`, labelNames: LABELS });
        const reference = await exposition((registry) => {
          const counter = new Counter({ ...config("calls_total"), registers: [registry] });
          const histogram = new Histogram({
            ...config("call_seconds"),
            buckets: BUCKETS,
            registers: [registry],
          });
          for (const { labels, value, bound } of updates) {
            if (bound) counter.labels(labels).inc();
            else counter.inc(labels, 2);
            if (bound) histogram.labels(labels).observe(value);
            else histogram.observe(labels, value);
          }
        });
        const ours = await exposition((registry) => {
          const counter = new HotCounter({ ...config("calls_total"), registers: [registry] });
          const histogram = new HotHistogram({
            ...config("call_seconds"),
            buckets: BUCKETS,
            registers: [registry],
          });
          for (const { labels, value, bound } of updates) {
            if (bound) counter.labels(labels as Labels).inc();
            else counter.inc(labels as Labels, 2);
            if (bound) histogram.labels(labels as Labels).observe(value);
            else histogram.observe(labels as Labels, value);
          }
        });
        expect(ours[0]).toBe(reference[0]);
        expect(ours[1]).toEqual(reference[1]);
      }),
      { numRuns: 200 },
    );
  });

  it("counts a histogram without labels, keeps bound children through a reset, refuses bad input", async () => {
    const registry = new Registry();
    const histogram = new HotHistogram({
      name: "h",
      help: "h",
      buckets: [1, 2],
      registers: [registry],
    });
    const counter = new HotCounter<"reason">({
      name: "c_total",
      help: "c",
      labelNames: ["reason"],
      registers: [registry],
    });
    const child = counter.labels({ reason: "x" });
    histogram.observe(1.5);
    child.inc();
    registry.resetMetrics();
    child.inc(3);
    histogram.observe(0.5);
    const text = await registry.metrics();
    expect(text).toContain('c_total{reason="x"} 3');
    expect(text).toContain('h_bucket{le="1"} 1');
    expect(text).toContain("h_count 1");
    expect(() => child.inc(-1)).toThrow(TypeError);
    expect(() => histogram.observe(Number.NaN)).toThrow(TypeError);
    expect(() => counter.inc({ nope: "x" } as unknown as { reason: string })).toThrow(/nope/);
    expect(() => new HotCounter({ name: "c_total", help: "again", registers: [registry] })).toThrow(
      /already been registered/,
    );
  });
});
