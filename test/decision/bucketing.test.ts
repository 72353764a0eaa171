/**
 * Assignment: the hash against published MurmurHash3 values, the bucket
 * layout, the spread of subjects over variants (chi-square), ramp safety and
 * the frozen vectors in test/vectors/bucketing.json that other-language
 * clients check themselves against.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import {
  BUCKETS,
  assignVariant,
  bucketOf,
  murmur3_32,
  rampRanges,
  variantRanges,
  type VariantWeight,
} from "../../src/decision/bucketing.js";

describe("murmur3_32", () => {
  // Published MurmurHash3_x86_32 values (SMHasher), cross-checked against the
  // canonical C code and the murmurhash3js-revisited package over UTF-8 bytes.
  it.each([
    ["", 0, 0x00000000],
    ["", 1, 0x514e28b7],
    ["", 0xffffffff, 0x81f16f39],
    ["a", 0, 0x3c2569b2],
    ["abc", 0, 0xb3dd93fa],
    ["abcd", 0, 0x43ed676a],
    ["hello", 0, 0x248bfa47],
    ["aaaa", 0x9747b28c, 0x5a97808a],
    ["Hello, world!", 1234, 0xfaf6cdb3],
    ["The quick brown fox jumps over the lazy dog", 0, 0x2e4ff723],
    ["héllo", 0, 0xbc9fa068],
    ["日本語", 0, 0xa5a47297],
    ["😀", 0, 0xbeb42efa],
  ])("%j with seed %d → %d", (input, seed, expected) => {
    expect(murmur3_32(input, seed)).toBe(expected);
  });

  it("returns an unsigned 32-bit integer", () => {
    for (let i = 0; i < 1000; i++) {
      const h = murmur3_32(`subject-${i}`);
      expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
    }
  });

  it("hashes a non-ASCII character that comes after the first block", () => {
    // The ASCII fast path must hand over to the byte path mid-string.
    expect(murmur3_32("abcdé")).toBe(0xe4012811);
    expect(murmur3_32("abcdefgh-é")).toBe(0xbc290911);
  });

  it("encodes a lone surrogate as U+FFFD, like TextEncoder", () => {
    expect(murmur3_32("x\ud800y")).toBe(murmur3_32("x\ufffdy"));
  });

  it("hashes long strings (reused buffer grown, and the unbuffered path)", () => {
    // Values from the canonical C code over the UTF-8 bytes. 5,000 characters
    // grow the reused buffer; 30,000 (90,000 bytes) take the unbuffered path.
    expect(murmur3_32("日".repeat(5000), 9)).toBe(0x726ac6d5);
    expect(murmur3_32("é".repeat(30_000))).toBe(0xf5cda9de);
    expect(murmur3_32("é".repeat(30_000))).toBe(0xf5cda9de);
    expect(murmur3_32("x".repeat(5000), 7)).toBe(0x47eceac7);
  });
});

describe("bucketOf", () => {
  it("is murmur3_32(salt + ':' + subjectId) % BUCKETS for any strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), (salt, id) => {
        expect(bucketOf(salt, id)).toBe(murmur3_32(salt + ":" + id) % BUCKETS);
      }),
      { numRuns: 2000 },
    );
    for (let s = 0; s < 9; s++) {
      for (let n = 0; n < 9; n++) {
        const salt = "s".repeat(s);
        const id = "i".repeat(n);
        expect(bucketOf(salt, id)).toBe(murmur3_32(`${salt}:${id}`) % BUCKETS);
        expect(bucketOf(salt, id + "ü")).toBe(murmur3_32(`${salt}:${id}ü`) % BUCKETS);
      }
    }
  });

  it("is deterministic and in range", () => {
    for (let i = 0; i < 1000; i++) {
      const bucket = bucketOf("exp-1", `subject-${i}`);
      expect(bucket).toBe(bucketOf("exp-1", `subject-${i}`));
      expect(Number.isInteger(bucket) && bucket >= 0 && bucket < BUCKETS).toBe(true);
    }
  });
});

describe("variantRanges", () => {
  it("lays out slices by relative weight and includes weight × 100 buckets of each", () => {
    expect(
      variantRanges(
        [
          { key: "control", weight: 10 },
          { key: "a", weight: 5 },
          { key: "b", weight: 5 },
        ],
        20,
      ),
    ).toEqual([
      { key: "control", start: 0, sliceEnd: 5000, includedEnd: 1000 },
      { key: "a", start: 5000, sliceEnd: 7500, includedEnd: 5500 },
      { key: "b", start: 7500, sliceEnd: 10_000, includedEnd: 8000 },
    ]);
  });

  it("gives the leftover buckets to the largest remainders, earlier variant first on ties", () => {
    const thirds = variantRanges(
      [
        { key: "a", weight: 1 },
        { key: "b", weight: 1 },
        { key: "c", weight: 1 },
      ],
      3,
    );
    expect(thirds.map((r) => r.sliceEnd - r.start)).toEqual([3334, 3333, 3333]);
    expect(thirds.map((r) => r.includedEnd - r.start)).toEqual([100, 100, 100]);
    const uneven = variantRanges(
      [
        { key: "a", weight: 33.33 },
        { key: "b", weight: 33.33 },
        { key: "c", weight: 33.34 },
      ],
      100,
    );
    expect(uneven.map((r) => [r.start, r.sliceEnd, r.includedEnd])).toEqual([
      [0, 3333, 3333],
      [3333, 6666, 6666],
      [6666, 10_000, 10_000],
    ]);
  });

  it("handles zero weights, one variant and an empty audience", () => {
    expect(
      variantRanges(
        [
          { key: "off", weight: 0 },
          { key: "on", weight: 7.77 },
        ],
        7.77,
      ),
    ).toEqual([
      { key: "off", start: 0, sliceEnd: 0, includedEnd: 0 },
      { key: "on", start: 0, sliceEnd: 10_000, includedEnd: 777 },
    ]);
    expect(variantRanges([{ key: "only", weight: 100 }], 100)).toEqual([
      { key: "only", start: 0, sliceEnd: 10_000, includedEnd: 10_000 },
    ]);
    expect(
      variantRanges(
        [
          { key: "a", weight: 0 },
          { key: "b", weight: 0 },
        ],
        0,
      ),
    ).toEqual([
      { key: "a", start: 0, sliceEnd: 5000, includedEnd: 0 },
      { key: "b", start: 5000, sliceEnd: 10_000, includedEnd: 5000 },
    ]);
  });

  it.each([
    ["no variants", [], 0],
    ["weights that do not add up", [{ key: "a", weight: 10 }], 20],
    ["a negative weight", [{ key: "a", weight: -1 }], -1],
    ["a weight finer than 0.01", [{ key: "a", weight: 0.005 }], 0.005],
    ["an audience above 100", [{ key: "a", weight: 100.5 }], 100.5],
    ["a NaN weight", [{ key: "a", weight: Number.NaN }], 0],
  ] as [string, VariantWeight[], number][])("rejects %s", (_name, variants, audience) => {
    expect(() => variantRanges(variants, audience)).toThrow(RangeError);
  });

  const layout = fc
    .array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 20 })
    .filter((units) => units.reduce((a, b) => a + b, 0) <= BUCKETS);

  it("covers the bucket space exactly and includes exactly weight × 100 buckets per variant", () => {
    fc.assert(
      fc.property(layout, (units) => {
        const audience = units.reduce((a, b) => a + b, 0) / 100;
        const ranges = variantRanges(
          units.map((u, i) => ({ key: `v${i}`, weight: u / 100 })),
          audience,
        );
        let next = 0;
        const counts = new Map<string, number>();
        for (const r of ranges) {
          expect(r.start).toBe(next);
          expect(r.includedEnd).toBeGreaterThanOrEqual(r.start);
          expect(r.includedEnd).toBeLessThanOrEqual(r.sliceEnd);
          next = r.sliceEnd;
        }
        expect(next).toBe(BUCKETS);
        for (let b = 0; b < BUCKETS; b++) {
          const key = assignVariant(b, ranges);
          if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        units.forEach((u, i) => expect(counts.get(`v${i}`) ?? 0).toBe(u));
      }),
      { numRuns: 200 },
    );
  });

  it("keeps every slice in place when all weights scale by the same factor", () => {
    fc.assert(
      fc.property(layout, fc.integer({ min: 2, max: 100 }), (units, factor) => {
        const total = units.reduce((a, b) => a + b, 0);
        fc.pre(total > 0 && total * factor <= BUCKETS);
        const at = (m: number) =>
          variantRanges(
            units.map((u, i) => ({ key: `v${i}`, weight: (u * m) / 100 })),
            (total * m) / 100,
          ).map((r) => [r.start, r.sliceEnd]);
        expect(at(factor)).toEqual(at(1));
      }),
      { numRuns: 300 },
    );
  });
});

describe("assignVariant", () => {
  const ranges = variantRanges(
    [
      { key: "control", weight: 10 },
      { key: "treatment", weight: 10 },
    ],
    20,
  );

  it.each([
    [0, "control"],
    [999, "control"],
    [1000, undefined],
    [4999, undefined],
    [5000, "treatment"],
    [5999, "treatment"],
    [6000, undefined],
    [9999, undefined],
  ])("bucket %d → %s", (bucket, expected) => {
    expect(assignVariant(bucket, ranges)).toBe(expected);
  });
});

describe("rampRanges", () => {
  // Slices [0, 5000), [5000, 7500), [7500, 10000); included 1000, 500 and 500 buckets.
  const base = variantRanges(
    [
      { key: "control", weight: 10 },
      { key: "a", weight: 5 },
      { key: "b", weight: 5 },
    ],
    20,
  );
  const included = (ranges: readonly { start: number; includedEnd: number }[]) =>
    ranges.map((r) => r.includedEnd - r.start);

  it("cuts each included part to floor(weight × 100 × ramp units / 10000), slices unchanged", () => {
    const ramped = rampRanges(base, 12.5);
    expect(ramped).toEqual([
      { key: "control", start: 0, sliceEnd: 5000, includedEnd: 125 },
      { key: "a", start: 5000, sliceEnd: 7500, includedEnd: 5062 },
      { key: "b", start: 7500, sliceEnd: 10_000, includedEnd: 7562 },
    ]);
    expect(assignVariant(124, ramped)).toBe("control");
    expect(assignVariant(125, ramped)).toBeUndefined(); // in control's audience, not yet ramped
    expect(assignVariant(5061, ramped)).toBe("a");
    expect(assignVariant(5062, ramped)).toBeUndefined();
  });

  it("is the layout itself at 100 % (a copy), and includes nobody at 0 %", () => {
    const full = rampRanges(base, 100);
    expect(full).toEqual(base);
    expect(full).not.toBe(base);
    const none = rampRanges(base, 0);
    expect(included(none)).toEqual([0, 0, 0]);
    expect(none.map((r) => [r.start, r.sliceEnd])).toEqual(base.map((r) => [r.start, r.sliceEnd]));
    for (let b = 0; b < BUCKETS; b++) expect(assignVariant(b, none)).toBeUndefined();
  });

  it("at 0.01 % keeps floor(units / 10000): one bucket of a full slice, none of a smaller one", () => {
    const full = variantRanges(
      [
        { key: "control", weight: 50 },
        { key: "t", weight: 50 },
      ],
      100,
    );
    expect(included(rampRanges(full, 0.01))).toEqual([0, 0]);
    const whole = variantRanges([{ key: "only", weight: 100 }], 100);
    expect(rampRanges(whole, 0.01)).toEqual([
      { key: "only", start: 0, sliceEnd: 10_000, includedEnd: 1 },
    ]);
    expect(included(rampRanges(whole, 99.99))).toEqual([9999]);
    expect(included(rampRanges(full, 99.99))).toEqual([4999, 4999]);
  });

  it("leaves zero-weight variants empty and accepts an empty layout", () => {
    const withZero = variantRanges(
      [
        { key: "control", weight: 30 },
        { key: "none", weight: 0 },
        { key: "t", weight: 30 },
      ],
      60,
    );
    expect(included(rampRanges(withZero, 50))).toEqual([1500, 0, 1500]);
    expect(rampRanges([], 50)).toEqual([]);
  });

  it.each([
    [-0.01, /rampPercent must be a finite number ≥ 0/],
    [-1, /rampPercent must be a finite number ≥ 0/],
    [Number.NaN, /rampPercent must be a finite number ≥ 0/],
    [Number.POSITIVE_INFINITY, /rampPercent must be a finite number ≥ 0/],
    [100.01, /rampPercent must be at most 100/],
    [150, /rampPercent must be at most 100/],
    [12.345, /rampPercent must have at most two decimals/],
    [0.001, /rampPercent must have at most two decimals/],
  ])("refuses rampPercent %p with a RangeError", (ramp, message) => {
    expect(() => rampRanges(base, ramp)).toThrow(RangeError);
    expect(() => rampRanges(base, ramp)).toThrow(message);
  });

  it("refuses a rampPercent that is not a number (as JSON might carry)", () => {
    expect(() => rampRanges(base, "50" as unknown as number)).toThrow(RangeError);
    expect(() => rampRanges(base, null as unknown as number)).toThrow(RangeError);
  });

  it("accepts the decimals 0.01 resolution allows exactly (double rounding)", () => {
    for (const ramp of [0.07, 0.29, 1.15, 33.33, 57.01, 99.99]) {
      expect(included(rampRanges(base, ramp))[0]).toBe(
        Math.floor((1000 * Math.round(ramp * 100)) / BUCKETS),
      );
    }
  });
});

/** Critical values of the chi-square distribution at p = 0.001. */
const CRITICAL_P001: Record<number, number> = { 1: 10.828, 2: 13.816, 3: 16.266, 9: 27.877 };

function chiSquare(observed: readonly number[], expected: readonly number[]): number {
  return observed.reduce((sum, o, i) => {
    const e = expected[i] as number;
    return sum + ((o - e) * (o - e)) / e;
  }, 0);
}

describe("distribution over 100k subjects", () => {
  const SUBJECTS = 100_000;
  const OUTSIDE = "(outside)";

  it.each([
    ["50/50 @ 100", [50, 50], 100],
    ["10/10 @ 20", [10, 10], 20],
    ["33.33/33.33/33.34 @ 100", [33.33, 33.33, 33.34], 100],
    ["5/90/5 @ 100", [5, 90, 5], 100],
    ["10/10/10 @ 30", [10, 10, 10], 30],
  ])("%s fits the weights (chi-square, p = 0.001)", (name, weights, audience) => {
    const ranges = variantRanges(
      weights.map((weight, i) => ({ key: `v${i}`, weight })),
      audience,
    );
    const categories = [...ranges.map((r) => r.key), OUTSIDE];
    const counts = new Map(categories.map((c) => [c, 0]));
    const salt = `chi-square ${name}`;
    for (let i = 0; i < SUBJECTS; i++) {
      const key = assignVariant(bucketOf(salt, `subject-${i}`), ranges) ?? OUTSIDE;
      counts.set(key, (counts.get(key) as number) + 1);
    }
    const share = (key: string) =>
      key === OUTSIDE ? 1 - audience / 100 : (weights[categories.indexOf(key)] as number) / 100;
    // A category nobody can fall into (no outside part at 100 %) must stay empty.
    const used = categories.filter((c) => share(c) > 0);
    for (const c of categories) if (share(c) === 0) expect(counts.get(c)).toBe(0);
    const observed = used.map((c) => counts.get(c) as number);
    const expected = used.map((c) => share(c) * SUBJECTS);
    const df = used.length - 1;
    expect(chiSquare(observed, expected)).toBeLessThan(CRITICAL_P001[df] as number);
  });

  it("spreads subjects evenly over the bucket space (10 bands, chi-square, p = 0.001)", () => {
    const bands = new Array<number>(10).fill(0);
    for (let i = 0; i < SUBJECTS; i++) {
      const band = Math.floor(bucketOf("uniformity", `u${i}`) / 1000);
      bands[band] = (bands[band] as number) + 1;
    }
    expect(chiSquare(bands, new Array<number>(10).fill(SUBJECTS / 10))).toBeLessThan(
      CRITICAL_P001[9] as number,
    );
  });

  it("assigns independently in two experiments with different salts (chi-square, p = 0.001)", () => {
    const ranges = variantRanges(
      [
        { key: "a", weight: 50 },
        { key: "b", weight: 50 },
      ],
      100,
    );
    // 2 × 2 contingency table, cells [aa, ab, ba, bb]; df = (2 − 1)(2 − 1) = 1.
    const observed = [0, 0, 0, 0];
    for (let i = 0; i < SUBJECTS; i++) {
      const first = assignVariant(bucketOf("experiment-one", `subject-${i}`), ranges) === "a";
      const second = assignVariant(bucketOf("experiment-two", `subject-${i}`), ranges) === "a";
      const cell = (first ? 0 : 2) + (second ? 0 : 1);
      observed[cell] = (observed[cell] as number) + 1;
    }
    const [aa, ab, ba, bb] = observed as [number, number, number, number];
    const rows = [aa + ab, ba + bb];
    const cols = [aa + ba, ab + bb];
    const expected = [0, 1].flatMap((r) =>
      [0, 1].map((c) => ((rows[r] as number) * (cols[c] as number)) / SUBJECTS),
    );
    expect(chiSquare(observed, expected)).toBeLessThan(CRITICAL_P001[1] as number);
  });
});

describe("ramp safety", () => {
  const SUBJECTS = 20_000;
  const AUDIENCES = [10, 20, 50, 100];

  it.each([
    ["50/50", [50, 50]],
    ["10/90", [10, 90]],
    ["20/30/50", [20, 30, 50]],
    ["25/25/25/25", [25, 25, 25, 25]],
  ])(
    "relative weights %s: raising the audience 10 → 20 → 50 → 100 %% never moves anyone",
    (_name, relative) => {
      const layouts = AUDIENCES.map((audience) =>
        variantRanges(
          relative.map((r, i) => ({ key: `v${i}`, weight: (r * audience) / 100 })),
          audience,
        ),
      );
      let includedAtFirst = 0;
      const moved: string[] = [];
      const excludedAtFull: string[] = [];
      for (let i = 0; i < SUBJECTS; i++) {
        const subject = `subject-${i}`;
        const bucket = bucketOf("ramp", subject);
        const variants = layouts.map((ranges) => assignVariant(bucket, ranges));
        if (variants[0] !== undefined) includedAtFirst++;
        // Once in, a subject stays in and keeps its variant.
        for (let step = 1; step < variants.length; step++) {
          const before = variants[step - 1];
          if (before !== undefined && variants[step] !== before) moved.push(subject);
        }
        if (variants[variants.length - 1] === undefined) excludedAtFull.push(subject);
      }
      expect(moved).toEqual([]);
      expect(excludedAtFull).toEqual([]);
      expect(includedAtFirst).toBeGreaterThan(SUBJECTS * 0.08);
      expect(includedAtFirst).toBeLessThan(SUBJECTS * 0.12);
    },
  );
});

interface Vector {
  salt: string;
  subjectId: string;
  hash: number;
  bucket: number;
  audiencePercent: number;
  weights: VariantWeight[];
  variant: string | null;
}

describe("test/vectors/bucketing.json", () => {
  const file = JSON.parse(
    readFileSync(new URL("../vectors/bucketing.json", import.meta.url), "utf8"),
  ) as { buckets: number; vectors: Vector[] };

  it("covers non-ASCII ids and both included and outside-audience subjects", () => {
    expect(file.buckets).toBe(BUCKETS);
    expect(file.vectors.length).toBeGreaterThanOrEqual(40);
    expect(file.vectors.some((v) => /[\u0080-\uffff]/.test(v.subjectId))).toBe(true);
    expect(file.vectors.some((v) => v.variant === null)).toBe(true);
    expect(file.vectors.some((v) => v.variant !== null)).toBe(true);
  });

  it("is reproduced exactly: hash, bucket and variant", () => {
    for (const v of file.vectors) {
      const ranges = variantRanges(v.weights, v.audiencePercent);
      expect({
        salt: v.salt,
        subjectId: v.subjectId,
        hash: murmur3_32(`${v.salt}:${v.subjectId}`),
        bucket: bucketOf(v.salt, v.subjectId),
        variant: assignVariant(v.bucket, ranges) ?? null,
      }).toEqual({
        salt: v.salt,
        subjectId: v.subjectId,
        hash: v.hash,
        bucket: v.bucket,
        variant: v.variant,
      });
    }
  });
});
