/** Self-signed test certificates for localhost and 127.0.0.1, made with the openssl CLI. */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  /** SHA-256 fingerprint, as tls peer certificates report it. */
  fingerprint256: string;
}

/** Writes `<name>.cert.pem` and `<name>.key.pem` into `dir`. */
export async function makeCertificate(dir: string, name: string): Promise<TestCertificate> {
  const certFile = path.join(dir, `${name}.cert.pem`);
  const keyFile = path.join(dir, `${name}.key.pem`);
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-subj",
    `/CN=localhost`,
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-days",
    "1",
    "-keyout",
    keyFile,
    "-out",
    certFile,
  ]);
  const cert = readFileSync(certFile);
  return {
    certFile,
    keyFile,
    cert,
    key: readFileSync(keyFile),
    fingerprint256: new X509Certificate(cert).fingerprint256,
  };
}
