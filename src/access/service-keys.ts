/**
 * The API keys of service users (ROLE_SERVICE), held in memory so that
 * ingestion can check a local decision id's key (docs/decision-ids.md#local-decisions)
 * without a database lookup per event.
 *
 * The registry is the whole list (id and revocation time of every key
 * whose user holds ROLE_SERVICE, revoked keys included: ids they signed
 * before their revocation stay valid). It is loaded at start and reloaded
 *  - on the node that changed a key or a user's roles, before that RPC
 *    returns (CreateApiKey, RevokeApiKey, UpdateUser call `changed()`),
 *  - on the other nodes when the plain NATS message `<p>.access.keys`
 *    that `changed()` publishes arrives,
 *  - and every SERVICE_KEYS_POLL_MS as the safety net for a lost message:
 *    one indexed query returning a row per service key (tens, not
 *    thousands), so polling it is cheaper than fingerprinting it.
 * While PostgreSQL is unreachable the last list stays in use.
 */
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Subscription } from "@nats-io/transport-node";
import { busSubjects, type Bus, type BusNames } from "../platform/bus.js";
import type { Logger } from "../platform/logging.js";

/** How often the list is reloaded without a notification (like KEY_CACHE_TTL_MS). */
export const SERVICE_KEYS_POLL_MS = 5_000;

/** What ingestion needs to know about a service API key. */
export interface ServiceKeyStatus {
  /** When the key was revoked (ms since the epoch); undefined while live. */
  revokedAtMs: number | undefined;
}

/** The face other modules read: the status of a service key, or undefined for any other key. */
export interface ServiceKeys {
  status(keyId: string): ServiceKeyStatus | undefined;
}

export class ServiceKeyRegistry implements ServiceKeys {
  private keys = new Map<string, ServiceKeyStatus>();
  private loaded = false;
  private timer: NodeJS.Timeout | undefined;
  private subscription: Subscription | undefined;
  private reloading: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly orm: () => MikroORM | undefined,
    private readonly bus: () => Bus | undefined,
    private readonly names: BusNames,
    private readonly logger: Logger,
    private readonly pollMs = SERVICE_KEYS_POLL_MS,
  ) {}

  status(keyId: string): ServiceKeyStatus | undefined {
    return this.keys.get(keyId);
  }

  /** True once the list was loaded. */
  get ready(): boolean {
    return this.loaded;
  }

  /** Loads the list and starts polling. */
  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => void this.reload(), this.pollMs);
    this.timer.unref();
  }

  /** Reloads when another node says keys changed. */
  listen(bus: Bus, names: BusNames): void {
    this.subscription?.unsubscribe();
    this.subscription = bus.nc.subscribe(busSubjects(names).serviceKeys, {
      callback: () => void this.reload(),
    });
  }

  /**
   * A key or a user's roles changed on this node (after the commit): reload
   * here before the RPC returns, and tell the other nodes.
   */
  async changed(): Promise<void> {
    await this.refresh();
    const bus = this.bus();
    if (bus === undefined || !bus.connected) return;
    try {
      bus.nc.publish(busSubjects(this.names).serviceKeys, "");
    } catch {
      // The other nodes' poll finds the change.
    }
  }

  /** Resolves once a list read after this call started is in place. */
  async refresh(): Promise<void> {
    while (this.reloading !== undefined) await this.reloading;
    await this.reload();
  }

  private reload(): Promise<void> {
    if (this.reloading !== undefined) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = this.load().finally(() => {
      this.reloading = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.reload();
      }
    });
    return this.reloading;
  }

  private async load(): Promise<void> {
    const orm = this.orm();
    if (orm === undefined || this.stopped) return;
    try {
      const rows = await orm.em
        .fork()
        .getConnection()
        .execute<{ id: string; revoked_at: Date | null }[]>(
          `select k.id, k.revoked_at from api_keys k join users u on u.id = k.user_id
           where 'service' = any(u.roles)`,
          [],
          "all",
        );
      const keys = new Map<string, ServiceKeyStatus>();
      for (const row of rows) {
        keys.set(row.id, {
          revokedAtMs: row.revoked_at === null ? undefined : new Date(row.revoked_at).getTime(),
        });
      }
      this.keys = keys;
      this.loaded = true;
    } catch (error) {
      this.logger.warn({ err: error }, "could not reload the service API keys; keeping the last");
    }
  }

  /** Stops polling and listening; waits for a reload in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.subscription?.unsubscribe();
    await this.reloading;
  }
}
