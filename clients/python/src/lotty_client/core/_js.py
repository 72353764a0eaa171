"""JavaScript value semantics the decide core relies on, for Python values.

The server's decide core is TypeScript: its answers depend on how JavaScript
types, orders and serialises values. These helpers give Python values the
same behaviour, so the Python port answers exactly as the server does:

- numbers are IEEE doubles (a JSON integer too large for a double is rounded
  as JavaScript rounds it; booleans are not numbers);
- strings order by UTF-16 code units, not by code points;
- lengths of strings are UTF-16 code units;
- JSON.stringify writes compact JSON, escaping lone surrogates.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Optional

_SURROGATE = re.compile("[\ud800-\udfff]")
_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


def is_number(value: Any) -> bool:
    """typeof value === "number"."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def to_number(value: Any) -> Optional[float]:
    """The double a JSON number is in JavaScript, or None for a non-number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def utf16_length(text: str) -> int:
    """String.prototype.length: UTF-16 code units."""
    if text.isascii():
        return len(text)
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def utf16_key(text: str) -> bytes:
    """A sort key that orders strings as JavaScript's < and sort() do."""
    return text.encode("utf-16-be", "surrogatepass")


def js_less(a: str, b: str) -> bool:
    if a.isascii() and b.isascii():
        return a < b
    return utf16_key(a) < utf16_key(b)


def js_compare(a: str, b: str) -> int:
    """-1, 0 or 1 in JavaScript string order."""
    if a == b:
        return 0
    return -1 if js_less(a, b) else 1


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness (an empty list or object is truthy there)."""
    if value is None or value is False:
        return False
    if is_number(value):
        return value != 0 and value == value
    if isinstance(value, str):
        return value != ""
    return True


def _combine_pairs(text: str) -> str:
    """Surrogate pairs kept as two code points become one, as in UTF-16."""
    if _PAIR.search(text) is None:
        return text
    return text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")


def utf8(text: str) -> bytes:
    """UTF-8 as TextEncoder encodes it: lone surrogates become U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", _combine_pairs(text)).encode("utf-8")


def stringify(value: Any) -> str:
    """JSON.stringify of strings, integers and lists of them."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if _SURROGATE.search(text) is None:
        return text
    text = _combine_pairs(text)
    return _SURROGATE.sub(lambda m: "\\u%04x" % ord(m.group(0)), text)


_TRIM = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def trim(text: str) -> str:
    """String.prototype.trim (JavaScript's white space, not Python's)."""
    start, end = 0, len(text)
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    return text[start:end]
