/**
 * One port for everything. A plain-text HTTP/2 server does not accept
 * HTTP/1.1, so a net.Server reads the first bytes of each connection: the
 * HTTP/2 client preface ("PRI * HTTP/2.0") goes to the h2c server, anything
 * else to the HTTP/1.1 server. Both serve the same request handler.
 *
 * With a certificate the listener is a tls.Server instead and the port
 * speaks only TLS: each connection goes by its ALPN protocol ("h2" to the
 * HTTP/2 server; "http/1.1" or no ALPN at all to the HTTP/1.1 server, as
 * HTTP/2 over TLS requires ALPN). The same two servers serve the decrypted
 * sockets, so HTTP/1.1 requests stay http.IncomingMessage (docs/adr/0015).
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import type { TlsMaterial } from "./tls.js";

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface ServerLimits {
  /** Longest time to receive a request's headers (HTTP/1.1), ms. */
  headersTimeoutMs: number;
  /** Longest time to receive a whole request (HTTP/1.1), ms. */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this, ms. */
  keepAliveTimeoutMs: number;
  /** HTTP/2 sessions idle this long are closed, ms. */
  sessionIdleTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 5 * 60_000,
  keepAliveTimeoutMs: 65_000,
  sessionIdleTimeoutMs: 5 * 60_000,
};

const H2_PREFACE_START = Buffer.from("PRI * HTTP/2.0");
/** Offered to TLS clients, most preferred first. */
export const ALPN_PROTOCOLS = ["h2", "http/1.1"];

export class OnePortServer {
  /** The listener: a net.Server, or a tls.Server when serving TLS. */
  private readonly tcp: net.Server;
  private readonly secure: tls.Server | undefined;
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly sockets = new Set<net.Socket>();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private closing = false;

  constructor(
    handler: RequestHandler,
    limits: ServerLimits = DEFAULT_LIMITS,
    certificate?: TlsMaterial,
  ) {
    const tracked: RequestHandler = (req, res) => {
      this.inFlight++;
      res.once("close", () => {
        this.inFlight--;
        if (this.inFlight === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
      });
      if (this.closing && "setHeader" in res && req.httpVersionMajor === 1) {
        (res as http.ServerResponse).setHeader("connection", "close");
      }
      handler(req, res);
    };
    this.h1 = http.createServer(tracked);
    this.h1.headersTimeout = limits.headersTimeoutMs;
    this.h1.requestTimeout = limits.requestTimeoutMs;
    this.h1.keepAliveTimeout = limits.keepAliveTimeoutMs;
    this.h2 = http2.createServer({}, tracked);
    this.h2.setTimeout(limits.sessionIdleTimeoutMs);
    this.h2.on("session", (session) => {
      this.sessions.add(session);
      session.once("close", () => this.sessions.delete(session));
      clearIdleTimerOnDestroy(session);
    });
    if (certificate === undefined) {
      this.tcp = net.createServer((socket) => {
        this.track(socket);
        this.sniff(socket);
      });
    } else {
      this.secure = tls.createServer({
        cert: certificate.cert,
        key: certificate.key,
        ALPNProtocols: ALPN_PROTOCOLS,
        // A handshake must finish as fast as HTTP/1.1 headers must arrive.
        handshakeTimeout: limits.headersTimeoutMs,
      });
      // Raw sockets are tracked from accept, so close() also cuts handshakes.
      this.secure.on("connection", (socket: net.Socket) => this.track(socket));
      this.secure.on("secureConnection", (socket: tls.TLSSocket) => this.routeTls(socket));
      this.secure.on("tlsClientError", (_error, socket) => socket.destroy());
      this.tcp = this.secure;
    }
  }

  get tls(): boolean {
    return this.secure !== undefined;
  }

  /**
   * Serves new connections with another certificate; connections already
   * open keep theirs. Only for a server started with a certificate.
   */
  setCertificate(certificate: TlsMaterial): void {
    if (this.secure === undefined) throw new Error("this server does not serve TLS");
    this.secure.setSecureContext({ cert: certificate.cert, key: certificate.key });
  }

  private track(socket: net.Socket): void {
    socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  }

  private routeTls(socket: tls.TLSSocket): void {
    this.track(socket);
    if (socket.alpnProtocol === "h2") {
      this.h2.emit("connection", socket);
    } else {
      this.h1.emit("connection", socket);
    }
  }

  /** Sends a connection to the HTTP/2 or the HTTP/1.1 server by its first bytes. */
  private sniff(socket: net.Socket): void {
    socket.once("data", (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      const n = Math.min(chunk.length, H2_PREFACE_START.length);
      const isH2 = chunk.subarray(0, n).equals(H2_PREFACE_START.subarray(0, n));
      if (isH2) {
        this.h2.emit("connection", socket);
      } else {
        this.h1.emit("connection", socket);
        socket.resume();
      }
    });
  }

  listen(port: number, host?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.tcp.once("error", reject);
      this.tcp.listen(port, host, () => {
        this.tcp.off("error", reject);
        // The HTTP/1.1 server never listens itself; its 'listening' event
        // starts Node's connection tracking, which enforces the header and
        // request timeouts and lets close() find idle keep-alive sockets.
        this.h1.emit("listening");
        resolve((this.tcp.address() as net.AddressInfo).port);
      });
    });
  }

  get port(): number {
    return (this.tcp.address() as net.AddressInfo | null)?.port ?? 0;
  }

  get activeRequests(): number {
    return this.inFlight;
  }

  /**
   * Graceful stop: refuse new connections, ask HTTP/2 clients to go away
   * (GOAWAY) and HTTP/1.1 clients to close, wait for in-flight requests up
   * to `graceMs`, then cut whatever is left.
   */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const tcpClosed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const session of this.sessions) session.close();
    this.h1.closeIdleConnections();
    if (this.inFlight > 0) {
      // Cleared once settled: a pending timer would hold the server (and its
      // handler) for the rest of `graceMs`.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs).unref();
        }),
      ]);
      clearTimeout(timer);
    }
    for (const session of this.sessions) session.destroy();
    this.h1.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    // Stops the connection tracking its 'listening' event started (an
    // interval that would keep the server and its handler alive for good).
    this.h1.close();
    await tcpClosed;
  }
}

/**
 * Node (v24) never clears an HTTP/2 session's idle timer: closeSession
 * marks the session destroyed and then calls `setTimeout(0)`, which returns
 * at once for a destroyed session. The unref'd timer then holds the session
 * (and through it the server and its handler) until it fires, 5 minutes
 * later: memory held per closed connection in production, and every app a
 * jest worker ever started in tests. Clearing it just before destroy, while
 * the session still accepts it, fixes both.
 */
function clearIdleTimerOnDestroy(session: http2.ServerHttp2Session): void {
  const destroy = session.destroy.bind(session);
  session.destroy = (...args: Parameters<typeof destroy>) => {
    if (!session.destroyed) session.setTimeout(0);
    destroy(...args);
  };
}
