/** Tables owned by the flags module. */
import { defineEntity, p } from "@mikro-orm/core";
import { timestampColumns } from "../platform/entity-columns.js";

/** JSON types of a flag's values, stored lower-case. */
export type FlagValueType = "string" | "number" | "bool" | "json";

export const FlagSchema = defineEntity({
  name: "Flag",
  tableName: "flags",
  indexes: [{ properties: ["tags"], type: "gin" }],
  properties: {
    /** See FLAG_KEY in src/flags/validation.ts for the format. */
    key: p.string().length(100).primary(),
    type: p.string().length(10).$type<FlagValueType>(),
    /** The default value as JSON (a string, number, boolean or any JSON value). */
    defaultValue: p.json<unknown>(),
    description: p.text(),
    tags: p.array(),
    createdBy: p.uuid(),
    archivedAt: p.datetime().nullable(),
    ...timestampColumns(),
  },
});
export class Flag extends FlagSchema.class {}
FlagSchema.setClass(Flag);

export const flagEntities = [FlagSchema];
