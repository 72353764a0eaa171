/**
 * Decision ids: self-describing and HMAC-signed, so ingestion can check one
 * and learn what it refers to without a lookup.
 *
 *   d1.<base64url(payload)>.<base64url(tag)>
 *
 * payload = UTF-8 JSON array [flagKey, subjectId, experimentId or "",
 * variantKey or "", configVersion]; tag = first 16 bytes of
 * HMAC-SHA256(secret, "d1." + base64url(payload)). See docs/decision-ids.md.
 */
import { hash, hkdfSync, timingSafeEqual } from "node:crypto";

/** What a decision id carries. */
export interface DecisionClaims {
  flagKey: string;
  subjectId: string;
  /** Absent when no experiment applied. */
  experimentId?: string;
  /** Absent when no experiment applied. */
  variantKey?: string;
  /** The experiment's configuration version; 0 without an experiment. */
  configVersion: number;
}

export interface DecisionSigner {
  /** The id for these claims. Deterministic. Throws on claims it cannot encode. */
  sign(claims: DecisionClaims): string;
  /** The claims of a genuine id, or undefined for anything else. Never throws. */
  verify(id: string): DecisionClaims | undefined;
}

export interface DecisionSignerOptions {
  /**
   * Secrets that are no longer used to sign but whose ids are still
   * accepted, so a secret can be rotated without rejecting ids issued just
   * before the switch.
   */
  previousSecrets?: readonly string[];
}

/** Upper bound on an id's length, in characters (ids are ASCII). */
export const MAX_DECISION_ID_LENGTH = 2048;

const PREFIX = "d1.";
const TAG_BYTES = 16;
/** base64url without padding of TAG_BYTES bytes. */
const TAG_CHARS = 22;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function createDecisionSigner(
  secret: string,
  options: DecisionSignerOptions = {},
): DecisionSigner {
  const key = toKey(secret);
  const verifyKeys = [key, ...(options.previousSecrets ?? []).map((s) => toKey(s))];

  function sign(claims: DecisionClaims): string {
    checkClaims(claims);
    const { flagKey, subjectId, experimentId, variantKey, configVersion } = claims;
    const payload = base64urlOf(
      JSON.stringify([flagKey, subjectId, experimentId ?? "", variantKey ?? "", configVersion]),
    );
    const signed = PREFIX + payload;
    const length = signed.length + 1 + TAG_CHARS;
    if (length > MAX_DECISION_ID_LENGTH) {
      throw new RangeError(`decision id would be ${length} characters, over the limit`);
    }
    return signed + "." + tagOf(key, signed);
  }

  function verify(id: string): DecisionClaims | undefined {
    try {
      return verifyOrUndefined(id, verifyKeys);
    } catch {
      return undefined;
    }
  }

  return { sign, verify };
}

/** Throws unless the claims can be encoded in an id. */
function checkClaims(claims: DecisionClaims): void {
  const { flagKey, subjectId, experimentId, variantKey, configVersion } = claims;
  if (
    typeof flagKey !== "string" ||
    typeof subjectId !== "string" ||
    (experimentId !== undefined && typeof experimentId !== "string") ||
    (variantKey !== undefined && typeof variantKey !== "string")
  ) {
    throw new TypeError("flagKey, subjectId, experimentId and variantKey must be strings");
  }
  if (!Number.isSafeInteger(configVersion) || configVersion < 0) {
    throw new RangeError(`configVersion must be an integer ≥ 0, got ${configVersion}`);
  }
}

/**
 * An HMAC-SHA256 key with its padded blocks prepared once (RFC 2104):
 * tag = SHA256((K ⊕ opad) ‖ SHA256((K ⊕ ipad) ‖ message)), computed with
 * two one-shot hashes over reused buffers. On the decide path (three ids
 * per request) this is about 2.5 times cheaper than createHmac, which
 * allocates a native object per call; asking the one-shot hash for a
 * latin1 string rather than a Buffer saves another native allocation per
 * hash. Equality with createHmac is tested.
 */
interface MacKey {
  /** K ⊕ ipad, followed by room for the message. */
  inner: Buffer;
  /** K ⊕ opad, followed by the 32-byte inner digest. */
  outer: Buffer;
  /** The outer digest. */
  digest: Buffer;
}

const BLOCK = 64;

function toKey(secret: string, encoding: "utf8" | "latin1" = "utf8"): MacKey {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new TypeError("the decision id secret must be a non-empty string");
  }
  let key = Buffer.from(secret, encoding);
  if (key.length > BLOCK) key = hash("sha256", key, "buffer");
  const inner = Buffer.alloc(BLOCK + MAX_DECISION_ID_LENGTH);
  const outer = Buffer.alloc(BLOCK + 32);
  for (let i = 0; i < BLOCK; i++) {
    const k = key[i] ?? 0;
    inner[i] = k ^ 0x36;
    outer[i] = k ^ 0x5c;
  }
  return { inner, outer, digest: Buffer.alloc(32) };
}

/** The tag of `signed`, an ASCII string of at most MAX_DECISION_ID_LENGTH characters. */
function tagOf(key: MacKey, signed: string): string {
  const length = key.inner.write(signed, BLOCK, "latin1");
  const innerDigest = hash("sha256", key.inner.subarray(0, BLOCK + length), "binary");
  key.outer.write(innerDigest, BLOCK, "latin1");
  key.digest.write(hash("sha256", key.outer, "binary"), 0, "latin1");
  return key.digest.toString("base64url", 0, TAG_BYTES);
}

/** Scratch space for encoding payloads without a Buffer per id. */
const payloadScratch = Buffer.alloc(4 * MAX_DECISION_ID_LENGTH);

function base64urlOf(json: string): string {
  // A UTF-16 code unit takes at most 3 UTF-8 bytes.
  if (json.length * 3 > payloadScratch.length)
    return Buffer.from(json, "utf8").toString("base64url");
  const length = payloadScratch.write(json, 0, "utf8");
  return payloadScratch.toString("base64url", 0, length);
}

function verifyOrUndefined(id: string, keys: readonly MacKey[]): DecisionClaims | undefined {
  if (typeof id !== "string" || id.length > MAX_DECISION_ID_LENGTH || !id.startsWith(PREFIX)) {
    return undefined;
  }
  const dot = id.indexOf(".", PREFIX.length);
  if (dot < 0 || id.length - dot - 1 !== TAG_CHARS) return undefined;
  const payload = id.slice(PREFIX.length, dot);
  const tag = id.slice(dot + 1);
  if (!BASE64URL.test(payload) || !BASE64URL.test(tag)) return undefined;

  // Compare the encoded tags: both are 22 ASCII characters, and a
  // non-canonical encoding of the right bytes is rejected too.
  const signed = id.slice(0, dot);
  const given = Buffer.from(tag, "latin1");
  let genuine = false;
  for (const key of keys) {
    if (timingSafeEqual(Buffer.from(tagOf(key, signed), "latin1"), given)) {
      genuine = true;
      break;
    }
  }
  if (!genuine) return undefined;
  return decodePayload(payload);
}

function decodePayload(payload: string): DecisionClaims | undefined {
  const fields: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  if (!Array.isArray(fields) || fields.length !== 5) return undefined;
  return claimsOf(fields);
}

/** The claims of a payload's first five fields, or undefined when they are malformed. */
function claimsOf(fields: unknown[]): DecisionClaims | undefined {
  const [flagKey, subjectId, experimentId, variantKey, configVersion] = fields as unknown[];
  if (
    typeof flagKey !== "string" ||
    typeof subjectId !== "string" ||
    typeof experimentId !== "string" ||
    typeof variantKey !== "string" ||
    typeof configVersion !== "number" ||
    !Number.isSafeInteger(configVersion) ||
    configVersion < 0
  ) {
    return undefined;
  }
  const claims: DecisionClaims = { flagKey, subjectId, configVersion };
  if (experimentId !== "") claims.experimentId = experimentId;
  if (variantKey !== "") claims.variantKey = variantKey;
  return claims;
}

// ------------------------------------------------------------------ local decisions

/**
 * Local decision ids, signed in a service's own process by a local decider
 * (docs/decision-ids.md#local-decisions):
 *
 *   d2.<key id>.<base64url(payload)>.<base64url(tag)>
 *
 * payload = UTF-8 JSON array [flagKey, subjectId, experimentId or "",
 * variantKey or "", configVersion, issuedAt (Unix seconds)]; tag = first 16
 * bytes of HMAC-SHA256(K, "d2." + key id + "." + base64url(payload)) with
 * K = HKDF-SHA256(the server's decision secret, salt "lotty local decisions
 * v1", info = key id, 32 bytes): one key per API key, which the server can
 * derive again to verify without a lookup, and which reveals nothing about
 * the secret or other keys' keys.
 */
const LOCAL_PREFIX = "d2.";
const LOCAL_SALT = "lotty local decisions v1";
/** API key ids are UUIDs. */
const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What a local decision id carries besides the claims. */
export interface LocalDecisionClaims extends DecisionClaims {
  /** The API key whose derived key signed it. */
  keyId: string;
  /** When the local decider signed it, Unix seconds. */
  issuedAt: number;
}

/** The 32-byte signing key of API key `keyId`, derived from the server's decision secret. */
export function deriveLocalSigningKey(secret: string, keyId: string): Uint8Array {
  if (!KEY_ID.test(keyId)) throw new TypeError("keyId must be an API key id (a UUID)");
  return new Uint8Array(hkdfSync("sha256", Buffer.from(secret, "utf8"), LOCAL_SALT, keyId, 32));
}

/** Prepared MAC keys of local signing keys, so verifying many ids of one key prepares it once. */
const localMacKeys = new WeakMap<Uint8Array, MacKey>();

function localKey(secret: Uint8Array): MacKey {
  let key = localMacKeys.get(secret);
  if (key === undefined) {
    key = toKey(Buffer.from(secret).toString("latin1"), "latin1");
    localMacKeys.set(secret, key);
  }
  return key;
}

/**
 * deriveLocalSigningKey with the derived keys remembered per key id (for
 * the server: the configuration stream hands them out, ingestion verifies
 * every local id with one). Keeps at most `capacity` keys; emptied when full.
 */
export function localSigningKeys(secret: string, capacity = 10_000): (keyId: string) => Uint8Array {
  const keys = new Map<string, Uint8Array>();
  return (keyId) => {
    let key = keys.get(keyId);
    if (key === undefined) {
      key = deriveLocalSigningKey(secret, keyId);
      if (keys.size >= capacity) keys.clear();
      keys.set(keyId, key);
    }
    return key;
  };
}

/** Signs local decision ids with the key the configuration stream delivered. */
export function createLocalDecisionSigner(
  keyId: string,
  secret: Uint8Array,
  clock: () => number = Date.now,
): DecisionSigner {
  if (!KEY_ID.test(keyId)) throw new TypeError("keyId must be an API key id (a UUID)");
  if (secret.length !== 32) throw new RangeError("the local signing key must be 32 bytes");
  const key = localKey(secret);
  const prefix = `${LOCAL_PREFIX}${keyId}.`;
  return {
    sign(claims) {
      checkClaims(claims);
      const { flagKey, subjectId, experimentId, variantKey, configVersion } = claims;
      const issuedAt = Math.floor(clock() / 1000);
      const payload = base64urlOf(
        JSON.stringify([
          flagKey,
          subjectId,
          experimentId ?? "",
          variantKey ?? "",
          configVersion,
          issuedAt,
        ]),
      );
      const signed = prefix + payload;
      if (signed.length + 1 + TAG_CHARS > MAX_DECISION_ID_LENGTH) {
        throw new RangeError("decision id would be over the length limit");
      }
      return signed + "." + tagOf(key, signed);
    },
    verify: (id) => verifyLocalDecisionId(id, (k) => (k === keyId ? secret : undefined)),
  };
}

/**
 * The claims of a genuine local decision id, or undefined. `keyFor` gives
 * the signing key of a key id (undefined for an unknown or revoked key).
 * Never throws.
 */
export function verifyLocalDecisionId(
  id: string,
  keyFor: (keyId: string) => Uint8Array | undefined,
): LocalDecisionClaims | undefined {
  try {
    if (typeof id !== "string" || id.length > MAX_DECISION_ID_LENGTH) return undefined;
    if (!id.startsWith(LOCAL_PREFIX)) return undefined;
    const keyEnd = id.indexOf(".", LOCAL_PREFIX.length);
    const dot = id.lastIndexOf(".");
    if (keyEnd < 0 || dot <= keyEnd || id.length - dot - 1 !== TAG_CHARS) return undefined;
    const keyId = id.slice(LOCAL_PREFIX.length, keyEnd);
    const payload = id.slice(keyEnd + 1, dot);
    const tag = id.slice(dot + 1);
    if (!KEY_ID.test(keyId) || !BASE64URL.test(payload) || !BASE64URL.test(tag)) return undefined;
    const secret = keyFor(keyId);
    if (secret === undefined) return undefined;
    const expected = Buffer.from(tagOf(localKey(secret), id.slice(0, dot)), "latin1");
    if (!timingSafeEqual(expected, Buffer.from(tag, "latin1"))) return undefined;
    const fields: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    if (!Array.isArray(fields) || fields.length !== 6) return undefined;
    const issuedAt = fields[5] as unknown;
    if (typeof issuedAt !== "number" || !Number.isSafeInteger(issuedAt) || issuedAt < 0) {
      return undefined;
    }
    const claims = claimsOf(fields.slice(0, 5));
    return claims === undefined ? undefined : { ...claims, keyId, issuedAt };
  } catch {
    return undefined;
  }
}
