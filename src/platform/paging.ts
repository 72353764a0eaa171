/** Page sizes and opaque page tokens shared by every List RPC. */
import { invalidArgument } from "./errors.js";
import { CONTROL_CHARACTERS } from "./validation.js";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** 0 means the default; 1–500 are taken as given; anything else is rejected. */
export function pageSize(requested: number, field = "page_size"): number {
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(requested) || requested < 1 || requested > MAX_PAGE_SIZE) {
    throw invalidArgument(
      field,
      `must be between 1 and ${MAX_PAGE_SIZE} (0 means ${DEFAULT_PAGE_SIZE})`,
    );
  }
  return requested;
}

/** Encodes the sort key of the last item of a page. */
export function encodePageToken(after: string): string {
  return Buffer.from(JSON.stringify({ a: after }), "utf8").toString("base64url");
}

/** Decodes a token from encodePageToken; empty means the first page. */
export function decodePageToken(token: string, field = "page_token"): string | undefined {
  if (token === "") return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { a?: unknown };
    if (typeof parsed.a === "string" && !CONTROL_CHARACTERS.test(parsed.a)) return parsed.a;
  } catch {
    // fall through
  }
  throw invalidArgument(field, "is not a token returned by this RPC");
}
