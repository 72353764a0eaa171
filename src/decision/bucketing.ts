/**
 * Assignment: which bucket a subject falls into for an experiment, and which
 * variant (if any) owns that bucket. Pure functions with no I/O, called on
 * the decide hot path. Anything that changes a result here changes who sees
 * what: test/vectors/bucketing.json pins the behaviour and docs/bucketing.md
 * describes it for client authors in other languages.
 */
import type { VariantRange } from "./types.js";

/** Size of the bucket space. One bucket is 0.01 % of all traffic. */
export const BUCKETS = 10_000;

// A module-level binding, not `Math.imul` at each call: where the global object
// is intercepted (jest runs tests in a vm context) every `Math` lookup is slow.
const imul = Math.imul;
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * MurmurHash3, x86 32-bit variant, over the UTF-8 bytes of `input`.
 * Returns an unsigned 32-bit integer. The seed is taken modulo 2^32.
 *
 * ASCII strings (the common case for ids) are hashed straight from their
 * character codes with no allocation; anything else is first encoded into a
 * reused buffer. Lone surrogates are encoded as U+FFFD, as TextEncoder does.
 */
export function murmur3_32(input: string, seed = 0): number {
  const length = input.length;
  let h = seed | 0;
  const blockEnd = length & ~3;
  let i = 0;
  for (; i < blockEnd; i += 4) {
    const c0 = input.charCodeAt(i);
    const c1 = input.charCodeAt(i + 1);
    const c2 = input.charCodeAt(i + 2);
    const c3 = input.charCodeAt(i + 3);
    // One code unit above 0x7f: the string is not ASCII, start over on its bytes.
    if ((c0 | c1 | c2 | c3) > 0x7f) return hashBytes(encodeUtf8(input), seed);
    h = mixBlock(h, c0 | (c1 << 8) | (c2 << 16) | (c3 << 24));
  }
  const tail = length & 3;
  if (tail !== 0) {
    const c0 = input.charCodeAt(i);
    const c1 = tail >= 2 ? input.charCodeAt(i + 1) : 0;
    const c2 = tail === 3 ? input.charCodeAt(i + 2) : 0;
    if ((c0 | c1 | c2) > 0x7f) return hashBytes(encodeUtf8(input), seed);
    h = mixTail(h, c0 | (c1 << 8) | (c2 << 16));
  }
  return finalize(h, length);
}

interface EncodedBytes {
  bytes: Uint8Array;
  length: number;
}

const encoder = new TextEncoder();
/** Inputs longer than this are encoded into a fresh array that is not kept. */
const MAX_SCRATCH_BYTES = 64 * 1024;
let scratch = new Uint8Array(256);
const encoded: EncodedBytes = { bytes: scratch, length: 0 };

/** UTF-8 encodes into a module-level buffer; the result is valid until the next call. */
function encodeUtf8(input: string): EncodedBytes {
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
  const worstCase = input.length * 3;
  if (worstCase > MAX_SCRATCH_BYTES) {
    const bytes = encoder.encode(input);
    return { bytes, length: bytes.length };
  }
  if (scratch.length < worstCase) {
    scratch = new Uint8Array(Math.min(Math.max(worstCase, scratch.length * 2), MAX_SCRATCH_BYTES));
    encoded.bytes = scratch;
  }
  encoded.length = encoder.encodeInto(input, scratch).written;
  return encoded;
}

function hashBytes({ bytes, length }: EncodedBytes, seed: number): number {
  let h = seed | 0;
  const blockEnd = length & ~3;
  let i = 0;
  for (; i < blockEnd; i += 4) {
    h = mixBlock(
      h,
      (bytes[i] as number) |
        ((bytes[i + 1] as number) << 8) |
        ((bytes[i + 2] as number) << 16) |
        ((bytes[i + 3] as number) << 24),
    );
  }
  const tail = length & 3;
  if (tail !== 0) {
    let k = 0;
    if (tail === 3) k ^= (bytes[i + 2] as number) << 16;
    if (tail >= 2) k ^= (bytes[i + 1] as number) << 8;
    k ^= bytes[i] as number;
    h = mixTail(h, k);
  }
  return finalize(h, length);
}

function finalize(hash: number, length: number): number {
  let h = hash ^ length;
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The subject's bucket in [0, BUCKETS) for an experiment:
 * `murmur3_32(salt + ":" + subjectId, 0) % BUCKETS`.
 */
export function bucketOf(salt: string, subjectId: string): number {
  const hash = hashAsciiKey(salt, subjectId);
  return (hash >= 0 ? hash : murmur3_32(salt + ":" + subjectId)) % BUCKETS;
}

const COLON = 0x3a;

/** Mixes one 4-byte block (little-endian) into the hash state. */
function mixBlock(h: number, block: number): number {
  let k = imul(block, C1);
  k = (k << 15) | (k >>> 17);
  h ^= imul(k, C2);
  h = (h << 13) | (h >>> 19);
  return (imul(h, 5) + 0xe6546b64) | 0;
}

/** Mixes the last 1–3 bytes into the hash state. */
function mixTail(h: number, tail: number): number {
  let k = imul(tail, C1);
  k = (k << 15) | (k >>> 17);
  return h ^ imul(k, C2);
}

/**
 * murmur3_32(salt + ":" + subjectId) for ASCII inputs, read from the two
 * strings in place: concatenating them would build a rope that the hash loop
 * then has to flatten, which costs about as much as the hash. Returns -1 as
 * soon as it meets a non-ASCII code unit.
 */
function hashAsciiKey(salt: string, subjectId: string): number {
  const saltLength = salt.length;
  const subjectLength = subjectId.length;
  let h = 0;

  // Whole blocks of the salt.
  const saltBlockEnd = saltLength & ~3;
  let i = 0;
  for (; i < saltBlockEnd; i += 4) {
    const c0 = salt.charCodeAt(i);
    const c1 = salt.charCodeAt(i + 1);
    const c2 = salt.charCodeAt(i + 2);
    const c3 = salt.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) > 0x7f) return -1;
    h = mixBlock(h, c0 | (c1 << 8) | (c2 << 16) | (c3 << 24));
  }

  // The block that bridges the salt's last 0–3 characters, the colon and the
  // subject's first characters.
  let bridge = 0;
  let shift = 0;
  let check = 0;
  for (; i < saltLength; i++, shift += 8) {
    const c = salt.charCodeAt(i);
    check |= c;
    bridge |= c << shift;
  }
  bridge |= COLON << shift;
  shift += 8;
  let j = 0;
  for (; shift < 32 && j < subjectLength; j++, shift += 8) {
    const c = subjectId.charCodeAt(j);
    check |= c;
    bridge |= c << shift;
  }
  if (check > 0x7f) return -1;
  const length = saltLength + 1 + subjectLength;
  if (shift < 32) return finalize(mixTail(h, bridge), length);
  h = mixBlock(h, bridge);

  // Whole blocks of the rest of the subject.
  const subjectBlockEnd = j + ((subjectLength - j) & ~3);
  for (; j < subjectBlockEnd; j += 4) {
    const c0 = subjectId.charCodeAt(j);
    const c1 = subjectId.charCodeAt(j + 1);
    const c2 = subjectId.charCodeAt(j + 2);
    const c3 = subjectId.charCodeAt(j + 3);
    if ((c0 | c1 | c2 | c3) > 0x7f) return -1;
    h = mixBlock(h, c0 | (c1 << 8) | (c2 << 16) | (c3 << 24));
  }

  // The subject's last 0–3 characters.
  if (j < subjectLength) {
    let tail = 0;
    check = 0;
    for (shift = 0; j < subjectLength; j++, shift += 8) {
      const c = subjectId.charCodeAt(j);
      check |= c;
      tail |= c << shift;
    }
    if (check > 0x7f) return -1;
    h = mixTail(h, tail);
  }
  return finalize(h, length);
}

/** A variant and its weight in percent of ALL traffic (0.01 resolution). */
export interface VariantWeight {
  key: string;
  weight: number;
}

/**
 * Lays the variants out over the bucket space.
 *
 * `weights` are percentages of all traffic with 0.01 resolution and add up to
 * `audiencePercent`. Every variant owns a contiguous slice proportional to its
 * relative weight (weight / audience), in variant order from bucket 0, sized
 * by the largest-remainder method so the slices cover exactly BUCKETS (ties go
 * to the earlier variant). The first `weight × 100` buckets of a slice are
 * included; the rest of the slice is outside the audience.
 *
 * Raising the audience with the relative weights unchanged leaves every slice
 * where it is and only extends the included parts, so nobody changes variant.
 *
 * With an audience of 0 nothing is included and the slices are split evenly.
 * Throws RangeError for an empty list, a negative, non-finite or finer than
 * 0.01 weight or audience, an audience above 100, or weights that do not add
 * up to the audience.
 */
export function variantRanges(
  variants: readonly VariantWeight[],
  audiencePercent: number,
): VariantRange[] {
  if (variants.length === 0) throw new RangeError("at least one variant is required");
  const audienceUnits = toUnits(audiencePercent, "audiencePercent");
  if (audienceUnits > BUCKETS) throw new RangeError("audiencePercent must be at most 100");

  const units = variants.map((v) => toUnits(v.weight, `weight of variant ${v.key}`));
  const total = units.reduce((sum, u) => sum + u, 0);
  if (total !== audienceUnits) {
    throw new RangeError(
      `variant weights add up to ${total / 100} %, not to the audience ${audienceUnits / 100} %`,
    );
  }

  // Relative shares; an empty audience has no ratios, so split evenly.
  const shares = total === 0 ? units.map(() => 1) : units;
  const shareTotal = total === 0 ? units.length : total;
  const slices = largestRemainder(shares, shareTotal);

  const ranges: VariantRange[] = [];
  let start = 0;
  for (let i = 0; i < variants.length; i++) {
    const slice = slices[i] as number;
    // weight × 100 ≤ slice always holds: slice ≥ floor(weight × 100 × 100 / audience).
    const included = units[i] as number;
    ranges.push({
      key: (variants[i] as VariantWeight).key,
      start,
      sliceEnd: start + slice,
      includedEnd: start + included,
    });
    start += slice;
  }
  return ranges;
}

/**
 * The layout of `ranges` (from variantRanges) with a ramp share: only
 * `rampPercent` (0–100, 0.01 resolution) of each variant's included part is
 * admitted. Each slice stays where it is; the included part becomes its
 * first `floor(includedUnits × rampUnits / BUCKETS)` buckets, where
 * includedUnits = includedEnd − start (the weight × 100) and rampUnits =
 * rampPercent × 100. Exact integer arithmetic (the product is at most 10^8).
 *
 * The included length never shrinks as rampPercent grows, and always starts
 * at the slice start, so raising the ramp only adds subjects (nobody changes
 * variant) and lowering it removes only those a higher share added. At 100
 * the ranges are returned unchanged (a copy); at 0 nothing is included.
 *
 * Computed once per compiled snapshot; decide still only runs
 * assignVariant(bucketOf(…), ranges). Throws RangeError for a negative,
 * non-finite or finer than 0.01 rampPercent, or one above 100.
 */
export function rampRanges(ranges: readonly VariantRange[], rampPercent: number): VariantRange[] {
  const rampUnits = toUnits(rampPercent, "rampPercent");
  if (rampUnits > BUCKETS) throw new RangeError("rampPercent must be at most 100");
  return ranges.map((range) => ({
    key: range.key,
    start: range.start,
    sliceEnd: range.sliceEnd,
    includedEnd:
      range.start + Math.floor(((range.includedEnd - range.start) * rampUnits) / BUCKETS),
  }));
}

/** Percent with 0.01 resolution → integer hundredths of a percent (= buckets). */
function toUnits(percent: number, what: string): number {
  if (!Number.isFinite(percent) || percent < 0) {
    throw new RangeError(`${what} must be a finite number ≥ 0, got ${percent}`);
  }
  const units = Math.round(percent * 100);
  if (Math.abs(units - percent * 100) > 1e-6) {
    throw new RangeError(`${what} must have at most two decimals, got ${percent}`);
  }
  return units;
}

/** Splits BUCKETS in proportion to `shares` (integers summing to `total`). */
function largestRemainder(shares: readonly number[], total: number): number[] {
  // shares[i] × BUCKETS ≤ 10^8: exact in double precision.
  const slices = shares.map((s) => Math.floor((s * BUCKETS) / total));
  let left = BUCKETS - slices.reduce((sum, s) => sum + s, 0);
  const order = shares
    .map((s, index) => ({ index, remainder: (s * BUCKETS) % total }))
    .sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of order) {
    if (left === 0) break;
    slices[index] = (slices[index] as number) + 1;
    left--;
  }
  return slices;
}

/**
 * The variant whose included range `[start, includedEnd)` contains `bucket`,
 * or undefined when the bucket lies in a part of a slice that is outside the
 * audience.
 */
export function assignVariant(bucket: number, ranges: readonly VariantRange[]): string | undefined {
  for (let i = 0; i < ranges.length; i++) {
    const range = ranges[i] as VariantRange;
    if (bucket >= range.start && bucket < range.includedEnd) return range.key;
  }
  return undefined;
}
