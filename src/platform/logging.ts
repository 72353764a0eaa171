/**
 * The one root pino logger; request loggers are its children. A line
 * written inside a traced span carries its trace_id and span_id.
 */
import { pino, type Logger, type DestinationStream } from "pino";
import type { LogLevel } from "./config.js";
import { traceLogFields } from "./tracing.js";

export type { Logger };

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      name: "lotty",
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: traceLogFields,
      redact: {
        paths: [
          "authorization",
          "*.authorization",
          "headers.authorization",
          "*.headers.authorization",
          "secret",
          "*.secret",
        ],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
