/**
 * lotty.catalog.v1.CatalogService: event types, metrics and dimensions as
 * data. The RPCs delegate to event-types.ts, metrics.ts, dimensions.ts and
 * saved-segments.ts; messages.ts holds the
 * mapping they share.
 *
 * Every mutation runs in one transaction with its audit row, and is
 * announced on `<p>.config.event_type` / `<p>.config.metric` after commit
 * (platform/mutation.ts).
 */
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type pg from "pg";
import type {
  ArchiveDimensionRequest,
  ArchiveEventTypeRequest,
  ArchiveMetricRequest,
  CatalogService,
  CreateSavedSegmentRequest,
  DeleteSavedSegmentRequest,
  GetSavedSegmentRequest,
  ListSavedSegmentsRequest,
  ListSavedSegmentVersionsRequest,
  UpdateSavedSegmentRequest,
  CreateDimensionRequest,
  CreateEventTypeRequest,
  CreateMetricRequest,
  GetEventTypeRequest,
  GetMetricRequest,
  ListDimensionsRequest,
  ListEventTypesRequest,
  ListMetricsRequest,
  UpdateDimensionRequest,
  UpdateEventTypeRequest,
  UpdateMetricRequest,
} from "../../gen/lotty/catalog/v1/catalog_pb.js";
import type { ChangePublisher } from "../platform/changes.js";
import type { DatabaseHandle } from "../platform/database-handle.js";
import * as dimensions from "./dimensions.js";
import * as eventTypes from "./event-types.js";
import type { CatalogDeps } from "./messages.js";
import * as metrics from "./metrics.js";
import * as savedSegments from "./saved-segments.js";

export { isBuiltinEventType, toEventTypeMessage, toMetricMessage } from "./messages.js";

export class CatalogServiceImpl implements ServiceImpl<typeof CatalogService> {
  private readonly deps: CatalogDeps;
  private readonly dimensionDeps: dimensions.DimensionDeps;
  private readonly savedSegmentDeps: savedSegments.SavedSegmentDeps;

  constructor(deps: {
    db: DatabaseHandle;
    changes: ChangePublisher;
    pool: () => pg.Pool;
    /** The experiments using a saved segment (see SavedSegmentDeps.usersOf). */
    savedSegmentUsers: savedSegments.SavedSegmentDeps["usersOf"];
  }) {
    this.deps = { db: deps.db, changes: deps.changes };
    this.dimensionDeps = { pool: deps.pool };
    this.savedSegmentDeps = { pool: deps.pool, usersOf: deps.savedSegmentUsers };
  }

  // ---- event types ----

  createEventType(req: CreateEventTypeRequest, ctx: HandlerContext) {
    return eventTypes.createEventType(this.deps, req, ctx);
  }

  getEventType(req: GetEventTypeRequest) {
    return eventTypes.getEventType(this.deps, req);
  }

  listEventTypes(req: ListEventTypesRequest) {
    return eventTypes.listEventTypes(this.deps, req);
  }

  updateEventType(req: UpdateEventTypeRequest, ctx: HandlerContext) {
    return eventTypes.updateEventType(this.deps, req, ctx);
  }

  archiveEventType(req: ArchiveEventTypeRequest, ctx: HandlerContext) {
    return eventTypes.archiveEventType(this.deps, req, ctx);
  }

  // ---- metrics ----

  createMetric(req: CreateMetricRequest, ctx: HandlerContext) {
    return metrics.createMetric(this.deps, req, ctx);
  }

  getMetric(req: GetMetricRequest) {
    return metrics.getMetric(this.deps, req);
  }

  listMetrics(req: ListMetricsRequest) {
    return metrics.listMetrics(this.deps, req);
  }

  updateMetric(req: UpdateMetricRequest, ctx: HandlerContext) {
    return metrics.updateMetric(this.deps, req, ctx);
  }

  archiveMetric(req: ArchiveMetricRequest, ctx: HandlerContext) {
    return metrics.archiveMetric(this.deps, req, ctx);
  }

  // ---- dimensions ----

  createDimension(req: CreateDimensionRequest, ctx: HandlerContext) {
    return dimensions.createDimension(this.dimensionDeps, req, ctx);
  }

  listDimensions(req: ListDimensionsRequest) {
    return dimensions.listDimensions(this.dimensionDeps, req);
  }

  updateDimension(req: UpdateDimensionRequest, ctx: HandlerContext) {
    return dimensions.updateDimension(this.dimensionDeps, req, ctx);
  }

  archiveDimension(req: ArchiveDimensionRequest, ctx: HandlerContext) {
    return dimensions.archiveDimension(this.dimensionDeps, req, ctx);
  }

  // ---- saved segments ----

  createSavedSegment(req: CreateSavedSegmentRequest, ctx: HandlerContext) {
    return savedSegments.createSavedSegment(this.savedSegmentDeps, req, ctx);
  }

  getSavedSegment(req: GetSavedSegmentRequest) {
    return savedSegments.getSavedSegment(this.savedSegmentDeps, req);
  }

  listSavedSegments(req: ListSavedSegmentsRequest) {
    return savedSegments.listSavedSegments(this.savedSegmentDeps, req);
  }

  updateSavedSegment(req: UpdateSavedSegmentRequest, ctx: HandlerContext) {
    return savedSegments.updateSavedSegment(this.savedSegmentDeps, req, ctx);
  }

  deleteSavedSegment(req: DeleteSavedSegmentRequest, ctx: HandlerContext) {
    return savedSegments.deleteSavedSegment(this.savedSegmentDeps, req, ctx);
  }

  listSavedSegmentVersions(req: ListSavedSegmentVersionsRequest) {
    return savedSegments.listSavedSegmentVersions(this.savedSegmentDeps, req);
  }
}
