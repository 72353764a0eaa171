"""Which calls are safe to repeat, and the backoff between attempts (as the
Node client's retry.ts): reads (Get..., List...), Decide (the same subject and
configuration give the same decision) and IngestEvents (event ids make a
repeat a counted duplicate). Anything that creates or changes state fails
on the first error, so a lost answer never creates two flags."""

from __future__ import annotations

import random as _random
import re
from dataclasses import dataclass, field
from typing import Callable, FrozenSet

import grpc

_SAFE_NAMES = frozenset(["Decide", "IngestEvents", "Check"])
_READ = re.compile(r"^(Get|List)[A-Z]")


@dataclass(frozen=True)
class RetryOptions:
    #: Further attempts after the first one.
    max_retries: int = 2
    #: Delay before the first retry in seconds, doubled for each further one.
    initial_delay: float = 0.1
    #: Upper bound of one delay, seconds.
    max_delay: float = 2.0
    #: Status codes worth another attempt.
    codes: FrozenSet[grpc.StatusCode] = field(
        default_factory=lambda: frozenset(
            [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED]
        )
    )


def is_retry_safe(method_name: str) -> bool:
    """Whether repeating a call to this RPC (its protobuf method name, or the
    full gRPC path /package.Service/Method) is safe."""
    name = method_name.rsplit("/", 1)[-1]
    return name in _SAFE_NAMES or _READ.match(name) is not None


def backoff_delay(
    attempt: int,
    initial_delay: float,
    max_delay: float,
    random: Callable[[], float] = _random.random,
) -> float:
    """Delay before retry number `attempt` (0-based): exponential, capped, with
    equal jitter (half fixed, half random)."""
    ceiling = min(max_delay, initial_delay * 2**attempt)
    return ceiling / 2 + random() * (ceiling / 2)
