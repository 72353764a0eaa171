/**
 * Ramp shares (rampRanges, docs/bucketing.md#5-ramping) are sticky: for
 * random layouts (2–6 variants, weights at 0.01 resolution adding up to a
 * random audience) and random ramp plans (strictly increasing steps in
 * (0, 100]), over 100,000 subjects,
 *
 * (a) a subject in the experiment at one step keeps its variant at every
 *     later step, and a subject out enters exactly when a share covers its
 *     bucket (the first floor(units × ramp / 10000) buckets of its slice);
 * (b) stepping back from step k to k − 1 gives exactly step k − 1's
 *     assignment: only the subjects step k added leave, nobody else moves;
 * (c) each variant includes floor(weight × 100 × ramp / 100) buckets at each
 *     step, so the weights' proportions hold up to one bucket per variant.
 *
 * Subjects are hashed once per salt; each run reuses the buckets.
 */
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import {
  BUCKETS,
  assignVariant,
  bucketOf,
  rampRanges,
  variantRanges,
} from "../../src/decision/bucketing.js";
import type { VariantRange } from "../../src/decision/types.js";

const SUBJECTS = 100_000;
const SALTS = ["ramp-a", "0190d6c2-8a4e-7c4b-9f1e-5a3b2c1d0e9f", "ramp-c"];
const OUT = -1;

const bucketsBySalt = new Map<string, Uint16Array>();
function bucketsOf(salt: string): Uint16Array {
  let buckets = bucketsBySalt.get(salt);
  if (buckets === undefined) {
    buckets = new Uint16Array(SUBJECTS);
    for (let i = 0; i < SUBJECTS; i++) buckets[i] = bucketOf(salt, `subject-${i}`);
    bucketsBySalt.set(salt, buckets);
  }
  return buckets;
}

/** Weights in 0.01 % units: 2–6 variants adding up to a random audience. */
const layout = fc
  .record({
    audienceUnits: fc.oneof(
      fc.constantFrom(10_000, 5_000, 100),
      fc.integer({ min: 0, max: BUCKETS }),
    ),
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 5 }),
  })
  .map(({ audienceUnits, cuts }) => {
    const points = [0, ...cuts.map((c) => Math.floor(c * audienceUnits)).sort((a, b) => a - b)];
    points.push(audienceUnits);
    return points.slice(1).map((end, i) => end - (points[i] as number));
  });

/** Ramp steps in 0.01 % units, strictly increasing, in (0, 100 %]. */
const plan = fc
  .uniqueArray(
    fc.oneof(
      fc.constantFrom(1, 100, 500, 1250, 5000, 9999, 10_000),
      fc.integer({ min: 1, max: 10_000 }),
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((steps) => [...steps].sort((a, b) => a - b));

/** Each subject's variant index under `ranges`, or OUT. */
function assignAll(buckets: Uint16Array, ranges: readonly VariantRange[]): Int8Array {
  // Per bucket first (10,000 lookups), then per subject.
  const byBucket = new Int8Array(BUCKETS).fill(OUT);
  const index = new Map(ranges.map((r, i) => [r.key, i]));
  for (let b = 0; b < BUCKETS; b++) {
    const key = assignVariant(b, ranges);
    if (key !== undefined) byBucket[b] = index.get(key) as number;
  }
  const out = new Int8Array(buckets.length);
  for (let i = 0; i < buckets.length; i++) out[i] = byBucket[buckets[i] as number] as number;
  return out;
}

/** The first index where `check` fails, or -1. */
function firstFailure(n: number, check: (i: number) => boolean): number {
  for (let i = 0; i < n; i++) if (!check(i)) return i;
  return -1;
}

describe("ramp shares (property-based, 100,000 subjects)", () => {
  it("keep every subject in its variant as the share grows, add only covered subjects, and step back exactly", () => {
    fc.assert(
      fc.property(fc.constantFrom(...SALTS), layout, plan, (salt, units, steps) => {
        const buckets = bucketsOf(salt);
        const base = variantRanges(
          units.map((u, i) => ({ key: `v${i}`, weight: u / 100 })),
          units.reduce((a, b) => a + b, 0) / 100,
        );
        // At 100 % the ramp is the layout itself.
        expect(rampRanges(base, 100)).toEqual(base);

        // An independent oracle per bucket: its slice, and its offset in it.
        const sliceOf = new Int8Array(BUCKETS);
        const offsetOf = new Uint16Array(BUCKETS);
        base.forEach((r, v) => {
          for (let b = r.start; b < r.sliceEnd; b++) {
            sliceOf[b] = v;
            offsetOf[b] = b - r.start;
          }
        });

        // Step 0 is the ramp before its first step: nobody in.
        const shares = [0, ...steps];
        const layouts = shares.map((ramp) => rampRanges(base, ramp / 100));
        const assigned = layouts.map((ranges) => assignAll(buckets, ranges));

        for (let k = 0; k < shares.length; k++) {
          const ramp = shares[k] as number;
          const ranges = layouts[k] as VariantRange[];
          const now = assigned[k] as Int8Array;
          // (c) floor(weight × 100 × ramp / 100) buckets per variant, slices unchanged.
          let includedTotal = 0;
          ranges.forEach((r, v) => {
            const u = units[v] as number;
            const expected = Math.floor((u * ramp) / BUCKETS);
            expect([r.key, r.start, r.sliceEnd]).toEqual([
              base[v]!.key,
              base[v]!.start,
              base[v]!.sliceEnd,
            ]);
            let count = 0;
            for (let b = r.start; b < r.sliceEnd; b++)
              if (assignVariant(b, ranges) === r.key) count++;
            expect(count).toBe(expected);
            // Proportions: within one bucket of the exact share u × ramp / 10000.
            expect(count * BUCKETS).toBeLessThanOrEqual(u * ramp);
            expect(count * BUCKETS).toBeGreaterThan(u * ramp - BUCKETS);
            includedTotal += count;
          });
          expect(includedTotal).toBeLessThanOrEqual(
            Math.floor((ramp * units.reduce((a, b) => a + b, 0)) / BUCKETS),
          );

          // (a) in exactly when the share covers the subject's bucket, in its slice's variant.
          const wrong = firstFailure(SUBJECTS, (i) => {
            const b = buckets[i] as number;
            const v = sliceOf[b] as number;
            const covered =
              (offsetOf[b] as number) < Math.floor(((units[v] as number) * ramp) / BUCKETS);
            return now[i] === (covered ? v : OUT);
          });
          expect({ step: ramp, subject: wrong }).toEqual({ step: ramp, subject: -1 });

          // (a) in at a lower step: the same variant at this one; out: in only if now covered.
          for (let j = 0; j < k; j++) {
            const before = assigned[j] as Int8Array;
            const moved = firstFailure(SUBJECTS, (i) => before[i] === OUT || now[i] === before[i]);
            expect({ from: shares[j], to: ramp, moved }).toEqual({
              from: shares[j],
              to: ramp,
              moved: -1,
            });
          }

          // (b) stepping back from k to k − 1 (the share lowered again, as compile
          // would apply it): step k − 1's assignment; the only change from step k
          // is that subjects step k added leave.
          if (k > 0) {
            const previous = assigned[k - 1] as Int8Array;
            const back = assignAll(buckets, rampRanges(base, (shares[k - 1] as number) / 100));
            const differs = firstFailure(SUBJECTS, (i) => {
              if (back[i] !== previous[i]) return false;
              if (back[i] === now[i]) return true;
              return back[i] === OUT; // removed: in at k, out at k − 1, so added by step k
            });
            expect({ from: ramp, to: shares[k - 1], differs }).toEqual({
              from: ramp,
              to: shares[k - 1],
              differs: -1,
            });
          }
        }

        // Sanity: a layout with an audience and a 100 % step admits about the audience.
        const last = assigned[assigned.length - 1] as Int8Array;
        const admitted = last.reduce((n, v) => n + (v === OUT ? 0 : 1), 0);
        const expected =
          (SUBJECTS * includedOf(layouts[layouts.length - 1] as VariantRange[])) / BUCKETS;
        expect(Math.abs(admitted - expected)).toBeLessThan(6 * Math.sqrt(expected + 1) + 1);
      }),
      { numRuns: 20 },
    );
  });
});

function includedOf(ranges: readonly VariantRange[]): number {
  return ranges.reduce((n, r) => n + r.includedEnd - r.start, 0);
}
