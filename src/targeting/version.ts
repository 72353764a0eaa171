/**
 * Version ordering in the spirit of semver 2.0.0: dotted numeric core parts
 * compared numerically (missing parts count as 0, so "1.6" equals "1.6.0"),
 * a pre-release (`-beta.2`) ordered before its release, pre-release
 * identifiers compared per semver §11, build metadata (`+sha.1`) ignored.
 *
 * The literal side is parsed once when a rule is compiled; the attribute side
 * is scanned character by character on every evaluation with no allocation
 * and no regular expression. Numeric parts are compared as digit strings
 * (leading zeros ignored), so they may have any length.
 */

const ZERO = 48;
const NINE = 57;
const DOT = 46;
const DASH = 45;
const PLUS = 43;

/** One pre-release identifier of a version literal. */
interface PreReleaseIdentifier {
  readonly numeric: boolean;
  /** For numeric identifiers, the digits without leading zeros. */
  readonly text: string;
}

/** A version literal parsed at compile time. */
export interface VersionLiteral {
  /** Core parts as digit strings without leading zeros ("0" for zero). */
  readonly core: readonly string[];
  /** Pre-release identifiers; empty for a release. */
  readonly preRelease: readonly PreReleaseIdentifier[];
}

function isDigit(code: number): boolean {
  return code >= ZERO && code <= NINE;
}

/** `[0-9A-Za-z-]`: the characters of pre-release and build identifiers. */
function isIdentifierCharacter(code: number): boolean {
  return (
    (code >= ZERO && code <= NINE) ||
    (code >= 65 && code <= 90) ||
    (code >= 97 && code <= 122) ||
    code === DASH
  );
}

function allDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) if (!isDigit(text.charCodeAt(i))) return false;
  return true;
}

function allIdentifierCharacters(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    if (!isIdentifierCharacter(text.charCodeAt(i))) return false;
  }
  return true;
}

function stripLeadingZeros(digits: string): string {
  let start = 0;
  while (start < digits.length - 1 && digits.charCodeAt(start) === ZERO) start++;
  return digits.slice(start);
}

/**
 * Parses `text` as a version: `N(.N)*` with an optional `-pre.release` and an
 * optional `+build`, where N is one or more digits. Returns null when `text`
 * does not look like a version (such a string compares as a plain string).
 */
export function parseVersionLiteral(text: string): VersionLiteral | null {
  let main = text;
  const plus = text.indexOf("+");
  if (plus >= 0) {
    if (
      !text
        .slice(plus + 1)
        .split(".")
        .every(allIdentifierCharacters)
    )
      return null;
    main = text.slice(0, plus);
  }
  const dash = main.indexOf("-");
  const coreText = dash >= 0 ? main.slice(0, dash) : main;
  const coreParts = coreText.split(".");
  if (!coreParts.every(allDigits)) return null;
  const preRelease: PreReleaseIdentifier[] = [];
  if (dash >= 0) {
    for (const identifier of main.slice(dash + 1).split(".")) {
      if (!allIdentifierCharacters(identifier)) return null;
      const numeric = allDigits(identifier);
      preRelease.push({ numeric, text: numeric ? stripLeadingZeros(identifier) : identifier });
    }
  }
  return { core: coreParts.map(stripLeadingZeros), preRelease };
}

/** Compares the digits `text[start, end)` with a digit string without leading zeros. */
function compareDigits(text: string, start: number, end: number, digits: string): number {
  while (end - start > 1 && text.charCodeAt(start) === ZERO) start++;
  const length = end - start;
  if (length !== digits.length) return length < digits.length ? -1 : 1;
  for (let i = 0; i < length; i++) {
    const a = text.charCodeAt(start + i);
    const b = digits.charCodeAt(i);
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}

/** Compares the identifier `text[start, end)` with a literal one (semver §11.4). */
function comparePreRelease(
  text: string,
  start: number,
  end: number,
  numeric: boolean,
  identifier: PreReleaseIdentifier,
): number {
  if (numeric) return identifier.numeric ? compareDigits(text, start, end, identifier.text) : -1;
  if (identifier.numeric) return 1;
  const other = identifier.text;
  const length = end - start;
  const shorter = length < other.length ? length : other.length;
  for (let i = 0; i < shorter; i++) {
    const a = text.charCodeAt(start + i);
    const b = other.charCodeAt(i);
    if (a !== b) return a < b ? -1 : 1;
  }
  return length === other.length ? 0 : length < other.length ? -1 : 1;
}

/**
 * Compares the version in `text` with a literal: -1, 0 or 1, or NaN when
 * `text` is not a version (so every ordering test on the result is false).
 */
export function compareVersion(text: string, literal: VersionLiteral): number {
  const length = text.length;
  const core = literal.core;
  const preRelease = literal.preRelease;
  let i = 0;
  let result = 0;

  let part = 0;
  for (;;) {
    const start = i;
    while (i < length && isDigit(text.charCodeAt(i))) i++;
    if (i === start) return NaN;
    if (result === 0)
      result = compareDigits(text, start, i, part < core.length ? core[part]! : "0");
    part++;
    if (i < length && text.charCodeAt(i) === DOT) {
      i++;
      continue;
    }
    break;
  }
  for (; result === 0 && part < core.length; part++) if (core[part] !== "0") result = -1;

  let hasPreRelease = false;
  let preResult = 0;
  let preIndex = 0;
  if (i < length && text.charCodeAt(i) === DASH) {
    hasPreRelease = true;
    i++;
    for (;;) {
      const start = i;
      let numeric = true;
      while (i < length) {
        const code = text.charCodeAt(i);
        if (!isIdentifierCharacter(code)) break;
        if (!isDigit(code)) numeric = false;
        i++;
      }
      if (i === start) return NaN;
      if (preResult === 0) {
        preResult =
          preIndex < preRelease.length
            ? comparePreRelease(text, start, i, numeric, preRelease[preIndex]!)
            : 1;
      }
      preIndex++;
      if (i < length && text.charCodeAt(i) === DOT) {
        i++;
        continue;
      }
      break;
    }
  }

  if (i < length && text.charCodeAt(i) === PLUS) {
    i++;
    for (;;) {
      const start = i;
      while (i < length && isIdentifierCharacter(text.charCodeAt(i))) i++;
      if (i === start) return NaN;
      if (i < length && text.charCodeAt(i) === DOT) {
        i++;
        continue;
      }
      break;
    }
  }
  if (i !== length) return NaN;

  if (result !== 0) return result;
  if (!hasPreRelease) return preRelease.length === 0 ? 0 : 1;
  if (preRelease.length === 0) return -1;
  if (preResult !== 0) return preResult;
  return preIndex < preRelease.length ? -1 : 0;
}
