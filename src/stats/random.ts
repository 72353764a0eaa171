/**
 * A small seeded pseudo-random generator (xoshiro128**, seeded through
 * splitmix32) so that resampling results are reproducible: the same seed and
 * inputs always give the same report. Not for cryptographic use.
 */

// Module-level binding: a global lookup of Math on every draw is slow inside
// VM contexts (jest), and a draw is on the hot path of resampling.
const imul = Math.imul;

/** A source of uniform numbers in [0, 1) with 32 bits of resolution. */
export type RandomSource = () => number;

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

/**
 * Creates a generator from a seed (any finite number; its low 32 bits are
 * used). Uses Blackman and Vigna's xoshiro128** on a state filled by
 * splitmix32.
 */
export function createRandom(seed: number): RandomSource {
  if (!Number.isFinite(seed)) {
    throw new RangeError(`createRandom: seed must be a finite number (got ${String(seed)})`);
  }
  let mix = Math.trunc(seed) >>> 0;
  const splitmix32 = (): number => {
    mix = (mix + 0x9e3779b9) | 0;
    let z = mix;
    z = imul(z ^ (z >>> 16), 0x85ebca6b);
    z = imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix32();
  let b = splitmix32();
  let c = splitmix32();
  let d = splitmix32();
  if ((a | b | c | d) === 0) a = 1; // the all-zero state is a fixed point
  return () => {
    const result = imul(rotateLeft(imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotateLeft(d, 11);
    return result / 4294967296;
  };
}
