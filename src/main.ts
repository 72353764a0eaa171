/**
 * The `lotty` process: validate configuration, start tracing when the
 * OTEL_* variables ask for it, start, stop on SIGTERM/SIGINT (exporting the
 * spans still buffered), reload the TLS certificate on SIGHUP (only when
 * TLS is on).
 */
import { loadConfig, nodeVersionProblem } from "./platform/config.js";
import { createLogger } from "./platform/logging.js";
import { startTracing } from "./platform/tracing.js";
import { App } from "./app.js";
import { BOOTSTRAP_ADMIN_EMAIL } from "./access/bootstrap.js";

const nodeProblem = nodeVersionProblem(process.versions.node);
if (nodeProblem !== undefined) {
  console.error(nodeProblem);
  process.exit(2);
}
const result = loadConfig(process.env);
if (!result.ok) {
  for (const problem of result.problems) console.error(`config: ${problem}`);
  console.error("Lotty did not start: fix the environment variables above.");
  process.exit(2);
}
const config = result.config;
const logger = createLogger(config.logLevel);
// Before the app, so every span it starts has a provider.
const tracing = config.tracing === undefined ? undefined : await startTracing(process.env);
/** Exports the spans still buffered (bounded: an absent collector must not hold the exit). */
const flushTraces = () =>
  Promise.race([
    tracing?.shutdown().catch(() => {}),
    new Promise((resolve) => setTimeout(resolve, 5_000).unref()),
  ]);
const app = new App({
  config,
  logger,
  onFatal: (error) => {
    console.error(
      `Lotty could not start: ${error instanceof Error ? error.message : String(error)}`,
    );
    void app
      .stop()
      .then(flushTraces)
      .finally(() => process.exit(1));
  },
});

let signalled = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
    logger.info({ signal }, "signal received");
    app.stop().then(
      () => flushTraces().then(() => process.exit(0)),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}

if (config.tls !== undefined) {
  // Without TLS, SIGHUP keeps its default meaning (the process ends).
  process.on("SIGHUP", () => {
    logger.info({ signal: "SIGHUP" }, "signal received: reloading the TLS certificate");
    app.reloadTls();
  });
}

const port = await app.start();
await app.started();
if (!signalled && app.db.isOpen) {
  const base = `${app.scheme}://127.0.0.1:${port}`;
  const lines = [
    `Lotty is ready on ${base} (Connect, gRPC and gRPC-Web; /health, /ready, /metrics).`,
  ];
  if (app.embeddedDataDir !== undefined) {
    lines.push(`Embedded PostgreSQL data: ${app.embeddedDataDir}`);
  }
  if (app.generatedAdminKey !== undefined) {
    lines.push(
      `First start: created admin ${BOOTSTRAP_ADMIN_EMAIL} with API key`,
      `  ${app.generatedAdminKey}`,
      "Keep it: it is shown only this once. Send it as 'Authorization: Bearer <key>'.",
    );
  } else if (config.bootstrapAdminKey === undefined) {
    lines.push("Set LOTTY_BOOTSTRAP_ADMIN_KEY to make sure an admin with a key you choose exists.");
  }
  if (config.tls === undefined) {
    lines.push(`Try: npx buf curl --protocol grpc --http2-prior-knowledge --list-services ${base}`);
  } else {
    lines.push(
      "TLS only (HTTP/1.1 and HTTP/2 by ALPN); SIGHUP reloads the certificate files.",
      `Try: npx buf curl --protocol grpc --list-services ${base}` +
        ` (add --cacert <ca.pem> for a private CA; use the certificate's host name)`,
    );
  }
  if (config.roles !== "workers") {
    lines.push(`Console: ${base}/console/ (sign in with an API key).`);
  }
  if (config.tracing !== undefined) lines.push(`Tracing: ${config.tracing.description}.`);
  process.stdout.write(lines.join("\n") + "\n");
}
