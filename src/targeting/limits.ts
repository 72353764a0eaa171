/**
 * Hard limits of the targeting rule language. A rule over any of them is a
 * parse error naming the position, never a crash: they bound the work done
 * at save time (parsing, compiling) and the memory a compiled rule keeps.
 */

/** Longest accepted rule, in UTF-16 code units (JavaScript string length). */
export const MAX_RULE_LENGTH = 4096;

/** Deepest accepted nesting; every `(` and every `NOT` opens one level. */
export const MAX_NESTING_DEPTH = 32;

/** Most values accepted in one `IN [...]` / `NOT IN [...]` list. */
export const MAX_IN_LIST_ITEMS = 1000;

/** Longest accepted string literal, in UTF-16 code units after unescaping. */
export const MAX_STRING_LITERAL_LENGTH = 1024;
