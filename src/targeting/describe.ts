/**
 * A targeting rule described for people and for comparison: a short form
 * ("country ∈ {de, fr} · platform = ios"), the attributes it reads, the
 * attribute–value pairs it asks for, and the values named for a given
 * attribute. Used by the learnings library (docs/learnings.md).
 */
import { RuleSyntaxError } from "./errors.js";
import { MAX_RULE_LENGTH } from "./limits.js";
import { parse, type Literal, type RuleNode } from "./parser.js";

export interface RuleDescription {
  /** The rule in short form; "everyone" for the empty rule. */
  summary: string;
  /** Attributes the rule reads, lower-cased, in order of first appearance. */
  attributes: string[];
  /**
   * `attribute=value` for every equality and IN-list value the rule asks
   * for (not for negated ones), lower-cased, sorted, without duplicates.
   */
  pairs: string[];
}

const EVERYONE: RuleDescription = { summary: "everyone", attributes: [], pairs: [] };

function literal(value: Literal): string {
  switch (value.type) {
    case "string":
      return value.value;
    case "date": {
      const d = String(value.value);
      return `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;
    }
    default:
      return String(value.value);
  }
}

const OPERATOR_TEXT: Record<string, string> = {
  "==": "=",
  "!=": "≠",
  ">": ">",
  ">=": "≥",
  "<": "<",
  "<=": "≤",
};

function text(node: RuleNode, nested: boolean): string {
  switch (node.kind) {
    case "everyone":
      return "everyone";
    case "and":
      return node.operands.map((o) => text(o, true)).join(" · ");
    case "or": {
      const inner = node.operands.map((o) => text(o, true)).join(" or ");
      return nested ? `(${inner})` : inner;
    }
    case "not":
      return `not ${text(node.operand, true)}`;
    case "compare":
      return `${node.attribute} ${OPERATOR_TEXT[node.operator] ?? node.operator} ${literal(node.value)}`;
    case "in":
      return `${node.attribute} ${node.negated ? "∉" : "∈"} {${node.values.map(literal).join(", ")}}`;
    case "contains":
      return `${node.attribute} contains ${literal(node.value)}`;
    case "starts_with":
      return `${node.attribute} starts with ${node.value}`;
  }
}

function collectPairs(node: RuleNode, negated: boolean, out: Set<string>): void {
  switch (node.kind) {
    case "and":
    case "or":
      for (const o of node.operands) collectPairs(o, negated, out);
      return;
    case "not":
      collectPairs(node.operand, !negated, out);
      return;
    case "compare":
      if (node.operator === "==" && !negated) {
        out.add(`${node.attribute}=${literal(node.value)}`.toLowerCase());
      }
      return;
    case "in":
      if (node.negated === negated) {
        for (const v of node.values) out.add(`${node.attribute}=${literal(v)}`.toLowerCase());
      }
      return;
    default:
      return;
  }
}

/**
 * Describes a rule. A rule that does not parse (it cannot have been
 * stored) is described by its source text and reads no attributes.
 */
export function describeRule(source: string): RuleDescription {
  if (source.trim() === "") return EVERYONE;
  if (source.length > MAX_RULE_LENGTH) {
    return { summary: source.slice(0, 200), attributes: [], pairs: [] };
  }
  try {
    const parsed = parse(source);
    const pairs = new Set<string>();
    collectPairs(parsed.root, false, pairs);
    return {
      summary: text(parsed.root, false),
      attributes: [...new Set(parsed.attributes.map((a) => a.toLowerCase()))],
      pairs: [...pairs].sort(),
    };
  } catch (error) {
    if (error instanceof RuleSyntaxError) return { summary: source, attributes: [], pairs: [] };
    throw error;
  }
}

/** The values a description's pairs name for one attribute, in order. */
export function valuesFor(description: RuleDescription, attribute: string): string[] {
  const prefix = `${attribute.toLowerCase()}=`;
  return description.pairs.filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
}
