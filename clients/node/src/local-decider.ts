/**
 * createLocalDecider: evaluates flags in this process with the server's own
 * decide core (src/decision/core), from a configuration the server streams
 * (DecisionService/WatchConfiguration), so a decide costs no network round
 * trip. See README.md#local-evaluation and docs/local-evaluation.md.
 *
 * - Sync: a WatchConfiguration stream delivers the full configuration, then
 *   each new version, with heartbeats in between. A dropped stream is
 *   reopened with exponential backoff and jitter, telling the server the
 *   version already held. After `streamAttemptsBeforePolling` failed
 *   attempts in a row the decider also polls GetConfiguration (with
 *   if_none_match) every `pollIntervalMs`, and keeps trying the stream; the
 *   polling stops as soon as a stream delivers a message again.
 * - Freshness: any message from the server (configuration, heartbeat, poll
 *   answer) confirms the configuration held. After `staleAfterMs` without
 *   one the state is `stale`: `status()`, `onStatus` and every decision
 *   (`stale: true`) say so, and decisions keep coming from the last
 *   configuration held.
 * - A configuration of an unknown `format` is refused (logged, not used);
 *   the previous one stays and, since it is no longer the server's, turns
 *   stale after `staleAfterMs`. Formats 1 and 2 are read (2 adds ramp
 *   shares; READABLE_SNAPSHOT_SOURCE_FORMATS), from the server and from
 *   bootstrap files alike.
 * - Bootstrap: with `bootstrapFile`, a configuration saved by an earlier
 *   run is loaded at creation (so decide works before the server answers,
 *   and when it cannot be reached), and each new configuration is saved to
 *   it atomically (written to a temporary file, then renamed). The signing
 *   key is never written to disk.
 * - Decision ids: local ids (`d2.…`, docs/decision-ids.md) are signed with
 *   the key the server streams to ROLE_SERVICE API keys. Without a key a
 *   decision's `decisionId` is "" and `signed` is false: the value,
 *   reason and variant are right, but there is no id to attribute events
 *   with, so `expose` queues nothing (it logs once). An id is signed when
 *   first read (signing costs about as much as deciding a flag), and
 *   carries the time of that read.
 * - Exposures go through an EventSender, deduplicated per (subject,
 *   experiment, variant, experiment version) with a bounded LRU set.
 */
import { readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import type { JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  DecisionReason,
  type Configuration,
  type LocalSigningKey,
} from "../../../gen/lotty/decision/v1/decision_pb.js";
import {
  compileSnapshot,
  decide as coreDecide,
  isReadableSnapshotSourceFormat,
  READABLE_SNAPSHOT_SOURCE_FORMATS,
  type DecisionClaims,
  type DecisionSigner,
  type PlainDecision,
  type Snapshot,
  type SnapshotSource,
} from "../../../src/decision/core/index.js";
import { createLocalDecisionSigner } from "../../../src/decision/decision-id.js";
import { createLottyClient, type LottyClient, type LottyClientOptions } from "./client.js";
import { exposureProperties, type DecideAndExposeInput } from "./decide-and-expose.js";
import { EventSender, type EventSenderOptions } from "./event-sender.js";
import { backoffDelayMs } from "./retry.js";

/** `connecting` until the server first answers; then `fresh`, or `stale` after staleAfterMs of silence. */
export type LocalDeciderState = "connecting" | "fresh" | "stale";

export interface LocalDeciderStatus {
  state: LocalDeciderState;
  /** The configuration version held; "" when none. */
  version: string;
  /** The last time the server confirmed the configuration held (any message), or when the bootstrap file was saved. */
  lastUpdateAt: Date | undefined;
  /** Where the configuration held came from. */
  source: "none" | "bootstrap" | "stream" | "poll";
  /** Whether decisions carry signed ids (the server delivered a signing key). */
  signing: boolean;
  /** Whether the decider is polling GetConfiguration because the stream keeps failing. */
  polling: boolean;
}

/** The logger the decider reports to; `debug` and `info` are optional. */
export interface LocalDeciderLogger {
  debug?(message: string): void;
  info?(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export type LocalDeciderOptions = (LottyClientOptions | { client: LottyClient }) & {
  /** After this long without any message from the server, the state is `stale`. Default 60,000 ms. */
  staleAfterMs?: number;
  /** Poll interval once the stream keeps failing. Default 10,000 ms. */
  pollIntervalMs?: number;
  /** Failed stream attempts in a row before polling starts. Default 3. */
  streamAttemptsBeforePolling?: number;
  /** Reconnect backoff: first delay (doubled per attempt) and cap. Default 500 ms and 30,000 ms. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /**
   * A stream with no message for this long is closed and reopened (the
   * server sends a heartbeat every 15 s). Default 45,000 ms.
   */
  streamIdleTimeoutMs?: number;
  /** Load a saved configuration at start; save each new one here (atomically). */
  bootstrapFile?: string;
  /**
   * Where exposures go: an EventSender of yours (left open by close()), the
   * options of one the decider creates on the first exposure (and closes),
   * or `false` for none (expose throws).
   */
  events?: EventSender | EventSenderOptions | false;
  /** Most (subject, experiment, variant, version) exposures remembered for dedupe. Default 100,000. */
  exposureDedupeSize?: number;
  /**
   * A signing key to use until the server delivers one (the server's key
   * wins): for a key handed over out of band, or tests.
   */
  signingKey?: { keyId: string; secret: Uint8Array };
  /** Called on every change of state, version or source. */
  onStatus?: (status: LocalDeciderStatus) => void;
  /** Default: warnings and errors to console.error. */
  logger?: LocalDeciderLogger;
};

export interface LocalDecideRequest {
  subjectId: string;
  /** Attributes for targeting rules. */
  attributes?: Readonly<Record<string, unknown>>;
  /** The flags to decide; every active flag (sorted by key) when empty or absent. */
  flagKeys?: readonly string[];
}

/** One flag's decision, as the Decide RPC gives it, plus the freshness of the configuration. */
export interface LocalDecision {
  flagKey: string;
  /** The value as JSON; undefined only for FLAG_NOT_FOUND. */
  value: JsonValue | undefined;
  reason: DecisionReason;
  /** "" when no experiment applied. */
  experimentId: string;
  /** "" when the subject is in no variant. */
  variantKey: string;
  /** A local decision id (`d2.…`), signed when first read; "" without a signing key or for FLAG_NOT_FOUND. */
  readonly decisionId: string;
  /** Whether `decisionId` is (or will be, when read) a signed id. */
  signed: boolean;
  /** The configuration was not confirmed by the server within staleAfterMs. */
  stale: boolean;
  /** The configuration version it was decided with. */
  configVersion: string;
  subjectId: string;
  /** A plain object with every field (decisionId included: it is a getter). */
  toJSON(): Record<string, unknown>;
}

export type LocalExposeInput = Omit<DecideAndExposeInput, "subjectId" | "flagKey">;

export interface LocalDecider {
  /** Resolves once a configuration is held (stream, poll or bootstrap file); rejects if closed first. */
  ready(): Promise<void>;
  /** Decides in-process. Throws UNAVAILABLE before a configuration is held. */
  decide(request: LocalDecideRequest): LocalDecision[];
  /**
   * Queues the exposure of a decision that put the subject in a variant,
   * once per (subject, experiment, variant, experiment version). Returns the
   * event id, or undefined when nothing was queued (no variant, no id,
   * already exposed, sender full).
   */
  expose(decision: LocalDecision, input?: LocalExposeInput): string | undefined;
  /** Decides one flag and exposes it; FLAG_NOT_FOUND throws NOT_FOUND, like decideAndExpose. */
  decideAndExpose(
    input: DecideAndExposeInput,
  ): LocalDecision & { exposureEventId: string | undefined };
  status(): LocalDeciderStatus;
  /** Stops the stream, polling and timers; sends queued exposures (a sender it created is closed). */
  close(): Promise<void>;
}

export const LOCAL_DECIDER_DEFAULTS = {
  staleAfterMs: 60_000,
  pollIntervalMs: 10_000,
  streamAttemptsBeforePolling: 3,
  initialReconnectDelayMs: 500,
  maxReconnectDelayMs: 30_000,
  streamIdleTimeoutMs: 45_000,
  exposureDedupeSize: 100_000,
} as const;

/** The bootstrap file's content. */
interface SavedConfiguration {
  lottyLocalConfiguration: 1;
  savedAt: number;
  version: string;
  format: number;
  source: SnapshotSource;
}

/**
 * Each stream's deadline, whatever the client's default (the server refuses
 * deadlines over 5 minutes): the stream is then reopened, with the version
 * held, and goes on with a heartbeat.
 */
const STREAM_DEADLINE_MS = 240_000;

const NO_FLAG_KEYS: readonly string[] = Object.freeze([]);

const defaultLogger: LocalDeciderLogger = {
  warn: (message) => console.error(`lotty local decider: ${message}`),
  error: (message) => console.error(`lotty local decider: ${message}`),
};

export function createLocalDecider(options: LocalDeciderOptions): LocalDecider {
  return new LocalDeciderImpl(options);
}

/** A signer that records the claims of each call and signs nothing (ids are signed when read). */
class ClaimsRecorder implements DecisionSigner {
  claims: DecisionClaims[] = [];
  sign(claims: DecisionClaims): string {
    this.claims.push(claims);
    return "";
  }
  verify(): undefined {
    return undefined;
  }
}

class Decision implements LocalDecision {
  flagKey: string;
  value: JsonValue | undefined;
  reason: DecisionReason;
  experimentId: string;
  variantKey: string;
  signed: boolean;
  stale: boolean;
  configVersion: string;
  subjectId: string;
  /** The claims to sign, until signed. */
  claims: DecisionClaims | undefined;
  private id: string | undefined;
  private readonly signer: DecisionSigner | undefined;

  constructor(
    plain: PlainDecision,
    subjectId: string,
    claims: DecisionClaims | undefined,
    signer: DecisionSigner | undefined,
    stale: boolean,
    configVersion: string,
  ) {
    this.flagKey = plain.flagKey;
    this.value = plain.hasValue ? (plain.value as JsonValue) : undefined;
    this.reason = plain.reason;
    this.experimentId = plain.experimentId;
    this.variantKey = plain.variantKey;
    this.subjectId = subjectId;
    this.claims = claims;
    this.signer = claims === undefined ? undefined : signer;
    this.signed = this.signer !== undefined;
    this.stale = stale;
    this.configVersion = configVersion;
  }

  get decisionId(): string {
    if (this.id === undefined) {
      this.id =
        this.signer !== undefined && this.claims !== undefined ? this.signer.sign(this.claims) : "";
    }
    return this.id;
  }

  toJSON(): Record<string, unknown> {
    return {
      flagKey: this.flagKey,
      value: this.value,
      reason: this.reason,
      experimentId: this.experimentId,
      variantKey: this.variantKey,
      decisionId: this.decisionId,
      signed: this.signed,
      stale: this.stale,
      configVersion: this.configVersion,
      subjectId: this.subjectId,
    };
  }
}

class LocalDeciderImpl implements LocalDecider {
  private readonly client: LottyClient;
  private readonly logger: LocalDeciderLogger;
  private readonly staleAfterMs: number;
  private readonly pollIntervalMs: number;
  private readonly attemptsBeforePolling: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly idleTimeoutMs: number;
  private readonly dedupeSize: number;
  private readonly abort = new AbortController();

  private snapshot: Snapshot | undefined;
  private version = "";
  private source: LocalDeciderStatus["source"] = "none";
  private lastUpdateAt: number | undefined;
  private heardFromServer = false;
  private stale = false;
  private polling = false;
  private refusedVersion: string | undefined;
  private signer: DecisionSigner | undefined;
  private readonly recorder = new ClaimsRecorder();

  private staleTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly running: Promise<void>;
  private saving: Promise<void> = Promise.resolve();
  private lastStatus = "";
  private readyResolve!: () => void;
  private readyReject!: (error: unknown) => void;
  private readonly readyPromise: Promise<void>;

  private sender: EventSender | undefined;
  private readonly ownsSender: boolean;
  private readonly exposed = new Map<string, true>();
  private warnedUnsigned = false;

  constructor(private readonly options: LocalDeciderOptions) {
    this.client =
      "client" in options
        ? options.client
        : // Streams must not have a deadline; unary calls get their own.
          createLottyClient({ ...options, timeoutMs: 0 });
    this.logger = options.logger ?? defaultLogger;
    this.staleAfterMs = options.staleAfterMs ?? LOCAL_DECIDER_DEFAULTS.staleAfterMs;
    this.pollIntervalMs = options.pollIntervalMs ?? LOCAL_DECIDER_DEFAULTS.pollIntervalMs;
    this.attemptsBeforePolling =
      options.streamAttemptsBeforePolling ?? LOCAL_DECIDER_DEFAULTS.streamAttemptsBeforePolling;
    this.initialDelayMs =
      options.reconnect?.initialDelayMs ?? LOCAL_DECIDER_DEFAULTS.initialReconnectDelayMs;
    this.maxDelayMs = options.reconnect?.maxDelayMs ?? LOCAL_DECIDER_DEFAULTS.maxReconnectDelayMs;
    this.idleTimeoutMs = options.streamIdleTimeoutMs ?? LOCAL_DECIDER_DEFAULTS.streamIdleTimeoutMs;
    this.dedupeSize = options.exposureDedupeSize ?? LOCAL_DECIDER_DEFAULTS.exposureDedupeSize;
    if (options.events instanceof EventSender) {
      this.sender = options.events;
      this.ownsSender = false;
    } else {
      this.ownsSender = true;
    }
    if (options.signingKey !== undefined) {
      this.signer = createLocalDecisionSigner(options.signingKey.keyId, options.signingKey.secret);
    }
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    // A rejection nobody awaits must not crash the process.
    this.readyPromise.catch(() => {});
    if (options.bootstrapFile !== undefined) this.loadBootstrap(options.bootstrapFile);
    this.running = this.run();
  }

  // ------------------------------------------------------------ public API

  ready(): Promise<void> {
    return this.readyPromise;
  }

  decide(request: LocalDecideRequest): LocalDecision[] {
    const snapshot = this.snapshot;
    if (snapshot === undefined) {
      throw new ConnectError(
        "no configuration yet: await ready() before deciding",
        Code.Unavailable,
      );
    }
    const subjectId = request.subjectId;
    if (typeof subjectId !== "string" || subjectId === "") {
      throw new ConnectError("subjectId is required", Code.InvalidArgument);
    }
    const recorder = this.recorder;
    recorder.claims.length = 0;
    const plain = coreDecide(snapshot, recorder, {
      subjectId,
      attributes: request.attributes,
      flagKeys: request.flagKeys ?? NO_FLAG_KEYS,
    });
    const claims = recorder.claims;
    const out: LocalDecision[] = new Array(plain.length);
    let c = 0;
    for (let i = 0; i < plain.length; i++) {
      const decision = plain[i]!;
      // The core signs once per decision, in order, except FLAG_NOT_FOUND.
      let claim: DecisionClaims | undefined;
      if (decision.reason !== DecisionReason.FLAG_NOT_FOUND) {
        claim = claims[c++];
        if (claim?.flagKey !== decision.flagKey) {
          throw new Error(`internal: claims out of step for flag ${decision.flagKey}`);
        }
      }
      out[i] = new Decision(decision, subjectId, claim, this.signer, this.stale, snapshot.version);
    }
    return out;
  }

  expose(decision: LocalDecision, input: LocalExposeInput = {}): string | undefined {
    if (decision.variantKey === "") return undefined;
    if (!decision.signed) {
      if (!this.warnedUnsigned) {
        this.warnedUnsigned = true;
        this.logger.warn(
          "no signing key from the server (the API key needs ROLE_SERVICE): decisions carry no id and exposures are not sent",
        );
      }
      return undefined;
    }
    const claims = decision instanceof Decision ? decision.claims : undefined;
    const experimentVersion = claims?.configVersion ?? decision.configVersion;
    const key = `${decision.subjectId}\u0000${decision.experimentId}\u0000${decision.variantKey}\u0000${experimentVersion}`;
    if (this.exposed.has(key)) {
      // Refresh its place in the LRU order.
      this.exposed.delete(key);
      this.exposed.set(key, true);
      return undefined;
    }
    const sender = this.eventSender();
    const eventId = sender.send({
      eventType: input.exposureEventType ?? "exposure",
      decisionId: decision.decisionId,
      properties: exposureProperties({
        ...input,
        subjectId: decision.subjectId,
        flagKey: decision.flagKey,
      }),
    });
    if (eventId === undefined) return undefined;
    this.exposed.set(key, true);
    if (this.exposed.size > this.dedupeSize) {
      const oldest = this.exposed.keys().next();
      if (oldest.done !== true) this.exposed.delete(oldest.value);
    }
    return eventId;
  }

  decideAndExpose(
    input: DecideAndExposeInput,
  ): LocalDecision & { exposureEventId: string | undefined } {
    const [decision] = this.decide({
      subjectId: input.subjectId,
      flagKeys: [input.flagKey],
      ...(input.attributes !== undefined ? { attributes: input.attributes } : {}),
    });
    if (decision === undefined || decision.reason === DecisionReason.FLAG_NOT_FOUND) {
      throw new ConnectError(
        `flag "${input.flagKey}" does not exist or is archived`,
        Code.NotFound,
      );
    }
    const exposureEventId = this.expose(decision, input);
    return Object.assign(decision, { exposureEventId });
  }

  status(): LocalDeciderStatus {
    return {
      state: this.state(),
      version: this.version,
      lastUpdateAt: this.lastUpdateAt === undefined ? undefined : new Date(this.lastUpdateAt),
      source: this.source,
      signing: this.signer !== undefined,
      polling: this.polling,
    };
  }

  async close(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort(new ConnectError("the local decider was closed", Code.Canceled));
    this.readyReject(new ConnectError("the local decider was closed", Code.Canceled));
    clearTimeout(this.staleTimer);
    this.stopPolling();
    await this.running.catch(() => {});
    await this.saving;
    if (this.sender !== undefined) {
      if (this.ownsSender) await this.sender.close();
      else await this.sender.flush();
    }
  }

  // ------------------------------------------------------------ state

  private state(): LocalDeciderState {
    if (this.stale) return "stale";
    return this.heardFromServer ? "fresh" : "connecting";
  }

  private emitStatus(): void {
    const status = this.status();
    const key = `${status.state}|${status.version}|${status.source}|${status.signing}|${status.polling}`;
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    try {
      this.options.onStatus?.(status);
    } catch (error) {
      this.logger.error(`onStatus threw: ${String(error)}`);
    }
  }

  /** The server confirmed the configuration held (or sent a new one) at `at`. */
  private confirmed(at: number): void {
    this.lastUpdateAt = at;
    this.heardFromServer = true;
    this.stale = false;
    this.armStaleTimer();
    this.emitStatus();
  }

  private armStaleTimer(): void {
    clearTimeout(this.staleTimer);
    if (this.abort.signal.aborted || this.lastUpdateAt === undefined) return;
    const due = this.lastUpdateAt + this.staleAfterMs - Date.now();
    if (due <= 0) {
      this.stale = true;
      return;
    }
    this.staleTimer = setTimeout(() => {
      this.stale = true;
      this.logger.warn(
        `configuration ${this.version} not confirmed by the server for ${this.staleAfterMs} ms: stale`,
      );
      this.emitStatus();
    }, due);
    this.staleTimer.unref();
  }

  private useSigningKey(key: LocalSigningKey | undefined): void {
    if (key === undefined || key.keyId === "" || key.secret.length === 0) return;
    try {
      this.signer = createLocalDecisionSigner(key.keyId, key.secret);
    } catch (error) {
      this.logger.error(`the server's signing key is unusable: ${String(error)}`);
    }
  }

  /**
   * Applies a configuration from the server. Returns false when refused
   * (unknown format, or not valid JSON).
   */
  private apply(configuration: Configuration, from: "stream" | "poll"): boolean {
    if (configuration.version === this.version && this.snapshot !== undefined) {
      this.source = from;
      return true;
    }
    if (!isReadableSnapshotSourceFormat(configuration.format)) {
      this.refuse(
        configuration.version,
        `format ${configuration.format} (this client reads formats ${READABLE_SNAPSHOT_SOURCE_FORMATS.join(", ")}; upgrade @lotty/client)`,
      );
      return false;
    }
    let source: SnapshotSource;
    try {
      source = JSON.parse(configuration.sourceJson) as SnapshotSource;
      if (!isReadableSnapshotSourceFormat(source.format)) {
        throw new Error(`format ${source.format}`);
      }
      this.install(source, from);
    } catch (error) {
      this.refuse(configuration.version, `unreadable: ${String(error)}`);
      return false;
    }
    this.refusedVersion = undefined;
    if (this.options.bootstrapFile !== undefined) this.save(this.options.bootstrapFile, source);
    return true;
  }

  private refuse(version: string, why: string): void {
    if (this.refusedVersion !== version) {
      this.logger.error(
        `configuration ${version} refused: ${why}; keeping ${this.version || "none"}`,
      );
    }
    this.refusedVersion = version;
  }

  private install(source: SnapshotSource, from: LocalDeciderStatus["source"]): void {
    const snapshot = compileSnapshot(source, {
      onProblem: (problem) =>
        this.logger.warn(
          `configuration ${source.version}: ${problem.kind} in experiment ${problem.experimentId}`,
        ),
    });
    this.snapshot = snapshot;
    this.version = source.version;
    this.source = from;
    this.readyResolve();
  }

  // ------------------------------------------------------------ bootstrap file

  private loadBootstrap(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        this.logger.warn(`bootstrap file ${file} unreadable: ${String(error)}`);
      }
      return;
    }
    try {
      const saved = JSON.parse(text) as SavedConfiguration;
      if (
        saved.lottyLocalConfiguration !== 1 ||
        !isReadableSnapshotSourceFormat(saved.format) ||
        !isReadableSnapshotSourceFormat(saved.source?.format)
      ) {
        throw new Error(`unknown format ${saved.format}`);
      }
      this.install(saved.source, "bootstrap");
      this.lastUpdateAt = saved.savedAt;
      this.armStaleTimer();
      this.emitStatus();
    } catch (error) {
      this.logger.warn(`bootstrap file ${file} ignored: ${String(error)}`);
    }
  }

  private save(file: string, source: SnapshotSource): void {
    const saved: SavedConfiguration = {
      lottyLocalConfiguration: 1,
      savedAt: Date.now(),
      version: source.version,
      format: source.format,
      source,
    };
    this.saving = this.saving.then(async () => {
      const temporary = `${file}.${process.pid}.tmp`;
      try {
        await writeFile(temporary, JSON.stringify(saved), { mode: 0o600 });
        await rename(temporary, file);
      } catch (error) {
        this.logger.warn(`could not save the configuration to ${file}: ${String(error)}`);
      }
    });
  }

  // ------------------------------------------------------------ sync

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      const delivered = await this.streamOnce();
      if (this.abort.signal.aborted) break;
      failures = delivered ? 1 : failures + 1;
      if (failures >= this.attemptsBeforePolling) this.startPolling();
      const delay = backoffDelayMs(failures - 1, this.initialDelayMs, this.maxDelayMs);
      this.logger.debug?.(`stream closed; reconnecting in ${Math.round(delay)} ms`);
      await this.sleep(delay);
    }
  }

  /** One WatchConfiguration stream, until it ends or fails. Returns whether it delivered a message. */
  private async streamOnce(): Promise<boolean> {
    const attempt = new AbortController();
    const onClose = () => attempt.abort();
    this.abort.signal.addEventListener("abort", onClose, { once: true });
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => attempt.abort(), this.idleTimeoutMs);
      idle.unref();
    };
    let delivered = false;
    try {
      armIdle();
      const stream = this.client.decision.watchConfiguration(
        { knownVersion: this.snapshot !== undefined ? this.version : "" },
        { signal: attempt.signal, timeoutMs: STREAM_DEADLINE_MS },
      );
      for await (const message of stream) {
        armIdle();
        if (!delivered) {
          delivered = true;
          this.stopPolling();
        }
        if (message.signingKey !== undefined) this.useSigningKey(message.signingKey);
        if (message.configuration !== undefined) {
          if (!this.apply(message.configuration, "stream")) continue;
        } else if (this.refusedVersion !== undefined || this.snapshot === undefined) {
          // A heartbeat confirms only a configuration this client follows.
          continue;
        } else {
          this.source = "stream";
        }
        this.confirmed(Date.now());
      }
    } catch (error) {
      if (!this.abort.signal.aborted) {
        const failure = ConnectError.from(error);
        const log =
          failure.code === Code.PermissionDenied || failure.code === Code.Unauthenticated
            ? this.logger.error.bind(this.logger)
            : (this.logger.debug?.bind(this.logger) ?? (() => {}));
        log(`configuration stream: ${Code[failure.code]}: ${failure.rawMessage}`);
      }
    } finally {
      clearTimeout(idle);
      this.abort.signal.removeEventListener("abort", onClose);
    }
    return delivered;
  }

  private startPolling(): void {
    if (this.polling || this.abort.signal.aborted) return;
    this.polling = true;
    this.logger.warn(
      `the configuration stream keeps failing; polling every ${this.pollIntervalMs} ms`,
    );
    this.emitStatus();
    const tick = async () => {
      await this.pollOnce();
      if (this.polling && !this.abort.signal.aborted) {
        this.pollTimer = setTimeout(tick, this.pollIntervalMs);
        this.pollTimer.unref();
      }
    };
    void tick();
  }

  private stopPolling(): void {
    clearTimeout(this.pollTimer);
    if (!this.polling) return;
    this.polling = false;
    this.emitStatus();
  }

  private async pollOnce(): Promise<void> {
    try {
      const answer = await this.client.decision.getConfiguration(
        { ifNoneMatch: this.snapshot !== undefined ? this.version : "" },
        { signal: this.abort.signal, timeoutMs: 10_000 },
      );
      if (!this.polling) return;
      this.useSigningKey(answer.signingKey);
      if (answer.configuration !== undefined) {
        if (!this.apply(answer.configuration, "poll")) return;
      } else if (!answer.notModified || this.refusedVersion !== undefined) {
        return;
      }
      this.confirmed(Date.now());
    } catch (error) {
      if (this.abort.signal.aborted) return;
      const failure = ConnectError.from(error);
      this.logger.debug?.(`GetConfiguration: ${Code[failure.code]}: ${failure.rawMessage}`);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.abort.signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      const signal = this.abort.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }

  private eventSender(): EventSender {
    if (this.sender === undefined) {
      if (this.options.events === false) {
        throw new Error("this local decider has no events (events: false)");
      }
      this.sender = new EventSender(
        this.client.events,
        this.options.events instanceof EventSender ? undefined : this.options.events,
      );
    }
    return this.sender;
  }
}
