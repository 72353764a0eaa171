/**
 * Builds the decide snapshot from PostgreSQL (load a SnapshotSource, then
 * compile it: core/) and keeps it current: a
 * configuration-change message on NATS triggers a reload, and a cheap
 * version query every few seconds is the safety net for lost messages.
 * Readers get the current snapshot with one property read; a reload
 * builds a new object and swaps the reference, so a request never sees a
 * half-built view. When PostgreSQL is unreachable the last snapshot stays
 * in service.
 */
import { IsolationLevel, type EntityManager } from "@mikro-orm/core";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Subscription } from "@nats-io/transport-node";
import type { FlagValueType } from "../flags/lookup.js";
import type { ExperimentConfig } from "../experiments/lookup.js";
import { busSubjects, type Bus, type BusNames } from "../platform/bus.js";
import type { Logger } from "../platform/logging.js";
import { DEFAULT_POLICY, POLICY_SETTING, readPolicy } from "./policy-store.js";
import { cooldownHistoryStartMs } from "./eligibility.js";
import {
  SNAPSHOT_SOURCE_FORMAT,
  compileSnapshot,
  type CompileProblem,
  type SnapshotSource,
  type SourceAssignment,
  type SourceCompletedExperiment,
  type SourceEventType,
  type SourceExperiment,
} from "./core/index.js";
import type { Snapshot } from "./types.js";

/** How often the version is compared with the database. */
export const VERSION_POLL_MS = 2_000;
/** Changes arriving within this window are folded into one reload. */
export const RELOAD_DEBOUNCE_MS = 20;

/**
 * A fingerprint of everything the snapshot depends on, from one cheap query
 * over the (small) configuration tables.
 *
 * It digests every row's stamp rather than taking max(updated_at): stamps
 * come from each writer's clock when it flushes, so a change from a replica
 * whose clock is behind, or one whose transaction commits after a
 * later-stamped one, can carry an updated_at older than the newest, and a
 * max would never see it. The poll is the safety net for exactly the
 * changes whose notification was lost, so it must not miss those.
 */
export async function currentVersion(em: EntityManager): Promise<string> {
  const rows = await em.getConnection().execute<Record<string, unknown>[]>(
    `select
       (select count(*) || ':' || coalesce(md5(string_agg(
          key || '|' || updated_at::text || '|' || coalesce(archived_at::text, ''),
          ',' order by key)), '') from flags) as f,
       (select count(*) || ':' || coalesce(md5(string_agg(
          id::text || '|' || status || '|' || version || '|' || rolled_back::text || '|' ||
          updated_at::text, ',' order by id)), '') from experiments) as e,
       (select updated_at::text || '|' || md5(value) from settings where key = ?) as p,
       (select count(*) || ':' || coalesce(md5(string_agg(
          key || '|' || updated_at::text || '|' || coalesce(archived_at::text, ''),
          ',' order by key)), '') from event_types) as t`,
    [POLICY_SETTING],
    "all",
    em.getTransactionContext(),
  );
  const row = rows[0] ?? {};
  return [row.f, row.e, row.p, row.t].map((v) => String(v ?? "-")).join("|");
}

/** The columns of an experiment row the snapshot reads. */
interface ExperimentRow {
  id: string;
  flag_key: string;
  status: string;
  version: number;
  rolled_back: boolean;
  config: ExperimentConfig;
  started_at: Date | null;
  created_at: Date;
  completed_at: Date | null;
  /** The ramp's share of the audience (docs/autopilot.md); null without a ramp. */
  ramp_percent: number | null;
}

interface FlagRow {
  key: string;
  type: FlagValueType;
  default_value: unknown;
  archived: boolean;
}

interface EventTypeRow {
  key: string;
  archived: boolean;
  requires_exposure: boolean;
  properties: SourceEventType["properties"];
}

const EXPERIMENT_COLUMNS =
  "id, flag_key, status, version, rolled_back, config, started_at, created_at, completed_at, ramp_percent";

/**
 * Builds a snapshot: loads its source from plain rows (no entities:
 * hydrating 10k flags through the ORM's identity map costs far more memory
 * than the snapshot itself holds; see docs/benchmarks.md, P8), then
 * compiles it (core/compile.ts), logging what cannot be served as stored.
 */
export async function buildSnapshot(em: EntityManager, logger: Logger): Promise<Snapshot> {
  return (await buildConfiguration(em, logger)).snapshot;
}

/** {@link buildSnapshot}, keeping the source it was compiled from (for the configuration stream). */
export async function buildConfiguration(
  em: EntityManager,
  logger: Logger,
): Promise<BuiltConfiguration> {
  const source = await loadSnapshotSource(em);
  const snapshot = compileSnapshot(source, {
    onProblem: (problem) => logProblem(logger, problem),
  });
  return { snapshot, source, builtAt: new Date() };
}

/**
 * Everything decide needs, as plain data (core/source.ts), from one
 * read-only repeatable-read transaction: every query sees the same
 * committed state. Run on separate pool connections, a commit landing
 * between two of them once gave a snapshot whose running experiment was
 * missing from the known ids, so ingestion refused its decision ids.
 */
export async function loadSnapshotSource(em: EntityManager): Promise<SnapshotSource> {
  return em.transactional((tem) => readSnapshotSource(tem), {
    isolationLevel: IsolationLevel.REPEATABLE_READ,
    readOnly: true,
  });
}

async function readSnapshotSource(em: EntityManager): Promise<SnapshotSource> {
  const connection = em.getConnection();
  const select = async <T>(sql: string, params: unknown[] = []): Promise<T[]> =>
    (await connection.execute(sql, params, "all", em.getTransactionContext())) as T[];
  const version = await currentVersion(em);
  const [flagRows, experimentRows, stored, eventTypeRows, knownExperimentRows] = await Promise.all([
    select<FlagRow>(
      `select key, type, default_value, archived_at is not null as archived from flags`,
    ),
    select<ExperimentRow>(
      `select ${EXPERIMENT_COLUMNS} from experiments where status in ('running', 'paused')`,
    ),
    readPolicy(em),
    select<EventTypeRow>(
      `select key, archived_at is not null as archived, requires_exposure, properties from event_types`,
    ),
    select<{ id: string }>(
      `select id from experiments where started_at is not null or status in ('running', 'paused', 'completed')`,
    ),
  ]);
  const policy =
    stored === undefined
      ? DEFAULT_POLICY
      : {
          maxConcurrentExperiments: stored.maxConcurrentExperiments,
          cooldownSeconds: stored.cooldownSeconds,
        };
  const experiments = experimentRows.map((row): SourceExperiment => ({
    ...assignmentOf(row),
    flagKey: row.flag_key,
    status: row.status as "running" | "paused",
    version: row.version,
    rolledBack: row.rolled_back,
    conflictDomains: row.config.conflictDomains,
    priority: row.config.priority,
    startedAt: toMs(row.started_at ?? row.created_at),
  }));
  // The cooldown needs the experiments completed recently enough to matter
  // (compileSnapshot keeps exactly those; this bound may fetch a few more).
  const recentlyCompleted: SourceCompletedExperiment[] = [];
  const since = cooldownHistoryStartMs(experiments, policy);
  if (since !== undefined) {
    const completed = await select<ExperimentRow>(
      `select ${EXPERIMENT_COLUMNS} from experiments
       where status in ('completed', 'archived') and completed_at >= ?`,
      [new Date(since)],
    );
    for (const row of completed) {
      recentlyCompleted.push({ ...assignmentOf(row), completedAt: toMs(row.completed_at as Date) });
    }
  }
  // Format 2 only when it matters: a client that reads only format 1 keeps
  // working until an experiment ramps (it must not serve a ramp it ignores).
  const ramps = [...experiments, ...recentlyCompleted].some((e) => e.rampPercent !== undefined);
  return {
    format: ramps ? SNAPSHOT_SOURCE_FORMAT : 1,
    version,
    flags: flagRows.map((row) => ({
      key: row.key,
      type: row.type,
      defaultValue: row.default_value,
      archived: row.archived,
    })),
    experiments,
    recentlyCompleted,
    policy,
    knownExperimentIds: knownExperimentRows.map((row) => row.id),
    eventTypes: eventTypeRows.map((row) => ({
      key: row.key,
      archived: row.archived,
      requiresExposure: row.requires_exposure,
      properties: row.properties,
    })),
  };
}

/** What assignment reads of an experiment row (its stored config). */
function assignmentOf(row: ExperimentRow): SourceAssignment {
  const config = row.config;
  return {
    id: row.id,
    audiencePercent: config.audiencePercent,
    variants: config.variants.map((v) => ({
      key: v.key,
      value: v.value,
      weight: v.weight,
      control: v.control,
    })),
    targetingRule: config.targetingRule,
    // Absent means the whole audience; a ramp at 100 % is the same layout.
    ...(row.ramp_percent === null || Number(row.ramp_percent) >= 100
      ? {}
      : { rampPercent: Number(row.ramp_percent) }),
  };
}

/** Timestamps come back as Date (or as text from some drivers). */
function toMs(value: Date | string): number {
  return value instanceof Date ? value.getTime() : new Date(value).getTime();
}

/** Logs what the compilation could not serve as stored (the experiment is left out, or its rule matches nobody). */
function logProblem(logger: Logger, problem: CompileProblem): void {
  if (problem.kind === "invalid_layout") {
    logger.error(
      { err: problem.error, experimentId: problem.experimentId },
      "stored variant layout is invalid; experiment skipped",
    );
  } else {
    logger.error(
      { experimentId: problem.experimentId, error: problem.message },
      "stored targeting rule does not parse",
    );
  }
}

/** A built configuration: the compiled snapshot and the source it came from. */
export interface BuiltConfiguration {
  snapshot: Snapshot;
  source: SnapshotSource;
  builtAt: Date;
}

export class SnapshotStore {
  private built: BuiltConfiguration | undefined;
  private readonly listeners = new Set<(built: BuiltConfiguration) => void>();
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private again = false;
  private subscription: Subscription | undefined;
  private stopped = false;

  constructor(
    private readonly orm: () => MikroORM | undefined,
    private readonly logger: Logger,
  ) {}

  get current(): Snapshot | undefined {
    return this.built?.snapshot;
  }

  get ready(): boolean {
    return this.built !== undefined;
  }

  /** The snapshot in use with its source (for the configuration stream). */
  get configuration(): BuiltConfiguration | undefined {
    return this.built;
  }

  /** Calls `listener` with every new configuration; returns the unsubscribe. */
  onChange(listener: (built: BuiltConfiguration) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Loads the first snapshot and starts polling the version. */
  async start(): Promise<void> {
    await this.reload(true);
    this.timer = setInterval(() => void this.reload(false), VERSION_POLL_MS);
    this.timer.unref();
  }

  /** Reloads on every configuration-change message. */
  listen(bus: Bus, names: BusNames): void {
    this.subscription?.unsubscribe();
    this.subscription = bus.nc.subscribe(busSubjects(names).anyConfig, {
      callback: () => this.schedule(),
    });
  }

  /** Asks for a reload soon, folding bursts of changes into one. */
  schedule(): void {
    if (this.stopped || this.pending !== undefined) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.reload(true);
    }, RELOAD_DEBOUNCE_MS);
  }

  /**
   * Rebuilds the snapshot when its version changed (always when `force`).
   * One reload runs at a time; a request during a reload runs after it.
   */
  reload(force: boolean): Promise<void> {
    if (this.reloading !== undefined) {
      this.again ||= force;
      return this.reloading;
    }
    this.reloading = this.doReload(force).finally(() => {
      this.reloading = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.reload(true);
      }
    });
    return this.reloading;
  }

  /**
   * Resolves once a snapshot built after this call started is in place:
   * for the node that committed a change, before its RPC returns. A reload
   * already in flight may have read before the commit, so it is waited for
   * and not counted.
   */
  async refresh(): Promise<void> {
    while (this.reloading !== undefined) await this.reloading.catch(() => {});
    await this.reload(true);
  }

  private async doReload(force: boolean): Promise<void> {
    const orm = this.orm();
    if (orm === undefined || this.stopped) return;
    const em = orm.em.fork();
    try {
      if (
        !force &&
        this.built !== undefined &&
        (await currentVersion(em)) === this.built.snapshot.version
      ) {
        return;
      }
      const next = await buildConfiguration(em, this.logger);
      if (this.stopped) return;
      const changed = this.built?.source.version !== next.source.version;
      this.built = next;
      if (changed) for (const listener of this.listeners) listener(next);
    } catch (error) {
      // Keep answering from the last snapshot; the next poll tries again.
      this.logger.warn({ err: error }, "could not refresh the decide snapshot");
    }
  }

  /** Stops refreshing and waits for a reload in flight (its queries hold pool clients). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    this.subscription?.unsubscribe();
    await this.reloading?.catch(() => {});
  }
}
