/**
 * The reports' read model for other modules (the guardrail monitor): a
 * report's plan for an experiment and the percentile ranks a report uses.
 * The windowed figures themselves come from the analytics module.
 */
export { ranksFor } from "./builder.js";
export { loadPlan } from "./plan.js";
