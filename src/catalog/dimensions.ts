/**
 * The catalog's analysis dimensions (docs/segments.md): subject attributes
 * reports can be filtered and broken down by. Create, list, update and
 * archive, each one audited mutation in SQL (platform/mutation.ts). Nothing
 * caches dimensions, so no change notice is published: the event store
 * reads them in every transaction that records exposures.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type pg from "pg";
import type {
  ArchiveDimensionRequest,
  CreateDimensionRequest,
  Dimension as DimensionInput,
  DimensionSchema,
  ListDimensionsRequest,
  UpdateDimensionRequest,
} from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { requirePrincipal } from "../platform/auth.js";
import type { AuditRecord } from "../platform/audit.js";
import { FieldViolations, notFound } from "../platform/errors.js";
import { mutateSql } from "../platform/mutation.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import { checkText } from "../platform/validation.js";
import { RESERVED_WORDS } from "../targeting/index.js";
import { alreadyExists } from "./messages.js";
import { MAX_NAME_LENGTH, PROPERTY_NAME_PATTERN, checkDescription } from "./validation.js";

export const DEFAULT_MAX_VALUES = 50;
export const MIN_MAX_VALUES = 2;
export const MAX_MAX_VALUES = 1_000;

type DimensionMessage = MessageInitShape<typeof DimensionSchema>;

/** What the dimension commands work with: the pool for plain SQL. */
export interface DimensionDeps {
  pool: () => pg.Pool;
}

/** A dimensions row. */
export interface DimensionRow {
  key: string;
  display_name: string;
  description: string;
  max_values: number;
  archived_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

interface DimensionDraft {
  key: string;
  displayName: string;
  description: string;
  maxValues: number;
}

const COLUMNS = `key, display_name, description, max_values, archived_at, created_at, updated_at`;

/** Adds a violation unless `key` can name a subject attribute (as in targeting rules). */
export function checkDimensionKey(v: FieldViolations, field: string, key: string): string {
  if (key === "") v.add(field, "is required");
  else if (!PROPERTY_NAME_PATTERN.test(key)) {
    v.add(
      field,
      "must be 1–64 characters from letters, digits and '_', not starting with a digit (an attribute name, e.g. country)",
    );
  } else if (RESERVED_WORDS.includes(key.toUpperCase())) {
    v.add(field, `${JSON.stringify(key)} is a reserved word of targeting rules`);
  }
  return key;
}

function checkDimension(
  v: FieldViolations,
  field: string,
  input: DimensionInput | undefined,
): DimensionDraft {
  if (input === undefined) {
    v.add(field, "is required");
    return { key: "", displayName: "", description: "", maxValues: DEFAULT_MAX_VALUES };
  }
  const key = checkDimensionKey(v, `${field}.key`, input.key);
  const displayName = checkText(v, `${field}.display_name`, input.displayName, MAX_NAME_LENGTH);
  const description = checkDescription(v, `${field}.description`, input.description);
  const maxValues = input.maxValues === 0 ? DEFAULT_MAX_VALUES : input.maxValues;
  if (maxValues < MIN_MAX_VALUES || maxValues > MAX_MAX_VALUES) {
    v.add(
      `${field}.max_values`,
      `must be ${MIN_MAX_VALUES}–${MAX_MAX_VALUES} (0 means ${DEFAULT_MAX_VALUES})`,
    );
  }
  return { key, displayName, description, maxValues };
}

export function toDimensionMessage(row: DimensionRow): DimensionMessage {
  return {
    key: row.key,
    displayName: row.display_name,
    description: row.description,
    maxValues: row.max_values,
    archived: row.archived_at !== null,
    createdAt: timestampFromDate(row.created_at),
    updatedAt: timestampFromDate(row.updated_at),
  };
}

function definition(row: DimensionRow | DimensionDraft): Record<string, unknown> {
  return "display_name" in row
    ? { displayName: row.display_name, description: row.description, maxValues: row.max_values }
    : { displayName: row.displayName, description: row.description, maxValues: row.maxValues };
}

function audit(
  actorId: string,
  key: string,
  action: "created" | "updated" | "archived",
  data?: Record<string, unknown>,
): AuditRecord {
  return { actorId, entityType: "dimension", entityId: key, action: `dimension.${action}`, data };
}

async function lockedDimension(client: pg.PoolClient, key: string): Promise<DimensionRow> {
  const { rows } = await client.query<DimensionRow>(
    `select ${COLUMNS} from dimensions where key = $1 for update`,
    [key],
  );
  const row = rows[0];
  if (row === undefined) throw notFound("dimension", key);
  return row;
}

export async function createDimension(
  { pool }: DimensionDeps,
  req: CreateDimensionRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const v = new FieldViolations();
  const draft = checkDimension(v, "dimension", req.dimension);
  v.throwIfAny();
  const { result } = await mutateSql(pool(), undefined, async (client) => {
    const { rows } = await client.query<DimensionRow>(
      `insert into dimensions (key, display_name, description, max_values, archived_at, created_at, updated_at)
       values ($1, $2, $3, $4, null, now(), now())
       on conflict (key) do nothing
       returning ${COLUMNS}`,
      [draft.key, draft.displayName, draft.description, draft.maxValues],
    );
    const row = rows[0];
    if (row === undefined) throw alreadyExists("dimension.key", "a dimension", draft.key);
    return { result: row, audit: audit(actor.userId, draft.key, "created", definition(draft)) };
  });
  return { dimension: toDimensionMessage(result) };
}

export async function listDimensions({ pool }: DimensionDeps, req: ListDimensionsRequest) {
  const size = pageSize(req.pageSize);
  const after = decodePageToken(req.pageToken);
  const { rows } = await pool().query<DimensionRow>(
    `select ${COLUMNS} from dimensions
     where ($1::text is null or key > $1 collate "C") and ($2 or archived_at is null)
     order by key collate "C" limit $3`,
    [after ?? null, req.includeArchived, size + 1],
  );
  const page = rows.slice(0, size);
  const last = page.at(-1);
  return {
    dimensions: page.map(toDimensionMessage),
    nextPageToken: rows.length > size && last ? encodePageToken(last.key) : "",
  };
}

export async function updateDimension(
  { pool }: DimensionDeps,
  req: UpdateDimensionRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const v = new FieldViolations();
  const draft = checkDimension(v, "dimension", req.dimension);
  v.throwIfAny();
  const { result } = await mutateSql(pool(), undefined, async (client) => {
    const before = await lockedDimension(client, draft.key);
    if (before.archived_at !== null) {
      throw new ConnectError(
        `dimension.key: dimension ${JSON.stringify(draft.key)} is archived and cannot be changed`,
        Code.FailedPrecondition,
      );
    }
    const { rows } = await client.query<DimensionRow>(
      `update dimensions set display_name = $2, description = $3, max_values = $4, updated_at = now()
       where key = $1 returning ${COLUMNS}`,
      [draft.key, draft.displayName, draft.description, draft.maxValues],
    );
    const row = rows[0] ?? before;
    return {
      result: row,
      audit: audit(actor.userId, draft.key, "updated", {
        before: definition(before),
        after: definition(row),
      }),
    };
  });
  return { dimension: toDimensionMessage(result) };
}

export async function archiveDimension(
  { pool }: DimensionDeps,
  req: ArchiveDimensionRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const v = new FieldViolations();
  const key = checkDimensionKey(v, "key", req.key);
  v.throwIfAny();
  const { result } = await mutateSql(pool(), undefined, async (client) => {
    const row = await lockedDimension(client, key);
    if (row.archived_at !== null) return { result: row };
    const { rows } = await client.query<DimensionRow>(
      `update dimensions set archived_at = now(), updated_at = now() where key = $1 returning ${COLUMNS}`,
      [key],
    );
    return { result: rows[0] ?? row, audit: audit(actor.userId, key, "archived") };
  });
  return { dimension: toDimensionMessage(result) };
}
