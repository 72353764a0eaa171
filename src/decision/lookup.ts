/**
 * The decision module's face for other modules (events): what an ingested
 * event is checked against — the decision-id signer's types and limit,
 * local decision ids (d2) and their derived keys, and the catalog snapshot
 * (its store and shape); and for privacy, the longest subject id Decide
 * accepts.
 */
export { MAX_DECISION_ID_LENGTH, localSigningKeys, verifyLocalDecisionId } from "./decision-id.js";
export type { DecisionClaims, DecisionSigner, LocalDecisionClaims } from "./decision-id.js";
export type { SnapshotStore } from "./snapshot.js";
export type { Snapshot, SnapshotEventType } from "./types.js";

/** Characters of a subject id Decide accepts (DECIDE_LIMITS.subjectIdLength). */
export const MAX_SUBJECT_ID_LENGTH = 256;
