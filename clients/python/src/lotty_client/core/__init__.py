"""The decide core in Python (a port of src/decision/core): compile a
SnapshotSource, decide from it, sign local decision ids. Pure: no I/O."""

from .bucketing import (
    BUCKETS,
    assign_variant,
    bucket_of,
    murmur3_32,
    ramp_ranges,
    variant_ranges,
)
from .decide import (
    READABLE_SNAPSHOT_SOURCE_FORMATS,
    REASONS,
    SNAPSHOT_SOURCE_FORMAT,
    PlainDecision,
    Snapshot,
    compile_snapshot,
    decide,
    is_readable_format,
)
from .decision_ids import LocalDecisionSigner
from .targeting import CompiledRule, RuleSyntaxError, parse_rule

__all__ = [
    "BUCKETS",
    "READABLE_SNAPSHOT_SOURCE_FORMATS",
    "REASONS",
    "SNAPSHOT_SOURCE_FORMAT",
    "CompiledRule",
    "LocalDecisionSigner",
    "PlainDecision",
    "RuleSyntaxError",
    "Snapshot",
    "assign_variant",
    "bucket_of",
    "compile_snapshot",
    "decide",
    "is_readable_format",
    "murmur3_32",
    "parse_rule",
    "ramp_ranges",
    "variant_ranges",
]
