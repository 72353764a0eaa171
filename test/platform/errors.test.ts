/**
 * Which failures count as "a dependency is unavailable" (retryable, never
 * a reason to give up on a message or to answer INTERNAL).
 */
import { describe, expect, it } from "@jest/globals";
import { isUnavailableError } from "../../src/platform/errors.js";

function withCode(code: string, message = "failed"): Error {
  return Object.assign(new Error(message), { code });
}

describe("isUnavailableError", () => {
  it.each([
    ["a refused connection", withCode("ECONNREFUSED")],
    ["a reset connection", withCode("ECONNRESET")],
    ["connection failure (08006)", withCode("08006")],
    ["cannot connect now (57P03)", withCode("57P03")],
    ["administrator shutdown (57P01)", withCode("57P01")],
    ["too many connections (53300)", withCode("53300")],
    ["a terminated connection", new Error("Connection terminated unexpectedly")],
    [
      "a cause two levels down",
      new Error("outer", { cause: new Error("mid", { cause: withCode("08001") }) }),
    ],
  ])("is true for %s", (_name, error) => {
    expect(isUnavailableError(error)).toBe(true);
  });

  it.each([
    ["a protocol violation (08P01: bad input, not an outage)", withCode("08P01")],
    ["a unique violation", withCode("23505")],
    ["invalid JSON text", withCode("22P02")],
    ["a deadlock (retried by its caller, not an outage)", withCode("40P01")],
    ["a plain error", new Error("boom")],
    ["something that is not an error", "ECONNREFUSED"],
    ["undefined", undefined],
  ])("is false for %s", (_name, error) => {
    expect(isUnavailableError(error)).toBe(false);
  });
});
