/**
 * Which failures count as "a dependency is unavailable" (retryable, never
 * a reason to give up on a message or to answer INTERNAL).
 */
import { describe, expect, it } from "@jest/globals";
import { runInNewContext } from "node:vm";
import { Code, ConnectError } from "@connectrpc/connect";
import { isClientGoneError, isUnavailableError } from "../../src/platform/errors.js";

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

describe("isClientGoneError", () => {
  it("recognises a write to a destroyed or reset stream, also as a cause", () => {
    for (const code of [
      "ERR_STREAM_DESTROYED",
      "ERR_STREAM_PREMATURE_CLOSE",
      "ERR_HTTP2_INVALID_STREAM",
      "ERR_HTTP2_STREAM_CANCEL",
    ]) {
      expect(isClientGoneError(withCode(code))).toBe(true);
      const wrapped = new ConnectError("write failed", Code.Internal);
      wrapped.cause = withCode(code);
      expect(isClientGoneError(wrapped)).toBe(true);
    }
  });

  it("recognises an error from another realm (Node's own errors under jest)", () => {
    const foreign = runInNewContext(
      "Object.assign(new Error('The stream has been destroyed'), { code: 'ERR_HTTP2_INVALID_STREAM' })",
    ) as unknown;
    expect(foreign instanceof Error).toBe(false);
    expect(isClientGoneError(foreign)).toBe(true);
  });

  it("counts a socket reset only when the call's signal says the client left", () => {
    // A database connection resets with the same codes: that is no client leaving.
    expect(isClientGoneError(withCode("ECONNRESET"))).toBe(false);
    expect(isClientGoneError(withCode("EPIPE"))).toBe(false);
    expect(isClientGoneError(withCode("ECONNRESET"), true)).toBe(true);
    expect(isClientGoneError(withCode("EPIPE"), true)).toBe(true);
  });

  it("is false for other failures", () => {
    expect(isClientGoneError(new Error("serialisation failed"), true)).toBe(false);
    expect(isClientGoneError(withCode("ERR_INVALID_ARG_TYPE"), true)).toBe(false);
    expect(isClientGoneError(undefined, true)).toBe(false);
  });
});
