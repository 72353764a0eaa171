/** Tables owned by the catalog module: event types and metrics. */
import { defineEntity, p } from "@mikro-orm/core";
import { timestampColumns } from "../platform/entity-columns.js";

export type PropertyTypeName = "string" | "number" | "bool" | "timestamp";
export type MetricKindName = "count" | "conversion_rate" | "sum" | "mean" | "ratio" | "percentile";

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
    ...timestampColumns(),
  },
});
export class Metric extends MetricSchema.class {}
MetricSchema.setClass(Metric);

export const catalogEntities = [EventTypeSchema, MetricSchema];
