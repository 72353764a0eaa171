/**
 * Helpers for interceptors that must see the end of a streaming response:
 * they wrap the response message iterable so per-stream hooks fire when it
 * completes or fails.
 */
import type { StreamResponse } from "@connectrpc/connect";
import type { DescMessage, DescMethodStreaming } from "@bufbuild/protobuf";

export interface StreamObserver {
  /** Replace an error thrown while streaming. */
  mapError?: (error: unknown) => unknown;
  /** Called once when the stream ends, with the error if it failed. */
  onEnd?: (error: unknown) => void;
}

export function observeStream<I extends DescMessage, O extends DescMessage>(
  res: StreamResponse<I, O>,
  observer: StreamObserver,
): StreamResponse<I, O> {
  const source = res.message;
  async function* wrapped() {
    let failure: unknown = undefined;
    try {
      yield* source;
    } catch (error) {
      failure = observer.mapError ? observer.mapError(error) : error;
      throw failure;
    } finally {
      observer.onEnd?.(failure);
    }
  }
  return { ...res, method: res.method as DescMethodStreaming<I, O>, message: wrapped() };
}
