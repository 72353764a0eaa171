/** lotty.access.v1.AccessService: users, API keys and review policies. */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { UniqueConstraintViolationException, type EntityManager } from "@mikro-orm/core";
import type { DatabaseHandle } from "../platform/database-handle.js";
import {
  AccessService,
  Role,
  type ApiKeySchema as ApiKeyMessageSchema,
  type ReviewPolicySchema as ReviewPolicyMessageSchema,
  type UserSchema as UserMessageSchema,
} from "../../gen/lotty/access/v1/access_pb.js";
import { ApiKey, ReviewPolicy, User } from "./entities.js";
import { DEFAULT_MIN_APPROVALS } from "./review-policy.js";
import {
  FieldViolations,
  MAX_DISPLAY_NAME_LENGTH,
  MAX_KEY_NAME_LENGTH,
  MAX_MIN_APPROVALS,
  checkEmail,
  checkRoles,
  roleFromName,
  roleName,
} from "./validation.js";
import { notFound } from "../platform/errors.js";
import { checkText, checkUuid } from "../platform/validation.js";
import { decodePageToken, encodePageToken, pageSize } from "../platform/paging.js";
import { mutate } from "../platform/mutation.js";
import {
  API_KEY_PREFIX,
  generateApiKeySecret,
  hashApiKey,
  requirePrincipal,
  type Authenticator,
} from "../platform/auth.js";

type UserMessage = MessageInitShape<typeof UserMessageSchema>;
type ApiKeyMessage = MessageInitShape<typeof ApiKeyMessageSchema>;
type ReviewPolicyMessage = MessageInitShape<typeof ReviewPolicyMessageSchema>;

export function rolesOf(user: User): Role[] {
  return user.roles.map(roleFromName).filter((r): r is Role => r !== undefined);
}

export function toUserMessage(user: User): UserMessage {
  return {
    id: user.id,
    email: user.email,
    displayName: user.displayName,
    roles: rolesOf(user),
    createdAt: timestampFromDate(user.createdAt),
    updatedAt: timestampFromDate(user.updatedAt),
  };
}

function toApiKeyMessage(key: ApiKey): ApiKeyMessage {
  return {
    id: key.id,
    userId: key.user.id,
    name: key.name,
    prefix: key.prefix,
    createdAt: timestampFromDate(key.createdAt),
    revokedAt: key.revokedAt ? timestampFromDate(key.revokedAt) : undefined,
  };
}

function defaultPolicy(experimenterId: string): ReviewPolicyMessage {
  return {
    experimenterId,
    approverIds: [],
    minApprovals: DEFAULT_MIN_APPROVALS,
    isDefault: true,
    requireLearningToArchive: false,
  };
}

function toPolicyMessage(policy: ReviewPolicy): ReviewPolicyMessage {
  return {
    experimenterId: policy.experimenter.id,
    approverIds: policy.approverIds,
    minApprovals: policy.minApprovals,
    isDefault: false,
    requireLearningToArchive: policy.requireLearningToArchive,
    updatedAt: timestampFromDate(policy.updatedAt),
  };
}

async function findUser(em: EntityManager, id: string, field = "id"): Promise<User> {
  const v = new FieldViolations();
  checkUuid(v, field, id);
  v.throwIfAny();
  const user = await em.findOne(User, { id });
  if (user === null) throw notFound("user", id);
  return user;
}

export class AccessServiceImpl implements ServiceImpl<typeof AccessService> {
  private readonly db: DatabaseHandle;
  private readonly authenticator: Authenticator;
  private readonly keysChanged: () => Promise<void>;

  constructor(deps: {
    db: DatabaseHandle;
    authenticator: Authenticator;
    /**
     * After a committed change to API keys or roles: reloads the service
     * key registry (service-keys.ts) before the RPC returns.
     */
    keysChanged?: () => Promise<void>;
  }) {
    this.db = deps.db;
    this.authenticator = deps.authenticator;
    this.keysChanged = deps.keysChanged ?? (async () => {});
  }

  async createUser(
    req: { email: string; displayName: string; roles: Role[] },
    ctx: HandlerContext,
  ) {
    const actor = requirePrincipal(ctx);
    const v = new FieldViolations();
    const email = checkEmail(v, "email", req.email);
    const displayName = checkText(v, "display_name", req.displayName, MAX_DISPLAY_NAME_LENGTH);
    const roles = checkRoles(v, "roles", req.roles, true);
    v.throwIfAny();
    let user: User;
    try {
      ({ result: user } = await mutate(this.db.orm.em.fork(), undefined, async (tx) => {
        const user = tx.create(User, { email, displayName, roles: roles.map(roleName) });
        return {
          result: user,
          audit: {
            actorId: actor.userId,
            entityType: "user",
            entityId: user.id,
            action: "user.created",
            data: { email, roles: user.roles },
          },
        };
      }));
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) {
        throw new ConnectError(
          `email: a user with email ${email} already exists`,
          Code.AlreadyExists,
        );
      }
      throw error;
    }
    return { user: toUserMessage(user) };
  }

  async getUser(req: { id: string }) {
    const user = await findUser(this.db.orm.em.fork(), req.id);
    return { user: toUserMessage(user) };
  }

  async listUsers(req: { pageSize: number; pageToken: string }) {
    const size = pageSize(req.pageSize);
    const after = decodePageToken(req.pageToken);
    const em = this.db.orm.em.fork();
    const users = await em.find(User, after === undefined ? {} : { email: { $gt: after } }, {
      orderBy: { email: "asc" },
      limit: size + 1,
    });
    const page = users.slice(0, size);
    const last = page.at(-1);
    return {
      users: page.map(toUserMessage),
      nextPageToken: users.length > size && last ? encodePageToken(last.email) : "",
    };
  }

  async updateUser(req: { id: string; roles: Role[]; displayName: string }, ctx: HandlerContext) {
    const actor = requirePrincipal(ctx);
    const v = new FieldViolations();
    checkUuid(v, "id", req.id);
    const roles = checkRoles(v, "roles", req.roles, false);
    const displayName =
      req.displayName === ""
        ? undefined
        : checkText(v, "display_name", req.displayName, MAX_DISPLAY_NAME_LENGTH);
    v.throwIfAny();
    const { result: updated } = await mutate(this.db.orm.em.fork(), undefined, async (tx) => {
      const user = await findUser(tx, req.id);
      const before = [...user.roles];
      if (roles.length > 0) {
        const names = roles.map(roleName);
        const losesAdmin = before.includes("admin") && !names.includes("admin");
        if (losesAdmin) {
          // Lock admins so two concurrent demotions cannot both pass the check.
          const admins = await tx
            .getConnection()
            .execute<{ id: string }[]>(
              "select id from users where 'admin' = any(roles) for update",
              [],
              "all",
              tx.getTransactionContext(),
            );
          if (admins.length <= 1) {
            throw new ConnectError(
              "roles: this change would leave Lotty without an admin",
              Code.FailedPrecondition,
            );
          }
        }
        user.roles = names;
      }
      if (displayName !== undefined) user.displayName = displayName;
      return {
        result: user,
        audit: {
          actorId: actor.userId,
          entityType: "user",
          entityId: user.id,
          action: "user.updated",
          data: { rolesBefore: before, rolesAfter: user.roles },
        },
      };
    });
    this.authenticator.evict((p) => p.userId === updated.id);
    await this.keysChanged();
    return { user: toUserMessage(updated) };
  }

  async createApiKey(req: { userId: string; name: string }, ctx: HandlerContext) {
    const actor = requirePrincipal(ctx);
    const v = new FieldViolations();
    checkUuid(v, "user_id", req.userId);
    const name = checkText(v, "name", req.name, MAX_KEY_NAME_LENGTH);
    v.throwIfAny();
    const secret = generateApiKeySecret();
    const { result: key } = await mutate(this.db.orm.em.fork(), undefined, async (tx) => {
      const user = await findUser(tx, req.userId, "user_id");
      const key = tx.create(ApiKey, {
        user,
        name,
        keyHash: hashApiKey(secret),
        prefix: secret.slice(0, API_KEY_PREFIX.length + 6),
      });
      return {
        result: key,
        audit: {
          actorId: actor.userId,
          entityType: "api_key",
          entityId: key.id,
          action: "api_key.created",
          data: { userId: user.id, name },
        },
      };
    });
    await this.keysChanged();
    return { apiKey: toApiKeyMessage(key), secret };
  }

  async listApiKeys(req: { userId: string }) {
    const em = this.db.orm.em.fork();
    const user = await findUser(em, req.userId, "user_id");
    const keys = await em.find(ApiKey, { user }, { orderBy: { createdAt: "desc" } });
    return { apiKeys: keys.map(toApiKeyMessage) };
  }

  async revokeApiKey(req: { id: string }, ctx: HandlerContext) {
    const actor = requirePrincipal(ctx);
    const v = new FieldViolations();
    checkUuid(v, "id", req.id);
    v.throwIfAny();
    const { result: key } = await mutate(this.db.orm.em.fork(), undefined, async (tx) => {
      const key = await tx.findOne(ApiKey, { id: req.id });
      if (key === null) throw notFound("API key", req.id);
      // Revoking a revoked key changes nothing: no audit row.
      if (key.revokedAt !== null && key.revokedAt !== undefined) return { result: key };
      key.revokedAt = new Date();
      return {
        result: key,
        audit: {
          actorId: actor.userId,
          entityType: "api_key",
          entityId: key.id,
          action: "api_key.revoked",
        },
      };
    });
    this.authenticator.evict((p) => p.apiKeyId === key.id);
    await this.keysChanged();
    return { apiKey: toApiKeyMessage(key) };
  }

  async setReviewPolicy(
    req: {
      experimenterId: string;
      approverIds: string[];
      minApprovals: number;
      requireLearningToArchive: boolean;
    },
    ctx: HandlerContext,
  ) {
    const actor = requirePrincipal(ctx);
    const v = new FieldViolations();
    checkUuid(v, "experimenter_id", req.experimenterId);
    const approverIds = [...new Set(req.approverIds)];
    if (approverIds.length !== req.approverIds.length) {
      v.add("approver_ids", "must not repeat a user");
    }
    req.approverIds.forEach((id, i) => checkUuid(v, `approver_ids[${i}]`, id));
    if (approverIds.includes(req.experimenterId)) {
      v.add("approver_ids", "must not include the experimenter: nobody approves their own work");
    }
    const max =
      approverIds.length > 0 ? Math.min(approverIds.length, MAX_MIN_APPROVALS) : MAX_MIN_APPROVALS;
    if (req.minApprovals < 1 || req.minApprovals > max) {
      v.add("min_approvals", `must be between 1 and ${max}`);
    }
    v.throwIfAny();
    const { result: policy } = await mutate(this.db.orm.em.fork(), undefined, async (tx) => {
      const experimenter = await findUser(tx, req.experimenterId, "experimenter_id");
      const experimenterRoles = rolesOf(experimenter);
      if (
        !experimenterRoles.includes(Role.EXPERIMENTER) &&
        !experimenterRoles.includes(Role.ADMIN)
      ) {
        throw new ConnectError(
          "experimenter_id: the user holds neither ROLE_EXPERIMENTER nor ROLE_ADMIN",
          Code.InvalidArgument,
        );
      }
      const approvers =
        approverIds.length > 0 ? await tx.find(User, { id: { $in: approverIds } }) : [];
      for (const [i, id] of req.approverIds.entries()) {
        const approver = approvers.find((u) => u.id === id);
        if (approver === undefined) throw notFound(`approver_ids[${i}]: user`, id);
        const roles = rolesOf(approver);
        if (!roles.includes(Role.APPROVER) && !roles.includes(Role.ADMIN)) {
          throw new ConnectError(
            `approver_ids[${i}]: user ${id} holds neither ROLE_APPROVER nor ROLE_ADMIN`,
            Code.InvalidArgument,
          );
        }
      }
      let policy = await tx.findOne(ReviewPolicy, { experimenter });
      if (policy === null) {
        policy = tx.create(ReviewPolicy, {
          experimenter,
          approverIds,
          minApprovals: req.minApprovals,
          requireLearningToArchive: req.requireLearningToArchive,
          updatedBy: actor.userId,
        });
      } else {
        policy.approverIds = approverIds;
        policy.minApprovals = req.minApprovals;
        policy.requireLearningToArchive = req.requireLearningToArchive;
        policy.updatedBy = actor.userId;
      }
      return {
        result: policy,
        audit: {
          actorId: actor.userId,
          entityType: "review_policy",
          entityId: experimenter.id,
          action: "review_policy.set",
          data: {
            approverIds,
            minApprovals: req.minApprovals,
            requireLearningToArchive: req.requireLearningToArchive,
          },
        },
      };
    });
    return { policy: toPolicyMessage(policy) };
  }

  async getReviewPolicy(req: { experimenterId: string }) {
    const em = this.db.orm.em.fork();
    const experimenter = await findUser(em, req.experimenterId, "experimenter_id");
    const policy = await em.findOne(ReviewPolicy, { experimenter });
    return { policy: policy === null ? defaultPolicy(experimenter.id) : toPolicyMessage(policy) };
  }

  async getCurrentUser(_req: unknown, ctx: HandlerContext) {
    const principal = requirePrincipal(ctx);
    const user = await findUser(this.db.orm.em.fork(), principal.userId);
    return { user: toUserMessage(user), apiKeyId: principal.apiKeyId };
  }
}

/** Resolves an API key hash to its user, for the Authenticator. */
export function keyLookup(db: DatabaseHandle) {
  return async (keyHash: string) => {
    const em = db.orm.em.fork();
    const key = await em.findOne(ApiKey, { keyHash, revokedAt: null }, { populate: ["user"] });
    if (key === null) return undefined;
    return {
      userId: key.user.id,
      email: key.user.email,
      apiKeyId: key.id,
      roles: new Set(rolesOf(key.user)),
    };
  };
}
