"""The Python decide core against the published vectors (no server):
bucketing.json (hash, bucket, layout), decide.json and decide-generated.json
(whole decisions, decision-id claims included), and the targeting language's
accept/refuse and edge semantics. The jest test test/vectors/conformance.test.ts
runs the same vectors through decide-runner.mjs and random ones besides."""

import base64
import json
import os
import pathlib
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
        self.assertEqual(self.check("decide.json"), 147)

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
