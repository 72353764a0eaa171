"""LottyClient: one gRPC channel, a stub for every Lotty service, the API key
as `authorization: Bearer <key>` on every call, a default deadline on unary
calls and retries of the calls that are safe to repeat (retry.py). The
deadline covers every attempt: when it expires the last error is raised,
never a late retry."""

from __future__ import annotations

import collections
import time
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import grpc
from google.protobuf import json_format

from lotty.access.v1 import access_pb2_grpc
from lotty.catalog.v1 import catalog_pb2_grpc
from lotty.decision.v1 import decision_pb2, decision_pb2_grpc
from lotty.events.v1 import events_pb2_grpc
from lotty.experiments.v1 import experiments_pb2_grpc
from lotty.flags.v1 import flags_pb2_grpc
from lotty.guardrails.v1 import guardrails_pb2_grpc
from lotty.learnings.v1 import learnings_pb2_grpc
from lotty.notifications.v1 import notifications_pb2_grpc
from lotty.reports.v1 import reports_pb2_grpc

from .retry import RetryOptions, backoff_delay, is_retry_safe

DEFAULT_TIMEOUT = 5.0


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


def _with(details: grpc.ClientCallDetails, **changes: Any) -> _CallDetails:
    fields = {
        "method": details.method,
        "timeout": details.timeout,
        "metadata": details.metadata,
        "credentials": details.credentials,
        "wait_for_ready": getattr(details, "wait_for_ready", None),
        "compression": getattr(details, "compression", None),
    }
    fields.update(changes)
    return _CallDetails(**fields)


class BearerAuth(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <api key>` to every call."""

    def __init__(self, api_key: str):
        self._header = ("authorization", f"Bearer {api_key}")

    def _details(self, details):
        metadata = [m for m in (details.metadata or ()) if m[0] != "authorization"]
        return _with(details, metadata=[*metadata, self._header])

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)


class DeadlineAndRetry(grpc.UnaryUnaryClientInterceptor):
    """A default deadline for unary calls without one, and retries of safe
    calls failing with a retryable code within that deadline."""

    def __init__(self, timeout: Optional[float], retry: Optional[RetryOptions]):
        self._timeout = timeout
        self._retry = retry

    def intercept_unary_unary(self, continuation, details, request):
        timeout = details.timeout if details.timeout is not None else self._timeout
        retry = self._retry
        if retry is None or not is_retry_safe(details.method):
            return continuation(_with(details, timeout=timeout), request)
        deadline = None if timeout is None else time.monotonic() + timeout
        attempt = 0
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            outcome = continuation(_with(details, timeout=remaining), request)
            code = outcome.code()
            if code == grpc.StatusCode.OK or code not in retry.codes:
                return outcome
            if attempt >= retry.max_retries:
                return outcome
            delay = backoff_delay(attempt, retry.initial_delay, retry.max_delay)
            if deadline is not None and time.monotonic() + delay >= deadline:
                return outcome
            time.sleep(delay)
            attempt += 1


class LottyClient:
    """Stubs for every Lotty service over one channel.

        lotty = LottyClient("127.0.0.1:8080", api_key="lotty_...")
        response = lotty.decision.Decide(DecideRequest(subject_id="u1", flag_keys=["f"]))

    `target` is host:port. `root_certificates` (PEM bytes) or `secure=True`
    use TLS; otherwise plaintext HTTP/2. `timeout` (seconds) is the default
    deadline of unary calls, retries included (None: none); `retry=None`
    turns retries off. Extra `interceptors` (grpc client interceptors) run
    inside the auth, deadline and retry ones, once per attempt.
    """

    def __init__(
        self,
        target: str,
        api_key: Optional[str] = None,
        *,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        retry: Optional[RetryOptions] = RetryOptions(),
        secure: bool = False,
        root_certificates: Optional[bytes] = None,
        options: Sequence[Tuple[str, Any]] = (),
        interceptors: Sequence[Any] = (),
    ):
        if secure or root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self.channel = grpc.secure_channel(target, credentials, options=list(options))
        else:
            self.channel = grpc.insecure_channel(target, options=list(options))
        inner = grpc.intercept_channel(self.channel, *interceptors)
        base = [BearerAuth(api_key)] if api_key is not None else []
        #: Auth and the default deadline, no retries: for callers that retry
        #: themselves (the event sender) and for streams.
        self.plain_channel = grpc.intercept_channel(inner, *base, DeadlineAndRetry(timeout, None))
        channel = grpc.intercept_channel(inner, *base, DeadlineAndRetry(timeout, retry))
        self.access = access_pb2_grpc.AccessServiceStub(channel)
        self.flags = flags_pb2_grpc.FlagServiceStub(channel)
        self.experiments = experiments_pb2_grpc.ExperimentServiceStub(channel)
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        self.decision = decision_pb2_grpc.DecisionServiceStub(channel)
        self.events = events_pb2_grpc.EventServiceStub(channel)
        self.reports = reports_pb2_grpc.ReportServiceStub(channel)
        self.guardrails = guardrails_pb2_grpc.GuardrailServiceStub(channel)
        self.notifications = notifications_pb2_grpc.NotificationServiceStub(channel)
        self.learnings = learnings_pb2_grpc.LearningServiceStub(channel)

    def decide(
        self,
        subject_id: str,
        attributes: Optional[Mapping[str, Any]] = None,
        flag_keys: Sequence[str] = (),
        timeout: Optional[float] = None,
    ) -> List[decision_pb2.Decision]:
        """Decide over the network: the decisions, in `flag_keys` order (every
        active flag, sorted, when empty). `json_value(d.value)` is a value
        as JSON."""
        if isinstance(flag_keys, str):
            raise TypeError("flag_keys is a list of flag keys, not one string")
        request = decision_pb2.DecideRequest(subject_id=subject_id, flag_keys=list(flag_keys))
        if attributes:
            request.attributes.update(dict(attributes))
        return list(self.decision.Decide(request, timeout=timeout).decisions)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "LottyClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def json_value(value: Any) -> Any:
    """A google.protobuf.Value (a Decision's value) as plain JSON; None when
    unset (FLAG_NOT_FOUND)."""
    if value is None or value.WhichOneof("kind") is None:
        return None
    return json_format.MessageToDict(value)
