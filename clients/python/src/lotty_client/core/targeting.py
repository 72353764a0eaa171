"""Targeting rules (docs/targeting.md): a port of src/targeting/ that accepts
exactly the rules the server accepts and evaluates them exactly as it does.
Error messages are shorter than the server's; positions are in code points.

    rule = parse_rule('country IN ["RU", "KZ"] AND app_version >= "1.6.0"')
    rule({"country": "RU", "app_version": "1.7"})  # True
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ._js import js_less, to_number, utf16_length

MAX_RULE_LENGTH = 4096
MAX_NESTING_DEPTH = 32
MAX_IN_LIST_ITEMS = 1000
MAX_STRING_LITERAL_LENGTH = 1024
NOT_A_DATE = -1

Predicate = Callable[[Mapping[str, Any]], bool]
ValueTest = Callable[[Any], bool]


class RuleSyntaxError(ValueError):
    def __init__(self, position: int, message: str):
        super().__init__(f"at {position}: {message}")
        self.position = position


_KEYWORDS = {
    "AND": "and",
    "OR": "or",
    "NOT": "not",
    "IN": "in",
    "CONTAINS": "contains",
    "STARTS_WITH": "starts_with",
    "TRUE": "true",
    "FALSE": "false",
}
_COMPARISONS = frozenset(["==", "!=", ">", ">=", "<", "<="])
_ORDERING = frozenset([">", ">=", "<", "<="])
_WHITESPACE = frozenset(" \t\n\r")


def _digit(c: str) -> bool:
    return "0" <= c <= "9"


def _ident_start(c: str) -> bool:
    return ("A" <= c <= "Z") or ("a" <= c <= "z") or c == "_"


def _ident_part(c: str) -> bool:
    return _ident_start(c) or _digit(c) or c == "."


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28
    return 30 if month in (4, 6, 9, 11) else 31


def read_date(text: str) -> int:
    """YYYYMMDD of the date in the first ten characters (YYYY-MM-DD, then the
    end or T, t or a space); NOT_A_DATE otherwise."""
    if len(text) < 10:
        return NOT_A_DATE
    if len(text) > 10 and text[10] not in "Tt ":
        return NOT_A_DATE
    if text[4] != "-" or text[7] != "-":
        return NOT_A_DATE
    digits = text[0:4] + text[5:7] + text[8:10]
    if not all(_digit(c) for c in digits):
        return NOT_A_DATE
    year, month, day = int(digits[0:4]), int(digits[4:6]), int(digits[6:8])
    if month < 1 or month > 12 or day < 1 or day > _days_in_month(year, month):
        return NOT_A_DATE
    return year * 10000 + month * 100 + day


# ------------------------------------------------------------------ lexer

Token = Tuple[str, int, int, Any]  # kind, start, end, value (text, string or number)


class _Lexer:
    def __init__(self, source: str):
        self.source = source
        self.position = 0

    def _at(self, i: int) -> str:
        return self.source[i] if i < len(self.source) else ""

    def next(self) -> Token:
        s = self.source
        n = len(s)
        i = self.position
        while i < n and s[i] in _WHITESPACE:
            i += 1
        if i >= n:
            self.position = n
            return ("end", n, n, "")
        c = s[i]
        if _ident_start(c):
            j = i + 1
            while j < n and _ident_part(s[j]):
                j += 1
            text = s[i:j]
            self.position = j
            return (_KEYWORDS.get(text.upper(), "identifier"), i, j, text)
        if _digit(c) or (c == "-" and _digit(self._at(i + 1))):
            return self._number_or_date(i)
        if c == '"':
            return self._string(i)
        two = s[i : i + 2]
        if two in ("==", "!=", ">=", "<="):
            self.position = i + 2
            return (two, i, i + 2, two)
        if c in "()[],<>":
            self.position = i + 1
            return (c, i, i + 1, c)
        self.position = i + 1
        return ("invalid", i, i + 1, c)

    def _number_or_date(self, start: int) -> Token:
        s = self.source
        n = len(s)
        i = start
        if s[i] == "-":
            i += 1
        digits_start = i
        while i < n and _digit(s[i]):
            i += 1
        if self._at(i) == "-":
            end = digits_start + 10
            text = s[start:end]
            day = read_date(text) if start == digits_start and i == start + 4 else NOT_A_DATE
            if day == NOT_A_DATE or len(text) != 10:
                raise RuleSyntaxError(start, "invalid date: dates are written YYYY-MM-DD")
            self._end_of_literal(start, end)
            self.position = end
            return ("date", start, end, day)
        if self._at(i) == ".":
            i += 1
            fraction = i
            while i < n and _digit(s[i]):
                i += 1
            if i == fraction:
                raise RuleSyntaxError(start, "invalid number")
        if self._at(i) in ("e", "E"):
            i += 1
            if self._at(i) in ("+", "-"):
                i += 1
            exponent = i
            while i < n and _digit(s[i]):
                i += 1
            if i == exponent:
                raise RuleSyntaxError(start, "invalid number")
        self._end_of_literal(start, i)
        value = float(s[start:i])
        if not math.isfinite(value):
            raise RuleSyntaxError(start, "number out of range")
        self.position = i
        return ("number", start, i, value)

    def _end_of_literal(self, start: int, end: int) -> None:
        c = self._at(end)
        if c != "" and (_ident_part(c) or c == "-"):
            raise RuleSyntaxError(start, "a literal runs into other characters")

    def _string(self, start: int) -> Token:
        s = self.source
        n = len(s)
        parts: List[str] = []
        chunk = start + 1
        i = start + 1
        while True:
            if i >= n:
                raise RuleSyntaxError(start, "unterminated string literal")
            c = s[i]
            if c == '"':
                parts.append(s[chunk:i])
                i += 1
                break
            if c == "\\":
                escaped = self._at(i + 1)
                if escaped in ('"', "\\"):
                    parts.append(s[chunk:i] + escaped)
                    i += 2
                    chunk = i
                    continue
                if i + 1 >= n:
                    i += 1
                    continue
                raise RuleSyntaxError(i, 'invalid escape: only \\" and \\\\ are allowed')
            i += 1
        value = "".join(parts)
        if utf16_length(value) > MAX_STRING_LITERAL_LENGTH:
            raise RuleSyntaxError(start, "string literal too long")
        self.position = i
        return ("string", start, i, value)


# ------------------------------------------------------------------ parser

# Nodes: ("everyone",), ("and", [nodes]), ("or", [nodes]), ("not", node),
# ("compare", attribute, operator, literal), ("in", attribute, negated, [literals]),
# ("contains", attribute, literal), ("starts_with", attribute, prefix).
# Literals: (type, value) with type "string", "number", "boolean" or "date".


class _Parser:
    def __init__(self, source: str):
        self.lexer = _Lexer(source)
        self.token = self.lexer.next()
        self.depth = 0
        self.attributes: Dict[str, None] = {}

    def kind(self) -> str:
        return self.token[0]

    def advance(self) -> Token:
        current = self.token
        self.token = self.lexer.next()
        return current

    def fail(self, expected: str):
        raise RuleSyntaxError(self.token[1], f"expected {expected}, found {self.token[3]!r}")

    def parse_rule(self):
        if self.kind() == "end":
            return ("everyone",)
        root = self.parse_or()
        if self.kind() != "end":
            self.fail("AND, OR or end of rule")
        return root

    def parse_or(self):
        operands = [self.parse_and()]
        while self.kind() == "or":
            self.advance()
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else ("or", operands)

    def parse_and(self):
        operands = [self.parse_unary()]
        while self.kind() == "and":
            self.advance()
            operands.append(self.parse_unary())
        return operands[0] if len(operands) == 1 else ("and", operands)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise RuleSyntaxError(self.token[1], "rule nests too deep")

    def parse_unary(self):
        kind = self.kind()
        if kind == "not":
            self.enter()
            self.advance()
            operand = self.parse_unary()
            self.depth -= 1
            return ("not", operand)
        if kind == "(":
            self.enter()
            self.advance()
            inner = self.parse_or()
            if self.kind() != ")":
                self.fail("AND, OR or ')'")
            self.advance()
            self.depth -= 1
            return inner
        if kind == "identifier":
            return self.parse_comparison()
        return self.fail("an attribute name, '(' or NOT")

    def parse_comparison(self):
        attribute = self.advance()[3]
        self.attributes[attribute] = None
        operator = self.kind()
        if operator in _COMPARISONS:
            self.advance()
            value = self.parse_literal()
            if operator in _ORDERING:
                if value[0] == "boolean":
                    raise RuleSyntaxError(self.token[1], "booleans only compare with == and !=")
                if (
                    value[0] == "string"
                    and utf16_length(value[1]) == 10
                    and read_date(value[1]) != NOT_A_DATE
                ):
                    raise RuleSyntaxError(self.token[1], "dates are compared without quotes")
            return ("compare", attribute, operator, value)
        if operator == "in":
            self.advance()
            return ("in", attribute, False, self.parse_list())
        if operator == "not":
            self.advance()
            if self.kind() != "in":
                self.fail("IN")
            self.advance()
            return ("in", attribute, True, self.parse_list())
        if operator == "contains":
            self.advance()
            return ("contains", attribute, self.parse_literal())
        if operator == "starts_with":
            self.advance()
            if self.kind() != "string":
                self.fail("a string")
            return ("starts_with", attribute, self.advance()[3])
        return self.fail("a comparison operator")

    def parse_literal(self):
        kind, _, _, value = self.token
        if kind == "string":
            self.advance()
            return ("string", value)
        if kind == "number":
            self.advance()
            return ("number", value)
        if kind == "date":
            self.advance()
            return ("date", value)
        if kind in ("true", "false"):
            self.advance()
            return ("boolean", kind == "true")
        return self.fail("a value")

    def parse_list(self):
        if self.kind() != "[":
            self.fail("'['")
        self.advance()
        values = []
        while True:
            if len(values) == MAX_IN_LIST_ITEMS:
                raise RuleSyntaxError(self.token[1], "IN list too long")
            values.append(self.parse_literal())
            if self.kind() == "]":
                self.advance()
                return values
            if self.kind() != ",":
                self.fail("',' or ']'")
            self.advance()


# ------------------------------------------------------------------ versions


def _strip_zeros(digits: str) -> str:
    start = 0
    while start < len(digits) - 1 and digits[start] == "0":
        start += 1
    return digits[start:]


def _all_digits(text: str) -> bool:
    return text != "" and all(_digit(c) for c in text)


def _identifier_char(c: str) -> bool:
    return _digit(c) or ("A" <= c <= "Z") or ("a" <= c <= "z") or c == "-"


def _all_identifier(text: str) -> bool:
    return text != "" and all(_identifier_char(c) for c in text)


def parse_version_literal(text: str):
    """(core digit strings, [(numeric, text)] pre-release) or None."""
    main = text
    plus = text.find("+")
    if plus >= 0:
        if not all(_all_identifier(p) for p in text[plus + 1 :].split(".")):
            return None
        main = text[:plus]
    dash = main.find("-")
    core_text = main[:dash] if dash >= 0 else main
    core = core_text.split(".")
    if not all(_all_digits(p) for p in core):
        return None
    pre = []
    if dash >= 0:
        for identifier in main[dash + 1 :].split("."):
            if not _all_identifier(identifier):
                return None
            numeric = _all_digits(identifier)
            pre.append((numeric, _strip_zeros(identifier) if numeric else identifier))
    return ([_strip_zeros(p) for p in core], pre)


def _compare_digits(a: str, b: str) -> int:
    a = _strip_zeros(a)
    if len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    return 0 if a == b else (-1 if a < b else 1)


def compare_version(text: str, literal) -> Optional[int]:
    """-1, 0 or 1 comparing the version in `text` with a parsed literal; None
    when `text` is not a version (every ordering test is then false)."""
    core, pre = literal
    n = len(text)
    i = 0
    result = 0
    part = 0
    while True:
        start = i
        while i < n and _digit(text[i]):
            i += 1
        if i == start:
            return None
        if result == 0:
            result = _compare_digits(text[start:i], core[part] if part < len(core) else "0")
        part += 1
        if i < n and text[i] == ".":
            i += 1
            continue
        break
    while result == 0 and part < len(core):
        if core[part] != "0":
            result = -1
        part += 1
    has_pre = False
    pre_result = 0
    pre_index = 0
    if i < n and text[i] == "-":
        has_pre = True
        i += 1
        while True:
            start = i
            numeric = True
            while i < n and _identifier_char(text[i]):
                if not _digit(text[i]):
                    numeric = False
                i += 1
            if i == start:
                return None
            if pre_result == 0:
                if pre_index < len(pre):
                    other_numeric, other = pre[pre_index]
                    mine = text[start:i]
                    if numeric:
                        pre_result = _compare_digits(mine, other) if other_numeric else -1
                    elif other_numeric:
                        pre_result = 1
                    else:
                        pre_result = 0 if mine == other else (-1 if mine < other else 1)
                else:
                    pre_result = 1
            pre_index += 1
            if i < n and text[i] == ".":
                i += 1
                continue
            break
    if i < n and text[i] == "+":
        i += 1
        while True:
            start = i
            while i < n and _identifier_char(text[i]):
                i += 1
            if i == start:
                return None
            if i < n and text[i] == ".":
                i += 1
                continue
            break
    if i != n:
        return None
    if result != 0:
        return result
    if not has_pre:
        return 0 if len(pre) == 0 else 1
    if len(pre) == 0:
        return -1
    if pre_result != 0:
        return pre_result
    return -1 if pre_index < len(pre) else 0


# ------------------------------------------------------------------ compile

_MISSING = object()


def _ordered(operator: str, c: int) -> bool:
    if operator == ">":
        return c > 0
    if operator == ">=":
        return c >= 0
    if operator == "<":
        return c < 0
    return c <= 0


def _string_test(operator: str, expected: str) -> ValueTest:
    if operator == "==":
        return lambda v: isinstance(v, str) and v == expected
    if operator == "!=":
        return lambda v: isinstance(v, str) and v != expected
    version = parse_version_literal(expected)
    if version is not None:

        def by_version(v: Any) -> bool:
            if not isinstance(v, str):
                return False
            c = compare_version(v, version)
            return c is not None and _ordered(operator, c)

        return by_version

    def by_text(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        c = 0 if v == expected else (-1 if js_less(v, expected) else 1)
        return _ordered(operator, c)

    return by_text


def _number_test(operator: str, expected: float) -> ValueTest:
    def test(v: Any) -> bool:
        x = to_number(v)
        if x is None or x != x:
            return False
        if operator == "==":
            return x == expected
        if operator == "!=":
            return x != expected
        if operator == ">":
            return x > expected
        if operator == ">=":
            return x >= expected
        if operator == "<":
            return x < expected
        return x <= expected

    return test


def _boolean_test(operator: str, expected: bool) -> ValueTest:
    if operator == "==":
        return lambda v: isinstance(v, bool) and v == expected
    return lambda v: isinstance(v, bool) and v != expected


def _date_test(operator: str, expected: int) -> ValueTest:
    def test(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        day = read_date(v)
        if operator == "==":
            return day == expected
        if operator == "!=":
            return day != NOT_A_DATE and day != expected
        if operator == ">":
            return day > expected
        if operator == ">=":
            return day >= expected
        if operator == "<":
            return day != NOT_A_DATE and day < expected
        return day != NOT_A_DATE and day <= expected

    return test


def _compare_test(operator: str, literal) -> ValueTest:
    kind, value = literal
    if kind == "string":
        return _string_test(operator, value)
    if kind == "number":
        return _number_test(operator, value)
    if kind == "boolean":
        return _boolean_test(operator, value)
    return _date_test(operator, value)


def _membership_test(values, negated: bool) -> ValueTest:
    sets: Dict[str, set] = {}
    for kind, value in values:
        sets.setdefault(kind, set()).add(value)
    strings = sets.get("string")
    numbers = sets.get("number")
    booleans = sets.get("boolean")
    dates = sets.get("date")

    def membership(v: Any) -> int:
        """1: equal to an item; 0: comparable but equal to none; -1: not comparable."""
        if isinstance(v, str):
            if strings is not None and v in strings:
                return 1
            if dates is not None:
                day = read_date(v)
                if day != NOT_A_DATE:
                    return 1 if day in dates else 0
            return 0 if strings is not None else -1
        if isinstance(v, bool):
            if booleans is None:
                return -1
            return 1 if v in booleans else 0
        x = to_number(v)
        if x is not None:
            if numbers is None or x != x:
                return -1
            return 1 if x in numbers else 0
        return -1

    if negated:
        return lambda v: membership(v) == 0
    return lambda v: membership(v) == 1


def _contains_test(literal) -> ValueTest:
    is_element = _compare_test("==", literal)

    def array_contains(v: Any) -> bool:
        return isinstance(v, (list, tuple)) and any(is_element(x) for x in v)

    if literal[0] == "string":
        needle = literal[1]
        return lambda v: (needle in v) if isinstance(v, str) else array_contains(v)
    return array_contains


def _read(name: str, test: ValueTest) -> Predicate:
    def predicate(attributes: Mapping[str, Any]) -> bool:
        value = attributes.get(name, _MISSING)
        return value is not _MISSING and value is not None and test(value)

    return predicate


def _compile(node) -> Predicate:
    kind = node[0]
    if kind == "everyone":
        return lambda attributes: True
    if kind == "and":
        operands = [_compile(n) for n in node[1]]
        return lambda attributes: all(p(attributes) for p in operands)
    if kind == "or":
        operands = [_compile(n) for n in node[1]]
        return lambda attributes: any(p(attributes) for p in operands)
    if kind == "not":
        operand = _compile(node[1])
        return lambda attributes: not operand(attributes)
    if kind == "compare":
        return _read(node[1], _compare_test(node[2], node[3]))
    if kind == "in":
        return _read(node[1], _membership_test(node[3], node[2]))
    if kind == "contains":
        return _read(node[1], _contains_test(node[2]))
    prefix = node[2]
    return _read(node[1], lambda v: isinstance(v, str) and v.startswith(prefix))


class CompiledRule:
    """A rule ready to evaluate: call it with the subject's attributes."""

    __slots__ = ("source", "attributes", "_predicate")

    def __init__(self, source: str, attributes: List[str], predicate: Predicate):
        self.source = source
        self.attributes = attributes
        self._predicate = predicate

    def __call__(self, attributes: Optional[Mapping[str, Any]]) -> bool:
        return self._predicate(attributes if attributes is not None else {})


def parse_rule(source: str) -> CompiledRule:
    """Parses and compiles a rule; raises RuleSyntaxError when the server
    would refuse it."""
    if not isinstance(source, str):
        raise RuleSyntaxError(0, "a targeting rule must be a string")
    if utf16_length(source) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(MAX_RULE_LENGTH, "rule too long")
    parser = _Parser(source)
    root = parser.parse_rule()
    return CompiledRule(source, list(parser.attributes), _compile(root))
