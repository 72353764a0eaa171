/**
 * Splits a rule into tokens on demand, so the first problem in reading order
 * is the one reported. Hand-written, no regular expressions: every character
 * is looked at a bounded number of times.
 */
import { readDate, NOT_A_DATE } from "./date.js";
import { RuleSyntaxError } from "./errors.js";
import { MAX_STRING_LITERAL_LENGTH } from "./limits.js";

export type TokenKind =
  | "identifier"
  | "string"
  | "number"
  | "date"
  | "true"
  | "false"
  | "and"
  | "or"
  | "not"
  | "in"
  | "contains"
  | "starts_with"
  | "("
  | ")"
  | "["
  | "]"
  | ","
  | "=="
  | "!="
  | ">"
  | ">="
  | "<"
  | "<="
  | "invalid"
  | "end";

export interface Token {
  readonly kind: TokenKind;
  /** Offset of the first character. */
  readonly start: number;
  /** Offset after the last character. */
  readonly end: number;
  /** The token as written (raw source text). */
  readonly text: string;
  /** Unescaped text of a string literal. */
  readonly stringValue: string;
  /** Value of a number literal, or `YYYYMMDD` of a date literal. */
  readonly numberValue: number;
  /** For an invalid token: what the author probably meant. */
  readonly hint: string;
}

const KEYWORDS: ReadonlyMap<string, TokenKind> = new Map<string, TokenKind>([
  ["AND", "and"],
  ["OR", "or"],
  ["NOT", "not"],
  ["IN", "in"],
  ["CONTAINS", "contains"],
  ["STARTS_WITH", "starts_with"],
  ["TRUE", "true"],
  ["FALSE", "false"],
]);

/** Keywords cannot be attribute names. */
export const RESERVED_WORDS: readonly string[] = [...KEYWORDS.keys()];

const HINTS: ReadonlyMap<string, string> = new Map([
  ["=", "use == to compare"],
  ["!", "use NOT to negate"],
  ["&", "use AND"],
  ["|", "use OR"],
  ["'", 'strings are written in double quotes: "text"'],
]);

const QUOTE = 34;
const BACKSLASH = 92;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;

function isDigit(code: number): boolean {
  return code >= ZERO && code <= NINE;
}

function isIdentifierStart(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95;
}

function isIdentifierPart(code: number): boolean {
  return isIdentifierStart(code) || isDigit(code) || code === DOT;
}

function isWhitespace(code: number): boolean {
  return code === 32 || code === 9 || code === 10 || code === 13;
}

export class Lexer {
  private position = 0;

  constructor(private readonly source: string) {}

  next(): Token {
    const source = this.source;
    const length = source.length;
    let i = this.position;
    while (i < length && isWhitespace(source.charCodeAt(i))) i++;
    if (i >= length) {
      this.position = length;
      return this.token("end", length, length);
    }
    const code = source.charCodeAt(i);
    if (isIdentifierStart(code)) return this.identifier(i);
    if (isDigit(code) || (code === MINUS && isDigit(source.charCodeAt(i + 1)))) {
      return this.numberOrDate(i);
    }
    if (code === QUOTE) return this.string(i);
    const next = source.charCodeAt(i + 1);
    switch (code) {
      case 40:
        return this.token("(", i, i + 1);
      case 41:
        return this.token(")", i, i + 1);
      case 91:
        return this.token("[", i, i + 1);
      case 93:
        return this.token("]", i, i + 1);
      case 44:
        return this.token(",", i, i + 1);
      case 61: // =
        if (next === 61) return this.token("==", i, i + 2);
        break;
      case 33: // !
        if (next === 61) return this.token("!=", i, i + 2);
        break;
      case 62: // >
        return next === 61 ? this.token(">=", i, i + 2) : this.token(">", i, i + 1);
      case 60: // <
        return next === 61 ? this.token("<=", i, i + 2) : this.token("<", i, i + 1);
    }
    const character = String.fromCodePoint(source.codePointAt(i)!);
    return this.token("invalid", i, i + character.length, HINTS.get(character) ?? "");
  }

  private token(kind: TokenKind, start: number, end: number, hint = ""): Token {
    this.position = end;
    const text = this.source.slice(start, end);
    return { kind, start, end, text, stringValue: "", numberValue: 0, hint };
  }

  private identifier(start: number): Token {
    const source = this.source;
    let i = start + 1;
    while (i < source.length && isIdentifierPart(source.charCodeAt(i))) i++;
    const text = source.slice(start, i);
    return this.token(KEYWORDS.get(text.toUpperCase()) ?? "identifier", start, i);
  }

  private numberOrDate(start: number): Token {
    const source = this.source;
    const length = source.length;
    let i = start;
    if (source.charCodeAt(i) === MINUS) i++;
    const digitsStart = i;
    while (i < length && isDigit(source.charCodeAt(i))) i++;

    if (source.charCodeAt(i) === MINUS) {
      // Only a date has a dash after digits: YYYY-MM-DD.
      const end = digitsStart + 10;
      const text = source.slice(start, end);
      const day = start === digitsStart && i === start + 4 ? readDate(text) : NOT_A_DATE;
      if (day === NOT_A_DATE || text.length !== 10) {
        throw new RuleSyntaxError(
          start,
          "a date written YYYY-MM-DD",
          `invalid date '${this.word(start)}': dates are written YYYY-MM-DD and must exist`,
        );
      }
      this.checkEndOfLiteral(start, end, "date");
      const token = this.token("date", start, end);
      return { ...token, numberValue: day };
    }

    if (source.charCodeAt(i) === DOT) {
      i++;
      const fractionStart = i;
      while (i < length && isDigit(source.charCodeAt(i))) i++;
      if (i === fractionStart) this.invalidNumber(start);
    }
    const exponent = source.charCodeAt(i);
    if (exponent === 101 || exponent === 69) {
      i++;
      const sign = source.charCodeAt(i);
      if (sign === 43 || sign === MINUS) i++;
      const exponentStart = i;
      while (i < length && isDigit(source.charCodeAt(i))) i++;
      if (i === exponentStart) this.invalidNumber(start);
    }
    this.checkEndOfLiteral(start, i, "number");
    const value = Number(source.slice(start, i));
    if (!Number.isFinite(value)) {
      throw new RuleSyntaxError(
        start,
        "a finite number",
        `number '${source.slice(start, i)}' is out of range`,
      );
    }
    const token = this.token("number", start, i);
    return { ...token, numberValue: value };
  }

  /** A literal must not run into letters, digits or dots ("12abc", "1.2.3"). */
  private checkEndOfLiteral(start: number, end: number, what: "number" | "date"): void {
    const code = this.source.charCodeAt(end);
    if (isIdentifierPart(code) || code === MINUS) {
      if (what === "date") {
        throw new RuleSyntaxError(
          start,
          "a date written YYYY-MM-DD",
          `invalid date '${this.word(start)}': dates are written YYYY-MM-DD`,
        );
      }
      this.invalidNumber(start);
    }
  }

  private invalidNumber(start: number): never {
    const word = this.word(start);
    const dots = word.split(".").length - 1;
    const hint = dots >= 2 ? ` (versions are strings: write "${word}")` : "";
    throw new RuleSyntaxError(start, "a number", `invalid number '${word}'${hint}`);
  }

  /** The run of literal-like characters from `start`, for messages. */
  private word(start: number): string {
    const source = this.source;
    let i = start + 1;
    while (i < source.length && i - start < 40) {
      const code = source.charCodeAt(i);
      if (!isIdentifierPart(code) && code !== MINUS && code !== 43) break;
      i++;
    }
    return source.slice(start, i);
  }

  private string(start: number): Token {
    const source = this.source;
    const length = source.length;
    let value = "";
    let chunkStart = start + 1;
    let i = start + 1;
    for (;;) {
      if (i >= length) {
        throw new RuleSyntaxError(
          start,
          "'\"' to close the string",
          `unterminated string literal starting at ${start}`,
        );
      }
      const code = source.charCodeAt(i);
      if (code === QUOTE) {
        value += source.slice(chunkStart, i);
        i++;
        break;
      }
      if (code === BACKSLASH) {
        const escaped = source.charCodeAt(i + 1);
        if (escaped === QUOTE || escaped === BACKSLASH) {
          value += source.slice(chunkStart, i) + String.fromCharCode(escaped);
          i += 2;
          chunkStart = i;
          continue;
        }
        if (i + 1 >= length) {
          i++; // a backslash at the very end: reported as unterminated on the next turn
          continue;
        }
        throw new RuleSyntaxError(
          i,
          '\\" or \\\\',
          `invalid escape sequence '\\${String.fromCodePoint(source.codePointAt(i + 1)!)}': ` +
            'only \\" and \\\\ are allowed in strings',
        );
      }
      i++;
    }
    if (value.length > MAX_STRING_LITERAL_LENGTH) {
      throw new RuleSyntaxError(
        start,
        `a string of at most ${MAX_STRING_LITERAL_LENGTH} characters`,
        `string literal is ${value.length} characters long; ` +
          `the limit is ${MAX_STRING_LITERAL_LENGTH}`,
      );
    }
    const token = this.token("string", start, i);
    return { ...token, stringValue: value };
  }
}
