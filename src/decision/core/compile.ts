/**
 * compileSnapshot: a SnapshotSource (plain data) → the Snapshot decide
 * answers from (maps, bucket ranges, compiled targeting rules). Pure: no
 * I/O; the only clock read is `builtAt` when not given. Part of the decide
 * core (docs/architecture.md): imports nothing server-only.
 */
import { parseRule } from "../../targeting/index.js";
import { rampRanges, variantRanges } from "../bucketing.js";
import { cooldownHistoryStartMs } from "../eligibility.js";
import type {
  CompletedExperiment,
  Snapshot,
  SnapshotEventType,
  SnapshotExperiment,
  SnapshotFlag,
} from "../types.js";
import type { SnapshotSource, SourceAssignment } from "./source.js";

/**
 * A part of the source that cannot be served as stored. Neither stops the
 * compilation: an experiment with an invalid layout is left out (its flag
 * serves the default), a rule that does not parse matches nobody.
 */
export type CompileProblem =
  | { kind: "invalid_layout"; experimentId: string; error: unknown }
  | { kind: "invalid_rule"; experimentId: string; message: string };

export interface CompileOptions {
  /** Told about each problem (the server logs them). */
  onProblem?: (problem: CompileProblem) => void;
  /** The snapshot's `builtAt`, epoch ms; now when absent. */
  builtAt?: number;
}

export function compileSnapshot(source: SnapshotSource, options: CompileOptions = {}): Snapshot {
  const onProblem = options.onProblem ?? (() => {});
  const flags = new Map<string, SnapshotFlag>();
  const knownFlagKeys = new Set<string>();
  for (const flag of source.flags) {
    knownFlagKeys.add(flag.key);
    if (flag.archived) continue;
    flags.set(flag.key, { key: flag.key, type: flag.type, defaultValue: flag.defaultValue });
  }
  const eventTypes = new Map<string, SnapshotEventType>();
  for (const eventType of source.eventTypes) {
    eventTypes.set(eventType.key, {
      key: eventType.key,
      archived: eventType.archived,
      requiresExposure: eventType.requiresExposure,
      properties: eventType.properties,
    });
  }
  const experimentByFlag = new Map<string, SnapshotExperiment>();
  const live: SnapshotExperiment[] = [];
  for (const stored of source.experiments) {
    const ranges = rangesOf(stored, onProblem);
    if (ranges === undefined) continue;
    const control = stored.variants.find((v) => v.control);
    const experiment: SnapshotExperiment = {
      id: stored.id,
      flagKey: stored.flagKey,
      salt: stored.id,
      version: stored.version,
      status: stored.status,
      rolledBack: stored.rolledBack,
      audiencePercent: stored.audiencePercent,
      ranges,
      controlKey: control?.key ?? "",
      values: new Map(stored.variants.map((v) => [v.key, v.value])),
      rule: ruleOf(stored, onProblem),
      conflictDomains: stored.conflictDomains,
      priority: stored.priority,
      startedAt: stored.startedAt,
    };
    if (flags.has(experiment.flagKey)) experimentByFlag.set(experiment.flagKey, experiment);
    // Paused experiments keep their place in the ranking, so pausing one
    // does not hand its subjects to rivals (and take them back on resume).
    live.push(experiment);
  }
  // Only completions that can still start a cooldown for a live experiment.
  const recentlyCompleted: CompletedExperiment[] = [];
  const since = cooldownHistoryStartMs(live, source.policy);
  if (since !== undefined) {
    for (const stored of source.recentlyCompleted) {
      if (stored.completedAt < since) continue;
      const ranges = rangesOf(stored, onProblem);
      if (ranges === undefined) continue;
      recentlyCompleted.push({
        id: stored.id,
        salt: stored.id,
        ranges,
        rule: ruleOf(stored, onProblem),
        completedAt: stored.completedAt,
      });
    }
  }
  return {
    version: source.version,
    builtAt: options.builtAt ?? Date.now(),
    flags,
    sortedFlagKeys: [...flags.keys()].sort(),
    experimentByFlag,
    live,
    policy: {
      maxConcurrentExperiments: source.policy.maxConcurrentExperiments,
      cooldownSeconds: source.policy.cooldownSeconds,
    },
    recentlyCompleted,
    eventTypes,
    knownFlagKeys,
    knownExperimentIds: new Set(source.knownExperimentIds),
  };
}

/**
 * The stored layout as bucket ranges, cut to the ramp share when there is
 * one (absent or null: the whole audience). Layouts are validated when
 * saved; one that no longer fits (or an invalid rampPercent) must not stop
 * every reload, so the experiment is left out and the problem reported.
 */
function rangesOf(
  stored: SourceAssignment,
  onProblem: (problem: CompileProblem) => void,
): SnapshotExperiment["ranges"] | undefined {
  try {
    const ranges = variantRanges(stored.variants, stored.audiencePercent);
    const ramp = stored.rampPercent;
    return ramp === undefined || ramp === null ? ranges : rampRanges(ranges, ramp);
  } catch (error) {
    onProblem({ kind: "invalid_layout", experimentId: stored.id, error });
    return undefined;
  }
}

/** Compiles a stored rule; one that no longer parses matches nobody (and is reported). */
function ruleOf(
  stored: SourceAssignment,
  onProblem: (problem: CompileProblem) => void,
): SnapshotExperiment["rule"] {
  const source = stored.targetingRule;
  if (source.trim() === "") return undefined;
  const parsed = parseRule(source);
  if (parsed.ok) return parsed.rule;
  onProblem({ kind: "invalid_rule", experimentId: stored.id, message: parsed.error.message });
  return { source, attributes: [], evaluate: () => false };
}
