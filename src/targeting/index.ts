/**
 * Targeting rules: a small expression language over subject attributes,
 * e.g. `country IN ["RU","KZ"] AND app_version >= "1.6.0" AND platform == "ios"`.
 *
 * Pure and synchronous. A rule is parsed and compiled once (when it is
 * saved or loaded into the decide snapshot) and evaluated from closures on
 * every decide. Language and semantics: docs/targeting.md; why a
 * hand-written parser: docs/adr/0007-targeting-parser.md.
 */
import { compileNode, type Attributes } from "./compile.js";
import { RuleSyntaxError, toRuleError, type RuleError } from "./errors.js";
import { MAX_RULE_LENGTH } from "./limits.js";
import { parse } from "./parser.js";
import {
  expandSavedSegments,
  findSegmentReferences,
  maskSegmentReferences,
  type SegmentDefinition,
} from "./saved-segments.js";

export {
  MAX_IN_LIST_ITEMS,
  MAX_NESTING_DEPTH,
  MAX_RULE_LENGTH,
  MAX_STRING_LITERAL_LENGTH,
} from "./limits.js";
export { RESERVED_WORDS } from "./lexer.js";
export type { RuleError } from "./errors.js";

/** Subject attributes as plain JS (a protobuf Struct converted with toJson). */
export type TargetingAttributes = Attributes;

/** A rule ready to evaluate. Immutable; safe to share between requests. */
export interface CompiledRule {
  /** The rule as written. */
  readonly source: string;
  /** Attribute names the rule reads, in order of first appearance, without duplicates. */
  readonly attributes: readonly string[];
  /**
   * Whether a subject with these attributes is targeted. Never throws and
   * never allocates; the empty rule matches everyone.
   */
  evaluate(attributes: TargetingAttributes): boolean;
}

export type ParseResult =
  | { readonly ok: true; readonly rule: CompiledRule }
  | { readonly ok: false; readonly error: RuleError };

const NO_ATTRIBUTES: TargetingAttributes = Object.freeze({});

/**
 * Parses and compiles a rule. Never throws: any input, however malformed or
 * large, gives either a compiled rule or an error with its position.
 */
export function parseRule(source: string): ParseResult {
  if (typeof source !== "string") {
    return failure("", 0, "a string", "a targeting rule must be a string");
  }
  if (source.length > MAX_RULE_LENGTH) {
    return failure(
      source,
      MAX_RULE_LENGTH,
      `a rule of at most ${MAX_RULE_LENGTH} characters`,
      `rule is ${source.length} characters long; the limit is ${MAX_RULE_LENGTH}`,
    );
  }
  try {
    const parsed = parse(source);
    const predicate = compileNode(parsed.root);
    const rule: CompiledRule = {
      source,
      attributes: Object.freeze(parsed.attributes.slice()),
      evaluate: (attributes) => predicate(attributes ?? NO_ATTRIBUTES),
    };
    return { ok: true, rule: Object.freeze(rule) };
  } catch (error) {
    if (error instanceof RuleSyntaxError) {
      return failure(source, error.position, error.expected, error.message);
    }
    // Not reachable by design (the fuzz tests look for it); kept so that a
    // bug here shows up as a rejected rule rather than a failed request.
    return failure(source, 0, "a valid rule", "internal error while parsing the rule");
  }
}

function failure(source: string, position: number, expected: string, message: string): ParseResult {
  return { ok: false, error: toRuleError(source, position, expected, message) };
}

/**
 * For request validation: null when the rule parses, otherwise one line
 * naming the field and the position, e.g.
 * `targeting_rule: at 11: expected '[' after IN, found end of rule`.
 */
export function validateRule(source: string, field = "targeting_rule"): string | null {
  const result = parseRule(source);
  return result.ok ? null : `${field}: at ${result.error.position}: ${result.error.message}`;
}

export { describeRule, valuesFor, type RuleDescription } from "./describe.js";

export {
  findSegmentReferences,
  SEGMENT_FUNCTION,
  type SegmentDefinition,
  type SegmentReference,
} from "./saved-segments.js";

export type CompileTargetingResult =
  | {
      readonly ok: true;
      /** What decide evaluates: the rule with its saved segments inlined. */
      readonly compiled: string;
      /** Saved segments inlined, in order of first use, with their versions. */
      readonly used: readonly { key: string; version: number }[];
    }
  | { readonly ok: false; readonly message: string };

/**
 * Checks a rule as written (with `segment("key")` references) and compiles
 * it: references inlined by {@link expandSavedSegments}, the result parsed.
 * `message` is one line without the field name, e.g. `at 8: unknown saved
 * segment "power_users"`; syntax errors carry their position in the rule as
 * written.
 */
export function compileTargetingRule(
  source: string,
  resolve: (key: string) => SegmentDefinition | undefined,
): CompileTargetingResult {
  const found = findSegmentReferences(source);
  if (!found.ok) return { ok: false, message: `at ${found.position}: ${found.message}` };
  const masked = parseRule(maskSegmentReferences(source, found.references));
  if (!masked.ok) {
    return { ok: false, message: `at ${masked.error.position}: ${masked.error.message}` };
  }
  const expanded = expandSavedSegments(source, resolve);
  if (!expanded.ok) return expanded;
  if (expanded.used.length > 0) {
    const parsed = parseRule(expanded.expanded);
    if (!parsed.ok) {
      return {
        ok: false,
        message: `with its saved segments inlined: at ${parsed.error.position}: ${parsed.error.message}`,
      };
    }
  }
  return { ok: true, compiled: expanded.expanded, used: expanded.used };
}
