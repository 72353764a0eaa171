/**
 * Makes sure somebody can administer Lotty after start.
 * - LOTTY_BOOTSTRAP_ADMIN_KEY set: an admin user holding exactly that key
 *   exists (created, re-enabled or promoted as needed; idempotent).
 * - unset, and no admin exists yet: one admin with a fresh key is created
 *   and the key is handed back once so the caller can print it.
 */
import type { EntityManager } from "@mikro-orm/core";
import { ApiKey, User } from "./entities.js";
import { API_KEY_PREFIX, generateApiKeySecret, hashApiKey } from "../platform/auth.js";
import type { AuditRecord } from "../platform/audit.js";
import { mutate } from "../platform/mutation.js";

export const BOOTSTRAP_ADMIN_EMAIL = "admin@lotty.local";

export interface BootstrapResult {
  /** A newly generated admin key to show once; undefined otherwise. */
  generatedKey?: string;
  adminEmail?: string;
}

/** The bootstrap admin, created (with its audit row added to `audit`) if missing. */
async function adminUser(em: EntityManager, audit: AuditRecord[]): Promise<User> {
  const existing = await em.findOne(User, { email: BOOTSTRAP_ADMIN_EMAIL });
  if (existing !== null) {
    if (!existing.roles.includes("admin")) existing.roles = [...existing.roles, "admin"];
    return existing;
  }
  const user = em.create(User, {
    email: BOOTSTRAP_ADMIN_EMAIL,
    displayName: "Bootstrap admin",
    roles: ["admin"],
  });
  audit.push({
    actorId: null,
    entityType: "user",
    entityId: user.id,
    action: "user.created",
    data: { email: BOOTSTRAP_ADMIN_EMAIL, roles: ["admin"], bootstrap: true },
  });
  return user;
}

/** A bootstrap key for `user`, its audit row added to `audit`. */
function issueKey(em: EntityManager, user: User, secret: string, audit: AuditRecord[]): ApiKey {
  const key = em.create(ApiKey, {
    user,
    name: "bootstrap",
    keyHash: hashApiKey(secret),
    prefix: secret.slice(0, API_KEY_PREFIX.length + 6),
  });
  audit.push({
    actorId: null,
    entityType: "api_key",
    entityId: key.id,
    action: "api_key.created",
    data: { userId: user.id, name: "bootstrap", bootstrap: true },
  });
  return key;
}

export async function ensureBootstrapAdmin(
  root: EntityManager,
  configuredKey: string | undefined,
): Promise<BootstrapResult> {
  const { result } = await mutate<BootstrapResult>(root.fork(), undefined, async (em) => {
    const audit: AuditRecord[] = [];
    // One starting replica at a time, so two cannot both create the admin.
    await em
      .getConnection()
      .execute("select pg_advisory_xact_lock(7402114002)", [], "all", em.getTransactionContext());
    if (configuredKey !== undefined) {
      const key = await em.findOne(
        ApiKey,
        { keyHash: hashApiKey(configuredKey) },
        { populate: ["user"] },
      );
      if (key === null) {
        issueKey(em, await adminUser(em, audit), configuredKey, audit);
      } else {
        if (key.revokedAt) {
          key.revokedAt = null;
          audit.push({
            actorId: null,
            entityType: "api_key",
            entityId: key.id,
            action: "api_key.restored",
            comment: "LOTTY_BOOTSTRAP_ADMIN_KEY names this key",
          });
        }
        if (!key.user.roles.includes("admin")) key.user.roles = [...key.user.roles, "admin"];
      }
      return { result: { adminEmail: BOOTSTRAP_ADMIN_EMAIL }, audit };
    }
    const admins = await em
      .getConnection()
      .execute<{ n: string }[]>(
        "select count(*) as n from users where 'admin' = any(roles)",
        [],
        "all",
        em.getTransactionContext(),
      );
    if (Number(admins[0]?.n ?? 0) > 0) return { result: {} };
    const secret = generateApiKeySecret();
    issueKey(em, await adminUser(em, audit), secret, audit);
    return { result: { generatedKey: secret, adminEmail: BOOTSTRAP_ADMIN_EMAIL }, audit };
  });
  return result;
}
