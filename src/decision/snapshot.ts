/**
 * Builds the decide snapshot from PostgreSQL and keeps it current: a
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
import { parseRule } from "../targeting/index.js";
import { busSubjects, type Bus, type BusNames } from "../platform/bus.js";
import type { Logger } from "../platform/logging.js";
import { variantRanges } from "./bucketing.js";
import { DEFAULT_POLICY, POLICY_SETTING, readPolicy } from "./policy-store.js";
import { cooldownHistoryStartMs, type CompletedExperiment } from "./eligibility.js";
import type { Snapshot, SnapshotEventType, SnapshotExperiment, SnapshotFlag } from "./types.js";

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
  properties: SnapshotEventType["properties"];
}

const EXPERIMENT_COLUMNS =
  "id, flag_key, status, version, rolled_back, config, started_at, created_at, completed_at";

/**
 * Builds a snapshot from plain rows (no entities: hydrating 10k flags
 * through the ORM's identity map costs far more memory than the snapshot
 * itself holds; see docs/benchmarks.md, P8).
 */
export async function buildSnapshot(em: EntityManager, logger: Logger): Promise<Snapshot> {
  // One read-only repeatable-read transaction: every query sees the same
  // committed state. Run on separate pool connections, a commit landing
  // between two of them once gave a snapshot whose running experiment was
  // missing from the known ids, so ingestion refused its decision ids.
  return em.transactional((tem) => readSnapshot(tem, logger), {
    isolationLevel: IsolationLevel.REPEATABLE_READ,
    readOnly: true,
  });
}

async function readSnapshot(em: EntityManager, logger: Logger): Promise<Snapshot> {
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
  const flags = new Map<string, SnapshotFlag>();
  const knownFlagKeys = new Set<string>();
  for (const row of flagRows) {
    knownFlagKeys.add(row.key);
    if (row.archived) continue;
    flags.set(row.key, { key: row.key, type: row.type, defaultValue: row.default_value });
  }
  const eventTypes = new Map<string, SnapshotEventType>();
  for (const row of eventTypeRows) {
    eventTypes.set(row.key, {
      key: row.key,
      archived: row.archived,
      requiresExposure: row.requires_exposure,
      properties: row.properties,
    });
  }
  const experimentByFlag = new Map<string, SnapshotExperiment>();
  const live: SnapshotExperiment[] = [];
  for (const row of experimentRows) {
    const config: ExperimentConfig = row.config;
    const ranges = storedRanges(row, logger);
    if (ranges === undefined) continue;
    const control = config.variants.find((v) => v.control);
    const experiment: SnapshotExperiment = {
      id: row.id,
      flagKey: row.flag_key,
      salt: row.id,
      version: row.version,
      status: row.status as "running" | "paused",
      rolledBack: row.rolled_back,
      audiencePercent: config.audiencePercent,
      ranges,
      controlKey: control?.key ?? "",
      values: new Map(config.variants.map((v) => [v.key, v.value])),
      rule: compileStoredRule(row.id, config.targetingRule, logger),
      conflictDomains: config.conflictDomains,
      priority: config.priority,
      startedAt: toMs(row.started_at ?? row.created_at),
    };
    if (flags.has(experiment.flagKey)) experimentByFlag.set(experiment.flagKey, experiment);
    // Paused experiments keep their place in the ranking, so pausing one
    // does not hand its subjects to rivals (and take them back on resume).
    live.push(experiment);
  }
  // The cooldown needs the experiments completed recently enough to matter.
  const recentlyCompleted: CompletedExperiment[] = [];
  const since = cooldownHistoryStartMs(live, policy);
  if (since !== undefined) {
    const completed = await select<ExperimentRow>(
      `select ${EXPERIMENT_COLUMNS} from experiments
       where status in ('completed', 'archived') and completed_at >= ?`,
      [new Date(since)],
    );
    for (const row of completed) {
      const ranges = storedRanges(row, logger);
      if (ranges === undefined) continue;
      recentlyCompleted.push({
        id: row.id,
        salt: row.id,
        ranges,
        rule: compileStoredRule(row.id, row.config.targetingRule, logger),
        completedAt: toMs(row.completed_at as Date),
      });
    }
  }
  return {
    version,
    builtAt: Date.now(),
    flags,
    sortedFlagKeys: [...flags.keys()].sort(),
    experimentByFlag,
    live,
    policy,
    recentlyCompleted,
    eventTypes,
    knownFlagKeys,
    knownExperimentIds: new Set(knownExperimentRows.map((row) => row.id)),
  };
}

/** Timestamps come back as Date (or as text from some drivers). */
function toMs(value: Date | string): number {
  return value instanceof Date ? value.getTime() : new Date(value).getTime();
}

/**
 * The stored layout as bucket ranges. Layouts are validated when saved; one
 * that no longer fits must not stop every reload, so the experiment is left
 * out (its flag serves the default) and the problem logged.
 */
function storedRanges(
  row: ExperimentRow,
  logger: Logger,
): SnapshotExperiment["ranges"] | undefined {
  try {
    return variantRanges(row.config.variants, row.config.audiencePercent);
  } catch (error) {
    logger.error(
      { err: error, experimentId: row.id },
      "stored variant layout is invalid; experiment skipped",
    );
    return undefined;
  }
}

/** Compiles a stored rule; one that no longer parses matches nobody (and is logged). */
function compileStoredRule(
  experimentId: string,
  source: string,
  logger: Logger,
): SnapshotExperiment["rule"] {
  if (source.trim() === "") return undefined;
  const parsed = parseRule(source);
  if (parsed.ok) return parsed.rule;
  logger.error(
    { experimentId, error: parsed.error.message },
    "stored targeting rule does not parse",
  );
  return { source, attributes: [], evaluate: () => false };
}

export class SnapshotStore {
  private snapshot: Snapshot | undefined;
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
    return this.snapshot;
  }

  get ready(): boolean {
    return this.snapshot !== undefined;
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
        this.snapshot !== undefined &&
        (await currentVersion(em)) === this.snapshot.version
      ) {
        return;
      }
      const next = await buildSnapshot(em, this.logger);
      if (!this.stopped) this.snapshot = next;
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
