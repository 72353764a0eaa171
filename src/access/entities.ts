/** Tables owned by the access module: users, API keys, review policies. */
import { randomUUID } from "node:crypto";
import { defineEntity, p } from "@mikro-orm/core";
import { timestampColumns } from "../platform/entity-columns.js";

export const UserSchema = defineEntity({
  name: "User",
  tableName: "users",
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    /** Stored lower-case; unique. */
    email: p.string().length(254).unique(),
    displayName: p.string().length(200),
    /** Role names without the ROLE_ prefix, lower-case (e.g. "admin"). */
    roles: p.array(),
    ...timestampColumns(),
  },
});
export class User extends UserSchema.class {}
UserSchema.setClass(User);

export const ApiKeySchema = defineEntity({
  name: "ApiKey",
  tableName: "api_keys",
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    user: () => p.manyToOne(User).index(),
    name: p.string().length(100),
    /** Hex SHA-256 of the secret; the secret itself is never stored. */
    keyHash: p.string().length(64).unique(),
    /** The first characters of the secret, for telling keys apart. */
    prefix: p.string().length(16),
    createdAt: p.datetime().onCreate(() => new Date()),
    revokedAt: p.datetime().nullable(),
  },
});
export class ApiKey extends ApiKeySchema.class {}
ApiKeySchema.setClass(ApiKey);

export const ReviewPolicySchema = defineEntity({
  name: "ReviewPolicy",
  tableName: "review_policies",
  properties: {
    experimenter: () => p.oneToOne(User).primary().owner(),
    /** Empty means any approver or admin other than the experimenter. */
    approverIds: p.array(),
    minApprovals: p.integer(),
    /** ArchiveExperiment refuses until the experiment's learning is written up. */
    requireLearningToArchive: p.boolean().default(false),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
    updatedBy: p.uuid(),
  },
});
export class ReviewPolicy extends ReviewPolicySchema.class {}
ReviewPolicySchema.setClass(ReviewPolicy);

export const accessEntities = [UserSchema, ApiKeySchema, ReviewPolicySchema];
