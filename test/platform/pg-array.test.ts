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
            fc.string({ unit: fc.constantFrom("a", '"', "\\", ",", "{", " ", "é") }),
            fc.integer(),
            fc.double({ noNaN: true }),
            fc.boolean(),
            fc.constant(null),
          ),
        ),
        (values) => expect(pgArray(values)).toBe(prepare(values)),
      ),
    );
    expect(pgArray([])).toBe(prepare([]));
    expect(pgArray(["a", undefined])).toBe(prepare(["a", undefined]));
    expect(pgArray(['{"x":1}', "NULL"])).toBe(prepare(['{"x":1}', "NULL"]));
  });

  it("writes times in UTC", () => {
    expect(pgArray([new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), null])).toBe(
      '{"2026-01-02T03:04:05.006Z",NULL}',
    );
    expect(pgTimes([Date.UTC(2026, 0, 2, 3, 4, 5, 6), null])).toBe(
      '{"2026-01-02T03:04:05.006Z",NULL}',
    );
    expect(pgTimes([])).toBe("{}");
  });
});
