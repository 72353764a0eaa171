/**
 * One-time download links of raw event exports (docs/event-export.md):
 * `GET /exports/events/<id>?token=<nonce>.<signature>` on the API port.
 *
 * The nonce is random and stored (event_export_links) with the link's
 * expiry; the signature is an HMAC-SHA256 of `<id>.<nonce>` under a key
 * derived from the server secret, so a link cannot be made up or moved to
 * another export without the secret, and a stolen table row alone is not
 * a link. A download claims the link (used_at) before the first byte is
 * sent, so two requests with one link never both get the file; when the
 * response breaks off before the end the claim is given back.
 *
 * Answers: 200 with the file (HEAD: headers only, no claim); 403 when the
 * signature does not verify; 404 for an unknown id or nonce; 410 when the
 * link was used or has expired, or the export is no longer DONE; 405 for
 * other methods.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream } from "node:fs";
import type http from "node:http";
import path from "node:path";
import type pg from "pg";
import type { Logger } from "../platform/logging.js";
import { mutateSql } from "../platform/mutation.js";
import { isUuid } from "../platform/validation.js";
import { EVENT_EXPORT_CONTENT_TYPES, type EventExportFormatName } from "./event-export-files.js";
import {
  EVENT_EXPORT_AUDIT_ENTITY,
  eventExportFilename,
  type EventExportRow,
} from "./event-exports.js";

export const EVENT_EXPORT_LINK_PREFIX = "/exports/events/";
/** How long a link works when unused (never past its export's expiry). */
export const EVENT_EXPORT_LINK_TTL_SECONDS = 15 * 60;

const NONCE = /^[A-Za-z0-9_-]{32}$/;
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

/** The link key: derived from the server secret, used for nothing else. */
function linkKey(serverSecret: string): Buffer {
  return createHmac("sha256", serverSecret).update("lotty event export link v1").digest();
}

function sign(serverSecret: string, id: string, nonce: string): string {
  return createHmac("sha256", linkKey(serverSecret)).update(`${id}.${nonce}`).digest("base64url");
}

/** A new link's nonce and its path (relative to the server's base URL). */
export function newEventExportLink(
  serverSecret: string,
  id: string,
): { nonce: string; path: string } {
  const nonce = randomBytes(24).toString("base64url");
  const token = `${nonce}.${sign(serverSecret, id, nonce)}`;
  return { nonce, path: `${EVENT_EXPORT_LINK_PREFIX}${id}?token=${token}` };
}

export interface EventExportDownloadDeps {
  pool: () => pg.Pool | undefined;
  serverSecret: () => string | undefined;
  /** The export directory (LOTTY_EXPORT_DIR), shared with the workers. */
  dir: string;
  logger: Logger;
}

function answer(res: http.ServerResponse, status: number, error: string): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify({ error }));
}

type Claimed = Pick<
  EventExportRow,
  "id" | "experiment_id" | "window_from" | "window_to" | "format" | "file_name" | "bytes"
> & { created_by: string | null };

/** The route; returns false for requests that are not its own. */
export function createEventExportDownload(deps: EventExportDownloadDeps) {
  return (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    const url = req.url ?? "/";
    if (!url.startsWith(EVENT_EXPORT_LINK_PREFIX)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      answer(res, 405, "method not allowed");
      return true;
    }
    const parsed = new URL(url, "http://link");
    const id = parsed.pathname.slice(EVENT_EXPORT_LINK_PREFIX.length);
    const [nonce = "", signature = ""] = (parsed.searchParams.get("token") ?? "").split(".");
    if (!isUuid(id) || !NONCE.test(nonce) || !SIGNATURE.test(signature)) {
      answer(res, 404, "no such download link");
      return true;
    }
    const pool = deps.pool();
    const secret = deps.serverSecret();
    if (pool === undefined || secret === undefined) {
      answer(res, 503, "the server is not ready yet; retry shortly");
      return true;
    }
    const expected = Buffer.from(sign(secret, id, nonce));
    if (!timingSafeEqual(expected, Buffer.from(signature))) {
      answer(res, 403, "the link's signature does not verify");
      return true;
    }
    serve(deps, pool, req, res, id, nonce).catch((error: unknown) => {
      deps.logger.error({ err: error, eventExportId: id }, "event export download failed");
      if (!res.headersSent) answer(res, 500, "the download failed; create a new link");
      else res.destroy();
    });
    return true;
  };
}

async function serve(
  deps: EventExportDownloadDeps,
  pool: pg.Pool,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  id: string,
  nonce: string,
): Promise<void> {
  const head = req.method === "HEAD";
  const claimed = await claim(pool, id, nonce, head);
  if (typeof claimed === "number") {
    answer(
      res,
      claimed,
      claimed === 404 ? "no such download link" : "this link has been used or has expired",
    );
    return;
  }
  const release = () =>
    pool
      .query(`update event_export_links set used_at = null where nonce = $1`, [nonce])
      .catch((error: unknown) =>
        deps.logger.warn({ err: error, eventExportId: id }, "could not give a download link back"),
      );
  const file = path.join(deps.dir, claimed.file_name ?? "");
  const stream = createReadStream(file);
  try {
    await new Promise<void>((resolve, reject) => {
      stream.once("open", () => resolve());
      stream.once("error", reject);
    });
  } catch {
    // The file went (expired, or another node's directory): the link is spent.
    if (!head) await release();
    answer(res, 410, "the export's file is no longer available");
    return;
  }
  res.writeHead(200, {
    "content-type": EVENT_EXPORT_CONTENT_TYPES[claimed.format as EventExportFormatName],
    "content-length": claimed.bytes,
    "content-disposition": `attachment; filename="${eventExportFilename(claimed as EventExportRow)}"`,
    "cache-control": "no-store",
  });
  if (head) {
    stream.destroy();
    res.end();
    return;
  }
  let complete = false;
  res.once("finish", () => {
    complete = true;
    // An export of raw events: each download is in the audit log.
    void mutateSql(pool, undefined, async () => ({
      result: undefined,
      audit: {
        actorId: claimed.created_by,
        entityType: EVENT_EXPORT_AUDIT_ENTITY,
        entityId: id,
        action: "downloaded",
        data: { via: "link", bytes: Number(claimed.bytes), experimentId: claimed.experiment_id },
      },
    })).catch((error: unknown) =>
      deps.logger.error({ err: error, eventExportId: id }, "could not audit a download"),
    );
    deps.logger.info(
      { eventExportId: id, bytes: Number(claimed.bytes) },
      "event export downloaded",
    );
  });
  res.once("close", () => {
    stream.destroy();
    if (!complete) void release();
  });
  stream.once("error", () => res.destroy());
  stream.pipe(res);
}

const CLAIMED_COLUMNS = `x.id, x.experiment_id::text, x.window_from, x.window_to, x.format,
  x.file_name, x.bytes::text, l.created_by::text`;

/** A link that may serve its file: unused, unexpired, and its export DONE and unexpired. */
const USABLE = `l.nonce = $1 and l.export_id = $2 and l.used_at is null
  and l.expires_at > clock_timestamp() and x.status = 'done' and x.expires_at > clock_timestamp()`;

/** Claims the link (HEAD only checks it); a number is the HTTP status to answer instead. */
async function claim(
  pool: pg.Pool,
  id: string,
  nonce: string,
  checkOnly: boolean,
): Promise<Claimed | number> {
  const { rows } = await pool.query<Claimed>(
    checkOnly
      ? `select ${CLAIMED_COLUMNS} from event_export_links l
         join event_exports x on x.id = l.export_id where ${USABLE}`
      : `update event_export_links l set used_at = clock_timestamp() from event_exports x
         where x.id = l.export_id and ${USABLE}
         returning ${CLAIMED_COLUMNS}`,
    [nonce, id],
  );
  const row = rows[0];
  if (row !== undefined) return row;
  const { rows: links } = await pool.query(
    `select 1 from event_export_links where nonce = $1 and export_id = $2`,
    [nonce, id],
  );
  return links.length === 0 ? 404 : 410;
}
