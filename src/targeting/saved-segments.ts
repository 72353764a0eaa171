/**
 * `segment("key")` in targeting rules (docs/saved-segments.md): a saved
 * segment's rule, inlined when the rule is saved. The expansion is textual:
 * each reference is replaced by the segment's rule in parentheses, and the
 * result is an ordinary rule that the decide core, the local evaluators and
 * the conformance vectors read as before. References are found with the
 * rule lexer, so `segment` inside a string literal is left alone, and an
 * attribute named `segment` (`segment == "x"`) still works: only
 * `segment` directly followed by `(` is a reference.
 *
 * Saved segments cannot nest: a segment's own rule may not reference
 * another segment (checked when it is saved), so expansion is one pass and
 * no cycle can arise.
 */
import { RuleSyntaxError } from "./errors.js";
import { Lexer, type Token } from "./lexer.js";
import { MAX_RULE_LENGTH } from "./limits.js";

/** The function name of a reference. */
export const SEGMENT_FUNCTION = "segment";

/** A `segment("key")` found in a rule. */
export interface SegmentReference {
  key: string;
  /** Offset of `segment`. */
  start: number;
  /** Offset after the closing `)`. */
  end: number;
}

export type ReferencesResult =
  | { readonly ok: true; readonly references: readonly SegmentReference[] }
  | { readonly ok: false; readonly position: number; readonly message: string };

/**
 * The `segment("key")` references of a rule, in order. A malformed
 * reference (`segment(`, `segment(key)`, `segment("a", "b")`) is an error
 * with its position; any other syntax problem is left to the parser, which
 * reads the expanded rule.
 */
export function findSegmentReferences(source: string): ReferencesResult {
  const references: SegmentReference[] = [];
  if (typeof source !== "string" || !source.includes(SEGMENT_FUNCTION)) {
    return { ok: true, references };
  }
  const lexer = new Lexer(source);
  const next = (): Token => lexer.next();
  try {
    let token = next();
    while (token.kind !== "end" && token.kind !== "invalid") {
      if (token.kind !== "identifier" || token.text !== SEGMENT_FUNCTION) {
        token = next();
        continue;
      }
      const start = token.start;
      const open = next();
      if (open.kind !== "(") {
        token = open;
        continue;
      }
      const key = next();
      if (key.kind !== "string") {
        return {
          ok: false,
          position: key.start,
          message: `expected a saved segment key in double quotes after 'segment(', e.g. segment("power_users")`,
        };
      }
      const close = next();
      if (close.kind !== ")") {
        return {
          ok: false,
          position: close.start,
          message: `expected ')' after segment(${key.text}`,
        };
      }
      references.push({ key: key.stringValue, start, end: close.end });
      token = next();
    }
  } catch (error) {
    // A lexical error (e.g. an unterminated string) is the parser's to report.
    if (!(error instanceof RuleSyntaxError)) throw error;
  }
  return { ok: true, references };
}

/** A saved segment's rule at one version, as expansion needs it. */
export interface SegmentDefinition {
  rule: string;
  version: number;
}

export type ExpandResult =
  | {
      readonly ok: true;
      /** The rule with every reference inlined (the source itself without references). */
      readonly expanded: string;
      /** Segments used, in order of first use, each once. */
      readonly used: readonly { key: string; version: number }[];
    }
  | { readonly ok: false; readonly message: string };

/**
 * Inlines the saved segments a rule references. `resolve` answers a key's
 * current definition, or undefined when there is no such segment. Errors
 * are one line without the field name (`at 8: unknown saved segment
 * "power_users"`); the expanded rule still has to be parsed by the caller.
 */
export function expandSavedSegments(
  source: string,
  resolve: (key: string) => SegmentDefinition | undefined,
): ExpandResult {
  const found = findSegmentReferences(source);
  if (!found.ok) return { ok: false, message: `at ${found.position}: ${found.message}` };
  if (found.references.length === 0) return { ok: true, expanded: source, used: [] };
  let expanded = "";
  let from = 0;
  const used = new Map<string, number>();
  for (const reference of found.references) {
    const definition = resolve(reference.key);
    if (definition === undefined) {
      return {
        ok: false,
        message: `at ${reference.start}: unknown saved segment ${JSON.stringify(reference.key)}`,
      };
    }
    if (!used.has(reference.key)) used.set(reference.key, definition.version);
    expanded += `${source.slice(from, reference.start)}(${definition.rule})`;
    from = reference.end;
  }
  expanded += source.slice(from);
  if (expanded.length > MAX_RULE_LENGTH) {
    return {
      ok: false,
      message: `with its saved segments inlined the rule is ${expanded.length} characters long; the limit is ${MAX_RULE_LENGTH}`,
    };
  }
  return { ok: true, expanded, used: [...used].map(([key, version]) => ({ key, version })) };
}

/**
 * The source with each reference replaced by an always-valid placeholder of
 * the same length, so that syntax errors elsewhere are reported at their
 * position in the rule as written.
 */
export function maskSegmentReferences(
  source: string,
  references: readonly SegmentReference[],
): string {
  let masked = "";
  let from = 0;
  for (const r of references) {
    masked += source.slice(from, r.start) + "(s==1)".padEnd(r.end - r.start, " ");
    from = r.end;
  }
  return masked + source.slice(from);
}
