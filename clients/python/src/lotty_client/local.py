"""LocalDecider: evaluates flags in this process with the Python decide core
(core/), from the configuration the server streams
(DecisionService/WatchConfiguration), as the Node client's createLocalDecider
does. See docs/local-evaluation.md.

- Sync: a background thread holds a WatchConfiguration stream; a dropped
  stream is reopened with backoff and jitter, telling the server the version
  held. After `stream_attempts_before_polling` failed attempts in a row it
  also polls GetConfiguration every `poll_interval` until a stream delivers
  again.
- Freshness: any message from the server confirms the configuration held;
  after `stale_after` seconds without one, `status()["state"]` is "stale"
  and decisions say `stale=True` (and keep coming from the last
  configuration).
- Formats 1 and 2 are read (2 adds ramp shares); a configuration of an
  unknown format is refused, and the previous one stays.
- Bootstrap: with `bootstrap_file`, a configuration saved by an earlier run
  (by this client or the Node client: same file format) is loaded at start,
  and each new one is saved to it atomically. The signing key is never
  written to disk.
- Decision ids: d2 ids signed with the key the stream delivers to
  ROLE_SERVICE keys; without a key `decision_id` is "" and expose() sends
  nothing.
- Exposures go through an EventSender, once per (subject, experiment,
  variant, experiment version), remembered in a bounded LRU set.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import grpc

from lotty.decision.v1 import decision_pb2, decision_pb2_grpc

from .core import LocalDecisionSigner, compile_snapshot, is_readable_format
from .core import decide as core_decide
from .core._js import to_number
from .core.decide import REASONS
from .events import EventSender
from .retry import backoff_delay

log = logging.getLogger("lotty_client.local")

#: Each stream's deadline (the server refuses deadlines over 5 minutes); the
#: stream is then reopened with the version held.
STREAM_DEADLINE = 240.0


class LocalDecision:
    """One flag's decision, as Decide gives it, plus the freshness of the
    configuration. The id is signed when `decision_id` is first read (signing
    costs more than deciding), and carries the time of that read."""

    __slots__ = (
        "flag_key",
        "value",
        "reason",
        "experiment_id",
        "variant_key",
        "stale",
        "config_version",
        "subject_id",
        "experiment_version",
        "_claims",
        "_signer",
        "_id",
    )

    def __init__(self, plain: Any, subject_id: str, signer: Any, stale: bool, config_version: str):
        #: The flag key.
        self.flag_key: str = plain.flag_key
        #: The value as JSON; None for FLAG_NOT_FOUND.
        self.value: Any = plain.value
        #: The DecisionReason number (decision_pb2.DecisionReason).
        self.reason: int = plain.reason
        self.experiment_id: str = plain.experiment_id
        self.variant_key: str = plain.variant_key
        #: The configuration was not confirmed by the server within stale_after.
        self.stale = stale
        #: The configuration version decided with.
        self.config_version = config_version
        self.subject_id = subject_id
        #: The experiment's configuration version (in the id), for exposure dedupe.
        self.experiment_version: int = plain.claims[4] if plain.claims is not None else 0
        self._claims = plain.claims
        self._signer = signer if plain.claims is not None else None
        self._id: Optional[str] = None

    @property
    def decision_id(self) -> str:
        """A local decision id (d2...); "" without a signing key or for FLAG_NOT_FOUND."""
        if self._id is None:
            self._id = self._signer.sign(*self._claims) if self._signer is not None else ""
        return self._id

    @property
    def signed(self) -> bool:
        """Whether decision_id is (or will be, when read) a signed id."""
        return self._signer is not None

    @property
    def reason_name(self) -> str:
        return REASONS[self.reason]

    def to_json(self) -> Dict[str, Any]:
        return {
            "flagKey": self.flag_key,
            "value": self.value,
            "reason": self.reason_name,
            "experimentId": self.experiment_id,
            "variantKey": self.variant_key,
            "decisionId": self.decision_id,
            "stale": self.stale,
            "configVersion": self.config_version,
            "subjectId": self.subject_id,
        }

    def __repr__(self) -> str:
        return f"LocalDecision({self.to_json()!r})"


def exposure_properties(
    attributes: Optional[Mapping[str, Any]],
    properties: Optional[Mapping[str, Any]] = None,
    expose_attributes: Any = True,
) -> Dict[str, Any]:
    """The exposure's properties, as the Node client builds them: the scalar
    attributes chosen (True: all, False: none, or a list of names), then the
    explicit properties over them."""
    out: Dict[str, Any] = {}
    if expose_attributes is not False and attributes:
        names = list(attributes) if expose_attributes is True else expose_attributes
        for name in names:
            if name not in attributes:
                continue
            value = attributes[name]
            if (
                isinstance(value, bool)
                or (to_number(value) is not None and math.isfinite(to_number(value)))
                or (isinstance(value, str) and len(value) <= 1000)
            ):
                out[name] = value
    out.update(properties or {})
    return out


class LocalDecider:
    """In-process decisions from the streamed configuration.

        decider = LocalDecider(client)          # a LottyClient with a ROLE_SERVICE key
        decider.wait_ready(timeout=10)
        [d] = decider.decide("user-1", {"country": "DE"}, ["checkout-button"])
        decider.expose(d)

    With `client=None` nothing is fetched: the decider answers from
    `bootstrap_file` alone (tests, or a configuration handed over out of
    band), signing with `signing_key` (key id, 32-byte secret) if given.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        bootstrap_file: Optional[str] = None,
        signing_key: Optional[Tuple[str, bytes]] = None,
        stale_after: float = 60.0,
        poll_interval: float = 10.0,
        stream_attempts_before_polling: int = 3,
        reconnect_initial_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
        stream_idle_timeout: float = 45.0,
        events: Optional[EventSender] = None,
        exposure_dedupe_size: int = 100_000,
    ):
        self._client = client
        self._bootstrap_file = bootstrap_file
        self._stale_after = stale_after
        self._poll_interval = poll_interval
        self._attempts_before_polling = stream_attempts_before_polling
        self._initial_delay = reconnect_initial_delay
        self._max_delay = reconnect_max_delay
        self._idle_timeout = stream_idle_timeout
        self._dedupe_size = exposure_dedupe_size
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._snapshot = None
        self._version = ""
        self._source = "none"
        self._last_update: Optional[float] = None
        self._heard = False
        self._polling = False
        self._refused: Optional[str] = None
        self._signer: Optional[LocalDecisionSigner] = None
        self._call: Any = None
        self._sender = events
        self._owns_sender = events is None
        self._exposed: "collections.OrderedDict[str, None]" = collections.OrderedDict()
        if signing_key is not None:
            self._signer = LocalDecisionSigner(signing_key[0], signing_key[1])
        if bootstrap_file is not None:
            self._load_bootstrap(bootstrap_file)
        self._threads: List[threading.Thread] = []
        if client is not None:
            self._stub = decision_pb2_grpc.DecisionServiceStub(client.plain_channel)
            self._start(self._run, "lotty-local-decider")

    # ------------------------------------------------------------ public API

    def wait_ready(self, timeout: Optional[float] = None) -> bool:
        """Waits until a configuration is held; False when `timeout` passed first."""
        return self._ready.wait(timeout)

    def decide(
        self,
        subject_id: str,
        attributes: Optional[Mapping[str, Any]] = None,
        flag_keys: Sequence[str] = (),
    ) -> List[LocalDecision]:
        """Decides in-process; every active flag (sorted by key) when no keys
        are given. Raises RuntimeError before a configuration is held."""
        snapshot, signer, stale = self._snapshot, self._signer, self._is_stale()
        if snapshot is None:
            raise RuntimeError("no configuration yet: wait_ready() before deciding")
        if not isinstance(subject_id, str) or subject_id == "":
            raise ValueError("subject_id is required")
        if isinstance(flag_keys, str):
            raise TypeError("flag_keys is a list of flag keys, not one string")
        version = snapshot.version
        out = [
            LocalDecision(d, subject_id, signer, stale, version)
            for d in core_decide(snapshot, subject_id, attributes, list(flag_keys))
        ]
        return out

    def expose(
        self,
        decision: LocalDecision,
        *,
        attributes: Optional[Mapping[str, Any]] = None,
        properties: Optional[Mapping[str, Any]] = None,
        expose_attributes: Any = True,
        exposure_event_type: str = "exposure",
    ) -> Optional[str]:
        """Queues the exposure of a decision that put the subject in a
        variant, once per (subject, experiment, variant, version); returns
        the event id or None when nothing was queued."""
        if decision.variant_key == "" or not decision.signed:
            return None
        key = "\0".join(
            [
                decision.subject_id,
                decision.experiment_id,
                decision.variant_key,
                str(decision.experiment_version),
            ]
        )
        with self._lock:
            if key in self._exposed:
                self._exposed.move_to_end(key)
                return None
            if self._sender is None:
                if self._client is None:
                    raise RuntimeError("no client to send exposures with")
                self._sender = EventSender(self._client)
            sender = self._sender
        event_id = sender.send(
            exposure_event_type,
            decision.decision_id,
            properties=exposure_properties(attributes, properties, expose_attributes),
        )
        if event_id is None:
            return None
        with self._lock:
            self._exposed[key] = None
            if len(self._exposed) > self._dedupe_size:
                self._exposed.popitem(last=False)
        return event_id

    def status(self) -> Dict[str, Any]:
        return {
            "state": "stale" if self._is_stale() else ("fresh" if self._heard else "connecting"),
            "version": self._version,
            "last_update_at": self._last_update,
            "source": self._source,
            "signing": self._signer is not None,
            "polling": self._polling,
        }

    def close(self) -> None:
        """Stops the stream and polling; sends queued exposures (a sender it
        created is closed)."""
        if self._closed.is_set():
            return
        self._closed.set()
        call = self._call
        if call is not None:
            call.cancel()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._sender is not None:
            if self._owns_sender:
                self._sender.close()
            else:
                self._sender.flush()

    def __enter__(self) -> "LocalDecider":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ state

    def _start(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _is_stale(self) -> bool:
        return self._last_update is not None and time.time() - self._last_update > self._stale_after

    def _confirmed(self) -> None:
        self._last_update = time.time()
        self._heard = True

    def _use_key(self, key: Any) -> None:
        if key is None or key.key_id == "" or len(key.secret) == 0:
            return
        try:
            self._signer = LocalDecisionSigner(key.key_id, key.secret)
        except ValueError as error:
            log.error("the server's signing key is unusable: %s", error)

    def _install(self, source: Mapping[str, Any], origin: str) -> None:
        snapshot = compile_snapshot(source)
        for kind, experiment_id in snapshot.problems:
            log.warning(
                "configuration %s: %s in experiment %s", snapshot.version, kind, experiment_id
            )
        self._snapshot = snapshot
        self._version = snapshot.version
        self._source = origin
        self._ready.set()

    def _apply(self, configuration: Any, origin: str) -> bool:
        """Applies a Configuration message; False when refused."""
        if configuration.version == self._version and self._snapshot is not None:
            self._source = origin
            return True
        try:
            if not is_readable_format(configuration.format):
                raise ValueError(f"format {configuration.format}")
            source = json.loads(configuration.source_json)
            if not is_readable_format(source.get("format")):
                raise ValueError(f"format {source.get('format')}")
            self._install(source, origin)
        except Exception as error:  # noqa: BLE001 - any unreadable configuration is refused
            if self._refused != configuration.version:
                log.error(
                    "configuration %s refused: %s; keeping %s",
                    configuration.version,
                    error,
                    self._version or "none",
                )
            self._refused = configuration.version
            return False
        self._refused = None
        if self._bootstrap_file is not None:
            self._save(self._bootstrap_file, source)
        return True

    # ------------------------------------------------------------ bootstrap file

    def _load_bootstrap(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            log.warning("bootstrap file %s unreadable: %s", path, error)
            return
        known = saved.get("lottyLocalConfiguration") == 1
        source = saved.get("source")
        readable = is_readable_format(saved.get("format")) and isinstance(source, dict)
        if not known or not readable or not is_readable_format(source.get("format")):
            log.warning("bootstrap file %s ignored: unknown format", path)
            return
        self._install(source, "bootstrap")
        self._last_update = saved.get("savedAt", 0) / 1000

    def _save(self, path: str, source: Mapping[str, Any]) -> None:
        saved = {
            "lottyLocalConfiguration": 1,
            "savedAt": int(time.time() * 1000),
            "version": source.get("version"),
            "format": source.get("format"),
            "source": source,
        }
        temporary = f"{path}.{os.getpid()}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(saved, f)
            os.replace(temporary, path)
        except OSError as error:
            log.warning("could not save the configuration to %s: %s", path, error)

    # ------------------------------------------------------------ sync

    def _run(self) -> None:
        failures = 0
        while not self._closed.is_set():
            delivered = self._stream_once()
            if self._closed.is_set():
                break
            failures = 1 if delivered else failures + 1
            if failures >= self._attempts_before_polling and not self._polling:
                self._polling = True
                log.warning("the configuration stream keeps failing; polling")
                self._start(self._poll, "lotty-local-decider-poll")
            self._closed.wait(backoff_delay(failures - 1, self._initial_delay, self._max_delay))

    def _stream_once(self) -> bool:
        delivered = False
        known = self._version if self._snapshot is not None else ""
        request = decision_pb2.WatchConfigurationRequest(known_version=known)
        idle: Optional[threading.Timer] = None
        try:
            call = self._stub.WatchConfiguration(request, timeout=STREAM_DEADLINE)
            self._call = call
            if self._closed.is_set():
                call.cancel()

            def arm() -> threading.Timer:
                timer = threading.Timer(self._idle_timeout, call.cancel)
                timer.daemon = True
                timer.start()
                return timer

            idle = arm()
            for message in call:
                idle.cancel()
                idle = arm()
                delivered = True
                self._polling = False
                if message.HasField("signing_key"):
                    self._use_key(message.signing_key)
                if message.HasField("configuration"):
                    if not self._apply(message.configuration, "stream"):
                        continue
                elif self._refused is not None or self._snapshot is None:
                    continue
                else:
                    self._source = "stream"
                self._confirmed()
        except grpc.RpcError as error:
            if not self._closed.is_set():
                code = error.code() if hasattr(error, "code") else None
                level = (
                    logging.ERROR
                    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
                    else logging.DEBUG
                )
                log.log(level, "configuration stream: %s", code)
        finally:
            if idle is not None:
                idle.cancel()
            self._call = None
        return delivered

    def _poll(self) -> None:
        while self._polling and not self._closed.is_set():
            try:
                known = self._version if self._snapshot is not None else ""
                answer = self._stub.GetConfiguration(
                    decision_pb2.GetConfigurationRequest(if_none_match=known), timeout=10.0
                )
                if answer.HasField("signing_key"):
                    self._use_key(answer.signing_key)
                if answer.HasField("configuration"):
                    if self._apply(answer.configuration, "poll"):
                        self._confirmed()
                elif answer.not_modified and self._refused is None:
                    self._confirmed()
            except grpc.RpcError as error:
                log.debug("GetConfiguration: %s", error)
            self._closed.wait(self._poll_interval)
