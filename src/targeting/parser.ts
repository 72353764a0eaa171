/**
 * Recursive-descent parser for targeting rules (grammar in docs/targeting.md).
 * It produces a small syntax tree that `compile.ts` turns into closures.
 * Recursion happens only through `(` and `NOT`, both counted against
 * MAX_NESTING_DEPTH, so no input can exhaust the stack; AND and OR chains
 * are collected iteratively into n-ary nodes.
 */
import { NOT_A_DATE, readDate } from "./date.js";
import { RuleSyntaxError } from "./errors.js";
import { Lexer, type Token, type TokenKind } from "./lexer.js";
import { MAX_IN_LIST_ITEMS, MAX_NESTING_DEPTH } from "./limits.js";

export type Literal =
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "number"; readonly value: number }
  | { readonly type: "boolean"; readonly value: boolean }
  /** `value` is the date as the integer YYYYMMDD. */
  | { readonly type: "date"; readonly value: number };

export type ComparisonOperator = "==" | "!=" | ">" | ">=" | "<" | "<=";

export type RuleNode =
  | { readonly kind: "everyone" }
  | { readonly kind: "and"; readonly operands: readonly RuleNode[] }
  | { readonly kind: "or"; readonly operands: readonly RuleNode[] }
  | { readonly kind: "not"; readonly operand: RuleNode }
  | {
      readonly kind: "compare";
      readonly attribute: string;
      readonly operator: ComparisonOperator;
      readonly value: Literal;
    }
  | {
      readonly kind: "in";
      readonly attribute: string;
      readonly negated: boolean;
      readonly values: readonly Literal[];
    }
  | { readonly kind: "contains"; readonly attribute: string; readonly value: Literal }
  | { readonly kind: "starts_with"; readonly attribute: string; readonly value: string };

export interface ParsedRule {
  readonly root: RuleNode;
  /** Attribute names in order of first appearance, without duplicates. */
  readonly attributes: readonly string[];
}

const COMPARISON_OPERATORS: ReadonlySet<TokenKind> = new Set(["==", "!=", ">", ">=", "<", "<="]);
const ORDERING_OPERATORS: ReadonlySet<TokenKind> = new Set([">", ">=", "<", "<="]);
const KEYWORD_KINDS: ReadonlySet<TokenKind> = new Set([
  "and",
  "or",
  "not",
  "in",
  "contains",
  "starts_with",
  "true",
  "false",
]);
/** Keywords someone may plausibly have meant as an attribute name. */
const RESERVED_NAMES: ReadonlySet<TokenKind> = new Set([
  "in",
  "contains",
  "starts_with",
  "true",
  "false",
]);
const OPERATOR_LIST =
  "a comparison operator (==, !=, >, >=, <, <=, IN, NOT IN, CONTAINS, STARTS_WITH)";

function shorten(text: string): string {
  return text.length > 32 ? `${text.slice(0, 29)}...` : text;
}

/** How a token is named in messages ("found ..."). */
function describe(token: Token): string {
  switch (token.kind) {
    case "end":
      return "end of rule";
    case "string":
      return `string ${shorten(token.text)}`;
    case "number":
      return `number ${token.text}`;
    case "date":
      return `date ${token.text}`;
    case "identifier":
      return `'${shorten(token.text)}'`;
    default:
      if (KEYWORD_KINDS.has(token.kind)) return token.kind.toUpperCase();
      return token.text === "'" ? `"'"` : `'${token.text}'`;
  }
}

/** How the token before a problem is named in messages ("after ..."). */
function label(token: Token): string {
  if (token.kind === "identifier") return `attribute '${shorten(token.text)}'`;
  if (KEYWORD_KINDS.has(token.kind)) return token.kind.toUpperCase();
  if (COMPARISON_OPERATORS.has(token.kind)) return token.kind;
  return describe(token);
}

export function parse(source: string): ParsedRule {
  return new Parser(source).parseRule();
}

class Parser {
  private readonly lexer: Lexer;
  private token: Token;
  private previous: Token | null = null;
  private depth = 0;
  private readonly attributes = new Set<string>();

  constructor(source: string) {
    this.lexer = new Lexer(source);
    this.token = this.lexer.next();
  }

  parseRule(): ParsedRule {
    let root: RuleNode = { kind: "everyone" };
    if (this.kind() !== "end") {
      root = this.parseOr();
      if (this.kind() !== "end") this.fail("AND, OR or end of rule");
    }
    return { root, attributes: [...this.attributes] };
  }

  /** Kind of the current token (a method, so TypeScript does not narrow it across advance()). */
  private kind(): TokenKind {
    return this.token.kind;
  }

  private advance(): Token {
    const current = this.token;
    this.previous = current;
    this.token = this.lexer.next();
    return current;
  }

  /** Throws "expected <expected> after <previous>, found <token> (<hint>)". */
  private fail(expected: string, hint = ""): never {
    const token = this.token;
    const after = this.previous === null ? "" : ` after ${label(this.previous)}`;
    const why = hint || token.hint;
    throw new RuleSyntaxError(
      token.start,
      expected,
      `expected ${expected}${after}, found ${describe(token)}${why ? ` (${why})` : ""}`,
    );
  }

  private enter(token: Token): void {
    this.depth++;
    if (this.depth > MAX_NESTING_DEPTH) {
      throw new RuleSyntaxError(
        token.start,
        `at most ${MAX_NESTING_DEPTH} levels of nesting`,
        `rule nests deeper than ${MAX_NESTING_DEPTH} levels (every '(' and NOT opens a level)`,
      );
    }
  }

  private parseOr(): RuleNode {
    const operands = [this.parseAnd()];
    while (this.kind() === "or") {
      this.advance();
      operands.push(this.parseAnd());
    }
    return operands.length === 1 ? operands[0]! : { kind: "or", operands };
  }

  private parseAnd(): RuleNode {
    const operands = [this.parseUnary()];
    while (this.kind() === "and") {
      this.advance();
      operands.push(this.parseUnary());
    }
    return operands.length === 1 ? operands[0]! : { kind: "and", operands };
  }

  private parseUnary(): RuleNode {
    const token = this.token;
    if (token.kind === "not") {
      this.enter(token);
      this.advance();
      const operand = this.parseUnary();
      this.depth--;
      return { kind: "not", operand };
    }
    if (token.kind === "(") {
      this.enter(token);
      this.advance();
      const inner = this.parseOr();
      if (this.kind() !== ")") this.fail("AND, OR or ')'");
      this.advance();
      this.depth--;
      return inner;
    }
    if (token.kind === "identifier") return this.parseComparison();
    const hint = RESERVED_NAMES.has(token.kind)
      ? `${token.kind.toUpperCase()} is a reserved word and cannot name an attribute`
      : "";
    return this.fail("an attribute name, '(' or NOT", hint);
  }

  private parseComparison(): RuleNode {
    const attribute = this.advance().text;
    this.attributes.add(attribute);
    const operator = this.token;
    if (COMPARISON_OPERATORS.has(operator.kind)) {
      this.advance();
      const value = this.parseLiteral();
      if (ORDERING_OPERATORS.has(operator.kind)) this.checkOrderable(value, operator);
      return { kind: "compare", attribute, operator: operator.kind as ComparisonOperator, value };
    }
    switch (operator.kind) {
      case "in":
        this.advance();
        return { kind: "in", attribute, negated: false, values: this.parseList() };
      case "not":
        this.advance();
        if (this.kind() !== "in") this.fail("IN");
        this.advance();
        return { kind: "in", attribute, negated: true, values: this.parseList() };
      case "contains":
        this.advance();
        return { kind: "contains", attribute, value: this.parseLiteral() };
      case "starts_with": {
        this.advance();
        if (this.kind() !== "string") this.fail("a string");
        return { kind: "starts_with", attribute, value: this.advance().stringValue };
      }
      default:
        return this.fail(OPERATOR_LIST);
    }
  }

  private parseLiteral(): Literal {
    const token = this.token;
    switch (token.kind) {
      case "string":
        this.advance();
        return { type: "string", value: token.stringValue };
      case "number":
        this.advance();
        return { type: "number", value: token.numberValue };
      case "date":
        this.advance();
        return { type: "date", value: token.numberValue };
      case "true":
      case "false":
        this.advance();
        return { type: "boolean", value: token.kind === "true" };
      case "identifier":
        return this.fail(
          "a value",
          `strings are written in double quotes: "${shorten(token.text)}"`,
        );
      default:
        return this.fail("a value");
    }
  }

  /** Ordering needs a number, a date or a string; a quoted date is ambiguous. */
  private checkOrderable(value: Literal, operator: Token): void {
    const at = this.previous!;
    if (value.type === "boolean") {
      throw new RuleSyntaxError(
        at.start,
        "a number, string, version or date",
        `expected a number, string, version or date after ${operator.kind}, found ${describe(at)}` +
          " (booleans can only be compared with == and !=)",
      );
    }
    if (
      value.type === "string" &&
      value.value.length === 10 &&
      readDate(value.value) !== NOT_A_DATE
    ) {
      throw new RuleSyntaxError(
        at.start,
        "a date without quotes",
        `expected a date without quotes after ${operator.kind}, found ${describe(at)}` +
          ` (write ${value.value} to compare dates)`,
      );
    }
  }

  private parseList(): Literal[] {
    if (this.kind() !== "[") this.fail("'['");
    this.advance();
    const values: Literal[] = [];
    for (;;) {
      if (values.length === MAX_IN_LIST_ITEMS) {
        throw new RuleSyntaxError(
          this.token.start,
          "']'",
          `IN list has more than ${MAX_IN_LIST_ITEMS} values`,
        );
      }
      values.push(this.parseLiteral());
      if (this.kind() === "]") {
        this.advance();
        return values;
      }
      if (this.kind() !== ",") this.fail("',' or ']'");
      this.advance();
    }
  }
}
