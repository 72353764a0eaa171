/**
 * The compiled, immutable view decide answers from: compiled from a
 * SnapshotSource by core/compile.ts (the server loads the source in
 * snapshot.ts and swaps the result in atomically on configuration changes).
 * Part of the decide core: imports nothing server-only.
 */
import type { CompiledRule } from "../targeting/index.js";
import type { FlagValueType } from "./core/source.js";

export interface SnapshotFlag {
  key: string;
  type: FlagValueType;
  /** JSON value of the flag's type. */
  defaultValue: unknown;
}

/** One variant's share of the bucket space (see bucketing.ts). */
export interface VariantRange {
  key: string;
  /** First bucket of the variant's slice, inclusive. */
  start: number;
  /** End of the slice at full audience, exclusive. */
  sliceEnd: number;
  /** End of the part of the slice included at the current audience, exclusive. */
  includedEnd: number;
}

export interface SnapshotExperiment {
  id: string;
  flagKey: string;
  /** Hash salt: the experiment id, so assignment never depends on anything editable. */
  salt: string;
  /** Configuration version (changes only while in draft). */
  version: number;
  status: "running" | "paused";
  /** A guardrail rolled it back: everyone gets the control value. */
  rolledBack: boolean;
  audiencePercent: number;
  ranges: VariantRange[];
  controlKey: string;
  /** Variant key → JSON value. */
  values: ReadonlyMap<string, unknown>;
  /** Undefined when the experiment targets everyone. */
  rule: CompiledRule | undefined;
  conflictDomains: readonly string[];
  priority: number;
  startedAt: number;
}

/**
 * A completed experiment, as far as the cooldown needs it: who it claimed
 * (salt, ranges, rule at completion) and when it ended.
 */
export type CompletedExperiment = Pick<SnapshotExperiment, "id" | "salt" | "ranges" | "rule"> & {
  /** When it was completed, epoch milliseconds. */
  readonly completedAt: number;
};

export interface ParticipationPolicy {
  /** At most this many experiments per subject at once; 0 = unlimited. */
  maxConcurrentExperiments: number;
  /** Cooldown in seconds (see eligibility.ts and docs/participation.md); 0 = none. */
  cooldownSeconds: number;
}

/** An event type as ingestion validates against it. */
export interface SnapshotEventType {
  key: string;
  archived: boolean;
  requiresExposure: boolean;
  properties: readonly {
    name: string;
    type: "string" | "number" | "bool" | "timestamp";
    required: boolean;
  }[];
}

export interface Snapshot {
  /** Changes whenever anything decide depends on changes. */
  version: string;
  builtAt: number;
  flags: ReadonlyMap<string, SnapshotFlag>;
  /** Every flag key, sorted: the answer order when a request names no flags. */
  sortedFlagKeys: readonly string[];
  /** The running or paused experiment of each flag that has one. */
  experimentByFlag: ReadonlyMap<string, SnapshotExperiment>;
  /**
   * Live experiments: running and paused ones (started, not completed),
   * ranked together for participation and conflict resolution (a paused one
   * serves the default but keeps its subjects, so pausing does not
   * reshuffle them).
   */
  live: readonly SnapshotExperiment[];
  policy: ParticipationPolicy;
  /** Experiments completed recently enough to start a cooldown (empty without one). */
  recentlyCompleted: readonly CompletedExperiment[];
  /** Every event type, archived ones included (ingestion's catalog). */
  eventTypes: ReadonlyMap<string, SnapshotEventType>;
  /** Every flag key ever created, archived ones included (decision ids refer to them). */
  knownFlagKeys: ReadonlySet<string>;
  /** Every experiment id that was ever started (decision ids refer to them). */
  knownExperimentIds: ReadonlySet<string>;
}
