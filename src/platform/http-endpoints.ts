/**
 * Plain HTTP endpoints on the RPC port: GET /health, /ready and /metrics,
 * plus CORS for browser clients (Connect-Web, OFREP web providers) when
 * origins are configured.
 */
import type http from "node:http";
import type { connectNodeAdapter } from "@connectrpc/connect-node";

type NodeHandlerFn = ReturnType<typeof connectNodeAdapter>;
import { cors } from "@connectrpc/connect";
import type { Registry } from "prom-client";
import type { Readiness } from "./readiness.js";

type Req = Parameters<NodeHandlerFn>[0];
type Res = Parameters<NodeHandlerFn>[1];

function send(res: Res, status: number, contentType: string, body: string): void {
  (res as http.ServerResponse).writeHead(status, {
    "content-type": contentType,
    "cache-control": "no-store",
  });
  res.end(body);
}

export function httpEndpoints(readiness: Readiness, registry: Registry) {
  return (req: Req, res: Res): void => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 404, "application/json", JSON.stringify({ error: "not found" }));
      return;
    }
    switch (path) {
      case "/health":
        send(res, 200, "application/json", JSON.stringify({ status: "ok" }));
        return;
      case "/ready":
        void readiness.report().then((checks) => {
          const ready = Object.keys(checks).length > 0 && Object.values(checks).every(Boolean);
          send(res, ready ? 200 : 503, "application/json", JSON.stringify({ ready, checks }));
        });
        return;
      case "/metrics":
        void registry.metrics().then(
          (text) => send(res, 200, registry.contentType, text),
          () => send(res, 500, "text/plain", "metrics unavailable\n"),
        );
        return;
      default:
        send(res, 404, "application/json", JSON.stringify({ error: "not found" }));
    }
  };
}

/**
 * Adds CORS headers for allowed origins and answers preflight requests.
 * Returns true when the request was a preflight and has been answered.
 */
export function applyCors(allowedOrigins: string[], req: Req, res: Res): boolean {
  const origin = req.headers.origin;
  if (allowedOrigins.length === 0 || typeof origin !== "string") return false;
  if (!allowedOrigins.includes("*") && !allowedOrigins.includes(origin)) return false;
  const r = res as http.ServerResponse;
  r.setHeader("access-control-allow-origin", origin);
  r.setHeader("vary", "origin");
  r.setHeader(
    "access-control-expose-headers",
    [...cors.exposedHeaders, "x-request-id", "etag", "retry-after"].join(", "),
  );
  if (req.method === "OPTIONS") {
    r.setHeader("access-control-allow-methods", cors.allowedMethods.join(", "));
    r.setHeader(
      "access-control-allow-headers",
      [...cors.allowedHeaders, "authorization", "x-request-id", "if-none-match"].join(", "),
    );
    r.setHeader("access-control-max-age", "7200");
    r.writeHead(204);
    r.end();
    return true;
  }
  return false;
}
