/**
 * The catalog's shared mapping: rows to API messages, the audited
 * definitions, and the small request helpers event types and metrics share.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  UniqueConstraintViolationException,
  type EntityClass,
  type FilterQuery,
  type OrderDefinition,
} from "@mikro-orm/core";
import {
  FunnelOrder,
  type FunnelDefinitionSchema,
  type EventTypeSchema as EventTypeMessageSchema,
  type MetricSchema as MetricMessageSchema,
} from "../../gen/lotty/catalog/v1/catalog_pb.js";
import type { ChangePublisher } from "../platform/changes.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import type { Change } from "../platform/mutation.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import type { EventType, Metric, MetricDefinitionConfig } from "./entities.js";
import {
  EXPOSURE_EVENT_TYPE,
  FieldViolations,
  checkKey,
  filterOperatorFromName,
  metricKindFromName,
  propertyTypeFromName,
  type EventTypeDraft,
} from "./validation.js";

type EventTypeMessage = MessageInitShape<typeof EventTypeMessageSchema>;
type MetricMessage = MessageInitShape<typeof MetricMessageSchema>;

/** What the catalog's commands work with: the database and the change notices. */
export interface CatalogDeps {
  db: DatabaseHandle;
  changes: ChangePublisher;
}

/** True for the built-in `exposure` type, which cannot be changed or archived. */
export function isBuiltinEventType(eventType: EventType): boolean {
  return eventType.builtin && eventType.key === EXPOSURE_EVENT_TYPE;
}

export function isArchived(row: { archivedAt?: Date | null }): boolean {
  return row.archivedAt !== null && row.archivedAt !== undefined;
}

export function toEventTypeMessage(eventType: EventType): EventTypeMessage {
  return {
    key: eventType.key,
    name: eventType.name,
    description: eventType.description,
    properties: eventType.properties.map((p) => ({
      name: p.name,
      type: propertyTypeFromName(p.type),
      required: p.required,
    })),
    requiresExposure: eventType.requiresExposure,
    archived: isArchived(eventType),
    builtin: isBuiltinEventType(eventType),
    createdAt: timestampFromDate(eventType.createdAt),
    updatedAt: timestampFromDate(eventType.updatedAt),
  };
}

export function toMetricMessage(metric: Metric): MetricMessage {
  return {
    key: metric.key,
    name: metric.name,
    description: metric.description,
    kind: metricKindFromName(metric.kind),
    eventTypeKey: metric.eventType?.key ?? "",
    property: metric.property ?? "",
    percentile:
      metric.percentile === null || metric.percentile === undefined ? 0 : Number(metric.percentile),
    numeratorMetricKey: metric.numerator?.key ?? "",
    denominatorMetricKey: metric.denominator?.key ?? "",
    requiresExposure: metric.requiresExposure,
    archived: isArchived(metric),
    builtin: metric.builtin,
    createdAt: timestampFromDate(metric.createdAt),
    updatedAt: timestampFromDate(metric.updatedAt),
    funnel: funnelMessage(metric.definition ?? null),
    retention: metric.definition?.retention && { ...metric.definition.retention },
    session: metric.definition?.session && { gapSeconds: metric.definition.session.gapSeconds },
  };
}

/** The funnel definition of a metric message. */
function funnelMessage(
  d: MetricDefinitionConfig | null,
): MessageInitShape<typeof FunnelDefinitionSchema> | undefined {
  if (d?.funnel === undefined) return undefined;
  return {
    steps: d.funnel.steps.map((step) => ({
      eventTypeKey: step.eventType,
      filter:
        step.filter === null
          ? undefined
          : {
              property: step.filter.property,
              operator: filterOperatorFromName(step.filter.operator),
              value: step.filter.value,
            },
    })),
    conversionWindowSeconds: BigInt(d.funnel.windowSeconds),
    order: d.funnel.order === "strict" ? FunnelOrder.STRICT : FunnelOrder.LOOSE,
  };
}

/** The audited definition of an event type (catalog configuration holds no secrets). */
export function eventTypeDefinition(
  eventType: EventTypeDraft | EventType,
): Record<string, unknown> {
  return {
    name: eventType.name,
    description: eventType.description,
    properties: eventType.properties.map((p) => ({ ...p })),
    requiresExposure: eventType.requiresExposure,
  };
}

export function metricDefinition(metric: Metric): Record<string, unknown> {
  return {
    name: metric.name,
    description: metric.description,
    kind: metric.kind,
    eventTypeKey: metric.eventType?.key ?? null,
    property: metric.property ?? null,
    percentile: metric.percentile ?? null,
    numeratorKey: metric.numerator?.key ?? null,
    denominatorKey: metric.denominator?.key ?? null,
    requiresExposure: metric.requiresExposure,
    definition: metric.definition ?? null,
  };
}

export function checkedKey(field: string, key: string): string {
  const v = new FieldViolations();
  checkKey(v, field, key);
  v.throwIfAny();
  return key;
}

export function alreadyExists(field: string, what: string, key: string): ConnectError {
  return new ConnectError(
    `${field}: ${what} with key ${JSON.stringify(key)} already exists (keys stay taken after archiving)`,
    Code.AlreadyExists,
  );
}

/** Runs `create`, turning a primary key collision (a concurrent create) into ALREADY_EXISTS. */
export async function inserting<T>(create: () => Promise<T>, onDuplicate: () => ConnectError) {
  try {
    return await create();
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) throw onDuplicate();
    throw error;
  }
}

export function quoteList(keys: string[]): string {
  return keys.map((k) => JSON.stringify(k)).join(", ");
}

/** One page of event types or metrics in key order, archived ones only when asked. */
export async function pageByKey<Row extends { key: string }>(
  db: DatabaseHandle,
  entity: EntityClass<Row>,
  req: { pageSize: number; pageToken: string; includeArchived: boolean },
): Promise<{ page: Row[]; nextPageToken: string }> {
  const size = pageSize(req.pageSize);
  const after = decodePageToken(req.pageToken);
  const where = {
    ...(after === undefined ? {} : { key: { $gt: after } }),
    ...(req.includeArchived ? {} : { archivedAt: null }),
  } as FilterQuery<Row>;
  const rows = await db.orm.em
    .fork()
    .find(entity, where, { orderBy: { key: "asc" } as OrderDefinition<Row>, limit: size + 1 });
  const page = rows.slice(0, size);
  const last = page.at(-1);
  return { page, nextPageToken: rows.length > size && last ? encodePageToken(last.key) : "" };
}

/**
 * A catalog change: its audit row (`<kind>.<action>` on the key, with the
 * definition when given) and its notice on `<p>.config.<kind>`.
 */
export function catalogChange<T>(
  result: T,
  kind: "event_type" | "metric",
  key: string,
  actorId: string,
  action: "created" | "updated" | "archived",
  data?: Record<string, unknown>,
): Change<T> {
  return {
    result,
    audit: { actorId, entityType: kind, entityId: key, action: `${kind}.${action}`, data },
    notice: { kind, key, action },
  };
}
