"""The decide core in Python: a SnapshotSource (the JSON object of
Configuration.source_json, format 1 or 2) compiles to a Snapshot, and `decide`
answers from it with no I/O, exactly as src/decision/core does on the
server: flags, targeting, audience, rollback, participation limit, conflict
domains and cooldown (docs/participation.md, docs/conflicts.md)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ._js import is_number, js_compare, js_less, js_truthy, trim, utf16_key
from .bucketing import VariantRange, assign_variant, bucket_of, ramp_ranges, variant_ranges
from .targeting import RuleSyntaxError, parse_rule

#: The format the server writes now; every format this core reads (2 adds
#: rampPercent, docs/local-evaluation.md#wire-format).
SNAPSHOT_SOURCE_FORMAT = 2
READABLE_SNAPSHOT_SOURCE_FORMATS = (1, 2)
RANK_SALT_PREFIX = "lotty.participation.rank:"

#: DecisionReason numbers (proto enum order) and their lower-case names.
REASONS = (
    "unspecified",
    "default",
    "experiment",
    "targeting_mismatch",
    "outside_audience",
    "participation_limit",
    "domain_conflict",
    "rolled_back",
    "flag_not_found",
)
DEFAULT, EXPERIMENT, TARGETING_MISMATCH, OUTSIDE_AUDIENCE = 1, 2, 3, 4
PARTICIPATION_LIMIT, DOMAIN_CONFLICT, ROLLED_BACK, FLAG_NOT_FOUND = 5, 6, 7, 8

_NOBODY = object()  # a rule that does not parse: matches nobody


@dataclass
class Experiment:
    id: str
    flag_key: str
    version: Any
    status: str
    rolled_back: bool
    ranges: List[VariantRange]
    control_key: str
    values: Dict[str, Any]
    rule: Any  # None (everyone), _NOBODY or a CompiledRule
    conflict_domains: Sequence[str]
    priority: Any
    started_at: Any


@dataclass
class CompletedExperiment:
    id: str
    ranges: List[VariantRange]
    rule: Any
    completed_at: Any


@dataclass
class Snapshot:
    version: str
    flags: Dict[str, Any]  # key -> default value
    sorted_flag_keys: List[str]
    experiment_by_flag: Dict[str, Experiment]
    live: List[Experiment]
    max_concurrent: Any
    cooldown_seconds: Any
    recently_completed: List[CompletedExperiment]
    problems: List[Tuple[str, str]] = field(default_factory=list)


def _rule_of(stored: Mapping[str, Any], problems: List[Tuple[str, str]]):
    source = stored.get("targetingRule", "")
    if trim(source) == "":
        return None
    try:
        return parse_rule(source)
    except RuleSyntaxError:
        problems.append(("invalid_rule", stored.get("id")))
        return _NOBODY


def is_readable_format(value: Any) -> bool:
    """Whether this core decides with a SnapshotSource of `format` value."""
    return is_number(value) and value in READABLE_SNAPSHOT_SOURCE_FORMATS


def _ranges_of(stored: Mapping[str, Any], problems: List[Tuple[str, str]]):
    try:
        ranges = variant_ranges(stored.get("variants") or [], stored.get("audiencePercent"))
        ramp = stored.get("rampPercent")  # absent or null: the whole audience
        return ranges if ramp is None else ramp_ranges(ranges, ramp)
    except (ValueError, TypeError, AttributeError):
        problems.append(("invalid_layout", stored.get("id")))
        return None


def compile_snapshot(source: Mapping[str, Any]) -> Snapshot:
    """The Snapshot decide answers from. An experiment whose layout does not
    fit is left out; a rule that does not parse matches nobody (both are
    listed in `problems`, as the server logs them)."""
    problems: List[Tuple[str, str]] = []
    flags: Dict[str, Any] = {}
    for flag in source.get("flags", []):
        if js_truthy(flag.get("archived")):
            continue
        flags[flag["key"]] = flag.get("defaultValue")
    experiment_by_flag: Dict[str, Experiment] = {}
    live: List[Experiment] = []
    for stored in source.get("experiments", []):
        ranges = _ranges_of(stored, problems)
        if ranges is None:
            continue
        control = next((v for v in stored["variants"] if js_truthy(v.get("control"))), None)
        experiment = Experiment(
            id=stored["id"],
            flag_key=stored["flagKey"],
            version=stored.get("version"),
            status=stored.get("status"),
            rolled_back=js_truthy(stored.get("rolledBack")),
            ranges=ranges,
            control_key=control.get("key", "") if control is not None else "",
            values={v.get("key"): v.get("value") for v in stored["variants"]},
            rule=_rule_of(stored, problems),
            conflict_domains=stored.get("conflictDomains") or [],
            priority=stored.get("priority"),
            started_at=stored.get("startedAt"),
        )
        if experiment.flag_key in flags:
            experiment_by_flag[experiment.flag_key] = experiment
        live.append(experiment)
    policy = source.get("policy") or {}
    max_concurrent = policy.get("maxConcurrentExperiments", 0)
    cooldown_seconds = policy.get("cooldownSeconds", 0)
    recently_completed: List[CompletedExperiment] = []
    if cooldown_seconds > 0 and live:
        since = min(e.started_at for e in live) - cooldown_seconds * 1000
        for stored in source.get("recentlyCompleted", []):
            if stored["completedAt"] < since:
                continue
            ranges = _ranges_of(stored, problems)
            if ranges is None:
                continue
            recently_completed.append(
                CompletedExperiment(
                    stored["id"], ranges, _rule_of(stored, problems), stored["completedAt"]
                )
            )
    return Snapshot(
        version=source.get("version", ""),
        flags=flags,
        sorted_flag_keys=sorted(flags, key=utf16_key),
        experiment_by_flag=experiment_by_flag,
        live=live,
        max_concurrent=max_concurrent,
        cooldown_seconds=cooldown_seconds,
        recently_completed=recently_completed,
        problems=problems,
    )


# ------------------------------------------------------------------ participation

# Outcomes: ("variant", key), ("targeting_mismatch",), ("outside_audience",),
# ("domain_conflict", winner id), ("participation_limit", cause).
_NOT_TARGETED = object()


def _claimed_variant(experiment, subject_id: str, attributes: Mapping[str, Any]):
    rule = experiment.rule
    if rule is _NOBODY or (rule is not None and not rule(attributes)):
        return _NOT_TARGETED
    return assign_variant(bucket_of(experiment.id, subject_id), experiment.ranges)


def claim_experiment(experiment: Experiment, subject_id: str, attributes: Mapping[str, Any]):
    variant = _claimed_variant(experiment, subject_id, attributes)
    if variant is _NOT_TARGETED:
        return ("targeting_mismatch",)
    if variant is None:
        return ("outside_audience",)
    return ("variant", variant)


def needs_global_resolution(snapshot: Snapshot, experiment: Experiment) -> bool:
    return (
        snapshot.max_concurrent > 0
        or snapshot.cooldown_seconds > 0
        or len(experiment.conflict_domains) > 0
    )


class _Claim:
    __slots__ = ("experiment", "variant_key", "rank_hash", "resting_after")

    def __init__(self, experiment: Experiment, variant_key: str):
        self.experiment = experiment
        self.variant_key = variant_key
        self.rank_hash: Optional[int] = None
        self.resting_after: Optional[CompletedExperiment] = None


def _rank_hash(claim: _Claim, subject_id: str) -> int:
    if claim.rank_hash is None:
        claim.rank_hash = bucket_of(RANK_SALT_PREFIX + claim.experiment.id, subject_id)
    return claim.rank_hash


def _compare_rank(a: _Claim, b: _Claim, subject_id: str) -> int:
    x, y = a.experiment, b.experiment
    if x.priority != y.priority:
        return -1 if y.priority < x.priority else 1
    if x.started_at != y.started_at:
        return -1 if x.started_at < y.started_at else 1
    ha, hb = _rank_hash(a, subject_id), _rank_hash(b, subject_id)
    if ha != hb:
        return -1 if ha < hb else 1
    return js_compare(x.id, y.id)


def _mark_resting(claims: List[_Claim], snapshot: Snapshot, subject_id: str, attributes) -> None:
    cooldown_ms = snapshot.cooldown_seconds * 1000
    for done in snapshot.recently_completed:
        window_end = done.completed_at + cooldown_ms
        if not any(done.completed_at <= c.experiment.started_at < window_end for c in claims):
            continue
        variant = _claimed_variant(done, subject_id, attributes)
        if variant is _NOT_TARGETED or variant is None:
            continue
        for claim in claims:
            started_at = claim.experiment.started_at
            if started_at < done.completed_at or started_at >= window_end:
                continue
            current = claim.resting_after
            if (
                current is None
                or done.completed_at > current.completed_at
                or (done.completed_at == current.completed_at and js_less(done.id, current.id))
            ):
                claim.resting_after = done


def resolve_participation(snapshot: Snapshot, subject_id: str, attributes) -> Dict[str, tuple]:
    """The outcome of every live experiment for one subject, by experiment id."""
    outcomes: Dict[str, tuple] = {}
    claims: List[_Claim] = []
    any_domain = False
    for experiment in snapshot.live:
        variant = _claimed_variant(experiment, subject_id, attributes)
        if variant is _NOT_TARGETED:
            outcomes[experiment.id] = ("targeting_mismatch",)
        elif variant is None:
            outcomes[experiment.id] = ("outside_audience",)
        else:
            claims.append(_Claim(experiment, variant))
            if len(experiment.conflict_domains) > 0:
                any_domain = True
    if not claims:
        return outcomes
    if snapshot.cooldown_seconds > 0 and snapshot.recently_completed:
        _mark_resting(claims, snapshot, subject_id, attributes)
    limit = snapshot.max_concurrent if snapshot.max_concurrent > 0 else float("inf")
    if any_domain or limit < len(claims):
        claims.sort(key=functools.cmp_to_key(lambda a, b: _compare_rank(a, b, subject_id)))
    held_by: Optional[Dict[str, int]] = {} if any_domain else None
    placed = 0
    for position, claim in enumerate(claims):
        experiment = claim.experiment
        winner = -1
        if held_by is not None:
            for domain in experiment.conflict_domains:
                at = held_by.get(domain)
                if at is not None and (winner < 0 or at < winner):
                    winner = at
        if winner >= 0:
            outcomes[experiment.id] = ("domain_conflict", claims[winner].experiment.id)
        elif claim.resting_after is not None:
            outcomes[experiment.id] = ("participation_limit", "cooldown")
        elif placed >= limit:
            outcomes[experiment.id] = ("participation_limit", "max_concurrent")
        else:
            outcomes[experiment.id] = ("variant", claim.variant_key)
            placed += 1
            if held_by is not None:
                for domain in experiment.conflict_domains:
                    held_by[domain] = position
    return outcomes


# ------------------------------------------------------------------ decide


@dataclass
class PlainDecision:
    """One flag's decision. `value` is the JSON value (None for
    FLAG_NOT_FOUND, where `has_value` is False); `claims` what the decision
    id says: (flag key, subject id, experiment id, variant key, config
    version), None for FLAG_NOT_FOUND."""

    flag_key: str
    value: Any
    has_value: bool
    reason: int
    experiment_id: str
    variant_key: str
    claims: Optional[Tuple[str, str, str, str, int]]

    @property
    def reason_name(self) -> str:
        return REASONS[self.reason]


_OUTCOME_REASONS = {
    "targeting_mismatch": TARGETING_MISMATCH,
    "outside_audience": OUTSIDE_AUDIENCE,
    "domain_conflict": DOMAIN_CONFLICT,
    "participation_limit": PARTICIPATION_LIMIT,
}


def _with_value(flag_key, subject_id, reason, value, experiment_id, variant_key, version):
    return PlainDecision(
        flag_key,
        value,
        True,
        reason,
        experiment_id,
        variant_key,
        (flag_key, subject_id, experiment_id, variant_key, version),
    )


def decide(
    snapshot: Snapshot,
    subject_id: str,
    attributes: Optional[Mapping[str, Any]] = None,
    flag_keys: Sequence[str] = (),
) -> List[PlainDecision]:
    """Decides the flags (every active flag, sorted by key, when none are
    named) for one subject. Deterministic; no I/O, no clock."""
    attributes = attributes if attributes is not None else {}
    keys = list(dict.fromkeys(flag_keys)) if len(flag_keys) > 0 else snapshot.sorted_flag_keys
    resolved: List[Dict[str, tuple]] = []

    def outcome_of(experiment: Experiment):
        if needs_global_resolution(snapshot, experiment):
            if not resolved:
                resolved.append(resolve_participation(snapshot, subject_id, attributes))
            outcome = resolved[0].get(experiment.id)
            if outcome is not None:
                return outcome
        return claim_experiment(experiment, subject_id, attributes)

    out: List[PlainDecision] = []
    for flag_key in keys:
        if flag_key not in snapshot.flags:
            out.append(PlainDecision(flag_key, None, False, FLAG_NOT_FOUND, "", "", None))
            continue
        default_value = snapshot.flags[flag_key]
        experiment = snapshot.experiment_by_flag.get(flag_key)
        if experiment is None or (experiment.status != "running" and not experiment.rolled_back):
            out.append(_with_value(flag_key, subject_id, DEFAULT, default_value, "", "", 0))
            continue
        if experiment.rolled_back:
            control = experiment.control_key
            out.append(
                _with_value(
                    flag_key,
                    subject_id,
                    ROLLED_BACK,
                    experiment.values.get(control),
                    experiment.id,
                    control,
                    experiment.version,
                )
            )
            continue
        outcome = outcome_of(experiment)
        if outcome[0] == "variant":
            out.append(
                _with_value(
                    flag_key,
                    subject_id,
                    EXPERIMENT,
                    experiment.values.get(outcome[1]),
                    experiment.id,
                    outcome[1],
                    experiment.version,
                )
            )
        else:
            out.append(
                _with_value(
                    flag_key,
                    subject_id,
                    _OUTCOME_REASONS[outcome[0]],
                    default_value,
                    experiment.id,
                    "",
                    experiment.version,
                )
            )
    return out
