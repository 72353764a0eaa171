"""Bucketing: MurmurHash3 (x86, 32-bit) of "<salt>:<subject id>", the bucket
in [0, 10000), and the layout of variants over the buckets. A port of
src/decision/bucketing.ts; docs/bucketing.md describes it and
test/vectors/bucketing.json pins it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from ._js import is_number, utf8

BUCKETS = 10_000
_C1 = 0xCC9E2D51
_C2 = 0x1B873593
_M = 0xFFFFFFFF


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit of `data`, an unsigned 32-bit integer."""
    h = seed & _M
    length = len(data)
    block_end = length & ~3
    for i in range(0, block_end, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _C1) & _M
        k = ((k << 15) | (k >> 17)) & _M
        k = (k * _C2) & _M
        h ^= k
        h = ((h << 13) | (h >> 19)) & _M
        h = (h * 5 + 0xE6546B64) & _M
    tail = length & 3
    if tail:
        k = 0
        if tail == 3:
            k ^= data[block_end + 2] << 16
        if tail >= 2:
            k ^= data[block_end + 1] << 8
        k ^= data[block_end]
        k = (k * _C1) & _M
        k = ((k << 15) | (k >> 17)) & _M
        k = (k * _C2) & _M
        h ^= k
    h ^= length
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M
    h ^= h >> 16
    return h


def bucket_of(salt: str, subject_id: str) -> int:
    """The subject's bucket for a salt: murmur3_32(salt + ":" + subject_id) % 10000."""
    return murmur3_32(utf8(salt + ":" + subject_id)) % BUCKETS


@dataclass(frozen=True)
class VariantRange:
    key: str
    start: int
    slice_end: int
    included_end: int


def _units(percent: Any, what: str) -> int:
    if not is_number(percent) or not math.isfinite(percent) or percent < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {percent!r}")
    units = math.floor(percent * 100 + 0.5)
    if abs(units - percent * 100) > 1e-6:
        raise ValueError(f"{what} must have at most two decimals, got {percent!r}")
    return units


def variant_ranges(variants: Sequence[Any], audience_percent: Any) -> List[VariantRange]:
    """Lays the variants (dicts with "key" and "weight") out over the buckets:
    largest-remainder slices in variant order, the first weight x 100 buckets
    of each included. Raises ValueError for a layout the server refuses."""
    if len(variants) == 0:
        raise ValueError("at least one variant is required")
    audience = _units(audience_percent, "audiencePercent")
    if audience > BUCKETS:
        raise ValueError("audiencePercent must be at most 100")
    units = [_units(v.get("weight"), f"weight of variant {v.get('key')}") for v in variants]
    total = sum(units)
    if total != audience:
        raise ValueError("variant weights do not add up to the audience")
    shares = [1] * len(units) if total == 0 else units
    share_total = len(units) if total == 0 else total
    slices = [(s * BUCKETS) // share_total for s in shares]
    left = BUCKETS - sum(slices)
    order = sorted(range(len(shares)), key=lambda i: (-((shares[i] * BUCKETS) % share_total), i))
    for index in order:
        if left == 0:
            break
        slices[index] += 1
        left -= 1
    ranges = []
    start = 0
    for variant, size, included in zip(variants, slices, units):
        ranges.append(VariantRange(variant.get("key"), start, start + size, start + included))
        start += size
    return ranges


def ramp_ranges(ranges: Sequence[VariantRange], ramp_percent: Any) -> List[VariantRange]:
    """The layout with a ramp share (rampPercent, 0-100 in steps of 0.01): each
    slice stays where it is and keeps the first floor(included x ramp units /
    10000) buckets of its included part, as rampRanges in bucketing.ts does.
    Raises ValueError for a ramp the server refuses."""
    ramp = _units(ramp_percent, "rampPercent")
    if ramp > BUCKETS:
        raise ValueError("rampPercent must be at most 100")
    return [
        VariantRange(
            r.key, r.start, r.slice_end, r.start + ((r.included_end - r.start) * ramp) // BUCKETS
        )
        for r in ranges
    ]


def assign_variant(bucket: int, ranges: Sequence[VariantRange]) -> Optional[str]:
    """The variant whose included range holds the bucket; None outside the audience."""
    for r in ranges:
        if r.start <= bucket < r.included_end:
            return r.key
    return None
