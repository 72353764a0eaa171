"""EventSender: queues events and sends them to IngestEvents in batches, from
a background thread (the Node client's EventSender, in Python).

- A batch leaves when `max_batch_size` events wait or `flush_interval`
  seconds after the last send; one batch is in flight at a time, so events
  leave in the order they were queued.
- Every event gets its event id when queued (a UUID unless given) and keeps
  it through every retry: the server counts a repeat as a duplicate, so a
  retry after a lost answer never counts an event twice.
- UNAVAILABLE, RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED are retried with
  exponential backoff and jitter, up to `max_attempts`; other failures of the
  call, and events still failing after the last attempt, go to `on_dropped`.
  Events the server refuses one by one go to `on_rejected`, not retried.
- At most `max_buffered_events` are held, in flight included; `send` on a
  full or closed sender returns None and reports the event to `on_dropped`.
"""

from __future__ import annotations

import datetime as _dt
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Optional

import grpc
from google.protobuf import struct_pb2, timestamp_pb2

from lotty.events.v1 import events_pb2, events_pb2_grpc

from .retry import backoff_delay

MAX_BATCH_SIZE = 1000
_RETRYABLE = frozenset(
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ]
)


@dataclass(frozen=True)
class QueuedEvent:
    event_id: str
    event_type: str
    decision_id: str
    occurred_at: _dt.datetime
    properties: Optional[Mapping[str, Any]] = None


@dataclass
class EventSenderStats:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    dropped: int = 0
    retries: int = 0
    #: Events queued or in flight now.
    buffered: int = 0


@dataclass(frozen=True)
class DroppedReason:
    code: grpc.StatusCode
    message: str


class EventSender:
    """Batches events to EventService/IngestEvents.

    `events` is an EventService stub that does not retry by itself: pass a
    LottyClient (its retry-free channel is used) or a stub."""

    def __init__(
        self,
        events: Any,
        *,
        max_batch_size: int = 500,
        flush_interval: float = 1.0,
        max_buffered_events: int = 10_000,
        max_attempts: int = 8,
        initial_retry_delay: float = 0.2,
        max_retry_delay: float = 10.0,
        call_timeout: float = 10.0,
        on_rejected: Optional[Callable[[List[tuple]], None]] = None,
        on_dropped: Optional[Callable[[List[QueuedEvent], DroppedReason], None]] = None,
    ):
        if hasattr(events, "plain_channel"):
            events = events_pb2_grpc.EventServiceStub(events.plain_channel)
        if not isinstance(max_batch_size, int) or not 1 <= max_batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"max_batch_size must be an integer from 1 to {MAX_BATCH_SIZE}")
        if not isinstance(max_buffered_events, int) or max_buffered_events < max_batch_size:
            raise ValueError("max_buffered_events must be an integer of at least max_batch_size")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError("max_attempts must be a positive integer")
        self._stub = events
        self._max_batch = max_batch_size
        self._interval = flush_interval
        self._max_buffered = max_buffered_events
        self._max_attempts = max_attempts
        self._initial_delay = initial_retry_delay
        self._max_delay = max_retry_delay
        self._call_timeout = call_timeout
        self._on_rejected = on_rejected
        self._on_dropped = on_dropped
        self._queue: List[QueuedEvent] = []
        self._in_flight = 0
        self._closed = False
        self._aborted = threading.Event()
        self._totals = EventSenderStats()
        self._lock = threading.Condition()
        self._wake = False
        self._thread = threading.Thread(target=self._run, name="lotty-event-sender", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ public API

    def send(
        self,
        event_type: str,
        decision_id: str,
        *,
        properties: Optional[Mapping[str, Any]] = None,
        occurred_at: Optional[_dt.datetime] = None,
        event_id: Optional[str] = None,
    ) -> Optional[str]:
        """Queues one event; returns its event id, or None when the sender is
        full or closed (the event then goes to on_dropped)."""
        queued = QueuedEvent(
            event_id=event_id or str(uuid.uuid4()),
            event_type=event_type,
            decision_id=decision_id,
            occurred_at=occurred_at or _dt.datetime.now(_dt.timezone.utc),
            properties=properties,
        )
        with self._lock:
            if self._closed:
                reason = DroppedReason(grpc.StatusCode.FAILED_PRECONDITION, "the sender is closed")
            elif len(self._queue) + self._in_flight >= self._max_buffered:
                reason = DroppedReason(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"the event sender holds {self._max_buffered} events already",
                )
            else:
                self._queue.append(queued)
                if len(self._queue) >= self._max_batch:
                    self._wake = True
                    self._lock.notify_all()
                return queued.event_id
        self._drop([queued], reason)
        return None

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Sends everything queued so far and waits until it is answered;
        returns False if `timeout` (seconds) passed first."""
        with self._lock:
            self._wake = True
            self._lock.notify_all()
            return self._lock.wait_for(
                lambda: not self._queue and self._in_flight == 0, timeout=timeout
            )

    def close(self, timeout: Optional[float] = None) -> None:
        """Refuses new events and sends what is queued. With `timeout`, gives
        up after that long: what is still unsent goes to on_dropped."""
        with self._lock:
            self._closed = True
        if not self.flush(timeout):
            self._aborted.set()
        with self._lock:
            self._lock.notify_all()
        self._thread.join(timeout=None if timeout is None else max(timeout, 1.0))
        with self._lock:
            left, self._queue = self._queue, []
        if left:
            self._drop(left, DroppedReason(grpc.StatusCode.DEADLINE_EXCEEDED, "closing: gave up"))

    @property
    def stats(self) -> EventSenderStats:
        with self._lock:
            t = self._totals
            return EventSenderStats(
                t.accepted,
                t.duplicates,
                t.rejected,
                t.dropped,
                t.retries,
                len(self._queue) + self._in_flight,
            )

    def __enter__(self) -> "EventSender":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(
                    lambda: self._wake or self._closed or self._aborted.is_set(),
                    timeout=self._interval,
                )
                self._wake = False
                if self._aborted.is_set() or (self._closed and not self._queue):
                    self._lock.notify_all()
                    return
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                self._in_flight = len(batch)
                if self._queue:
                    self._wake = True
            if batch:
                try:
                    self._deliver(batch)
                finally:
                    with self._lock:
                        self._in_flight = 0
                        self._lock.notify_all()

    def _request(self, batch: List[QueuedEvent]) -> events_pb2.IngestEventsRequest:
        request = events_pb2.IngestEventsRequest()
        for e in batch:
            occurred = timestamp_pb2.Timestamp()
            occurred.FromDatetime(e.occurred_at.astimezone(_dt.timezone.utc).replace(tzinfo=None))
            event = request.events.add(
                event_id=e.event_id,
                event_type=e.event_type,
                decision_id=e.decision_id,
                occurred_at=occurred,
            )
            if e.properties is not None:
                properties = struct_pb2.Struct()
                properties.update(dict(e.properties))
                event.properties.CopyFrom(properties)
        return request

    def _deliver(self, batch: List[QueuedEvent]) -> None:
        request = self._request(batch)
        attempt = 1
        while True:
            try:
                response = self._stub.IngestEvents(request, timeout=self._call_timeout)
            except grpc.RpcError as error:
                code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
                details = error.details() if hasattr(error, "details") else str(error)
                last = attempt >= self._max_attempts or self._aborted.is_set()
                if code not in _RETRYABLE or last:
                    self._drop(batch, DroppedReason(code, details or ""))
                    return
                with self._lock:
                    self._totals.retries += 1
                delay = backoff_delay(attempt - 1, self._initial_delay, self._max_delay)
                if self._aborted.wait(delay):
                    self._drop(batch, DroppedReason(grpc.StatusCode.CANCELLED, "closing"))
                    return
                attempt += 1
                continue
            with self._lock:
                self._totals.accepted += response.accepted
                self._totals.duplicates += response.duplicates
                self._totals.rejected += response.rejected
            if response.errors and self._on_rejected is not None:
                self._on_rejected(
                    [(batch[e.index], e) for e in response.errors if 0 <= e.index < len(batch)]
                )
            return

    def _drop(self, events: List[QueuedEvent], reason: DroppedReason) -> None:
        with self._lock:
            self._totals.dropped += len(events)
        if self._on_dropped is not None:
            self._on_dropped(events, reason)
