/** Generated-client helpers over every transport Lotty serves. */
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";

export type TransportKind = "connect-json-h1" | "connect-binary-h2" | "grpc" | "grpc-web";
export const TRANSPORT_KINDS: TransportKind[] = [
  "connect-json-h1",
  "connect-binary-h2",
  "grpc",
  "grpc-web",
];

export function bearer(key: string | undefined): Interceptor {
  return (next) => (req) => {
    if (key !== undefined) req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  };
}

export function transport(kind: TransportKind, baseUrl: string, key?: string): Transport {
  const interceptors = [bearer(key)];
  switch (kind) {
    case "connect-json-h1":
      return createConnectTransport({
        baseUrl,
        httpVersion: "1.1",
        useBinaryFormat: false,
        interceptors,
      });
    case "connect-binary-h2":
      return createConnectTransport({
        baseUrl,
        httpVersion: "2",
        useBinaryFormat: true,
        interceptors,
      });
    case "grpc":
      return createGrpcTransport({ baseUrl, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors });
  }
}

export function client<T extends DescService>(
  service: T,
  baseUrl: string,
  key?: string,
  kind: TransportKind = "connect-json-h1",
): Client<T> {
  return createClient(service, transport(kind, baseUrl, key));
}
