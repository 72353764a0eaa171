/**
 * The fast path's DecideRequest reader (src/decision/decide-request-json.ts)
 * must accept and reject exactly what protobuf's fromJsonString does, with
 * the same result and the same error, on the common shape and on
 * everything around it: both spellings, unknown fields, duplicate keys at
 * any depth, nulls, nested attributes, escapes, whitespace, bad JSON.
 */
import { describe, expect, it } from "@jest/globals";
import { fromJsonString } from "@bufbuild/protobuf";
import fc from "fast-check";
import { DecideRequestSchema } from "../../gen/lotty/decision/v1/decision_pb.js";
import { parseDecideRequestJson, readCommonShape } from "../../src/decision/decide-request-json.js";

type Outcome =
  { ok: { subjectId: string; attributes: unknown; flagKeys: string[] } } | { error: string };

function outcome(
  read: () => { subjectId: string; attributes?: unknown; flagKeys: readonly string[] },
): Outcome {
  try {
    const r = read();
    return { ok: { subjectId: r.subjectId, attributes: r.attributes, flagKeys: [...r.flagKeys] } };
  } catch (error) {
    return { error: String(error) };
  }
}

function expectSame(text: string): Outcome {
  const reference = outcome(() => fromJsonString(DecideRequestSchema, text));
  const ours = outcome(() => parseDecideRequestJson(text));
  expect({ text, ours }).toEqual({ text, ours: reference });
  return ours;
}

const key = fc.constantFrom(
  "subjectId",
  "subject_id",
  "flagKeys",
  "flag_keys",
  "attributes",
  "unknownField",
  "__proto__",
);
const tricky = fc.constantFrom('a"b', "a\\b", "a:b", "\\\\", "é", "\u2028", "\ud800", ":", '"\\"');
const text = fc.oneof(fc.string({ maxLength: 8 }), tricky);
const wellFormed = text.filter((s) => s.isWellFormed() && s !== "__proto__");
const scalar = fc.oneof(
  text,
  fc.boolean(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constant(null),
);
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(fc.oneof(text, key), tie("value"), { maxKeys: 3 }),
  ),
})).value;

/** A JSON object written by hand, so keys can repeat and spacing vary. */
function objectText(members: [string, string][], space: string): string {
  return `{${space}${members.map(([k, v]) => `${JSON.stringify(k)}${space}:${space}${v}`).join(`,${space}`)}${space}}`;
}

const attributesText = fc.oneof(
  // Flat attributes, sometimes with a repeated name.
  fc
    .array(fc.tuple(fc.oneof(text, fc.constantFrom("country", "platform", "__proto__")), scalar), {
      maxLength: 4,
    })
    .chain((members) =>
      fc.boolean().map((repeat) =>
        objectText(
          (repeat && members.length > 0 ? [...members, members[0]!] : members).map(([k, v]) => [
            k,
            JSON.stringify(v),
          ]),
          "",
        ),
      ),
    ),
  json.map((v) => JSON.stringify(v) ?? "null"),
);

const member = fc.oneof(
  fc.tuple(
    fc.constantFrom("subjectId", "subject_id"),
    fc.oneof(text, scalar).map((v) => JSON.stringify(v)),
  ),
  fc.tuple(
    fc.constantFrom("flagKeys", "flag_keys"),
    fc.oneof(fc.array(text, { maxLength: 4 }), json).map((v) => JSON.stringify(v) ?? "null"),
  ),
  fc.tuple(fc.constant("attributes"), attributesText),
  fc.tuple(
    key,
    json.map((v) => JSON.stringify(v) ?? "null"),
  ),
);

const body = fc.tuple(fc.array(member, { maxLength: 5 }), fc.constantFrom("", " ", "\n\t"));

describe("the fast path's DecideRequest reader", () => {
  it("answers as fromJsonString on random bodies", () => {
    fc.assert(
      fc.property(body, ([members, space]) => {
        expectSame(objectText(members, space));
      }),
      { numRuns: 20_000 },
    );
  });

  it("answers as fromJsonString on the common shape, which it reads itself", () => {
    fc.assert(
      fc.property(
        wellFormed,
        fc.dictionary(
          fc.oneof(wellFormed, fc.constantFrom("country", "app_version")),
          fc.oneof(wellFormed, fc.boolean(), fc.integer()),
          { maxKeys: 4 },
        ),
        fc.array(wellFormed, { maxLength: 4 }),
        (subjectId, attributes, flagKeys) => {
          const body = JSON.stringify({ subjectId, attributes, flagKeys });
          expectSame(body);
          expect(readCommonShape(body)).toBeDefined();
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it.each([
    ['{"subjectId":"u","subjectId":"v"}'],
    ['{"subjectId":"u","subject_id":"v"}'],
    ['{"flagKeys":["a"],"flag_keys":["b"]}'],
    ['{"attributes":{"a":1,"a":2}}'],
    ['{"attributes":{"a":{"b":1,"b":2}}}'],
    ['{"attributes":{"a:\\"":1,"b":"x:y"}}'],
    ['{"attributes":{"a":null}}'],
    ['{"attributes":null}'],
    ['{"subjectId":null}'],
    ['{"flagKeys":null}'],
    ['{"flagKeys":["a",1]}'],
    ['{"subjectId":"u\\\\","flagKeys":["\\"a:"]}'],
    ['{"subjectId":"u","extra":1}'],
    ['{"subjectId":"u",}'],
    ["[]"],
    ["null"],
    ['"x"'],
    [""],
    ["{}"],
    ['{"attributes":{"n":1e400}}'],
    ['{"attributes":{"__proto__":"x"}}'],
    ['{"__proto__":{"subjectId":"x"}}'],
    ['{"subjectId":"u","attributes":{"country":"RU","v":1.5,"b":true},"flagKeys":["a","b"]}'],
  ])("answers as fromJsonString for %s", (text) => {
    expectSame(text);
  });
});
