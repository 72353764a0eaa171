/**
 * The decide core: a SnapshotSource (plain data) compiles to a Snapshot, and
 * the Decider answers from a Snapshot with no I/O. Imports nothing
 * server-only (no ORM, database, bus, metrics or logging; lint enforces it),
 * so the Node client can evaluate in-process with the same code as the
 * server. See docs/architecture.md#the-decide-core.
 */
export {
  READABLE_SNAPSHOT_SOURCE_FORMATS,
  SNAPSHOT_SOURCE_FORMAT,
  isReadableSnapshotSourceFormat,
  type FlagValueType,
  type SnapshotSource,
  type SourceAssignment,
  type SourceCompletedExperiment,
  type SourceEventType,
  type SourceExperiment,
  type SourceFlag,
  type SourcePolicy,
  type SourceVariant,
} from "./source.js";
export { compileSnapshot, type CompileOptions, type CompileProblem } from "./compile.js";
export {
  REASON_NAMES,
  createDecider,
  decide,
  type DecideRequest,
  type Decider,
  type PlainDecision,
} from "./decider.js";
export type { Snapshot } from "../types.js";
export type { DecisionSigner, DecisionClaims } from "../decision-id.js";
