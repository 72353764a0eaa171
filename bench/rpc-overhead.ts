/**
 * What one unary RPC costs on Lotty's one port compared with a bare
 * node:http server answering a JSON body of the same size, measured in the
 * same run with the autocannon CLI in its own process over HTTP/1.1 (50
 * connections, 10 s each).
 * The RPC is AccessService.GetCurrentUser over Connect JSON, which goes
 * through the protocol sniffing, every interceptor (errors, request log,
 * metrics, auth with the verified-key cache) and one PostgreSQL read.
 *
 * Needs PostgreSQL and NATS like the tests (BENCH_DATABASE_ADMIN_URL,
 * BENCH_NATS_URL; defaults 127.0.0.1:5432 and 127.0.0.1:4222).
 */
import http from "node:http";
import { loadWithAutocannon, withBenchApp } from "./support.js";

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = 50;

async function load(
  url: string,
  init: { method: "GET" | "POST"; headers: Record<string, string>; body?: string },
) {
  const result = await loadWithAutocannon({
    url,
    method: init.method,
    headers: init.headers,
    ...(init.body !== undefined ? { body: init.body } : {}),
    connections: CONNECTIONS,
    durationS: DURATION_S,
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx answers and ${result.errors} errors`);
  }
  return result;
}

export async function rpcOverhead(): Promise<Record<string, number>> {
  return withBenchApp(async ({ baseUrl, adminKey }) => {
    const rpcUrl = `${baseUrl}/lotty.access.v1.AccessService/GetCurrentUser`;
    const sample = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` },
      body: "{}",
    });
    const body = await sample.text();
    if (sample.status !== 200) throw new Error(`GetCurrentUser answered ${sample.status}: ${body}`);

    const bare = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(body);
    });
    await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
    const barePort = (bare.address() as { port: number }).port;
    try {
      const baseline = await load(`http://127.0.0.1:${barePort}/`, { method: "GET", headers: {} });
      const health = await load(`${baseUrl}/health`, { method: "GET", headers: {} });
      const rpc = await load(rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` },
        body: "{}",
      });
      return {
        bare_node_http_rps: baseline.rps,
        health_rps: health.rps,
        get_current_user_rps: rpc.rps,
        get_current_user_p99_ms: rpc.p99,
        health_vs_bare_ratio: Math.round((health.rps / baseline.rps) * 1000) / 1000,
        get_current_user_vs_bare_ratio: Math.round((rpc.rps / baseline.rps) * 1000) / 1000,
        response_bytes: Buffer.byteLength(body),
      };
    } finally {
      bare.close();
    }
  });
}
