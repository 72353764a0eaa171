/**
 * The flags' face for other modules: finding flags by key, for FlagService
 * and for the modules that refer to flags (experiments), where every failure
 * names the request field that held the key; the check of a value against a
 * flag's type; and the flag entity and its value type, for the experiments'
 * relation to a flag and for decide's snapshot.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { LockMode, type EntityManager } from "@mikro-orm/core";
import { notFound } from "../platform/errors.js";
import { Flag } from "./entities.js";
import { FieldViolations, checkFlagKey } from "./validation.js";

export { Flag };
export type { FlagValueType } from "./entities.js";
export { checkValueMatchesType } from "./values.js";
export { checkFlagKey };

export interface FindFlagOptions {
  /**
   * Row lock to take; only honoured inside a transaction (`em.transactional`),
   * where it is held until the transaction ends.
   */
  lock?: "share" | "update";
}

/**
 * The flag with `key`, archived or not. Throws INVALID_ARGUMENT for an empty
 * or malformed key and NOT_FOUND for an unknown one, both naming `field`.
 */
export async function findFlag(
  em: EntityManager,
  key: string,
  field: string,
  options: FindFlagOptions = {},
): Promise<Flag> {
  const v = new FieldViolations();
  checkFlagKey(v, field, key);
  v.throwIfAny();
  const lockMode =
    options.lock === undefined || !em.isInTransaction()
      ? undefined
      : options.lock === "share"
        ? LockMode.PESSIMISTIC_READ
        : LockMode.PESSIMISTIC_WRITE;
  const flag = await em.findOne(Flag, { key }, lockMode === undefined ? {} : { lockMode });
  if (flag === null) throw notFound(`${field}: flag`, key);
  return flag;
}

/** The FAILED_PRECONDITION for using an archived flag, naming `field`. */
export function archivedFlagError(field: string, key: string, doing: string): ConnectError {
  return new ConnectError(
    `${field}: flag ${JSON.stringify(key)} is archived; ${doing}`,
    Code.FailedPrecondition,
  );
}

/**
 * The flag with `key`, which must exist and not be archived: for creating
 * (or starting) experiments on it. Throws INVALID_ARGUMENT (empty or
 * malformed key), NOT_FOUND (no such flag) or FAILED_PRECONDITION
 * (archived), each naming `field`.
 *
 * Inside a transaction the flag's row is locked FOR SHARE until the
 * transaction ends, so a concurrent ArchiveFlag (which locks it FOR UPDATE)
 * waits for the caller's commit and then sees its experiment.
 */
export async function requireActiveFlag(
  em: EntityManager,
  key: string,
  field: string,
): Promise<Flag> {
  const flag = await findFlag(em, key, field, { lock: "share" });
  if (flag.archivedAt !== null && flag.archivedAt !== undefined) {
    throw archivedFlagError(field, key, "archived flags cannot get new experiments");
  }
  return flag;
}
