/** Array literals for query parameters: the text pg would send, and what PostgreSQL reads back. */
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { createRequire } from "node:module";
import { pgArray, pgTimes } from "../../src/platform/pg-array.js";

/** pg's own serialiser of parameters. */
const { prepareValue: prepare } = createRequire(import.meta.url)("pg/lib/utils.js") as {
  prepareValue: (value: unknown) => string;
};

describe("pgArray", () => {
  it("writes strings, numbers, booleans and nulls as pg does", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string(),
            fc.string({ unit: fc.constantFrom("a", '"', "\\", ",", "{", " ", "é", "\u0000") }),
            fc.integer(),
            fc.double({ noNaN: true }),
            fc.boolean(),
            fc.constant(null),
          ),
        ),
        (values) => {
          const expected = prepare(values);
          const onlyNumbers = values.length > 0 && values.every((v) => typeof v === "number");
          const onlyBooleans = values.length > 0 && values.every((v) => typeof v === "boolean");
          // Arrays of only numbers or only booleans go without quotes.
          expect(pgArray(values)).toBe(
            onlyNumbers || onlyBooleans ? expected.replaceAll('"', "") : expected,
          );
        },
      ),
    );
    expect(pgArray([])).toBe(prepare([]));
    expect(pgArray(["a", undefined])).toBe(prepare(["a", undefined]));
    expect(pgArray(['{"x":1}', "NULL"])).toBe(prepare(['{"x":1}', "NULL"]));
    expect(pgArray([1, 2.5, -3e-7])).toBe("{1,2.5,-3e-7}");
    expect(pgArray([1, null])).toBe('{"1",NULL}');
    expect(pgArray([true, false])).toBe("{true,false}");
    // Strings that hold NUL (which PostgreSQL rejects) are still written as pg would.
    expect(pgArray(['a"\u0000b', "c"])).toBe(prepare(['a"\u0000b', "c"]));
    expect(pgArray(['{"v":1}', "{}", '\\"'])).toBe(prepare(['{"v":1}', "{}", '\\"']));
  });

  it("writes times in UTC", () => {
    expect(pgArray([new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), null])).toBe(
      '{"2026-01-02T03:04:05.006Z",NULL}',
    );
    expect(pgTimes([Date.UTC(2026, 0, 2, 3, 4, 5, 6), null])).toBe(
      '{"2026-01-02T03:04:05.006Z",NULL}',
    );
    expect(pgTimes([0, 0, null, 0, 60_000])).toBe(
      '{"1970-01-01T00:00:00.000Z","1970-01-01T00:00:00.000Z",NULL,"1970-01-01T00:00:00.000Z","1970-01-01T00:01:00.000Z"}',
    );
    expect(pgTimes([])).toBe("{}");
  });
});
