/**
 * JSON text for decide's answers and log lines, written without
 * JSON.stringify on the hot path.
 */

/** Quoted forms of the few distinct keys and ids a node decides. */
const QUOTED = new Map<string, string>();
const MAX_QUOTED = 10_000;
/** Longer strings (never a valid key or id) are quoted each time, not kept. */
const MAX_QUOTED_LENGTH = 128;

/**
 * JSON.stringify(value) for a string, remembered for short ones (flag keys,
 * experiment ids, variant keys repeat on every request).
 */
export function quoted(value: string): string {
  let json = QUOTED.get(value);
  if (json === undefined) {
    json = JSON.stringify(value);
    if (value.length <= MAX_QUOTED_LENGTH) {
      if (QUOTED.size >= MAX_QUOTED) QUOTED.clear();
      QUOTED.set(value, json);
    }
  }
  return json;
}
