/**
 * Channel secrets at rest: a channel's url (Slack and Telegram urls carry
 * tokens) and its webhook signing secret are stored encrypted with
 * AES-256-GCM under a key derived (HKDF-SHA256) from the server secret (LOTTY_DECISION_SECRET),
 * which every replica shares. List RPCs show only maskUrl()'s form.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const VERSION = "v1";

export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
}

export function createSecretBox(rootSecret: string): SecretBox {
  const key = Buffer.from(
    hkdfSync("sha256", rootSecret, "lotty", "notification channel secrets", 32),
  );
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv, tag, data]
        .map((p) => (typeof p === "string" ? p : p.toString("base64url")))
        .join(".");
    },
    open(sealed) {
      const [version, iv, tag, data] = sealed.split(".");
      if (version !== VERSION || iv === undefined || tag === undefined || data === undefined) {
        throw new Error("not a sealed channel secret");
      }
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([
        decipher.update(Buffer.from(data, "base64url")),
        decipher.final(),
      ]).toString("utf8");
    },
  };
}

/**
 * What List RPCs show of a url: scheme and host, with "/…" when there is
 * more (path, query, credentials), since that is where tokens live.
 */
export function maskUrl(url: string): string {
  const parsed = new URL(url);
  const hidden = parsed.pathname !== "/" || parsed.search !== "" || parsed.username !== "";
  return `${parsed.protocol}//${parsed.host}${hidden ? "/…" : "/"}`;
}
