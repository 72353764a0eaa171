/**
 * The server certificate: LOTTY_TLS_CERT_FILE and LOTTY_TLS_KEY_FILE, both
 * PEM. Read and checked at startup (config.ts, before listening) and again
 * on every reload (SIGHUP); a problem names the variable it comes from.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import tls from "node:tls";

export const TLS_CERT_VARIABLE = "LOTTY_TLS_CERT_FILE";
export const TLS_KEY_VARIABLE = "LOTTY_TLS_KEY_FILE";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** A checked certificate (chain) and its key, ready for tls.createSecureContext. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 fingerprint of the leaf certificate, as openssl prints it. */
  fingerprint256: string;
  subject: string;
  validTo: string;
}

/** A certificate or key that cannot be used; `variable` names the setting. */
export class TlsFileError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = "TlsFileError";
  }
}

const READ_ERRORS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "is a directory",
};

function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code !== undefined ? `${code}: ${READ_ERRORS[code] ?? "read failed"}` : error;
    throw new TlsFileError(variable, `cannot read ${file} (${String(reason)})`);
  }
}

/** Reads both files and checks they are a PEM certificate and its matching private key. */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  const cert = readPem(TLS_CERT_VARIABLE, files.certFile);
  const key = readPem(TLS_KEY_VARIABLE, files.keyFile);
  if (!cert.includes("-----BEGIN CERTIFICATE-----")) {
    throw new TlsFileError(
      TLS_CERT_VARIABLE,
      `${files.certFile} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" line)`,
    );
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new TlsFileError(
      TLS_CERT_VARIABLE,
      `${files.certFile} is not a valid PEM certificate (${(error as Error).message})`,
    );
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString("latin1"))) {
    throw new TlsFileError(
      TLS_KEY_VARIABLE,
      `${files.keyFile} is not a PEM private key (no "-----BEGIN … PRIVATE KEY-----" line)`,
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key, format: "pem" });
  } catch (error) {
    throw new TlsFileError(
      TLS_KEY_VARIABLE,
      `${files.keyFile} is not a usable unencrypted PEM private key (${(error as Error).message})`,
    );
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsFileError(
      TLS_KEY_VARIABLE,
      `the key in ${files.keyFile} does not match the certificate in ${files.certFile}`,
    );
  }
  try {
    tls.createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsFileError(
      TLS_CERT_VARIABLE,
      `${files.certFile} and ${files.keyFile} are not accepted by TLS (${(error as Error).message})`,
    );
  }
  return {
    cert,
    key,
    fingerprint256: leaf.fingerprint256,
    subject: leaf.subject,
    validTo: leaf.validTo,
  };
}
