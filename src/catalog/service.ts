/**
 * lotty.catalog.v1.CatalogService: event types and metrics as data.
 *
 * Every mutation runs in one transaction with its audit row, and is
 * announced on `<p>.config.event_type` / `<p>.config.metric` after commit.
 * Rows another check depends on are locked for the length of the
 * transaction (the referenced event type and metrics FOR SHARE, the row
 * being changed FOR UPDATE), so archiving an event type cannot race a new
 * metric over it, nor retyping a property a metric that reads it.
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  LockMode,
  UniqueConstraintViolationException,
  type EntityManager,
  type FilterQuery,
} from "@mikro-orm/core";
import {
  CatalogService,
  type ArchiveEventTypeRequest,
  type ArchiveMetricRequest,
  type CreateEventTypeRequest,
  type CreateMetricRequest,
  type EventTypeSchema as EventTypeMessageSchema,
  type GetEventTypeRequest,
  type GetMetricRequest,
  type ListEventTypesRequest,
  type ListMetricsRequest,
  type MetricSchema as MetricMessageSchema,
  type UpdateEventTypeRequest,
  type UpdateMetricRequest,
} from "../../gen/lotty/catalog/v1/catalog_pb.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import type { ChangePublisher } from "../platform/changes.js";
import { notFound } from "../platform/errors.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import { recordAudit } from "../platform/audit.js";
import { requirePrincipal } from "../platform/auth.js";
import { EventType, Metric } from "./entities.js";
import {
  EXPOSURE_EVENT_TYPE,
  FieldViolations,
  RATIO_OPERAND_KINDS,
  checkEventType,
  checkKey,
  checkMetric,
  checkMetricReferences,
  metricKindFromName,
  propertyTypeFromName,
  type EventTypeDraft,
  type MetricDraft,
} from "./validation.js";

type EventTypeMessage = MessageInitShape<typeof EventTypeMessageSchema>;
type MetricMessage = MessageInitShape<typeof MetricMessageSchema>;

/** True for the built-in `exposure` type, which cannot be changed or archived. */
export function isBuiltinEventType(eventType: EventType): boolean {
  return eventType.builtin && eventType.key === EXPOSURE_EVENT_TYPE;
}

function isArchived(row: { archivedAt?: Date | null }): boolean {
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
  };
}

/** The audited definition of an event type (catalog configuration holds no secrets). */
function eventTypeDefinition(eventType: EventTypeDraft | EventType): Record<string, unknown> {
  return {
    name: eventType.name,
    description: eventType.description,
    properties: eventType.properties.map((p) => ({ ...p })),
    requiresExposure: eventType.requiresExposure,
  };
}

function metricDefinition(metric: Metric): Record<string, unknown> {
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
  };
}

function checkedKey(field: string, key: string): string {
  const v = new FieldViolations();
  checkKey(v, field, key);
  v.throwIfAny();
  return key;
}

function alreadyExists(field: string, what: string, key: string): ConnectError {
  return new ConnectError(
    `${field}: ${what} with key ${JSON.stringify(key)} already exists (keys stay taken after archiving)`,
    Code.AlreadyExists,
  );
}

/** Runs `create`, turning a primary key collision (a concurrent create) into ALREADY_EXISTS. */
async function inserting<T>(create: () => Promise<T>, onDuplicate: () => ConnectError) {
  try {
    return await create();
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) throw onDuplicate();
    throw error;
  }
}

interface MetricReferences {
  eventType: EventType | null;
  numerator: Metric | null;
  denominator: Metric | null;
}

/** Loads (and share-locks) the rows a metric draft refers to, then checks them. */
async function resolveReferences(
  tx: EntityManager,
  draft: MetricDraft,
  field: string,
): Promise<MetricReferences> {
  const lock = { lockMode: LockMode.PESSIMISTIC_READ } as const;
  const eventType =
    draft.eventTypeKey === null
      ? null
      : await tx.findOne(EventType, { key: draft.eventTypeKey }, lock);
  const numerator =
    draft.numeratorKey === null
      ? null
      : await tx.findOne(Metric, { key: draft.numeratorKey }, lock);
  const denominator =
    draft.denominatorKey === null
      ? null
      : await tx.findOne(Metric, { key: draft.denominatorKey }, lock);
  const v = new FieldViolations();
  const operand = (m: Metric | null) =>
    m === null ? null : { key: m.key, archived: isArchived(m), kind: m.kind };
  checkMetricReferences(v, field, draft, {
    eventType:
      eventType === null
        ? null
        : { key: eventType.key, archived: isArchived(eventType), properties: eventType.properties },
    numerator: operand(numerator),
    denominator: operand(denominator),
  });
  v.throwIfAny();
  return { eventType, numerator, denominator };
}

/** Copies a checked draft and its resolved references onto a metric row. */
function applyMetric(metric: Metric, draft: MetricDraft, refs: MetricReferences): void {
  if (draft.kind === undefined) throw new Error("applyMetric needs a validated draft");
  metric.name = draft.name;
  metric.description = draft.description;
  metric.kind = draft.kind;
  metric.eventType = refs.eventType;
  metric.property = draft.property;
  metric.percentile = draft.percentile;
  metric.numerator = refs.numerator;
  metric.denominator = refs.denominator;
  metric.requiresExposure = draft.requiresExposure;
}

function quoteList(keys: string[]): string {
  return keys.map((k) => JSON.stringify(k)).join(", ");
}

export class CatalogServiceImpl implements ServiceImpl<typeof CatalogService> {
  constructor(
    private readonly db: DatabaseHandle,
    private readonly changes: ChangePublisher,
  ) {}

  // ---- event types ----

  async createEventType(req: CreateEventTypeRequest, ctx: HandlerContext) {
    const actor = requirePrincipal(ctx);
    const v = new FieldViolations();
    const draft = checkEventType(v, "event_type", req.eventType);
    v.throwIfAny();
    const duplicate = () => alreadyExists("event_type.key", "an event type", draft.key);
    const em = this.db.orm.em.fork();
    const created = await inserting(
      () =>
        em.transactional(async (tx) => {
          if ((await tx.findOne(EventType, { key: draft.key })) !== null) throw duplicate();
          const eventType = tx.create(EventType, { ...draft, builtin: false, archivedAt: null });
          recordAudit(tx, {
            actorId: actor.userId,
            entityType: "event_type",
            entityId: draft.key,
            action: "event_type.created",
            data: eventTypeDefinition(draft),
          });
          return eventType;
        }),
      duplicate,
    );
    await this.changes.configChanged({ kind: "event_type", key: created.key, action: "created" });
    return { eventType: toEventTypeMessage(created) };
  }

  async getEventType(req: GetEventTypeRequest) {
    const key = checkedKey("key", req.key);
    const eventType = await this.db.orm.em.fork().findOne(EventType, { key });
    if (eventType === null) throw notFound("event type", key);
    return { eventType: toEventTypeMessage(eventType) };
  }

  async listEventTypes(req: ListEventTypesRequest) {
    const size = pageSize(req.pageSize);
    const after = decodePageToken(req.pageToken);
    const where: FilterQuery<EventType> = {
      ...(after === undefined ? {} : { key: { $gt: after } }),
      ...(req.includeArchived ? {} : { archivedAt: null }),
    };
    const rows = await this.db.orm.em
      .fork()
      .find(EventType, where, { orderBy: { key: "asc" }, limit: size + 1 });
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      eventTypes: page.map(toEventTypeMessage),
      nextPageToken: rows.length > size && last ? encodePageToken(last.key) : "",
    };
  }

  async updateEventType(req: UpdateEventTypeRequest, ctx: HandlerContext) {
    const actor = requirePrincipal(ctx);
    const v = new FieldViolations();
    const draft = checkEventType(v, "event_type", req.eventType);
    v.throwIfAny();
    const em = this.db.orm.em.fork();
    const updated = await em.transactional(async (tx) => {
      const eventType = await tx.findOne(
        EventType,
        { key: draft.key },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (eventType === null) throw notFound("event type", draft.key);
      if (isBuiltinEventType(eventType)) {
        throw new ConnectError(
          `event_type.key: the built-in event type ${JSON.stringify(eventType.key)} cannot be changed`,
          Code.FailedPrecondition,
        );
      }
      if (isArchived(eventType)) {
        throw new ConnectError(
          `event_type.key: event type ${JSON.stringify(eventType.key)} is archived and cannot be changed`,
          Code.FailedPrecondition,
        );
      }
      await this.checkNumberPropertiesKept(tx, eventType.key, draft);
      const before = eventTypeDefinition(eventType);
      eventType.name = draft.name;
      eventType.description = draft.description;
      eventType.properties = draft.properties;
      eventType.requiresExposure = draft.requiresExposure;
      recordAudit(tx, {
        actorId: actor.userId,
        entityType: "event_type",
        entityId: eventType.key,
        action: "event_type.updated",
        data: { before, after: eventTypeDefinition(draft) },
      });
      return eventType;
    });
    await this.changes.configChanged({ kind: "event_type", key: updated.key, action: "updated" });
    return { eventType: toEventTypeMessage(updated) };
  }

  /**
   * Properties may be added, removed and retyped, except one that a metric
   * (archived or not: experiments keep reporting archived metrics) reads as
   * a number: it must stay, as a number property.
   */
  private async checkNumberPropertiesKept(
    tx: EntityManager,
    eventTypeKey: string,
    draft: EventTypeDraft,
  ): Promise<void> {
    const readers = await tx.find(
      Metric,
      { eventType: eventTypeKey, property: { $ne: null } },
      { orderBy: { key: "asc" } },
    );
    const broken = new Map<string, string[]>();
    for (const metric of readers) {
      const name = metric.property ?? "";
      const kept = draft.properties.find((p) => p.name === name);
      if (kept?.type !== "number") broken.set(name, [...(broken.get(name) ?? []), metric.key]);
    }
    if (broken.size === 0) return;
    const problems = [...broken].map(
      ([name, metrics]) =>
        `property ${JSON.stringify(name)} must stay a number property: metrics ${quoteList(metrics)} read it`,
    );
    throw new ConnectError(
      `event_type.properties: ${problems.join("; ")}`,
      Code.FailedPrecondition,
    );
  }

  async archiveEventType(req: ArchiveEventTypeRequest, ctx: HandlerContext) {
    const actor = requirePrincipal(ctx);
    const key = checkedKey("key", req.key);
    const em = this.db.orm.em.fork();
    let changed = false;
    const archived = await em.transactional(async (tx) => {
      const eventType = await tx.findOne(
        EventType,
        { key },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (eventType === null) throw notFound("event type", key);
      if (isBuiltinEventType(eventType)) {
        throw new ConnectError(
          `key: the built-in event type ${JSON.stringify(key)} cannot be archived`,
          Code.FailedPrecondition,
        );
      }
      if (!isArchived(eventType)) {
        eventType.archivedAt = new Date();
        recordAudit(tx, {
          actorId: actor.userId,
          entityType: "event_type",
          entityId: key,
          action: "event_type.archived",
        });
        changed = true;
      }
      return eventType;
    });
    if (changed) await this.changes.configChanged({ kind: "event_type", key, action: "archived" });
    return { eventType: toEventTypeMessage(archived) };
  }

  // ---- metrics ----

  async createMetric(req: CreateMetricRequest, ctx: HandlerContext) {
    const actor = requirePrincipal(ctx);
    const v = new FieldViolations();
    const draft = checkMetric(v, "metric", req.metric);
    v.throwIfAny();
    const duplicate = () => alreadyExists("metric.key", "a metric", draft.key);
    const em = this.db.orm.em.fork();
    const created = await inserting(
      () =>
        em.transactional(async (tx) => {
          if ((await tx.findOne(Metric, { key: draft.key })) !== null) throw duplicate();
          const refs = await resolveReferences(tx, draft, "metric");
          const metric = tx.create(Metric, {
            key: draft.key,
            name: draft.name,
            description: draft.description,
            kind: draft.kind ?? "count",
            requiresExposure: draft.requiresExposure,
            builtin: false,
            archivedAt: null,
          });
          applyMetric(metric, draft, refs);
          recordAudit(tx, {
            actorId: actor.userId,
            entityType: "metric",
            entityId: draft.key,
            action: "metric.created",
            data: metricDefinition(metric),
          });
          return metric;
        }),
      duplicate,
    );
    await this.changes.configChanged({ kind: "metric", key: created.key, action: "created" });
    return { metric: toMetricMessage(created) };
  }

  async getMetric(req: GetMetricRequest) {
    const key = checkedKey("key", req.key);
    const metric = await this.db.orm.em.fork().findOne(Metric, { key });
    if (metric === null) throw notFound("metric", key);
    return { metric: toMetricMessage(metric) };
  }

  async listMetrics(req: ListMetricsRequest) {
    const size = pageSize(req.pageSize);
    const after = decodePageToken(req.pageToken);
    const where: FilterQuery<Metric> = {
      ...(after === undefined ? {} : { key: { $gt: after } }),
      ...(req.includeArchived ? {} : { archivedAt: null }),
    };
    const rows = await this.db.orm.em
      .fork()
      .find(Metric, where, { orderBy: { key: "asc" }, limit: size + 1 });
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      metrics: page.map(toMetricMessage),
      nextPageToken: rows.length > size && last ? encodePageToken(last.key) : "",
    };
  }

  async updateMetric(req: UpdateMetricRequest, ctx: HandlerContext) {
    const actor = requirePrincipal(ctx);
    const v = new FieldViolations();
    const draft = checkMetric(v, "metric", req.metric);
    v.throwIfAny();
    const em = this.db.orm.em.fork();
    const updated = await em.transactional(async (tx) => {
      const metric = await tx.findOne(
        Metric,
        { key: draft.key },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (metric === null) throw notFound("metric", draft.key);
      if (isArchived(metric)) {
        throw new ConnectError(
          `metric.key: metric ${JSON.stringify(metric.key)} is archived and cannot be changed`,
          Code.FailedPrecondition,
        );
      }
      const refs = await resolveReferences(tx, draft, "metric");
      if (draft.kind !== undefined && !RATIO_OPERAND_KINDS.has(draft.kind)) {
        const ratios = await tx.find(
          Metric,
          { $or: [{ numerator: metric.key }, { denominator: metric.key }] },
          { orderBy: { key: "asc" } },
        );
        if (ratios.length > 0) {
          throw new ConnectError(
            `metric.kind: ratio metrics ${quoteList(ratios.map((m) => m.key))} divide this metric, so it must stay METRIC_KIND_COUNT or METRIC_KIND_SUM`,
            Code.FailedPrecondition,
          );
        }
      }
      const before = metricDefinition(metric);
      applyMetric(metric, draft, refs);
      recordAudit(tx, {
        actorId: actor.userId,
        entityType: "metric",
        entityId: metric.key,
        action: "metric.updated",
        data: { before, after: metricDefinition(metric) },
      });
      return metric;
    });
    await this.changes.configChanged({ kind: "metric", key: updated.key, action: "updated" });
    return { metric: toMetricMessage(updated) };
  }

  async archiveMetric(req: ArchiveMetricRequest, ctx: HandlerContext) {
    const actor = requirePrincipal(ctx);
    const key = checkedKey("key", req.key);
    const em = this.db.orm.em.fork();
    let changed = false;
    const archived = await em.transactional(async (tx) => {
      const metric = await tx.findOne(Metric, { key }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (metric === null) throw notFound("metric", key);
      if (!isArchived(metric)) {
        metric.archivedAt = new Date();
        recordAudit(tx, {
          actorId: actor.userId,
          entityType: "metric",
          entityId: key,
          action: "metric.archived",
        });
        changed = true;
      }
      return metric;
    });
    if (changed) await this.changes.configChanged({ kind: "metric", key, action: "archived" });
    return { metric: toMetricMessage(archived) };
  }
}
