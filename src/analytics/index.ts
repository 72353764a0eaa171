/**
 * The analytics module's face: the one owner of the figures derived from
 * counted events (docs/architecture.md#analytics).
 *
 * - Writer: the event store hands it the events it counts, in the same
 *   transaction (addCounted).
 * - Rebuild: the same figures re-derived from the raw events of an
 *   experiment (rebuildRollups; `npm run reports:rebuild`).
 * - Reader: what reports and guardrails read for a plan and a window
 *   (loadAggregates, eventFigures, percentileFigures).
 *
 * Its tables (ROLLUP_TABLES) are written and read by nothing else.
 */
export { addCounted, type CountedEvent } from "./writer.js";
export { rebuildRollups, ROLLUP_TABLES, type RebuildResult } from "./rebuild.js";
export * from "./reader.js";
export {
  isExposureCount,
  quantityKey,
  subjectQuantities,
  type PlannedMetric,
  type ReportPlan,
  type SubjectQuantity,
} from "./plan.js";
export * from "./window.js";
export {
  NONE_SEGMENT,
  OTHER_SEGMENT,
  exposedSegmentValues,
  MAX_COMBINATIONS,
  recordedCombinations,
  segmentCounts,
  type CombinationCondition,
  type SegmentBreakdown,
  type DimensionCondition,
  type SegmentCondition,
  type SegmentCount,
  type SegmentFilter,
} from "./segments.js";
export * from "./segment-figures.js";
