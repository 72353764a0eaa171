"""The Python client against a real Lotty (started by
test/clients/python-client.test.ts, which sets the LOTTY_E2E_* variables):
remote and local decisions agree, exposures (remote d1 ids and local d2 ids)
and conversions sent with the EventSender are counted by the report, retries
of safe calls repeat them and of unsafe ones do not, a lost answer to
IngestEvents is retried with the same event ids (counted once), and the
deadline covers every attempt.

Without the variables these tests are skipped; the jest test fails on any skip.
"""

import base64
import contextlib
import io
import json
import os
import pathlib
import socket
import tempfile
import threading
import time
import unittest
import uuid

import grpc
from google.protobuf import struct_pb2

from lotty.flags.v1 import flags_pb2
from lotty.reports.v1 import reports_pb2
from lotty_client import (
    EventSender,
    LocalDecider,
    LottyClient,
    RetryOptions,
    backoff_delay,
    is_retry_safe,
    json_value,
)

ENV = os.environ
TARGET = ENV.get("LOTTY_E2E_TARGET")
EXPERIMENT = 2  # DecisionReason.EXPERIMENT
TARGETING_MISMATCH = 3


def claims_of(decision_id):
    parts = decision_id.split(".")
    payload = parts[2] if parts[0] == "d2" else parts[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[:5]


class _Lost(grpc.RpcError, grpc.Call, grpc.Future):
    """What a call whose answer was lost looks like: UNAVAILABLE."""

    def code(self):
        return grpc.StatusCode.UNAVAILABLE

    def details(self):
        return "answer lost (test)"

    def result(self, timeout=None):
        raise self

    def exception(self, timeout=None):
        return self

    def traceback(self, timeout=None):
        return None

    def initial_metadata(self):
        return ()

    def trailing_metadata(self):
        return ()

    def time_remaining(self):
        return None

    def is_active(self):
        return False

    def cancel(self):
        return False

    def cancelled(self):
        return False

    def running(self):
        return False

    def done(self):
        return True

    def add_callback(self, callback):
        return False

    def add_done_callback(self, fn):
        fn(self)


class LostAnswers(grpc.UnaryUnaryClientInterceptor):
    """Lets every call reach the server, counts them by method, and reports
    the first `failures` of them as lost (UNAVAILABLE)."""

    def __init__(self, failures):
        self.failures = failures
        self.calls = {}

    def intercept_unary_unary(self, continuation, details, request):
        name = details.method.rsplit("/", 1)[-1]
        self.calls[name] = self.calls.get(name, 0) + 1
        outcome = continuation(details, request)
        outcome.result()  # the server did the work
        if self.failures > 0:
            self.failures -= 1
            return _Lost()
        return outcome


class FailStreams(grpc.UnaryStreamClientInterceptor):
    """Fails every server stream with UNAVAILABLE while `down`."""

    def __init__(self):
        self.down = True
        self.attempts = 0

    def intercept_unary_stream(self, continuation, details, request):
        if self.down:
            self.attempts += 1
            raise _Lost()
        return continuation(details, request)


@contextlib.contextmanager
def silent_server():
    """host:port of a socket that accepts connections and never answers."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    accepted = []
    stop = threading.Event()

    def accept():
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{silent.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        silent.close()


def wait_until(condition, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def report_of(admin, experiment_id):
    request = reports_pb2.GetExperimentReportRequest(experiment_id=experiment_id)
    return admin.reports.GetExperimentReport(request).report


@unittest.skipUnless(TARGET, "needs LOTTY_E2E_TARGET: run test/clients/python-client.test.ts")
class AgainstLotty(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.service = LottyClient(TARGET, ENV["LOTTY_E2E_SERVICE_KEY"])
        cls.admin = LottyClient(TARGET, ENV["LOTTY_E2E_ADMIN_KEY"])
        cls.flag = ENV["LOTTY_E2E_FLAG"]
        cls.targeted = ENV["LOTTY_E2E_TARGETED_FLAG"]
        # The report test's own flag and experiment, which no other test touches.
        cls.report_flag = ENV["LOTTY_E2E_REPORT_FLAG"]
        cls.report_experiment_id = ENV["LOTTY_E2E_REPORT_EXPERIMENT_ID"]

    @classmethod
    def tearDownClass(cls):
        cls.service.close()
        cls.admin.close()

    def test_remote_and_local_decisions_agree(self):
        with LocalDecider(self.service) as decider:
            self.assertTrue(decider.wait_ready(15), "no configuration from the stream")
            self.assertEqual(decider.status()["source"], "stream")
            self.assertTrue(decider.status()["signing"], "no signing key for a ROLE_SERVICE key")
            for i in range(200):
                subject = f"agree-{i}"
                attributes = {"country": "DE" if i % 2 == 0 else "FR"}
                keys = [self.flag, self.targeted, "no-such-flag"]
                remote = self.service.decide(subject, attributes, keys)
                local = decider.decide(subject, attributes, keys)
                self.assertEqual(
                    [(d.flag_key, d.reason, d.variant_key, d.experiment_id) for d in remote],
                    [(d.flag_key, d.reason, d.variant_key, d.experiment_id) for d in local],
                )
                self.assertEqual([json_value(d.value) for d in remote], [d.value for d in local])
                for r, l in zip(remote[:2], local[:2]):
                    self.assertTrue(r.decision_id.startswith("d1."))
                    self.assertTrue(l.decision_id.startswith("d2."))
                    self.assertEqual(claims_of(l.decision_id), claims_of(r.decision_id))
                self.assertEqual(local[0].reason, EXPERIMENT)
                self.assertEqual(local[1].reason, EXPERIMENT if i % 2 == 0 else TARGETING_MISMATCH)
                self.assertEqual(local[2].decision_id, "")
            everything = [d.flag_key for d in decider.decide("agree-all")]
            self.assertEqual(everything, sorted(everything))
            self.assertIn(self.flag, everything)

    def test_exposures_and_conversions_reach_the_report(self):
        subjects = int(ENV.get("LOTTY_E2E_SUBJECTS", "60"))
        flag = self.report_flag
        sender = EventSender(self.service, flush_interval=0.1, max_batch_size=25)
        decider = LocalDecider(self.service, events=sender)
        self.assertTrue(decider.wait_ready(15))
        exposures = conversions = 0
        by_variant = {}
        for i in range(subjects):
            subject = f"report-{i}"
            if i % 2 == 0:  # remote decision, exposure sent by hand (a d1 id)
                [d] = self.service.decide(subject, {"plan": "pro"}, [flag])
                self.assertTrue(sender.send("exposure", d.decision_id, properties={"plan": "pro"}))
            else:  # local decision, exposed by the decider (a d2 id), once
                [d] = decider.decide(subject, {"plan": "free"}, [flag])
                self.assertTrue(decider.expose(d, attributes={"plan": "free"}))
                self.assertIsNone(decider.expose(d), "exposed twice")
            self.assertEqual(d.reason, EXPERIMENT)
            exposures += 1
            by_variant[d.variant_key] = by_variant.get(d.variant_key, 0) + 1
            for _ in range(i % 3):
                self.assertTrue(sender.send("conversion", d.decision_id))
                conversions += 1
        decider.close()  # flushes the sender it was given
        sender.close()
        stats = sender.stats
        self.assertEqual(
            (stats.accepted, stats.duplicates, stats.rejected, stats.dropped, stats.buffered),
            (exposures + conversions, 0, 0, 0, 0),
        )
        self.assertEqual(sorted(by_variant), ["blue", "control"])

        def counted(report):
            per_variant = {v.variant_key: v.subjects for v in report.variants if v.subjects}
            converted = sum(
                m.value for v in report.variants for m in v.metrics if m.metric_key == "conversions"
            )
            return report.exposures, converted, per_variant

        deadline = time.time() + 30
        while True:
            got = counted(report_of(self.admin, self.report_experiment_id))
            if got == (exposures, conversions, by_variant):
                break
            if time.time() > deadline:
                self.fail(f"the report counts {got}, not {(exposures, conversions, by_variant)}")
            time.sleep(0.2)
        out = ENV.get("LOTTY_E2E_OUT")
        if out:
            with open(out, "w", encoding="utf-8") as f:
                json.dump(
                    {"exposures": exposures, "conversions": conversions, "byVariant": by_variant}, f
                )

    def test_the_readme_example_runs(self):
        readme = pathlib.Path(__file__).resolve().parents[1] / "README.md"
        text = readme.read_text(encoding="utf-8")
        block = text.split("```python\n", 1)[1].split("```", 1)[0]
        code = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
        self.assertLessEqual(len(code), 14, "the example grew")
        os.environ["LOTTY_TARGET"] = TARGET
        os.environ["LOTTY_API_KEY"] = ENV["LOTTY_E2E_SERVICE_KEY"]
        scope = {}
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            exec(block.replace('"checkout-button"', repr(self.flag)), scope)  # noqa: S102
        self.assertRegex(printed.getvalue(), r"^\"?(grey|blue)\"? (control|blue) d1\.")
        self.assertEqual(scope["decision"].reason, EXPERIMENT)
        self.assertTrue(scope["decision"].decision_id.startswith("d2."))
        stats = scope["events"].stats
        self.assertEqual((stats.accepted, stats.rejected, stats.dropped), (2, 0, 0))

    def test_safe_calls_are_retried_unsafe_ones_are_not(self):
        lost = LostAnswers(2)
        client = LottyClient(
            TARGET,
            ENV["LOTTY_E2E_ADMIN_KEY"],
            retry=RetryOptions(initial_delay=0.01),
            interceptors=[lost],
        )
        with client:
            [d] = client.decide("retried", None, [self.flag])
            self.assertEqual(d.reason, EXPERIMENT)
            self.assertEqual(lost.calls["Decide"], 3)
            lost.failures = 1
            key = f"py-{uuid.uuid4().hex[:10]}"
            with self.assertRaises(grpc.RpcError) as caught:
                client.flags.CreateFlag(
                    flags_pb2.CreateFlagRequest(
                        key=key,
                        type=flags_pb2.FLAG_TYPE_BOOL,
                        default_value=struct_pb2.Value(bool_value=False),
                    )
                )
            self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertEqual(lost.calls["CreateFlag"], 1)
        for name in ["GetFlag", "ListExperiments", "Decide", "IngestEvents", "GetExperimentReport"]:
            self.assertTrue(is_retry_safe(name), name)
        for name in ["CreateFlag", "UpdateFlag", "StartExperiment", "Getaway", "Listen"]:
            self.assertFalse(is_retry_safe(name), name)
        self.assertEqual(backoff_delay(0, 0.1, 2.0, lambda: 0), 0.05)
        self.assertEqual(backoff_delay(3, 0.1, 2.0, lambda: 1), 0.8)
        self.assertEqual(backoff_delay(10, 0.1, 2.0, lambda: 0), 1.0)

    def test_a_lost_ingest_answer_is_retried_with_the_same_event_ids(self):
        lost = LostAnswers(0)
        client = LottyClient(TARGET, ENV["LOTTY_E2E_SERVICE_KEY"], interceptors=[lost])
        with client:
            sender = EventSender(client, initial_retry_delay=0.01, flush_interval=60)
            ids = []
            for i in range(20):
                [d] = client.decide(f"lost-{uuid.uuid4().hex[:8]}-{i}", None, [self.flag])
                ids.append(sender.send("exposure", d.decision_id))
            lost.failures = 2  # the answers to the first two IngestEvents calls
            sender.close()
            self.assertEqual(len(set(ids)), 20)
            self.assertEqual(lost.calls["IngestEvents"], 3)
            stats = sender.stats
            # The first attempt stored them; the retries found duplicates.
            self.assertEqual((stats.accepted, stats.duplicates, stats.retries), (0, 20, 2))

    def test_the_deadline_covers_every_attempt(self):
        with silent_server() as target, LottyClient(target, "key", timeout=0.3) as client:
            started = time.monotonic()
            with self.assertRaises(grpc.RpcError) as caught:
                client.decide("s", None, ["f"])
            elapsed = time.monotonic() - started
        self.assertEqual(caught.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 3)

    def test_the_event_sender_reports_rejected_events_and_does_not_retry_them(self):
        rejected = []
        sender = EventSender(self.service, on_rejected=rejected.extend)
        [d] = self.service.decide(f"rejects-{uuid.uuid4().hex[:8]}", None, [self.flag])
        good = sender.send("exposure", d.decision_id)
        bad = sender.send("no_such_type", "forged.id")
        sender.close()
        stats = sender.stats
        self.assertEqual((stats.accepted, stats.rejected, stats.retries), (1, 1, 0))
        self.assertEqual([event.event_id for event, _ in rejected], [bad])
        self.assertNotEqual(rejected[0][1].message, "")
        self.assertNotEqual(good, bad)

    def test_the_event_sender_holds_at_most_max_buffered_events_and_says_why_it_drops(self):
        dropped = []
        with silent_server() as target, LottyClient(target, "key") as client:
            sender = EventSender(
                client,
                max_batch_size=1,
                max_buffered_events=1,
                max_attempts=1,
                call_timeout=0.5,
                on_dropped=lambda events, reason: dropped.append((events, reason.code)),
            )
            first = sender.send("exposure", "d-1")
            self.assertIsNotNone(first)
            self.assertIsNone(sender.send("exposure", "d-2"), "a full sender queued an event")
            sender.close()
            self.assertIsNone(sender.send("exposure", "d-3"), "a closed sender queued an event")
        codes = [(events[0].decision_id, code) for events, code in dropped]
        self.assertEqual(
            codes,
            [
                ("d-2", grpc.StatusCode.RESOURCE_EXHAUSTED),
                ("d-1", grpc.StatusCode.DEADLINE_EXCEEDED),
                ("d-3", grpc.StatusCode.FAILED_PRECONDITION),
            ],
        )
        self.assertEqual((sender.stats.dropped, sender.stats.buffered), (3, 0))

    def test_the_local_decider_polls_while_the_stream_fails_then_goes_back_to_it(self):
        streams = FailStreams()
        client = LottyClient(TARGET, ENV["LOTTY_E2E_SERVICE_KEY"], interceptors=[streams])
        decider = LocalDecider(
            client,
            stream_attempts_before_polling=2,
            reconnect_initial_delay=0.05,
            reconnect_max_delay=0.2,
            poll_interval=0.2,
        )
        try:
            self.assertTrue(decider.wait_ready(10))
            status = decider.status()
            self.assertEqual((status["source"], status["polling"]), ("poll", True))
            self.assertTrue(status["signing"], "GetConfiguration gives ROLE_SERVICE keys a key")
            self.assertGreaterEqual(streams.attempts, 2)
            [d] = decider.decide("polled", None, [self.flag])
            self.assertEqual(d.reason, EXPERIMENT)
            self.assertTrue(d.decision_id.startswith("d2."))
            streams.down = False
            wait_until(lambda: decider.status()["source"] == "stream", "the stream again")
            wait_until(lambda: not decider.status()["polling"], "polling to stop")
            self.assertEqual(decider.status()["state"], "fresh")
        finally:
            decider.close()
            client.close()

    def test_the_bootstrap_file_serves_while_the_server_is_unreachable_and_turns_stale(self):
        path = ENV.get("LOTTY_E2E_BOOTSTRAP") or os.path.join(
            tempfile.mkdtemp(prefix="lotty-bootstrap-"), "configuration.json"
        )
        with LocalDecider(self.service, bootstrap_file=path) as online:
            self.assertTrue(online.wait_ready(10))
            wait_until(lambda: os.path.exists(path), "the configuration to be saved")
            version = online.status()["version"]
            expected = [(d.value, d.reason, d.variant_key) for d in online.decide("boot", None, [self.flag])]
        with silent_server() as target, LottyClient(target, "key") as dead:
            offline = LocalDecider(
                dead, bootstrap_file=path, stale_after=0.5, stream_attempts_before_polling=10**6
            )
            try:
                self.assertTrue(offline.wait_ready(0), "the bootstrap file was not loaded")
                status = offline.status()
                self.assertEqual((status["source"], status["version"]), ("bootstrap", version))
                [d] = offline.decide("boot", None, [self.flag])
                self.assertEqual([(d.value, d.reason, d.variant_key)], expected)
                wait_until(lambda: offline.status()["state"] == "stale", "stale", timeout=5)
                self.assertTrue(offline.decide("boot", None, [self.flag])[0].stale)
            finally:
                offline.close()


if __name__ == "__main__":
    unittest.main()
