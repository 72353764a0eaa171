"""Lotty's Python client: gRPC stubs generated from proto/ (the `lotty`
package), a LottyClient with bearer-key auth, deadlines and safe retries, an
EventSender that batches and retries with stable event ids, and a
LocalDecider that decides in-process from the streamed configuration with
the Python decide core (core/), checked against test/vectors/decide.json."""

import logging

from .client import DEFAULT_TIMEOUT, BearerAuth, DeadlineAndRetry, LottyClient, json_value
from .events import EventSender, EventSenderStats, QueuedEvent
from .local import LocalDecider, LocalDecision, exposure_properties
from .retry import RetryOptions, backoff_delay, is_retry_safe

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TIMEOUT",
    "BearerAuth",
    "DeadlineAndRetry",
    "EventSender",
    "EventSenderStats",
    "LocalDecider",
    "LocalDecision",
    "LottyClient",
    "QueuedEvent",
    "RetryOptions",
    "backoff_delay",
    "exposure_properties",
    "is_retry_safe",
    "json_value",
]

# A library logs nothing unless the application configures logging.
logging.getLogger("lotty_client").addHandler(logging.NullHandler())
