/**
 * Which running experiments a subject takes part in: targeting and audience,
 * conflict domains (C11) and the participation policy (B5-6).
 *
 * Pure: no I/O, no clock and no per-subject state. The result for one
 * subject depends only on the configuration passed in (experiments, policy,
 * recently completed experiments), the subject id and the subject's
 * attributes, so every replica gives the same answer on every call.
 *
 * The rules, and why they are what they are, are in docs/participation.md
 * and docs/conflicts.md. In short:
 *
 * 1. An experiment *claims* the subject when its targeting rule matches and
 *    the subject's bucket falls inside the audience (a variant is assigned).
 * 2. Claiming experiments are ranked: priority (higher first), then start
 *    time (earlier first), then a per-subject hash, then the id.
 * 3. In rank order, each claiming experiment gets the subject unless one of
 *    its conflict domains is held by an experiment placed before it
 *    (domain_conflict), the subject is resting after a completed experiment
 *    (participation_limit, cooldown), or the subject is already placed in
 *    `maxConcurrentExperiments` experiments (participation_limit).
 *
 * A placed experiment's variant is always the one assignVariant gives for
 * its own bucket: participation decides only *whether* a subject is in an
 * experiment, never *which* variant.
 */
import type {
  CompletedExperiment,
  ParticipationPolicy,
  SnapshotExperiment,
  VariantRange,
} from "./types.js";

export type { CompletedExperiment } from "./types.js";

/** Bucket of a subject for a salt (bucketing.ts). */
export type BucketOf = (salt: string, subjectId: string) => number;

/** Variant whose included range holds the bucket; undefined outside the audience (bucketing.ts). */
export type AssignVariant = (bucket: number, ranges: VariantRange[]) => string | undefined;

/**
 * What resolution reads. A `Snapshot` fits as it is; `recentlyCompleted`
 * is needed only for a cooldown (see `cooldownHistoryStartMs`) and, when
 * absent, no subject is ever resting.
 */
export interface ParticipationInput {
  /** The live (running or paused) experiments that compete for subjects; each is ranked whatever its status. */
  readonly live: readonly SnapshotExperiment[];
  readonly policy: ParticipationPolicy;
  /** Completed experiments whose completion can start a cooldown; any order. */
  readonly recentlyCompleted?: readonly CompletedExperiment[];
}

/**
 * The answer for one experiment. The kinds map to DecisionReason:
 * EXPERIMENT, TARGETING_MISMATCH, OUTSIDE_AUDIENCE, DOMAIN_CONFLICT and
 * PARTICIPATION_LIMIT. When several apply, the first in that reason order
 * is reported (targeting before audience before domain before limit).
 */
export type ParticipationOutcome =
  | { readonly kind: "variant"; readonly variantKey: string }
  | { readonly kind: "targeting_mismatch" }
  | { readonly kind: "outside_audience" }
  /** winnerId: the higher-ranked experiment the subject was placed in that shares a domain. */
  | { readonly kind: "domain_conflict"; readonly winnerId: string }
  /** Already placed in maxConcurrentExperiments higher-ranked experiments. */
  | { readonly kind: "participation_limit"; readonly cause: "max_concurrent" }
  /** Resting: the experiment started within the cooldown after `afterExperimentId` completed. */
  | {
      readonly kind: "participation_limit";
      readonly cause: "cooldown";
      readonly afterExperimentId: string;
    };

/** The outcome of an experiment considered on its own (no policy, no domains). */
export type ClaimOutcome = Extract<
  ParticipationOutcome,
  { kind: "variant" | "targeting_mismatch" | "outside_audience" }
>;

const TARGETING_MISMATCH: ClaimOutcome = Object.freeze({ kind: "targeting_mismatch" });
const OUTSIDE_AUDIENCE: ClaimOutcome = Object.freeze({ kind: "outside_audience" });
const MAX_CONCURRENT: ParticipationOutcome = Object.freeze({
  kind: "participation_limit",
  cause: "max_concurrent",
});

/**
 * Prefix of the salt of the rank tie-break hash. It must differ from the
 * assignment salt: breaking ties with the assignment bucket itself would keep
 * low-bucket subjects (the first variants' slices) in one experiment and
 * hand the others to its rival, skewing both experiments' variant mix.
 */
const RANK_SALT_PREFIX = "lotty.participation.rank:";

/** Marks a subject the targeting rule does not match (vs undefined: outside the audience). */
const NOT_TARGETED = null;

type Claimable = Pick<SnapshotExperiment, "salt" | "ranges" | "rule">;

/** The assigned variant; NOT_TARGETED or undefined (outside the audience) when none. */
function claimedVariant(
  experiment: Claimable,
  subjectId: string,
  attributes: Readonly<Record<string, unknown>>,
  bucketOf: BucketOf,
  assignVariant: AssignVariant,
): string | typeof NOT_TARGETED | undefined {
  if (experiment.rule !== undefined && !experiment.rule.evaluate(attributes)) return NOT_TARGETED;
  return assignVariant(bucketOf(experiment.salt, subjectId), experiment.ranges);
}

/**
 * One experiment on its own: targeting, then audience, then the variant.
 * This is exactly what `resolveParticipation` answers for an experiment for
 * which `needsGlobalResolution` is false, at the cost of one rule evaluation
 * and one hash.
 */
export function claimExperiment(
  experiment: Claimable,
  subjectId: string,
  attributes: Readonly<Record<string, unknown>>,
  bucketOf: BucketOf,
  assignVariant: AssignVariant,
): ClaimOutcome {
  const variantKey = claimedVariant(experiment, subjectId, attributes, bucketOf, assignVariant);
  if (variantKey === NOT_TARGETED) return TARGETING_MISMATCH;
  if (variantKey === undefined) return OUTSIDE_AUDIENCE;
  return { kind: "variant", variantKey };
}

/**
 * Whether deciding `experiment` needs the other running experiments. False
 * when the policy is unlimited, has no cooldown and the experiment has no
 * conflict domain: then `claimExperiment` alone gives its answer.
 */
export function needsGlobalResolution(
  policy: ParticipationPolicy,
  experiment: Pick<SnapshotExperiment, "conflictDomains">,
): boolean {
  return (
    policy.maxConcurrentExperiments > 0 ||
    policy.cooldownSeconds > 0 ||
    experiment.conflictDomains.length > 0
  );
}

/**
 * The earliest completion time (epoch ms, inclusive) of a completed
 * experiment that can still start a cooldown for one of `live`: pass
 * every experiment completed at or after it as `recentlyCompleted`.
 * Undefined when the policy has no cooldown or nothing runs.
 */
export function cooldownHistoryStartMs(
  live: readonly Pick<SnapshotExperiment, "startedAt">[],
  policy: ParticipationPolicy,
): number | undefined {
  if (policy.cooldownSeconds <= 0 || live.length === 0) return undefined;
  let earliestStart = Infinity;
  for (const experiment of live) earliestStart = Math.min(earliestStart, experiment.startedAt);
  return earliestStart - policy.cooldownSeconds * 1000;
}

/** A running experiment that claims the subject. */
interface Claim {
  readonly experiment: SnapshotExperiment;
  readonly variantKey: string;
  /** Tie-break hash, computed only when a tie needs it (NaN until then). */
  rankHash: number;
  /** Completed experiment whose cooldown keeps the subject out, if any. */
  restingAfter: CompletedExperiment | undefined;
}

/**
 * Decides, for one subject, the outcome of every experiment in
 * `input.live`, keyed by experiment id. Deterministic for (input,
 * subjectId, attributes) and independent of the order of `input.live`
 * and `input.recentlyCompleted`.
 *
 * `bucketOf` and `assignVariant` are the bucketing functions (passed in so
 * this module stays independent of the hash). `_nowMs` is not read: no rule
 * depends on the time, which is what keeps a subject's answers sticky while
 * the configuration is unchanged (B2-4). It is accepted so that callers are
 * unaffected if a time-dependent rule is ever added.
 *
 * Cost: one rule evaluation and one hash per experiment; for claiming
 * experiments a small record each, a sort only when a domain or a limit
 * needs the ranking, a tie-break hash only for experiments tied on priority
 * and start time, and per completed experiment at most one more hash.
 */
export function resolveParticipation(
  input: ParticipationInput,
  subjectId: string,
  attributes: Readonly<Record<string, unknown>>,
  bucketOf: BucketOf,
  assignVariant: AssignVariant,
  _nowMs: number,
): Map<string, ParticipationOutcome> {
  const { live, policy } = input;
  const outcomes = new Map<string, ParticipationOutcome>();
  const claims: Claim[] = [];
  let anyDomain = false;

  for (const experiment of live) {
    const variantKey = claimedVariant(experiment, subjectId, attributes, bucketOf, assignVariant);
    if (variantKey === NOT_TARGETED) outcomes.set(experiment.id, TARGETING_MISMATCH);
    else if (variantKey === undefined) outcomes.set(experiment.id, OUTSIDE_AUDIENCE);
    else {
      claims.push({ experiment, variantKey, rankHash: NaN, restingAfter: undefined });
      if (experiment.conflictDomains.length > 0) anyDomain = true;
    }
  }
  if (claims.length === 0) return outcomes;

  const completed = input.recentlyCompleted;
  if (policy.cooldownSeconds > 0 && completed !== undefined && completed.length > 0) {
    const cooldownMs = policy.cooldownSeconds * 1000;
    markResting(claims, completed, cooldownMs, subjectId, attributes, bucketOf, assignVariant);
  }

  const limit = policy.maxConcurrentExperiments > 0 ? policy.maxConcurrentExperiments : Infinity;
  if (anyDomain || limit < claims.length) {
    claims.sort((a, b) => compareRank(a, b, subjectId, bucketOf));
  }

  /** Domain → rank position of the placed experiment holding it. */
  const heldBy = anyDomain ? new Map<string, number>() : undefined;
  let placed = 0;
  for (let position = 0; position < claims.length; position++) {
    const claim = claims[position]!;
    const experiment = claim.experiment;
    const winner = heldBy === undefined ? -1 : firstHolder(experiment.conflictDomains, heldBy);
    if (winner >= 0) {
      outcomes.set(experiment.id, {
        kind: "domain_conflict",
        winnerId: claims[winner]!.experiment.id,
      });
    } else if (claim.restingAfter !== undefined) {
      outcomes.set(experiment.id, {
        kind: "participation_limit",
        cause: "cooldown",
        afterExperimentId: claim.restingAfter.id,
      });
    } else if (placed >= limit) {
      outcomes.set(experiment.id, MAX_CONCURRENT);
    } else {
      outcomes.set(experiment.id, { kind: "variant", variantKey: claim.variantKey });
      placed++;
      if (heldBy !== undefined) {
        for (const domain of experiment.conflictDomains) heldBy.set(domain, position);
      }
    }
  }
  return outcomes;
}

/** The highest-ranked (lowest position) holder of any of the domains, or -1. */
function firstHolder(domains: readonly string[], heldBy: ReadonlyMap<string, number>): number {
  let first = -1;
  for (const domain of domains) {
    const position = heldBy.get(domain);
    if (position !== undefined && (first < 0 || position < first)) first = position;
  }
  return first;
}

/**
 * Rank order: priority (higher first), start time (earlier first, so an
 * experiment keeps its subjects when a rival of equal priority starts
 * later), the per-subject tie-break hash (smaller first), the id. Total,
 * since ids are unique, so the result never depends on the input order.
 */
function compareRank(a: Claim, b: Claim, subjectId: string, bucketOf: BucketOf): number {
  const x = a.experiment;
  const y = b.experiment;
  if (x.priority !== y.priority) return y.priority - x.priority;
  if (x.startedAt !== y.startedAt) return x.startedAt - y.startedAt;
  const hashA = rankHash(a, subjectId, bucketOf);
  const hashB = rankHash(b, subjectId, bucketOf);
  if (hashA !== hashB) return hashA - hashB;
  return x.id < y.id ? -1 : x.id > y.id ? 1 : 0;
}

function rankHash(claim: Claim, subjectId: string, bucketOf: BucketOf): number {
  if (Number.isNaN(claim.rankHash)) {
    claim.rankHash = bucketOf(RANK_SALT_PREFIX + claim.experiment.id, subjectId);
  }
  return claim.rankHash;
}

/**
 * Cooldown (ParticipationPolicy.cooldown_seconds): a subject that a
 * completed experiment claimed is kept out of every experiment started in
 * [completedAt, completedAt + cooldown). Both times are configuration, so
 * the answer never changes while an experiment runs. When several completed
 * experiments apply, the most recently completed one (then the smallest id)
 * is named.
 */
function markResting(
  claims: Claim[],
  completed: readonly CompletedExperiment[],
  cooldownMs: number,
  subjectId: string,
  attributes: Readonly<Record<string, unknown>>,
  bucketOf: BucketOf,
  assignVariant: AssignVariant,
): void {
  for (const done of completed) {
    const windowEnd = done.completedAt + cooldownMs;
    let relevant = false;
    for (const claim of claims) {
      const startedAt = claim.experiment.startedAt;
      if (startedAt >= done.completedAt && startedAt < windowEnd) {
        relevant = true;
        break;
      }
    }
    if (!relevant) continue;
    const variantKey = claimedVariant(done, subjectId, attributes, bucketOf, assignVariant);
    if (variantKey === NOT_TARGETED || variantKey === undefined) continue;
    for (const claim of claims) {
      const startedAt = claim.experiment.startedAt;
      if (startedAt < done.completedAt || startedAt >= windowEnd) continue;
      const current = claim.restingAfter;
      if (
        current === undefined ||
        done.completedAt > current.completedAt ||
        (done.completedAt === current.completedAt && done.id < current.id)
      ) {
        claim.restingAfter = done;
      }
    }
  }
}
