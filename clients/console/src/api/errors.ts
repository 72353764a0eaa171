/**
 * Server errors as people read them. Lotty's INVALID_ARGUMENT messages list
 * "field: problem" pairs separated by "; "; forms show each next to its field.
 */
import { Code, ConnectError } from "@connectrpc/connect";

export interface FieldError {
  field: string;
  message: string;
}

/** Splits "a.b: is required; c: must be ≥ 1" into field errors (others stay whole). */
export function fieldErrors(error: unknown): FieldError[] {
  const e = ConnectError.from(error);
  if (e.code !== Code.InvalidArgument) return [];
  return e.rawMessage
    .split("; ")
    .map((part) => {
      const at = part.indexOf(": ");
      return at > 0 ? { field: part.slice(0, at), message: part.slice(at + 2) } : undefined;
    })
    .filter((x): x is FieldError => x !== undefined);
}

/** The message for one field (or any nested field under it), if the server named it. */
export function errorFor(errors: FieldError[], field: string): string | undefined {
  const hit = errors.find(
    (e) => e.field === field || e.field.startsWith(`${field}.`) || e.field.startsWith(`${field}[`),
  );
  return hit === undefined ? undefined : `${hit.field}: ${hit.message}`;
}

const CODE_TEXT: Partial<Record<Code, string>> = {
  [Code.Unauthenticated]: "Your API key was not accepted. Sign in again.",
  [Code.PermissionDenied]: "Your roles do not allow this.",
  [Code.NotFound]: "Not found.",
  [Code.Unavailable]: "Lotty is not reachable right now. Try again shortly.",
  [Code.DeadlineExceeded]: "Lotty took too long to answer. Try again.",
  [Code.Aborted]: "Someone else changed this in the meantime. Reload and try again.",
  [Code.FailedPrecondition]: "This is not possible in the current state.",
  [Code.ResourceExhausted]: "Too many requests. Wait a moment and try again.",
  [Code.Internal]: "Lotty had an internal error.",
};

/** A sentence for any error: the server's own message when it has one. */
export function describeError(error: unknown): string {
  const e = ConnectError.from(error);
  const general = CODE_TEXT[e.code];
  if (e.rawMessage !== "" && e.code !== Code.Internal && e.code !== Code.Unknown) {
    return general === undefined ? e.rawMessage : `${general} ${e.rawMessage}`;
  }
  return general ?? (e.rawMessage || "Something went wrong.");
}
