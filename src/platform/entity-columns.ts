/** Columns many tables share. */
import { p } from "@mikro-orm/core";

/** created_at set on insert, updated_at on insert and every update. */
export function timestampColumns() {
  return {
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  };
}
