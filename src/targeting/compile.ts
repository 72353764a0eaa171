/**
 * Turns a parsed rule into nested closures, once, at save time. Everything
 * that can be decided from the rule alone is decided here: which test runs
 * for each operator and literal type, IN lists as Sets, version and date
 * literals pre-parsed. Evaluation then only reads attributes and compares;
 * it allocates nothing and cannot throw for any attribute values.
 */
import { NOT_A_DATE, readDate } from "./date.js";
import type { Literal, RuleNode } from "./parser.js";
import { compareVersion, parseVersionLiteral } from "./version.js";

export type Attributes = Readonly<Record<string, unknown>>;
export type Predicate = (attributes: Attributes) => boolean;
/** A test on one attribute value; `undefined` (missing) always fails. */
type ValueTest = (value: unknown) => boolean;

export function compileNode(node: RuleNode): Predicate {
  switch (node.kind) {
    case "everyone":
      return () => true;
    case "and":
      return allOf(node.operands.map(compileNode));
    case "or":
      return anyOf(node.operands.map(compileNode));
    case "not": {
      const operand = compileNode(node.operand);
      return (attributes) => !operand(attributes);
    }
    case "compare":
      return readAttribute(node.attribute, compareTest(node.operator, node.value));
    case "in":
      return readAttribute(node.attribute, membershipTest(node.values, node.negated));
    case "contains":
      return readAttribute(node.attribute, containsTest(node.value));
    case "starts_with": {
      const prefix = node.value;
      return readAttribute(
        node.attribute,
        (value) => typeof value === "string" && value.startsWith(prefix),
      );
    }
  }
}

function allOf(operands: Predicate[]): Predicate {
  const [a, b, c] = operands as [Predicate, Predicate, Predicate];
  if (operands.length === 2) return (attributes) => a(attributes) && b(attributes);
  if (operands.length === 3) return (attributes) => a(attributes) && b(attributes) && c(attributes);
  return (attributes) => {
    for (let i = 0; i < operands.length; i++) if (!operands[i]!(attributes)) return false;
    return true;
  };
}

function anyOf(operands: Predicate[]): Predicate {
  const [a, b, c] = operands as [Predicate, Predicate, Predicate];
  if (operands.length === 2) return (attributes) => a(attributes) || b(attributes);
  if (operands.length === 3) return (attributes) => a(attributes) || b(attributes) || c(attributes);
  return (attributes) => {
    for (let i = 0; i < operands.length; i++) if (operands[i]!(attributes)) return true;
    return false;
  };
}

/**
 * Reads one attribute (a flat key: "device.os" is the key "device.os") and
 * applies the test. Names that Object.prototype also has ("constructor",
 * "toString", "__proto__", ...) are read as own properties only, so an
 * attribute object never matches through its prototype.
 */
function readAttribute(name: string, test: ValueTest): Predicate {
  if (name in Object.prototype) {
    return (attributes) => test(Object.hasOwn(attributes, name) ? attributes[name] : undefined);
  }
  return (attributes) => test(attributes[name]);
}

function compareTest(operator: string, literal: Literal): ValueTest {
  switch (literal.type) {
    case "string":
      return stringTest(operator, literal.value);
    case "number":
      return numberTest(operator, literal.value);
    case "boolean":
      return booleanTest(operator, literal.value);
    case "date":
      return dateTest(operator, literal.value);
  }
}

/** Equality as `==` defines it for this literal: used by IN lists and array CONTAINS. */
function equalityTest(literal: Literal): ValueTest {
  return compareTest("==", literal);
}

function stringTest(operator: string, expected: string): ValueTest {
  switch (operator) {
    case "==":
      return (value) => value === expected;
    case "!=":
      return (value) => typeof value === "string" && value !== expected;
  }
  const version = parseVersionLiteral(expected);
  if (version !== null) {
    switch (operator) {
      case ">":
        return (value) => typeof value === "string" && compareVersion(value, version) > 0;
      case ">=":
        return (value) => typeof value === "string" && compareVersion(value, version) >= 0;
      case "<":
        return (value) => typeof value === "string" && compareVersion(value, version) < 0;
      default:
        return (value) => typeof value === "string" && compareVersion(value, version) <= 0;
    }
  }
  switch (operator) {
    case ">":
      return (value) => typeof value === "string" && value > expected;
    case ">=":
      return (value) => typeof value === "string" && value >= expected;
    case "<":
      return (value) => typeof value === "string" && value < expected;
    default:
      return (value) => typeof value === "string" && value <= expected;
  }
}

function numberTest(operator: string, expected: number): ValueTest {
  switch (operator) {
    case "==":
      return (value) => value === expected;
    case "!=":
      // value === value excludes NaN, which is not a number anyone sent on purpose.
      return (value) => typeof value === "number" && value === value && value !== expected;
    case ">":
      return (value) => typeof value === "number" && value > expected;
    case ">=":
      return (value) => typeof value === "number" && value >= expected;
    case "<":
      return (value) => typeof value === "number" && value < expected;
    default:
      return (value) => typeof value === "number" && value <= expected;
  }
}

function booleanTest(operator: string, expected: boolean): ValueTest {
  // The parser only lets == and != through for booleans.
  return operator === "=="
    ? (value) => value === expected
    : (value) => typeof value === "boolean" && value !== expected;
}

function dateTest(operator: string, expected: number): ValueTest {
  switch (operator) {
    case "==":
      return (value) => typeof value === "string" && readDate(value) === expected;
    case "!=":
      return (value) => {
        if (typeof value !== "string") return false;
        const day = readDate(value);
        return day !== NOT_A_DATE && day !== expected;
      };
    case ">":
      return (value) => typeof value === "string" && readDate(value) > expected;
    case ">=":
      return (value) => typeof value === "string" && readDate(value) >= expected;
    case "<":
      return (value) => {
        if (typeof value !== "string") return false;
        const day = readDate(value);
        return day !== NOT_A_DATE && day < expected;
      };
    default:
      return (value) => {
        if (typeof value !== "string") return false;
        const day = readDate(value);
        return day !== NOT_A_DATE && day <= expected;
      };
  }
}

/**
 * IN / NOT IN. The value must be comparable with at least one list item
 * (a string with string items, or a date-shaped string with date items; a
 * number with numbers; a boolean with booleans), otherwise both IN and
 * NOT IN are false. IN is then "equal to some item", NOT IN "equal to none".
 */
function membershipTest(values: readonly Literal[], negated: boolean): ValueTest {
  let strings: Set<string> | null = null;
  let numbers: Set<number> | null = null;
  let booleans: Set<boolean> | null = null;
  let dates: Set<number> | null = null;
  for (const literal of values) {
    switch (literal.type) {
      case "string":
        (strings ??= new Set()).add(literal.value);
        break;
      case "number":
        (numbers ??= new Set()).add(literal.value);
        break;
      case "boolean":
        (booleans ??= new Set()).add(literal.value);
        break;
      case "date":
        (dates ??= new Set()).add(literal.value);
        break;
    }
  }

  // Lists of one type, the common case, get a test without the dispatch.
  if (numbers === null && booleans === null && dates === null && strings !== null) {
    const set = strings;
    return negated
      ? (value) => typeof value === "string" && !set.has(value)
      : (value) => typeof value === "string" && set.has(value);
  }
  if (strings === null && booleans === null && dates === null && numbers !== null) {
    const set = numbers;
    return negated
      ? (value) => typeof value === "number" && value === value && !set.has(value)
      : (value) => typeof value === "number" && set.has(value);
  }

  const stringSet = strings;
  const numberSet = numbers;
  const booleanSet = booleans;
  const dateSet = dates;
  /** 1: equal to an item; 0: comparable but equal to none; -1: not comparable. */
  const membership = (value: unknown): number => {
    switch (typeof value) {
      case "string": {
        if (stringSet !== null && stringSet.has(value)) return 1;
        if (dateSet !== null) {
          const day = readDate(value);
          if (day !== NOT_A_DATE) return dateSet.has(day) ? 1 : 0;
        }
        return stringSet !== null ? 0 : -1;
      }
      case "number":
        if (numberSet === null || value !== value) return -1;
        return numberSet.has(value) ? 1 : 0;
      case "boolean":
        if (booleanSet === null) return -1;
        return booleanSet.has(value) ? 1 : 0;
      default:
        return -1;
    }
  };
  return negated ? (value) => membership(value) === 0 : (value) => membership(value) === 1;
}

/**
 * CONTAINS: substring test when both sides are strings; for an array value,
 * whether some element is equal to the literal (as `==` defines equality).
 */
function containsTest(literal: Literal): ValueTest {
  const isElement = equalityTest(literal);
  const arrayContains = (value: unknown): boolean => {
    if (!Array.isArray(value)) return false;
    for (let i = 0; i < value.length; i++) if (isElement(value[i])) return true;
    return false;
  };
  if (literal.type === "string") {
    const needle = literal.value;
    return (value) => (typeof value === "string" ? value.includes(needle) : arrayContains(value));
  }
  return arrayContains;
}
