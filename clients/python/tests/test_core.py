"""The Python decide core against the published vectors (no server):
bucketing.json (hash, bucket, layout), decide.json and decide-generated.json
(whole decisions, decision-id claims included), and the targeting language's
accept/refuse and edge semantics. The jest test test/vectors/conformance.test.ts
runs the same vectors through decide-runner.mjs and random ones besides."""

import base64
import json
import os
import pathlib
import tempfile
import time
import unittest
import uuid

from lotty_client.core import (
    LocalDecisionSigner,
    RuleSyntaxError,
    assign_variant,
    bucket_of,
    compile_snapshot,
    decide,
    murmur3_32,
    parse_rule,
    ramp_ranges,
    variant_ranges,
)
from lotty_client.core._js import utf8

VECTORS = pathlib.Path(
    os.environ.get(
        "LOTTY_VECTORS_DIR", pathlib.Path(__file__).resolve().parents[3] / "test" / "vectors"
    )
)


def claims_of(decision_id):
    if decision_id == "":
        return None
    parts = decision_id.split(".")
    payload = parts[2] if parts[0] == "d2" else parts[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[:5]


class BucketingVectors(unittest.TestCase):
    def test_every_vector(self):
        doc = json.loads((VECTORS / "bucketing.json").read_text(encoding="utf-8"))
        self.assertGreater(len(doc["vectors"]), 10)
        for v in doc["vectors"]:
            with self.subTest(salt=v["salt"], subject=v["subjectId"]):
                self.assertEqual(murmur3_32(utf8(v["salt"] + ":" + v["subjectId"])), v["hash"])
                self.assertEqual(bucket_of(v["salt"], v["subjectId"]), v["bucket"])
                ranges = variant_ranges(v["weights"], v["audiencePercent"])
                self.assertEqual(assign_variant(v["bucket"], ranges), v["variant"])

    def test_layouts_the_server_refuses(self):
        for variants, audience in [
            ([], 100),
            ([{"key": "a", "weight": 50}], 100),
            ([{"key": "a", "weight": 50.001}, {"key": "b", "weight": 49.999}], 100),
            ([{"key": "a", "weight": 101}], 101),
            ([{"key": "a", "weight": "50"}, {"key": "b", "weight": 50}], 100),
        ]:
            with self.assertRaises(ValueError):
                variant_ranges(variants, audience)


class RampRanges(unittest.TestCase):
    """rampRanges of bucketing.ts: test/decision/bucketing.test.ts has the same cases."""

    base = variant_ranges(
        [{"key": "control", "weight": 10}, {"key": "a", "weight": 5}, {"key": "b", "weight": 5}],
        20,
    )

    @staticmethod
    def included(ranges):
        return [r.included_end - r.start for r in ranges]

    def test_cuts_each_included_part_and_keeps_the_slices(self):
        ramped = ramp_ranges(self.base, 12.5)
        self.assertEqual(
            [(r.key, r.start, r.slice_end, r.included_end) for r in ramped],
            [("control", 0, 5000, 125), ("a", 5000, 7500, 5062), ("b", 7500, 10000, 7562)],
        )
        self.assertEqual(assign_variant(124, ramped), "control")
        self.assertIsNone(assign_variant(125, ramped))

    def test_edges(self):
        self.assertEqual(ramp_ranges(self.base, 100), self.base)
        self.assertEqual(self.included(ramp_ranges(self.base, 0)), [0, 0, 0])
        whole = variant_ranges([{"key": "only", "weight": 100}], 100)
        self.assertEqual(self.included(ramp_ranges(whole, 0.01)), [1])
        self.assertEqual(self.included(ramp_ranges(whole, 99.99)), [9999])
        for ramp in [0.07, 0.29, 1.15, 33.33, 57.01, 99.99]:
            control = self.included(ramp_ranges(self.base, ramp))[0]
            self.assertEqual(control, round(ramp * 100) // 10)

    def test_ramps_the_server_refuses(self):
        for ramp in [-0.01, -1, float("nan"), float("inf"), 100.01, 150, 12.345, 0.001, "50", True]:
            with self.subTest(ramp=ramp), self.assertRaises(ValueError):
                ramp_ranges(self.base, ramp)

    def test_compile_applies_the_ramp_and_leaves_out_an_invalid_one(self):
        def source(**ramp):
            return {
                "format": 2,
                "version": "ramp",
                "flags": [{"key": "f", "type": "string", "defaultValue": "d", "archived": False}],
                "experiments": [
                    {
                        "id": "exp-ramp",
                        "flagKey": "f",
                        "status": "running",
                        "version": 1,
                        "rolledBack": False,
                        "audiencePercent": 100,
                        "variants": [
                            {"key": "control", "value": "c", "weight": 50, "control": True},
                            {"key": "t", "value": "t", "weight": 50, "control": False},
                        ],
                        "targetingRule": "",
                        "conflictDomains": [],
                        "priority": 0,
                        "startedAt": 0,
                        **ramp,
                    }
                ],
                "recentlyCompleted": [],
                "policy": {"maxConcurrentExperiments": 0, "cooldownSeconds": 0},
                "knownExperimentIds": ["exp-ramp"],
                "eventTypes": [],
            }

        def ranges(s):
            return [(r.start, r.included_end) for r in compile_snapshot(s).live[0].ranges]

        self.assertEqual(ranges(source(rampPercent=20)), [(0, 1000), (5000, 6000)])
        self.assertEqual(ranges(source()), [(0, 5000), (5000, 10000)])
        self.assertEqual(ranges(source(rampPercent=None)), [(0, 5000), (5000, 10000)])
        refused = compile_snapshot(source(rampPercent=100.5))
        self.assertEqual(refused.live, [])
        self.assertEqual(refused.problems, [("invalid_layout", "exp-ramp")])


class Formats(unittest.TestCase):
    """A LocalDecider reads formats 1 and 2 (bootstrap files and configurations), not 3."""

    @staticmethod
    def source(fmt):
        return {
            "format": fmt,
            "version": f"formats-{fmt}",
            "flags": [{"key": "f", "type": "string", "defaultValue": "d", "archived": False}],
            "experiments": [],
            "recentlyCompleted": [],
            "policy": {"maxConcurrentExperiments": 0, "cooldownSeconds": 0},
            "knownExperimentIds": [],
            "eventTypes": [],
        }

    def from_file(self, fmt):
        from lotty_client import LocalDecider

        path = os.path.join(tempfile.mkdtemp(prefix="lotty-formats-"), "config.json")
        source = self.source(fmt)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "lottyLocalConfiguration": 1,
                    "savedAt": int(time.time() * 1000),
                    "version": source["version"],
                    "format": fmt,
                    "source": source,
                },
                f,
            )
        decider = LocalDecider(None, bootstrap_file=path)
        self.addCleanup(decider.close)
        return decider

    def test_bootstrap_files(self):
        for fmt in (1, 2):
            with self.subTest(format=fmt):
                self.assertTrue(self.from_file(fmt).wait_ready(0))
        with self.assertLogs("lotty_client.local", "WARNING"):
            self.assertFalse(self.from_file(3).wait_ready(0))

    def test_configurations(self):
        from lotty.decision.v1 import decision_pb2

        decider = self.from_file(1)
        for fmt, accepted in ((2, True), (1, True), (3, False)):
            with self.subTest(format=fmt):
                source = dict(self.source(fmt), version=f"streamed-{fmt}")
                configuration = decision_pb2.Configuration(
                    version=source["version"], format=fmt, source_json=json.dumps(source)
                )
                if accepted:
                    self.assertTrue(decider._apply(configuration, "stream"))
                    self.assertEqual(decider.status()["version"], source["version"])
                else:
                    with self.assertLogs("lotty_client.local", "ERROR"):
                        self.assertFalse(decider._apply(configuration, "stream"))


class DecideVectors(unittest.TestCase):
    def check(self, name):
        doc = json.loads((VECTORS / name).read_text(encoding="utf-8"))
        signer = LocalDecisionSigner(str(uuid.uuid4()), os.urandom(32))
        checked = 0
        for case in doc["cases"]:
            snapshot = compile_snapshot(case["configuration"])
            for request in case["requests"]:
                got = decide(
                    snapshot,
                    request["subjectId"],
                    request.get("attributes"),
                    request.get("flagKeys", []),
                )
                actual = [
                    {
                        "flagKey": d.flag_key,
                        "value": d.value,
                        "reason": d.reason_name,
                        "variantKey": d.variant_key,
                        "experimentId": d.experiment_id,
                        "claims": claims_of(signer.sign(*d.claims) if d.claims else ""),
                    }
                    for d in got
                ]
                self.assertEqual(actual, request["expected"], f"{case['name']} / {request}")
                checked += 1
        return checked

    def test_decide_json(self):
        self.assertEqual(self.check("decide.json"), 207)

    def test_decide_generated_json(self):
        self.assertGreater(self.check("decide-generated.json"), 100)


class Targeting(unittest.TestCase):
    def test_accepts_what_the_server_accepts(self):
        for rule in [
            "",
            'country IN ["RU","KZ"] AND app_version >= "1.6.0"',
            "NOT (age < 18) or beta == TRUE",
            "signup >= 2026-01-01",
            'tags CONTAINS "vip" AND email STARTS_WITH "a"',
            "x NOT IN [1, 2.5, -3e2]",
        ]:
            with self.subTest(rule=rule):
                parse_rule(rule)

    def test_refuses_what_the_server_refuses(self):
        for rule in [
            "country ==",
            'country = "RU"',
            "age > true",
            'signup > "2026-01-01"',
            "x IN []",
            'x == "a\\n"',
            "1.2.3 == x",
            "x == 1.2.3",
            "x == 2026-02-30",
            "(" * 33 + "a == 1" + ")" * 33,
            "in == 1",
            'x == "' + "a" * 1025 + '"',
        ]:
            with self.subTest(rule=rule), self.assertRaises(RuleSyntaxError):
                parse_rule(rule)

    def test_javascript_semantics(self):
        self.assertTrue(parse_rule("n == 1")({"n": 1}))
        self.assertFalse(parse_rule("n == 1")({"n": True}))
        self.assertFalse(parse_rule("b == true")({"b": 1}))
        self.assertTrue(parse_rule("n IN [9007199254740992]")({"n": 9007199254740993}))
        self.assertTrue(parse_rule('v >= "1.6"')({"v": "1.6.0"}))
        self.assertFalse(parse_rule('v >= "1.6"')({"v": "1.6.0-beta"}))
        # JavaScript orders by UTF-16 code units: U+FF5E comes after U+1F600
        # (whose first unit is 0xD83D), although it comes before in code points.
        self.assertFalse(parse_rule('s < "\U0001F600"')({"s": "\uff5e"}))
        self.assertTrue(parse_rule('s > "\U0001F600"')({"s": "\uff5e"}))
        self.assertFalse(parse_rule("x != 1")({}))
        self.assertFalse(parse_rule("x NOT IN [1]")({"x": None}))


if __name__ == "__main__":
    unittest.main()
