/** Errors of the targeting rule language. */

/** Why a rule does not parse, and where. */
export interface RuleError {
  /** 0-based offset in the rule (UTF-16 code units) where the problem is. */
  readonly position: number;
  /** 1-based line of `position`. */
  readonly line: number;
  /** 1-based column of `position` within its line. */
  readonly column: number;
  /** What the parser expected at `position`, e.g. `"'['"` or `"a value"`. */
  readonly expected: string;
  /** A sentence for people: what was expected, what was found, and a hint. */
  readonly message: string;
}

/**
 * Thrown inside the lexer and parser to unwind to `parseRule`, which turns it
 * into a {@link RuleError}. It never escapes the module.
 */
export class RuleSyntaxError extends Error {
  constructor(
    readonly position: number,
    readonly expected: string,
    message: string,
  ) {
    super(message);
    this.name = "RuleSyntaxError";
  }
}

/** Builds the public error value, adding line and column. */
export function toRuleError(
  source: string,
  position: number,
  expected: string,
  message: string,
): RuleError {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(position, source.length);
  for (let i = 0; i < end; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { position, line, column: position - lineStart + 1, expected, message };
}
