"""go-yaml v2's YAML 1.1 scalars, and the Go number formats kubectl's path writes them in.

go-yaml v2's resolution of plain (unquoted, untagged) scalars, from ``resolve.go`` (verified in the source):

- null: ``""``, ``~``, ``null``, ``Null``, ``NULL``;
- bool: ``y Y yes Yes YES on On ON true True TRUE`` and ``n N no No NO off Off OFF false False FALSE``;
- float specials: ``.inf``, ``+.inf``, ``-.inf``, ``.nan`` in three casings; ``encoding/json`` cannot write them, so
  kubectl refuses the document ("json: unsupported value: NaN");
- a scalar that starts with a digit or sign: a YAML 1.1 timestamp (``2001-12-14``, ``2001-12-14T21:59:43Z``, with a
  space or a lower-case ``t``) stays the *original text* (decode.go keeps timestamps as strings when decoding into
  ``interface{}``); else, with every ``_`` removed, Go's ``ParseInt(s, 0, 64)`` (``0x1F``, ``0o17``, ``0b101``, legacy
  octal ``0777``; ``0778`` is not octal and falls through to the float rule: 778), then ``ParseUint``, then a float
  matching ``[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?``; sexagesimal ``1:30`` is a string;
- a scalar that starts with ``.``: Go's ``ParseFloat`` (``.5``);
- anything else, every quoted scalar and every block scalar (``|``, ``>``): a string.

Explicit tags: ``!!str``, ``!!int``, ``!!float`` (an integer becomes a float), ``!!bool``, ``!!null``, ``!!timestamp``
and ``!!binary`` (base64-decoded) are honoured, a value that does not fit its tag is an error; any other tag leaves
the scalar a string. Merge keys follow go-yaml v2, which merges in place, in order: keys after ``<<`` override the
merged ones *and the merged ones override keys before it*; in a sequence of maps the earlier map wins.

Used by :mod:`webhook.tools.kubeyaml`, which reads documents the way kubectl does.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import math
import re
import struct
from typing import Any

from webhook.rules.fielderrors import INT64_MAX, INT64_MIN, go_shortest


class Unresolvable(ValueError):
    """A tagged scalar whose text its tag cannot read (``!!int "x"``): kubectl refuses the document."""


UINT64_MAX = 2**64 - 1

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = _TAG + "str", _TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null"
TIMESTAMP, BINARY, MERGE = _TAG + "timestamp", _TAG + "binary", _TAG + "merge"
_RESOLVABLE = frozenset({STR, INT, FLOAT, BOOL, NULL, TIMESTAMP})


_SPECIAL: dict[str, Any] = {}
for _words, _value in (
    ("y Y yes Yes YES true True TRUE on On ON", True),
    ("n N no No NO false False FALSE off Off OFF", False),
    ("~ null Null NULL", None),
    (".nan .NaN .NAN", math.nan),
    (".inf .Inf .INF +.inf +.Inf +.INF", math.inf),
    ("-.inf -.Inf -.INF", -math.inf),
):
    for _word in _words.split():
        _SPECIAL[_word] = _value
_SPECIAL[""] = None

# The first character decides which rules can apply at all (resolve.go's resolveTable).
_HINT = dict.fromkeys("+-", "S") | dict.fromkeys("0123456789", "D") | dict.fromkeys("yYnNtTfFoO~", "M") | {".": "."}

_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")  # what Go's ParseFloat accepts of a string starting with "."
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
# resolve.go's allowedTimestampFormats, as Go's time.Parse reads them: 4-digit year, 1-2 digit month/day/h/m/s.
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?: +(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?))?"  # a space in a layout matches a run of them
)


def _go_parse_uint(text: str) -> tuple[int | None, bool]:
    """Go's ``strconv.ParseUint(text, 0, 64)``: (value, False), or (None, out_of_range)."""
    if not text:
        return None, False
    base, digits = 10, text
    if text[0] == "0":
        prefix = text[1:2].lower()
        if len(text) >= 3 and prefix in ("b", "o", "x"):
            base, digits = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
        else:
            base, digits = 8, text[1:]
    allowed = _DIGITS[base]
    valid = next((i for i, c in enumerate(digits) if c not in allowed), len(digits))
    # Go reads digit by digit: too many valid digits is a range error even when a bad one follows
    if valid and int(digits[:valid], base) > UINT64_MAX:
        return None, True
    if valid < len(digits):
        return None, False
    return (int(digits, base) if digits else 0), False


def _go_parse_int(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, 64)``, or None."""
    negative = text[:1] == "-"
    body = text[1:] if text[:1] in ("+", "-") else text
    value, _ = _go_parse_uint(body)
    if value is None:
        return None
    value = -value if negative else value
    return value if INT64_MIN <= value <= INT64_MAX else None


def _go_parse_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat`` for the decimal forms resolve.go hands it: None when it overflows."""
    value = float(text)
    return None if math.isinf(value) else value


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_timestamp(text: str) -> bool:
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        return False
    year, month, day = (int(g) for g in match.group(1, 2, 3))
    clock = [int(g) for g in (match.group(4, 5, 6) if match.group(4) else match.group(7, 8, 9)) if g is not None]
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)  # Go's years include 0000, a leap year
    if not (1 <= month <= 12 and 1 <= day <= (29 if leap and month == 2 else _MONTH_DAYS[month - 1])):
        return False
    return not clock or (clock[0] < 24 and clock[1] < 60 and clock[2] < 60)


def resolve_plain(text: str) -> Any:
    """What go-yaml v2 makes of an untagged plain scalar: None, bool, int, float or str."""
    hint = _HINT.get(text[0]) if text else "N"
    if hint is None:
        return text
    if text in _SPECIAL:
        return _SPECIAL[text]
    if hint == ".":
        return _go_parse_float(text) if _DOT_FLOAT.fullmatch(text) else text
    if hint in ("D", "S"):
        return _resolve_number(text)
    return text


def _resolve_number(text: str) -> Any:
    # A timestamp is not tried first here: decode.go keeps one as its text in interface{}, and no rule below reads
    # a number from a text with a dash after four digits, so the text it stays.
    plain = text.replace("_", "")
    as_int = _go_parse_int(plain)
    if as_int is not None:
        return as_int
    as_uint, out_of_range = _go_parse_uint(plain)
    if as_uint is not None:
        return as_uint
    if _YAML_FLOAT.fullmatch(plain):
        as_float = _go_parse_float(plain)
        if as_float is not None:
            return as_float
    # resolve.go's 0b branch: what ParseInt(s, 0, 64) read already, or a sign after the prefix ("0b-101" is -5).
    # Its -0b branch reads nothing ParseInt(s, 0, 64) did not: "-0b" and binary digits within int64 are read above.
    value = _go_parse_int_base2(plain[2:]) if plain.startswith("0b") else None
    if value is not None:
        return value
    if out_of_range:  # the goyaml.v2 fork in sigs.k8s.io/yaml reads such an integer as a big.Int, if it can
        try:  # (all digits, legacy octal included, met the float rule already: here a 0x, 0o or 0b prefix)
            return int(plain, 0)
        except ValueError:
            return text
    return text


def _go_parse_int_base2(text: str) -> int | None:
    """resolve.go's reading of the digits after ``0b``: ``ParseInt(text, 2, 64)``, else ``ParseUint(text, 2, 64)``
    (which takes no sign), else None."""
    sign = text[:1] if text[:1] in ("+", "-") else ""
    body = text[len(sign):]
    if not body or body.strip("01"):
        return None
    value = int(body, 2)
    if sign == "-":
        return -value if value <= -INT64_MIN else None
    return value if value <= (INT64_MAX if sign else UINT64_MAX) else None


def resolve_tagged(tag: str, text: str) -> Any:
    """A scalar with an explicit tag (``!!int "10"``), as resolve.go's resolve(tag, in) and decode.go's scalar()."""
    if tag == BINARY:
        try:
            data = base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
        except (binascii.Error, ValueError):
            raise Unresolvable("!!binary value contains invalid base64 data") from None
        # a Go string of the bytes, which encoding/json writes with each byte of invalid UTF-8 as U+FFFD
        return re.sub("[\udc80-\udcff]", "\ufffd", data.decode(errors="surrogateescape"))
    if tag not in _RESOLVABLE:
        return text  # any other tag (!foo, !!set...) leaves the scalar's text
    if tag == STR:
        return text
    if tag == TIMESTAMP and is_timestamp(text):
        return text  # decode.go sets a timestamp into interface{} as its text
    # resolve.go tries a timestamp only for !!timestamp (or no tag): for another tag, a timestamp's text is a !!str
    value = resolve_plain(text)
    kind = _kind_tag(value)
    if kind == tag:
        return value
    if tag == FLOAT and kind == INT and INT64_MIN <= value <= INT64_MAX:
        return float(value)  # resolve.go turns an int or int64 into a float64, not a uint64 or a big.Int
    raise Unresolvable(f"cannot decode {_short(kind)} `{text}` as a {_short(tag)}")


def _kind_tag(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    return STR


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG):]  # only ever one of _RESOLVABLE



# --- how Go writes the numbers ----------------------------------------------------------------------------------


def wire_float(value: float) -> int | float:
    """Go's encoding/json writes a float64 with an integral value below 1e21 as an integer literal, of its shortest
    digits (``1234567890123456768.0`` as 1234567890123456800, an int64 for the apiserver); beyond int64 the literal
    is a float64 again, given here as the float's exact integer."""
    magnitude = abs(value)
    if magnitude == 0:
        return 0
    if magnitude < 1e-6 or magnitude >= 1e21 or not value.is_integer():
        return value
    written = int(decimal.Decimal(repr(value)))
    return written if INT64_MIN <= written <= INT64_MAX else int(value)


def go_float32_key(value: float) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 32)``, with go-yaml's names for the infinities and NaN."""
    if math.isnan(value):
        return ".nan"
    try:
        single = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:  # some Pythons refuse what float32 cannot hold; Go rounds it to an infinity
        single = math.copysign(math.inf, value)
    if math.isinf(single):
        return ".inf" if single > 0 else "-.inf"
    if single == 0:
        return "-0" if math.copysign(1, single) < 0 else "0"
    for precision in range(1, 10):  # the shortest digits that read back as the same float32
        text = f"{single:.{precision - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    mantissa, exponent = text.split("e")
    digits = mantissa.replace(".", "").replace("-", "")  # the shortest digits end in no 0 (else fewer would do)
    return go_shortest(single < 0, digits, int(exponent))
