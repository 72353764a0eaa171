/**
 * The catalog's metrics: create, read, update and archive. Every change is
 * one audited mutation (platform/mutation.ts) announced on
 * `<p>.config.metric`. The event type and metrics a metric refers to are
 * locked FOR SHARE and the metric being changed FOR UPDATE, so archiving an
 * event type cannot race a new metric over it.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { LockMode, type EntityManager } from "@mikro-orm/core";
import type {
  ArchiveMetricRequest,
  CreateMetricRequest,
  GetMetricRequest,
  ListMetricsRequest,
  UpdateMetricRequest,
} from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { requirePrincipal } from "../platform/auth.js";
import { notFound } from "../platform/errors.js";
import { mutate } from "../platform/mutation.js";
import { EventType, Metric } from "./entities.js";
import {
  alreadyExists,
  catalogChange,
  checkedKey,
  inserting,
  isArchived,
  metricDefinition,
  pageByKey,
  quoteList,
  toMetricMessage,
  type CatalogDeps,
} from "./messages.js";
import {
  FieldViolations,
  RATIO_OPERAND_KINDS,
  checkMetric,
  checkMetricReferences,
  type MetricDraft,
} from "./validation.js";

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
  const stepKeys = [...new Set(draft.definition?.funnel?.steps.map((s) => s.eventType) ?? [])];
  const stepRows =
    stepKeys.length === 0 ? [] : await tx.find(EventType, { key: { $in: stepKeys } }, lock);
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
    stepEventTypes: new Map(
      stepRows.map((e) => [
        e.key,
        { key: e.key, archived: isArchived(e), properties: e.properties },
      ]),
    ),
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
  metric.definition = draft.definition;
}

export async function createMetric(
  { db, changes }: CatalogDeps,
  req: CreateMetricRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const v = new FieldViolations();
  const draft = checkMetric(v, "metric", req.metric);
  v.throwIfAny();
  const duplicate = () => alreadyExists("metric.key", "a metric", draft.key);
  const { result: created } = await inserting(
    () =>
      mutate(db.orm.em.fork(), changes, async (tx) => {
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
          definition: null,
        });
        applyMetric(metric, draft, refs);
        return catalogChange(
          metric,
          "metric",
          draft.key,
          actor.userId,
          "created",
          metricDefinition(metric),
        );
      }),
    duplicate,
  );
  return { metric: toMetricMessage(created) };
}

export async function getMetric({ db }: CatalogDeps, req: GetMetricRequest) {
  const key = checkedKey("key", req.key);
  const metric = await db.orm.em.fork().findOne(Metric, { key });
  if (metric === null) throw notFound("metric", key);
  return { metric: toMetricMessage(metric) };
}

export async function listMetrics({ db }: CatalogDeps, req: ListMetricsRequest) {
  const { page, nextPageToken } = await pageByKey(db, Metric, req);
  return { metrics: page.map(toMetricMessage), nextPageToken };
}

export async function updateMetric(
  { db, changes }: CatalogDeps,
  req: UpdateMetricRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const v = new FieldViolations();
  const draft = checkMetric(v, "metric", req.metric);
  v.throwIfAny();
  const { result: updated } = await mutate(db.orm.em.fork(), changes, async (tx) => {
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
    return catalogChange(metric, "metric", metric.key, actor.userId, "updated", {
      before,
      after: metricDefinition(metric),
    });
  });
  return { metric: toMetricMessage(updated) };
}

export async function archiveMetric(
  { db, changes }: CatalogDeps,
  req: ArchiveMetricRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const key = checkedKey("key", req.key);
  const { result: archived } = await mutate(db.orm.em.fork(), changes, async (tx) => {
    const metric = await tx.findOne(Metric, { key }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (metric === null) throw notFound("metric", key);
    if (isArchived(metric)) return { result: metric };
    metric.archivedAt = new Date();
    return catalogChange(metric, "metric", key, actor.userId, "archived");
  });
  return { metric: toMetricMessage(archived) };
}
