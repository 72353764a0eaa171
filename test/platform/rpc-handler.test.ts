/**
 * The RPC handler tells a client that went away (nothing to answer to) from
 * a real failure to answer: the first is expected whenever a browser leaves
 * a page with calls in flight, and must not be logged as an error.
 */
import { describe, expect, it } from "@jest/globals";
import { isClientGone } from "../../src/platform/rpc-handler.js";

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("isClientGone", () => {
  it("is true when the response stream is destroyed, whatever the error", () => {
    expect(isClientGone(new Error("anything"), { destroyed: true })).toBe(true);
  });

  it("recognises a write after the client closed, also wrapped as a cause", () => {
    const write = withCode(
      "Cannot call write after a stream was destroyed",
      "ERR_STREAM_DESTROYED",
    );
    expect(isClientGone(write, { destroyed: false })).toBe(true);
    const wrapped = new Error("[internal] write failed", { cause: write });
    expect(isClientGone(wrapped, { destroyed: false })).toBe(true);
    for (const code of [
      "ERR_STREAM_PREMATURE_CLOSE",
      "ERR_HTTP2_INVALID_STREAM",
      "ERR_HTTP2_STREAM_CANCEL",
      "ECONNRESET",
      "EPIPE",
    ]) {
      expect(isClientGone(withCode("closed", code), { destroyed: false })).toBe(true);
    }
  });

  it("is false for other failures, which are logged as errors", () => {
    expect(isClientGone(new Error("serialisation failed"), { destroyed: false })).toBe(false);
    expect(isClientGone(withCode("nope", "ERR_INVALID_ARG_TYPE"), { destroyed: false })).toBe(
      false,
    );
    expect(isClientGone("a string", { destroyed: false })).toBe(false);
  });
});
