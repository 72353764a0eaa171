"""The decide core in Python (a port of src/decision/core): compile a
SnapshotSource, decide from it, sign local decision ids. Pure: no I/O."""

from .bucketing import BUCKETS, assign_variant, bucket_of, murmur3_32, variant_ranges
from .decide import (
    REASONS,
    SNAPSHOT_SOURCE_FORMAT,
    PlainDecision,
    Snapshot,
    compile_snapshot,
    decide,
)
from .decision_ids import LocalDecisionSigner
from .targeting import CompiledRule, RuleSyntaxError, parse_rule

__all__ = [
    "BUCKETS",
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
    "murmur3_32",
    "parse_rule",
    "variant_ranges",
]
