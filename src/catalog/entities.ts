/** Tables owned by the catalog module: event types and metrics. */
import { defineEntity, p } from "@mikro-orm/core";
import { timestampColumns } from "../platform/entity-columns.js";

export type PropertyTypeName = "string" | "number" | "bool" | "timestamp";
export type MetricKindName =
  | "count"
  | "conversion_rate"
  | "sum"
  | "mean"
  | "ratio"
  | "percentile"
  | "funnel"
  | "retention"
  | "session_count"
  | "session_duration";

export type FilterOperatorName = "eq" | "ne" | "gt" | "ge" | "lt" | "le";

/** A condition on one declared property of a funnel step's event type. */
export interface PropertyFilterConfig {
  property: string;
  operator: FilterOperatorName;
  /** The constant as text, read by `type`. */
  value: string;
  /** The property's declared type when the metric was saved. */
  type: PropertyTypeName;
}

export interface FunnelStepConfig {
  eventType: string;
  filter: PropertyFilterConfig | null;
}

/** The kind-specific definition of FUNNEL, RETENTION and session metrics. */
export interface MetricDefinitionConfig {
  funnel?: { steps: FunnelStepConfig[]; windowSeconds: number; order: "strict" | "loose" };
  retention?: { dayFrom: number; dayTo: number };
  session?: { gapSeconds: number };
}

export interface EventPropertyConfig {
  name: string;
  type: PropertyTypeName;
  required: boolean;
}

export const EventTypeSchema = defineEntity({
  name: "EventType",
  tableName: "event_types",
  properties: {
    key: p.string().length(100).primary(),
    name: p.string().length(200),
    description: p.text(),
    properties: p.json<EventPropertyConfig[]>(),
    /** Events of this type count only when an exposure exists for their decision. */
    requiresExposure: p.boolean(),
    /** Shipped with Lotty (the `exposure` type cannot be changed or archived). */
    builtin: p.boolean().default(false),
    archivedAt: p.datetime().nullable(),
    ...timestampColumns(),
  },
});
export class EventType extends EventTypeSchema.class {}
EventTypeSchema.setClass(EventType);

export const MetricSchema = defineEntity({
  name: "Metric",
  tableName: "metrics",
  properties: {
    key: p.string().length(100).primary(),
    name: p.string().length(200),
    description: p.text(),
    kind: p.string().length(20).$type<MetricKindName>(),
    /** The event type counted or measured (column event_type_key); null for ratios. */
    eventType: () => p.manyToOne(EventType).nullable(),
    /** The numeric property for sum, mean and percentile metrics. */
    property: p.string().length(100).nullable(),
    /** 0–100 for percentile metrics (e.g. 95). */
    percentile: p.double().nullable(),
    /** Ratio metrics: numerator and denominator (columns numerator_key, denominator_key). */
    numerator: () => p.manyToOne(Metric).nullable(),
    denominator: () => p.manyToOne(Metric).nullable(),
    requiresExposure: p.boolean(),
    builtin: p.boolean().default(false),
    archivedAt: p.datetime().nullable(),
    /** FUNNEL, RETENTION and session metrics: their definition; null for other kinds. */
    definition: p.json<MetricDefinitionConfig>().nullable(),
    ...timestampColumns(),
  },
});
export class Metric extends MetricSchema.class {}
MetricSchema.setClass(Metric);

export const catalogEntities = [EventTypeSchema, MetricSchema];
