/**
 * The catalog's event types: create, read, update and archive. Every change
 * is one audited mutation (platform/mutation.ts) announced on
 * `<p>.config.event_type`. The row being changed is locked FOR UPDATE, so
 * retyping a property cannot race a metric that reads it.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { LockMode, type EntityManager } from "@mikro-orm/core";
import type {
  ArchiveEventTypeRequest,
  CreateEventTypeRequest,
  GetEventTypeRequest,
  ListEventTypesRequest,
  UpdateEventTypeRequest,
} from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { requirePrincipal } from "../platform/auth.js";
import { notFound } from "../platform/errors.js";
import { mutate } from "../platform/mutation.js";
import { EventType, Metric } from "./entities.js";
import {
  alreadyExists,
  catalogChange,
  checkedKey,
  eventTypeDefinition,
  inserting,
  isArchived,
  isBuiltinEventType,
  pageByKey,
  quoteList,
  toEventTypeMessage,
  type CatalogDeps,
} from "./messages.js";
import { FieldViolations, checkEventType, type EventTypeDraft } from "./validation.js";

export async function createEventType(
  { db, changes }: CatalogDeps,
  req: CreateEventTypeRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const v = new FieldViolations();
  const draft = checkEventType(v, "event_type", req.eventType);
  v.throwIfAny();
  const duplicate = () => alreadyExists("event_type.key", "an event type", draft.key);
  const { result: created } = await inserting(
    () =>
      mutate(db.orm.em.fork(), changes, async (tx) => {
        if ((await tx.findOne(EventType, { key: draft.key })) !== null) throw duplicate();
        const eventType = tx.create(EventType, { ...draft, builtin: false, archivedAt: null });
        const definition = eventTypeDefinition(draft);
        return catalogChange(
          eventType,
          "event_type",
          draft.key,
          actor.userId,
          "created",
          definition,
        );
      }),
    duplicate,
  );
  return { eventType: toEventTypeMessage(created) };
}

export async function getEventType({ db }: CatalogDeps, req: GetEventTypeRequest) {
  const key = checkedKey("key", req.key);
  const eventType = await db.orm.em.fork().findOne(EventType, { key });
  if (eventType === null) throw notFound("event type", key);
  return { eventType: toEventTypeMessage(eventType) };
}

export async function listEventTypes({ db }: CatalogDeps, req: ListEventTypesRequest) {
  const { page, nextPageToken } = await pageByKey(db, EventType, req);
  return { eventTypes: page.map(toEventTypeMessage), nextPageToken };
}

export async function updateEventType(
  { db, changes }: CatalogDeps,
  req: UpdateEventTypeRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const v = new FieldViolations();
  const draft = checkEventType(v, "event_type", req.eventType);
  v.throwIfAny();
  const { result: updated } = await mutate(db.orm.em.fork(), changes, async (tx) => {
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
    await checkNumberPropertiesKept(tx, eventType.key, draft);
    const before = eventTypeDefinition(eventType);
    eventType.name = draft.name;
    eventType.description = draft.description;
    eventType.properties = draft.properties;
    eventType.requiresExposure = draft.requiresExposure;
    return catalogChange(eventType, "event_type", eventType.key, actor.userId, "updated", {
      before,
      after: eventTypeDefinition(draft),
    });
  });
  return { eventType: toEventTypeMessage(updated) };
}

/**
 * Properties may be added, removed and retyped, except one that a metric
 * (archived or not: experiments keep reporting archived metrics) reads as
 * a number: it must stay, as a number property.
 */
async function checkNumberPropertiesKept(
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
  throw new ConnectError(`event_type.properties: ${problems.join("; ")}`, Code.FailedPrecondition);
}

export async function archiveEventType(
  { db, changes }: CatalogDeps,
  req: ArchiveEventTypeRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const key = checkedKey("key", req.key);
  const { result: archived } = await mutate(db.orm.em.fork(), changes, async (tx) => {
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
    if (isArchived(eventType)) return { result: eventType };
    eventType.archivedAt = new Date();
    return catalogChange(eventType, "event_type", key, actor.userId, "archived");
  });
  return { eventType: toEventTypeMessage(archived) };
}
