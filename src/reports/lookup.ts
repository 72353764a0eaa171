/**
 * The reports' read model for other modules (the guardrail monitor): a
 * report's plan for an experiment and the windowed figures read from the
 * rollups, computed the way a report computes them.
 */
export { ranksFor } from "./builder.js";
export {
  loadPlan,
  quantityKey,
  type PlannedMetric,
  type ReportPlan,
  type SubjectQuantity,
} from "./plan.js";
export { eventFigures, percentileFigures, type EventSums } from "./queries.js";
export type { ReportWindow } from "./window.js";
