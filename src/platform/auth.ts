/**
 * Authentication (API keys) and authorisation (roles per RPC).
 *
 * Keys are `lotty_` + 43 base64url characters (256 random bits). Only their
 * SHA-256 hash is stored: a fast hash is enough because the secret has full
 * entropy, and it keeps the per-call check cheap. Verified keys are cached
 * for a few seconds; revoking a key on this node evicts it at once, other
 * nodes see the revocation within KEY_CACHE_TTL_MS. While the database is
 * unreachable, keys verified before stay valid (stale entries are kept
 * until a lookup succeeds), so decide keeps serving known callers.
 */
import { hash, randomBytes } from "node:crypto";
import { Code, ConnectError, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { principalKey, type Principal } from "./request-context.js";
import { allowedRoles, isPublicService } from "./access-policy.js";

export type { Principal } from "./request-context.js";

export const API_KEY_PREFIX = "lotty_";
export const KEY_CACHE_TTL_MS = 5_000;
const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function generateApiKeySecret(): string {
  return API_KEY_PREFIX + randomBytes(32).toString("base64url");
}

export function hashApiKey(secret: string): string {
  return hash("sha256", secret, "hex");
}

/** Looks a key hash up in storage; undefined when unknown or revoked. */
export type KeyLookup = (keyHash: string) => Promise<Principal | undefined>;

export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal; expires: number }>();
  /** Lookups under way, so a burst of calls with one key costs one query. */
  private readonly pending = new Map<string, Promise<Principal | undefined>>();

  constructor(
    private readonly lookup: KeyLookup,
    private readonly ttlMs = KEY_CACHE_TTL_MS,
  ) {}

  /**
   * The key hash of the last Authorization header per connection: an
   * HTTP/1.1 client sends the same header on every request of a
   * keep-alive connection, so parsing and hashing it once is enough. A
   * header is compared only with the last one sent on the same
   * connection, so the comparison's timing tells a caller nothing about
   * another caller's key.
   */
  private readonly lastHeader = new WeakMap<object, { header: string; keyHash: string }>();

  /**
   * The principal of a key verified within the cache's lifetime, without
   * waiting; undefined for anything else (no or a malformed header, an
   * unknown, expired or revoked key), which authenticate() then answers.
   * `connection` (the request's socket) lets its last header's hash be reused.
   */
  cached(authorization: string | null | undefined, connection?: object): Principal | undefined {
    if (authorization == null) return undefined;
    let keyHash: string;
    const last = connection === undefined ? undefined : this.lastHeader.get(connection);
    if (last !== undefined && last.header === authorization) {
      keyHash = last.keyHash;
    } else {
      const match = BEARER.exec(authorization);
      if (match === null) return undefined;
      keyHash = hashApiKey(match[1] as string);
      if (connection !== undefined) {
        this.lastHeader.set(connection, { header: authorization, keyHash });
      }
    }
    const cached = this.cache.get(keyHash);
    return cached !== undefined && cached.expires > Date.now() ? cached.principal : undefined;
  }

  async authenticate(authorization: string | null): Promise<Principal> {
    if (authorization === null || authorization === "") {
      throw new ConnectError(
        "missing API key: send the header 'Authorization: Bearer <api key>'",
        Code.Unauthenticated,
      );
    }
    const match = BEARER.exec(authorization);
    if (match === null) {
      throw new ConnectError(
        "malformed Authorization header: expected 'Bearer <api key>'",
        Code.Unauthenticated,
      );
    }
    const keyHash = hashApiKey(match[1] as string);
    const now = Date.now();
    const cached = this.cache.get(keyHash);
    if (cached !== undefined && cached.expires > now) return cached.principal;
    let lookup = this.pending.get(keyHash);
    if (lookup === undefined) {
      lookup = this.lookup(keyHash).finally(() => this.pending.delete(keyHash));
      this.pending.set(keyHash, lookup);
    }
    let principal: Principal | undefined;
    try {
      principal = await lookup;
    } catch (error) {
      // The key store is unreachable. A key verified before keeps working,
      // so decide goes on answering through a database outage; a key never
      // seen by this process cannot be checked and is retryable.
      if (cached !== undefined) return cached.principal;
      throw new ConnectError(
        "cannot verify the API key right now; retry shortly",
        Code.Unavailable,
        undefined,
        undefined,
        error,
      );
    }
    if (principal === undefined) {
      this.cache.delete(keyHash);
      throw new ConnectError("unknown or revoked API key", Code.Unauthenticated);
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(keyHash, { principal, expires: now + this.ttlMs });
    return principal;
  }

  /** Forget cached keys, e.g. after a revocation or a change of roles. */
  evict(predicate: (principal: Principal) => boolean): void {
    for (const [hash, entry] of this.cache) {
      if (predicate(entry.principal)) this.cache.delete(hash);
    }
  }
}

/**
 * Authenticates a caller of `service/method` and checks the role table;
 * throws UNAUTHENTICATED or PERMISSION_DENIED.
 */
export async function authorize(
  authenticator: Authenticator,
  service: string,
  method: string,
  authorization: string | null,
): Promise<Principal> {
  const principal = await authenticator.authenticate(authorization);
  checkRoles(principal, service, method);
  return principal;
}

/**
 * authorize() for a caller whose key is cached (Authenticator.cached),
 * without waiting: the principal, or PERMISSION_DENIED; undefined when the
 * key is not cached, so the caller falls back to authorize().
 */
export function authorizeCached(
  authenticator: Authenticator,
  service: string,
  method: string,
  authorization: string | null | undefined,
  connection?: object,
): Principal | undefined {
  const principal = authenticator.cached(authorization, connection);
  if (principal !== undefined) checkRoles(principal, service, method);
  return principal;
}

function checkRoles(principal: Principal, service: string, method: string): void {
  const allowed = allowedRoles(service, method);
  if (!allowed.some((role) => principal.roles.has(role))) {
    throw new ConnectError(
      `${service}/${method} is not allowed for your roles`,
      Code.PermissionDenied,
    );
  }
}

/** Authenticates every RPC but health and reflection, then checks the role table. */
export function authInterceptor(authenticator: Authenticator): Interceptor {
  return (next) => async (req) => {
    const service = req.service.typeName;
    if (isPublicService(service)) return next(req);
    const principal = await authorize(
      authenticator,
      service,
      req.method.name,
      req.header.get("authorization"),
    );
    req.contextValues.set(principalKey, principal);
    return next(req);
  };
}

/** The caller of an authenticated RPC (throws if auth did not run). */
export function requirePrincipal(ctx: HandlerContext): Principal {
  const principal = ctx.values.get(principalKey);
  if (principal === undefined) throw new ConnectError("not authenticated", Code.Unauthenticated);
  return principal;
}
