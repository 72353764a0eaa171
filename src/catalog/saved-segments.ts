/**
 * The catalog's saved segments (docs/saved-segments.md): named audiences
 * defined by a targeting rule, referenced as `segment("key")` in experiment
 * targeting rules and used as report filters. Every update saves a new
 * version (older ones are kept); create, update and delete are audited
 * mutations in SQL (platform/mutation.ts), like dimensions. Nothing caches
 * saved segments: an experiment inlines a segment's rule when it is saved,
 * so a change here never reaches decide by itself, and no change notice is
 * published.
 *
 * Not to be confused with report segments (the slices of one dimension,
 * reports/segments.ts).
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type pg from "pg";
import type {
  CreateSavedSegmentRequest,
  DeleteSavedSegmentRequest,
  GetSavedSegmentRequest,
  ListSavedSegmentsRequest,
  ListSavedSegmentVersionsRequest,
  SavedSegment as SavedSegmentInput,
  SavedSegmentSchema,
  SavedSegmentVersionSchema,
  UpdateSavedSegmentRequest,
} from "../../gen/lotty/catalog/v1/catalog_pb.js";
import { requirePrincipal } from "../platform/auth.js";
import type { AuditRecord } from "../platform/audit.js";
import { FieldViolations, notFound } from "../platform/errors.js";
import { mutateSql } from "../platform/mutation.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import { checkText } from "../platform/validation.js";
import { findSegmentReferences, MAX_RULE_LENGTH, parseRule } from "../targeting/index.js";
import { checkDimensionKey } from "./dimensions.js";
import { alreadyExists } from "./messages.js";
import { MAX_NAME_LENGTH, checkDescription } from "./validation.js";

type SavedSegmentMessage = MessageInitShape<typeof SavedSegmentSchema>;
type SavedSegmentVersionMessage = MessageInitShape<typeof SavedSegmentVersionSchema>;

/** An experiment that uses a saved segment (see SavedSegmentDeps.usersOf). */
export interface SavedSegmentUser {
  experimentId: string;
  flagKey: string;
  experimentName: string;
  experimentVersion: number;
  segmentVersion: number;
  status: string;
}

/** What the saved segment commands work with. */
export interface SavedSegmentDeps {
  pool: () => pg.Pool;
  /**
   * The experiments using a segment that keep it from being deleted (wired
   * by services.ts from the experiments module, which this module does not
   * import). Reads through `db`, so inside a transaction it sees its locks.
   */
  usersOf: (db: pg.Pool | pg.PoolClient, key: string) => Promise<SavedSegmentUser[]>;
}

/** A saved_segments row. */
interface SavedSegmentRow {
  key: string;
  display_name: string;
  description: string;
  rule: string;
  version: number;
  created_by: string;
  deleted_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

interface SavedSegmentVersionRow {
  version: number;
  display_name: string;
  description: string;
  rule: string;
  author_id: string;
  created_at: Date;
}

interface SavedSegmentDraft {
  key: string;
  displayName: string;
  description: string;
  rule: string;
}

const COLUMNS = `key, display_name, description, rule, version, created_by, deleted_at, created_at, updated_at`;

/**
 * Checks a saved segment's rule: a non-empty rule that parses and does not
 * reference another saved segment (segments do not nest).
 */
export function checkSavedSegmentRule(v: FieldViolations, field: string, rule: string): string {
  const trimmed = rule.trim();
  if (trimmed === "") {
    v.add(field, "is required: a targeting rule, e.g. sessions_30d >= 20");
    return trimmed;
  }
  if (rule.length > MAX_RULE_LENGTH) {
    v.add(field, `must be at most ${MAX_RULE_LENGTH} characters`);
    return trimmed;
  }
  const references = findSegmentReferences(rule);
  if (references.ok && references.references.length > 0) {
    const first = references.references[0]!;
    v.add(
      field,
      `at ${first.start}: saved segments cannot reference other saved segments (segment(${JSON.stringify(first.key)})); write the conditions out`,
    );
    return trimmed;
  }
  const parsed = parseRule(rule);
  if (!parsed.ok) v.add(field, `at ${parsed.error.position}: ${parsed.error.message}`);
  return trimmed;
}

function checkSavedSegment(
  v: FieldViolations,
  field: string,
  input: SavedSegmentInput | undefined,
): SavedSegmentDraft {
  if (input === undefined) {
    v.add(field, "is required");
    return { key: "", displayName: "", description: "", rule: "" };
  }
  return {
    key: checkDimensionKey(v, `${field}.key`, input.key),
    displayName: checkText(v, `${field}.display_name`, input.displayName, MAX_NAME_LENGTH),
    description: checkDescription(v, `${field}.description`, input.description),
    rule: checkSavedSegmentRule(v, `${field}.rule`, input.rule),
  };
}

function checkKey(key: string): string {
  const v = new FieldViolations();
  checkDimensionKey(v, "key", key);
  v.throwIfAny();
  return key;
}

function toMessage(row: SavedSegmentRow, users: SavedSegmentUser[]): SavedSegmentMessage {
  const parsed = parseRule(row.rule);
  return {
    key: row.key,
    displayName: row.display_name,
    description: row.description,
    rule: row.rule,
    version: row.version,
    createdBy: row.created_by,
    createdAt: timestampFromDate(row.created_at),
    updatedAt: timestampFromDate(row.updated_at),
    usedBy: users.map((u) => ({
      experimentId: u.experimentId,
      flagKey: u.flagKey,
      experimentName: u.experimentName,
      experimentVersion: u.experimentVersion,
      segmentVersion: u.segmentVersion,
      status: u.status,
    })),
    attributes: parsed.ok ? [...parsed.rule.attributes] : [],
  };
}

function toVersionMessage(row: SavedSegmentVersionRow): SavedSegmentVersionMessage {
  return {
    version: row.version,
    displayName: row.display_name,
    description: row.description,
    rule: row.rule,
    authorId: row.author_id,
    createdAt: timestampFromDate(row.created_at),
  };
}

function definition(row: SavedSegmentDraft): Record<string, unknown> {
  return { displayName: row.displayName, description: row.description, rule: row.rule };
}

function audit(
  actorId: string,
  key: string,
  action: "created" | "updated" | "deleted",
  data?: Record<string, unknown>,
): AuditRecord {
  return {
    actorId,
    entityType: "saved_segment",
    entityId: key,
    action: `saved_segment.${action}`,
    data,
  };
}

async function lockedSegment(client: pg.PoolClient, key: string): Promise<SavedSegmentRow> {
  const { rows } = await client.query<SavedSegmentRow>(
    `select ${COLUMNS} from saved_segments where key = $1 and deleted_at is null for update`,
    [key],
  );
  const row = rows[0];
  if (row === undefined) throw notFound("saved segment", key);
  return row;
}

async function insertVersion(
  client: pg.PoolClient,
  row: SavedSegmentRow,
  authorId: string,
): Promise<void> {
  await client.query(
    `insert into saved_segment_versions (key, version, display_name, description, rule, author_id, created_at)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [row.key, row.version, row.display_name, row.description, row.rule, authorId, row.updated_at],
  );
}

export async function createSavedSegment(
  deps: SavedSegmentDeps,
  req: CreateSavedSegmentRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const v = new FieldViolations();
  const draft = checkSavedSegment(v, "saved_segment", req.savedSegment);
  v.throwIfAny();
  const { result } = await mutateSql(deps.pool(), undefined, async (client) => {
    const { rows } = await client.query<SavedSegmentRow>(
      `insert into saved_segments (key, display_name, description, rule, version, created_by, deleted_at, created_at, updated_at)
       values ($1, $2, $3, $4, 1, $5, null, now(), now())
       on conflict (key) do nothing
       returning ${COLUMNS}`,
      [draft.key, draft.displayName, draft.description, draft.rule, actor.userId],
    );
    const row = rows[0];
    if (row === undefined) {
      throw alreadyExists("saved_segment.key", "a saved segment", draft.key);
    }
    await insertVersion(client, row, actor.userId);
    return {
      result: row,
      audit: audit(actor.userId, draft.key, "created", { version: 1, ...definition(draft) }),
    };
  });
  return { savedSegment: toMessage(result, []) };
}

export async function getSavedSegment(deps: SavedSegmentDeps, req: GetSavedSegmentRequest) {
  const key = checkKey(req.key);
  const pool = deps.pool();
  const { rows } = await pool.query<SavedSegmentRow>(
    `select ${COLUMNS} from saved_segments where key = $1 and deleted_at is null`,
    [key],
  );
  const row = rows[0];
  if (row === undefined) throw notFound("saved segment", key);
  return { savedSegment: toMessage(row, await deps.usersOf(pool, key)) };
}

export async function listSavedSegments(deps: SavedSegmentDeps, req: ListSavedSegmentsRequest) {
  const size = pageSize(req.pageSize);
  const after = decodePageToken(req.pageToken);
  const pool = deps.pool();
  const { rows } = await pool.query<SavedSegmentRow>(
    `select ${COLUMNS} from saved_segments
     where ($1::text is null or key > $1 collate "C") and deleted_at is null
     order by key collate "C" limit $2`,
    [after ?? null, size + 1],
  );
  const page = rows.slice(0, size);
  const last = page.at(-1);
  const savedSegments = [];
  for (const row of page) savedSegments.push(toMessage(row, await deps.usersOf(pool, row.key)));
  return {
    savedSegments,
    nextPageToken: rows.length > size && last ? encodePageToken(last.key) : "",
  };
}

export async function updateSavedSegment(
  deps: SavedSegmentDeps,
  req: UpdateSavedSegmentRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const v = new FieldViolations();
  const draft = checkSavedSegment(v, "saved_segment", req.savedSegment);
  if (req.expectedVersion < 1) {
    v.add("expected_version", "is required: pass the version you read (1 or more)");
  }
  v.throwIfAny();
  const { result } = await mutateSql(deps.pool(), undefined, async (client) => {
    const before = await lockedSegment(client, draft.key);
    if (before.version !== req.expectedVersion) {
      throw new ConnectError(
        `expected_version: the saved segment is at version ${before.version}, not ${req.expectedVersion}; read it again`,
        Code.Aborted,
      );
    }
    const { rows } = await client.query<SavedSegmentRow>(
      `update saved_segments set display_name = $2, description = $3, rule = $4,
              version = version + 1, updated_at = now()
       where key = $1 returning ${COLUMNS}`,
      [draft.key, draft.displayName, draft.description, draft.rule],
    );
    const row = rows[0]!;
    await insertVersion(client, row, actor.userId);
    return {
      result: { row, users: await deps.usersOf(client, draft.key) },
      audit: audit(actor.userId, draft.key, "updated", {
        version: row.version,
        before: {
          displayName: before.display_name,
          description: before.description,
          rule: before.rule,
        },
        after: definition(draft),
      }),
    };
  });
  return { savedSegment: toMessage(result.row, result.users) };
}

export async function deleteSavedSegment(
  deps: SavedSegmentDeps,
  req: DeleteSavedSegmentRequest,
  ctx: HandlerContext,
) {
  const actor = requirePrincipal(ctx);
  const key = checkKey(req.key);
  await mutateSql(deps.pool(), undefined, async (client) => {
    // The row lock waits for experiment saves that read the segment (they
    // lock it FOR SHARE), so a user saved meanwhile is seen here.
    const row = await lockedSegment(client, key);
    const users = await deps.usersOf(client, key);
    if (users.length > 0) {
      const named = users.map(
        (u) => `experiment ${u.experimentId} (${JSON.stringify(u.experimentName)}, ${u.status})`,
      );
      throw new ConnectError(
        `key: saved segment ${JSON.stringify(key)} is used by ${named.join(", ")}; complete, archive or edit them first`,
        Code.FailedPrecondition,
      );
    }
    await client.query(
      `update saved_segments set deleted_at = now(), updated_at = now() where key = $1`,
      [key],
    );
    return {
      result: undefined,
      audit: audit(actor.userId, key, "deleted", { version: row.version }),
    };
  });
  return {};
}

export async function listSavedSegmentVersions(
  deps: SavedSegmentDeps,
  req: ListSavedSegmentVersionsRequest,
) {
  const key = checkKey(req.key);
  const { rows } = await deps.pool().query<SavedSegmentVersionRow>(
    `select version, display_name, description, rule, author_id, created_at
       from saved_segment_versions where key = $1 order by version`,
    [key],
  );
  if (rows.length === 0) throw notFound("saved segment", key);
  return { versions: rows.map(toVersionMessage) };
}

/**
 * The current rules of the saved segments named, for compiling an
 * experiment's targeting rule in the caller's transaction: the rows are
 * locked FOR SHARE, so a concurrent delete waits for the caller to commit
 * (and then sees the new user). Deleted and unknown keys are absent.
 */
export async function lockSavedSegmentRules(
  query: (
    sql: string,
    params: unknown[],
  ) => Promise<{ key: string; rule: string; version: number }[]>,
  keys: readonly string[],
): Promise<Map<string, { rule: string; version: number }>> {
  const wanted = [...new Set(keys)].sort();
  if (wanted.length === 0) return new Map();
  const rows = await query(
    `select key, rule, version from saved_segments
     where key in (${wanted.map(() => "?").join(", ")}) and deleted_at is null
     order by key for share`,
    wanted,
  );
  return new Map(rows.map((r) => [r.key, { rule: r.rule, version: Number(r.version) }]));
}

/** The current rule of a saved segment, or undefined (unknown or deleted). */
export async function savedSegmentRule(
  pool: pg.Pool,
  key: string,
): Promise<{ rule: string; version: number } | undefined> {
  const { rows } = await pool.query<{ rule: string; version: number }>(
    `select rule, version from saved_segments where key = $1 and deleted_at is null`,
    [key],
  );
  return rows[0];
}
