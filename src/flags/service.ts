/** lotty.flags.v1.FlagService: typed feature flags with a default value. */
import { isDeepStrictEqual } from "node:util";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { JsonValue, MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, type Value } from "@bufbuild/protobuf/wkt";
import {
  UniqueConstraintViolationException,
  raw,
  type EntityManager,
  type FilterQuery,
} from "@mikro-orm/core";
import type { DatabaseHandle } from "../platform/database-handle.js";
import type { ChangePublisher } from "../platform/changes.js";
import { mutate, type Change } from "../platform/mutation.js";
import { requirePrincipal } from "../platform/auth.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import {
  FlagService,
  type FlagType,
  type FlagSchema as FlagMessageSchema,
} from "../../gen/lotty/flags/v1/flags_pb.js";
import { Flag } from "./entities.js";
import { archivedFlagError, findFlag } from "./lookup.js";
import {
  FieldViolations,
  checkDescription,
  checkFlagKey,
  checkFlagType,
  checkTag,
  checkTags,
  checkValueMatchesType,
} from "./validation.js";
import { flagTypeFromName, jsonToFlagValue } from "./values.js";

type FlagMessage = MessageInitShape<typeof FlagMessageSchema>;

/** Audit entity type and the actions recorded for flags. */
const ENTITY_TYPE = "flag";

export function toFlagMessage(flag: Flag): FlagMessage {
  return {
    key: flag.key,
    type: flagTypeFromName(flag.type),
    defaultValue: jsonToFlagValue(flag.defaultValue),
    description: flag.description,
    tags: flag.tags,
    archived: flag.archivedAt !== null && flag.archivedAt !== undefined,
    createdAt: timestampFromDate(flag.createdAt),
    updatedAt: timestampFromDate(flag.updatedAt),
    createdBy: flag.createdBy,
  };
}

/**
 * MikroORM writes a JS null in a JSON property as SQL NULL, which the
 * not-null default_value column refuses; JSON null is written as a jsonb
 * literal instead. See reloadJsonNull for reading it back.
 */
function jsonColumnValue(value: JsonValue): unknown {
  return value === null ? raw(`'null'::jsonb`) : value;
}

/** When jsonColumnValue(null) was written, flush it and load the stored null back into the entity. */
async function reloadJsonNull(em: EntityManager, flag: Flag, written: JsonValue): Promise<void> {
  if (written !== null) return;
  await em.flush();
  await em.refresh(flag);
}

/** A flag change: its audit row (`flag.<action>`, the fields changed) and its notice. */
function flagChange(
  flag: Flag,
  actorId: string,
  action: "created" | "updated" | "archived",
  changed: string[],
): Change<Flag> {
  return {
    result: flag,
    audit: {
      actorId,
      entityType: ENTITY_TYPE,
      entityId: flag.key,
      action: `flag.${action}`,
      data: { changed },
    },
    notice: { kind: "flag", key: flag.key, action },
  };
}

/**
 * The running or paused experiment on a flag, if any: what ArchiveFlag
 * refuses to archive under. The experiments module answers it
 * (experiments/lookup.ts `findActiveExperimentOnFlag`); the composition root
 * passes it in, so flags, which experiments build on, import no experiments.
 */
export type ActiveExperimentOnFlag = (
  em: EntityManager,
  flagKey: string,
) => Promise<{ id: string; status: string } | null>;

export class FlagServiceImpl implements ServiceImpl<typeof FlagService> {
  private readonly db: DatabaseHandle;
  private readonly changes: ChangePublisher;
  private readonly activeExperimentOnFlag: ActiveExperimentOnFlag;

  constructor(deps: {
    db: DatabaseHandle;
    changes: ChangePublisher;
    activeExperimentOnFlag: ActiveExperimentOnFlag;
  }) {
    this.db = deps.db;
    this.changes = deps.changes;
    this.activeExperimentOnFlag = deps.activeExperimentOnFlag;
  }

  async createFlag(
    req: {
      key: string;
      type: FlagType;
      defaultValue?: Value;
      description: string;
      tags: string[];
    },
    ctx: HandlerContext,
  ) {
    const actor = requirePrincipal(ctx);
    const v = new FieldViolations();
    const key = checkFlagKey(v, "key", req.key);
    const type = checkFlagType(v, "type", req.type);
    let defaultValue: JsonValue | undefined;
    if (type !== undefined) {
      defaultValue = checkValueMatchesType(type, req.defaultValue, "default_value", v);
    } else if (req.defaultValue === undefined) {
      v.add("default_value", "is required");
    }
    const description = checkDescription(v, "description", req.description);
    const tags = checkTags(v, "tags", req.tags);
    v.throwIfAny();
    if (type === undefined || defaultValue === undefined) {
      throw new Error("unreachable: validation passed without a type and value");
    }
    const changed = ["type", "defaultValue"];
    if (description !== "") changed.push("description");
    if (tags.length > 0) changed.push("tags");
    let flag: Flag;
    try {
      ({ result: flag } = await mutate(this.db.orm.em.fork(), this.changes, async (tx) => {
        const flag = tx.create(Flag, {
          key,
          type,
          defaultValue: jsonColumnValue(defaultValue),
          description,
          tags,
          createdBy: actor.userId,
          archivedAt: null,
        });
        await reloadJsonNull(tx, flag, defaultValue);
        return flagChange(flag, actor.userId, "created", changed);
      }));
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) {
        throw new ConnectError(
          `key: a flag with key ${JSON.stringify(key)} already exists (archived flags keep their key)`,
          Code.AlreadyExists,
        );
      }
      throw error;
    }
    return { flag: toFlagMessage(flag) };
  }

  async getFlag(req: { key: string }) {
    const flag = await findFlag(this.db.orm.em.fork(), req.key, "key");
    return { flag: toFlagMessage(flag) };
  }

  async listFlags(req: {
    pageSize: number;
    pageToken: string;
    tag?: string;
    includeArchived: boolean;
  }) {
    const size = pageSize(req.pageSize);
    const after = decodePageToken(req.pageToken);
    if (req.tag !== undefined) {
      const v = new FieldViolations();
      checkTag(v, "tag", req.tag);
      v.throwIfAny();
    }
    const where: FilterQuery<Flag> = {};
    if (after !== undefined) where.key = { $gt: after };
    if (!req.includeArchived) where.archivedAt = null;
    if (req.tag !== undefined) where.tags = { $contains: [req.tag] };
    const em = this.db.orm.em.fork();
    const flags = await em.find(Flag, where, { orderBy: { key: "asc" }, limit: size + 1 });
    const page = flags.slice(0, size);
    const last = page.at(-1);
    return {
      flags: page.map(toFlagMessage),
      nextPageToken: flags.length > size && last ? encodePageToken(last.key) : "",
    };
  }

  async updateFlag(
    req: {
      key: string;
      defaultValue?: Value;
      description?: string;
      tags: string[];
      clearTags: boolean;
    },
    ctx: HandlerContext,
  ) {
    const actor = requirePrincipal(ctx);
    const v = new FieldViolations();
    checkFlagKey(v, "key", req.key);
    const description =
      req.description === undefined
        ? undefined
        : checkDescription(v, "description", req.description);
    let tags: string[] | undefined;
    if (req.clearTags) {
      if (req.tags.length > 0) {
        v.add("clear_tags", "must be false when tags are given (tags replace the current set)");
      }
      tags = [];
    } else if (req.tags.length > 0) {
      tags = checkTags(v, "tags", req.tags);
    }
    v.throwIfAny();
    const { result: flag } = await mutate(this.db.orm.em.fork(), this.changes, async (tx) => {
      // FOR UPDATE: serialises with ArchiveFlag and other updates of this flag.
      const flag = await findFlag(tx, req.key, "key", { lock: "update" });
      if (flag.archivedAt !== null && flag.archivedAt !== undefined) {
        throw archivedFlagError("key", flag.key, "archived flags cannot be changed");
      }
      const changed: string[] = [];
      let written: JsonValue | undefined;
      if (req.defaultValue !== undefined) {
        const valueViolations = new FieldViolations();
        const value = checkValueMatchesType(
          flag.type,
          req.defaultValue,
          "default_value",
          valueViolations,
        );
        valueViolations.throwIfAny();
        if (value !== undefined && !isDeepStrictEqual(value, flag.defaultValue)) {
          flag.defaultValue = jsonColumnValue(value);
          written = value;
          changed.push("defaultValue");
        }
      }
      if (description !== undefined && description !== flag.description) {
        flag.description = description;
        changed.push("description");
      }
      if (tags !== undefined && !isDeepStrictEqual(tags, flag.tags)) {
        flag.tags = tags;
        changed.push("tags");
      }
      if (changed.length === 0) return { result: flag };
      if (written !== undefined) await reloadJsonNull(tx, flag, written);
      return flagChange(flag, actor.userId, "updated", changed);
    });
    return { flag: toFlagMessage(flag) };
  }

  async archiveFlag(req: { key: string }, ctx: HandlerContext) {
    const actor = requirePrincipal(ctx);
    const { result: flag } = await mutate(this.db.orm.em.fork(), this.changes, async (tx) => {
      // FOR UPDATE: an experiment being created or started on this flag holds
      // its row FOR SHARE (requireActiveFlag), so the check below sees it.
      const flag = await findFlag(tx, req.key, "key", { lock: "update" });
      if (flag.archivedAt !== null && flag.archivedAt !== undefined) {
        return { result: flag };
      }
      const active = await this.activeExperimentOnFlag(tx, flag.key);
      if (active !== null) {
        throw new ConnectError(
          `key: flag ${JSON.stringify(flag.key)} has a ${active.status} experiment (${active.id}); complete it before archiving the flag`,
          Code.FailedPrecondition,
        );
      }
      flag.archivedAt = new Date();
      return flagChange(flag, actor.userId, "archived", ["archivedAt"]);
    });
    return { flag: toFlagMessage(flag) };
  }
}
