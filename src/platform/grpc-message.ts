/**
 * gRPC status messages travel percent-encoded in the `grpc-message` header.
 * The gRPC spec escapes only bytes outside 0x20–0x7E and "%"; connect-node
 * escapes every reserved URI character, which grpc-js and other stacks do
 * not decode (they would show "email%3A must be …"). For gRPC responses the
 * header is rewritten to the spec's encoding, which every client decodes.
 */
import type { connectNodeAdapter } from "@connectrpc/connect-node";

type NodeHandlerFn = ReturnType<typeof connectNodeAdapter>;
type Req = Parameters<NodeHandlerFn>[0];
type Res = Parameters<NodeHandlerFn>[1];
type HeaderBag = Record<string, string | string[] | number | undefined>;

export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte < 0x20 || byte > 0x7e || byte === 0x25
        ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
        : String.fromCharCode(byte);
  }
  return out;
}

function conform(headers: unknown): void {
  if (headers === null || typeof headers !== "object") return;
  const bag = headers as HeaderBag;
  const value = bag["grpc-message"];
  if (typeof value !== "string") return;
  try {
    bag["grpc-message"] = encodeGrpcMessage(decodeURIComponent(value));
  } catch {
    // not percent-encoded as expected: leave it as it is
  }
}

/** True for gRPC over HTTP/2 (not gRPC-Web, whose trailers are in the body). */
export function isGrpcRequest(req: Req): boolean {
  const type = req.headers["content-type"];
  return (
    typeof type === "string" &&
    type.startsWith("application/grpc") &&
    !type.startsWith("application/grpc-web")
  );
}

/** Rewrites grpc-message in the response headers and trailers of `res`. */
export function conformGrpcMessages(res: Res): void {
  const response = res as unknown as {
    writeHead: (...args: unknown[]) => unknown;
    addTrailers: (headers: unknown) => unknown;
  };
  const writeHead = response.writeHead.bind(res);
  const addTrailers = response.addTrailers.bind(res);
  response.writeHead = (...args: unknown[]) => {
    conform(args[1]);
    return writeHead(...args);
  };
  response.addTrailers = (headers: unknown) => {
    conform(headers);
    return addTrailers(headers);
  };
}
