/**
 * SnapshotSource: everything decide needs, as plain JSON-serialisable data.
 *
 * The server loads it from PostgreSQL (snapshot.ts, one REPEATABLE READ
 * read-only transaction) and compiles it with `compileSnapshot`
 * (compile.ts). It is also meant to be the wire format of a configuration
 * stream for in-process evaluation in other processes and languages, so
 * every field is documented here and none holds anything but JSON: strings,
 * finite numbers, booleans, null, arrays and objects. Times are epoch
 * milliseconds (UTC); JSON values (flag defaults, variant values) are the
 * value itself, not a string holding JSON.
 *
 * Compatibility: `format` is bumped on any change a reader must understand;
 * adding an optional field a reader may safely ignore does not bump it, so
 * readers ignore fields they do not know.
 *
 * Formats: 1, the first; 2 adds `rampPercent` to experiments (live and
 * completed). A reader that ignored it would admit subjects the ramp keeps
 * out, hence the bump. Format 2 is a superset of format 1: a reader of
 * format 2 reads format 1 (which never has `rampPercent`) the same way.
 *
 * Pure: this file is part of the decide core (see docs/architecture.md) and
 * imports nothing.
 */

/** The `format` of SnapshotSource this code writes. */
export const SNAPSHOT_SOURCE_FORMAT = 2;

/** Every `format` this code reads: a configuration of any other must not be decided with. */
export const READABLE_SNAPSHOT_SOURCE_FORMATS: readonly number[] = [1, 2];

/** Whether this code can decide with a SnapshotSource (or Configuration) of `format`. */
export function isReadableSnapshotSourceFormat(format: unknown): boolean {
  return typeof format === "number" && READABLE_SNAPSHOT_SOURCE_FORMATS.includes(format);
}

/** A flag's value type; its values (default, variants) are JSON of that type. */
export type FlagValueType = "string" | "number" | "bool" | "json";

/** One flag, archived ones included. */
export interface SourceFlag {
  /** The flag key, unique; what Decide's `flag_keys` name. */
  key: string;
  /** The type of its values. */
  type: FlagValueType;
  /**
   * The value served when no experiment applies: a JSON value of `type`
   * (string, number, boolean, or any JSON for "json").
   */
  defaultValue: unknown;
  /**
   * Archived flags are not served (Decide answers FLAG_NOT_FOUND) but stay
   * known, so decision ids that name them are still accepted by ingestion.
   */
  archived: boolean;
}

/** One variant of an experiment, in the experiment's variant order (the order matters: see docs/bucketing.md). */
export interface SourceVariant {
  /** The variant key, unique within the experiment. */
  key: string;
  /** The flag value this variant serves: a JSON value of the flag's type. */
  value: unknown;
  /** Percent of ALL traffic, 0.01 resolution; the weights add up to `audiencePercent`. */
  weight: number;
  /** The control variant: served to everyone when the experiment is rolled back. Exactly one per experiment. */
  control: boolean;
}

/** What assignment needs of an experiment, live or completed. */
export interface SourceAssignment {
  /** The experiment id; also the bucketing salt (docs/bucketing.md). */
  id: string;
  /** Percent of traffic (0–100, 0.01 resolution) in the experiment. */
  audiencePercent: number;
  /** The variants in order; their layout over the bucket space is `variantRanges(variants, audiencePercent)`. */
  variants: SourceVariant[];
  /**
   * Format 2. The ramp share: the percent (0–100, 0.01 resolution) of the
   * audience admitted so far. Each variant's included part is cut to its
   * first `floor(weight × 100 × rampPercent × 100 / 10000)` buckets
   * (`rampRanges`, docs/bucketing.md#5-ramping); the slices do not move, so
   * raising it only adds subjects and lowering it only removes the ones a
   * higher share added. Absent (or null) = 100, the whole audience. Applies
   * to completed experiments too: only subjects who were admitted start a
   * cooldown. A value that is not a valid percent leaves the experiment out,
   * as an invalid layout does.
   */
  rampPercent?: number;
  /**
   * The targeting rule as written (docs/targeting.md); "" or only blanks
   * targets everyone. A rule that does not parse matches nobody.
   */
  targetingRule: string;
}

/** A running or paused experiment. */
export interface SourceExperiment extends SourceAssignment {
  /** The flag it serves; at most one live experiment per flag. */
  flagKey: string;
  /** Paused experiments serve the flag's default but keep their place in participation ranking. */
  status: "running" | "paused";
  /** The configuration version, carried in decision ids. */
  version: number;
  /** A guardrail rolled it back: everyone gets the control variant's value. */
  rolledBack: boolean;
  /** Conflict domains (docs/conflicts.md): experiments sharing one never both take a subject. */
  conflictDomains: string[];
  /** Ranking priority, higher first (docs/participation.md). */
  priority: number;
  /** When it started (or, never started, was created), epoch ms: the second ranking key. */
  startedAt: number;
}

/** A completed experiment that may still put subjects in cooldown. */
export interface SourceCompletedExperiment extends SourceAssignment {
  /** When it was completed, epoch ms. */
  completedAt: number;
}

/** The participation policy (docs/participation.md). */
export interface SourcePolicy {
  /** At most this many experiments per subject at once; 0 = unlimited. */
  maxConcurrentExperiments: number;
  /** Cooldown after a completed experiment, in seconds; 0 = none. */
  cooldownSeconds: number;
}

/** An event type, as ingestion validates events against it (not used by decide itself). */
export interface SourceEventType {
  key: string;
  archived: boolean;
  /** Events of this type need a decision id whose exposure was recorded. */
  requiresExposure: boolean;
  /** The declared properties. */
  properties: {
    name: string;
    type: "string" | "number" | "bool" | "timestamp";
    required: boolean;
  }[];
}

/** Everything decide (and ingestion's checks) reads, as plain data. */
export interface SnapshotSource {
  /** SNAPSHOT_SOURCE_FORMAT of the writer. */
  format: number;
  /**
   * The configuration version: an opaque fingerprint that changes whenever
   * anything below changes; equal versions mean equal sources.
   */
  version: string;
  /** Every flag, archived ones included, in any order. */
  flags: SourceFlag[];
  /** The running and paused experiments, in any order. */
  experiments: SourceExperiment[];
  /**
   * Completed experiments whose completion may still start a cooldown: at
   * least every one completed at or after `cooldownHistoryStartMs` of the
   * live experiments (eligibility.ts); more are harmless. Empty without a
   * cooldown.
   */
  recentlyCompleted: SourceCompletedExperiment[];
  /** The participation policy (the default, unlimited and no cooldown, when never set). */
  policy: SourcePolicy;
  /** Every experiment id that was ever started, so decision ids naming it are accepted. */
  knownExperimentIds: string[];
  /** Every event type, archived ones included. */
  eventTypes: SourceEventType[];
}
