/**
 * A built single-page app served under a path prefix on the RPC port (the
 * console at /console/). Hashed assets are cached for a year as immutable;
 * everything else is revalidated. Any path under the prefix that is not a
 * file answers with index.html, so deep links survive a reload. Every answer
 * carries a strict Content-Security-Policy. Files are read once and kept in
 * memory with their gzip and brotli encodings (precompressed by the build when
 * it wrote `<file>.br` and `<file>.gz`): a build is immutable while the process
 * runs.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import type http from "node:http";
import type http2 from "node:http2";
import path from "node:path";
import zlib from "node:zlib";

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

/**
 * Scripts, styles and fonts from the same origin only; calls to the same
 * origin only; images may also be data: and blob: URLs (chart export draws
 * an SVG blob onto a canvas). No framing, no plugins, no inline code.
 */
export const STRICT_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json",
};

const COMPRESSIBLE = new Set([".html", ".js", ".mjs", ".css", ".json", ".svg", ".txt", ".map"]);

interface StaticFile {
  type: string;
  etag: string;
  identity: Buffer;
  gzip?: Buffer;
  br?: Buffer;
}

export interface StaticSiteOptions {
  /** URL prefix with leading and trailing slash, e.g. "/console/". */
  mount: string;
  /** Directory holding index.html and the built assets. */
  root: string;
  /** Files under this sub-path (of the mount) have content hashes in their names. */
  immutablePrefix?: string;
  csp?: string;
  /** What to tell a browser when the site has not been built. */
  missingHint?: string;
}

function securityHeaders(csp: string): Record<string, string> {
  return {
    "content-security-policy": csp,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
  };
}

function acceptsEncoding(req: Req, encoding: string): boolean {
  const header = req.headers["accept-encoding"];
  const value = Array.isArray(header) ? header.join(",") : (header ?? "");
  return value
    .split(",")
    .some((part) => part.trim().split(";")[0]?.trim().toLowerCase() === encoding);
}

/**
 * Returns a handler that answers requests under `mount` (and the bare mount
 * without its slash, redirected) and returns false for every other path.
 */
export function createStaticSite(options: StaticSiteOptions): (req: Req, res: Res) => boolean {
  const mount = options.mount;
  const bare = mount.replace(/\/$/, "");
  const root = path.resolve(options.root);
  const immutablePrefix = options.immutablePrefix ?? "assets/";
  const headers = securityHeaders(options.csp ?? STRICT_CSP);
  const cache = new Map<string, StaticFile | null>();

  function load(relative: string): StaticFile | null {
    const cached = cache.get(relative);
    if (cached !== undefined) return cached;
    const file = path.join(root, relative);
    let result: StaticFile | null = null;
    if (file.startsWith(root + path.sep) && existsSync(file) && statSync(file).isFile()) {
      const ext = path.extname(file).toLowerCase();
      const identity = readFileSync(file);
      const etag = `"${createHash("sha256").update(identity).digest("base64url").slice(0, 27)}"`;
      result = { type: CONTENT_TYPES[ext] ?? "application/octet-stream", etag, identity };
      if (COMPRESSIBLE.has(ext) && identity.length > 512) {
        // The build writes the smallest encodings next to each file (.br, .gz);
        // without them, quick settings keep the first request fast.
        result.gzip = existsSync(`${file}.gz`)
          ? readFileSync(`${file}.gz`)
          : zlib.gzipSync(identity, { level: 6 });
        result.br = existsSync(`${file}.br`)
          ? readFileSync(`${file}.br`)
          : zlib.brotliCompressSync(identity, {
              params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 },
            });
      }
    }
    // Only hits are kept: a path that is not a file costs a stat, and a
    // flood of random paths cannot grow the cache.
    if (result !== null) cache.set(relative, result);
    return result;
  }

  function send(
    req: Req,
    res: Res,
    status: number,
    extra: Record<string, string>,
    body: Buffer | string,
  ): void {
    const r = res as http.ServerResponse;
    r.writeHead(status, { ...headers, ...extra });
    r.end(req.method === "HEAD" ? undefined : body);
  }

  function serve(req: Req, res: Res, file: StaticFile, cacheControl: string): void {
    const base = {
      "content-type": file.type,
      "cache-control": cacheControl,
      etag: file.etag,
      vary: "accept-encoding",
    };
    if (req.headers["if-none-match"] === file.etag) {
      send(req, res, 304, base, "");
      return;
    }
    if (file.br !== undefined && acceptsEncoding(req, "br")) {
      send(req, res, 200, { ...base, "content-encoding": "br" }, file.br);
    } else if (file.gzip !== undefined && acceptsEncoding(req, "gzip")) {
      send(req, res, 200, { ...base, "content-encoding": "gzip" }, file.gzip);
    } else {
      send(req, res, 200, base, file.identity);
    }
  }

  return (req, res) => {
    const url = req.url ?? "/";
    const [rawPath, query] = url.split("?", 2) as [string, string | undefined];
    if (rawPath !== bare && !rawPath.startsWith(mount)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(
        req,
        res,
        405,
        { allow: "GET, HEAD", "content-type": "text/plain" },
        "method not allowed\n",
      );
      return true;
    }
    if (rawPath === bare) {
      send(req, res, 308, { location: mount + (query ? `?${query}` : "") }, "");
      return true;
    }
    let relative: string;
    try {
      relative = decodeURIComponent(rawPath.slice(mount.length));
    } catch {
      send(req, res, 400, { "content-type": "text/plain" }, "bad path\n");
      return true;
    }
    if (relative.includes("\0") || relative.split("/").includes("..")) {
      send(req, res, 400, { "content-type": "text/plain" }, "bad path\n");
      return true;
    }
    const index = load("index.html");
    if (index === null) {
      send(
        req,
        res,
        503,
        { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
        `${options.missingHint ?? "This site has not been built."}\n`,
      );
      return true;
    }
    const file = relative === "" ? index : load(relative);
    if (file !== null) {
      const immutable = relative.startsWith(immutablePrefix);
      serve(req, res, file, immutable ? "public, max-age=31536000, immutable" : "no-cache");
      return true;
    }
    // A missing asset is a 404 (a stale page asking for an old hash must
    // not get HTML back as JavaScript); any other path is a client route.
    if (relative.startsWith(immutablePrefix) || path.extname(relative) !== "") {
      send(
        req,
        res,
        404,
        { "content-type": "text/plain", "cache-control": "no-store" },
        "not found\n",
      );
      return true;
    }
    serve(req, res, index, "no-cache");
    return true;
  };
}

/** The directory of the nearest package.json above `from` (the repository or image root). */
export function packageRoot(from: string): string {
  let dir = path.resolve(from);
  while (!existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(from);
    dir = parent;
  }
  return dir;
}
