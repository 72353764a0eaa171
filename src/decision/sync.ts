/**
 * Configuration sync for in-process evaluation (docs/local-evaluation.md):
 * DecisionService/WatchConfiguration and GetConfiguration. Both serve the
 * decide node's own snapshot source (the configuration its Decide answers
 * from), as JSON text cached once per version.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ConfigurationSchema,
  GetConfigurationResponseSchema,
  WatchConfigurationResponseSchema,
  type Configuration,
  type GetConfigurationRequest,
  type GetConfigurationResponse,
  type LocalSigningKey,
  type WatchConfigurationRequest,
  type WatchConfigurationResponse,
} from "../../gen/lotty/decision/v1/decision_pb.js";
import type { BuiltConfiguration, SnapshotStore } from "./snapshot.js";

/** A heartbeat is sent after this long without another message. */
export const HEARTBEAT_MS = 15_000;

export interface ConfigurationSyncDeps {
  snapshots: SnapshotStore;
  /** The signing key for the caller, when it may sign local decisions (ROLE_SERVICE). */
  signingKey: (ctx: HandlerContext) => LocalSigningKey | undefined;
  /** Overrides HEARTBEAT_MS (tests). */
  heartbeatMs?: number;
}

export class ConfigurationSync {
  private cached: { version: string; message: Configuration } | undefined;

  constructor(private readonly deps: ConfigurationSyncDeps) {}

  private message(built: BuiltConfiguration): Configuration {
    if (this.cached?.version !== built.source.version) {
      this.cached = {
        version: built.source.version,
        message: create(ConfigurationSchema, {
          version: built.source.version,
          format: built.source.format,
          sourceJson: JSON.stringify(built.source),
          builtAt: timestampFromDate(built.builtAt),
        }),
      };
    }
    return this.cached.message;
  }

  private current(): BuiltConfiguration {
    const built = this.deps.snapshots.configuration;
    if (built === undefined) {
      throw new ConnectError(
        "the configuration is not loaded yet; retry shortly",
        Code.Unavailable,
      );
    }
    return built;
  }

  getConfiguration(req: GetConfigurationRequest, ctx: HandlerContext): GetConfigurationResponse {
    const built = this.current();
    const notModified = req.ifNoneMatch !== "" && req.ifNoneMatch === built.source.version;
    ctx.responseHeader.set("etag", JSON.stringify(built.source.version));
    return create(GetConfigurationResponseSchema, {
      notModified,
      configuration: notModified ? undefined : this.message(built),
      signingKey: this.deps.signingKey(ctx),
    });
  }

  async *watchConfiguration(
    req: WatchConfigurationRequest,
    ctx: HandlerContext,
  ): AsyncGenerator<WatchConfigurationResponse> {
    const heartbeatMs = this.deps.heartbeatMs ?? HEARTBEAT_MS;
    let latest = this.current();
    let wake: (() => void) | undefined;
    const unsubscribe = this.deps.snapshots.onChange((built) => {
      latest = built;
      wake?.();
    });
    const onAbort = () => wake?.();
    ctx.signal.addEventListener("abort", onAbort);
    try {
      let sent = req.knownVersion;
      let first = true;
      while (!ctx.signal.aborted) {
        const built = latest;
        const changed = built.source.version !== sent;
        yield create(WatchConfigurationResponseSchema, {
          configuration: changed ? this.message(built) : undefined,
          heartbeat: !changed,
          sentAt: timestampFromDate(new Date()),
          signingKey: first ? this.deps.signingKey(ctx) : undefined,
        });
        sent = built.source.version;
        first = false;
        if (latest.source.version !== sent) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, heartbeatMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    } finally {
      unsubscribe();
      ctx.signal.removeEventListener("abort", onAbort);
    }
  }
}
