"""Validation errors as values, in the vocabulary of Kubernetes' ``apimachinery/pkg/util/validation/field``.

Every check produces :class:`FieldError` values; they are turned into an API ``Status`` in exactly one place
(:func:`webhook.serve.admission.invalid_status`), which is what lets kubectl print them like native validation.
"""

from __future__ import annotations

import decimal
import enum
import functools
import json
import math
from typing import Any, NamedTuple

# The range of the apiserver's integers; its decoder reads an integer literal beyond it as a float.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# kube-openapi accepts a float as an integer when it is within +-(2**53 - 1) and whole, or within a relative 1e-9 of
# a whole number (go-openapi's IsFloat64AJSONInteger): the apiserver decodes `1.0` and `1e3` as floats.
FLOAT_INT_LIMIT = 2**53 - 1
FLOAT_INT_EPSILON = 1e-9


def float_is_integer(value: float, rounding: bool) -> bool:
    """go-openapi's IsFloat64AJSONInteger. swag up to v0.23 compares the float with its truncation (Go's
    ``float64(uint64(f))``, which is no integer at all for a negative float on amd64); swag/conv compares it with
    ``math.Round`` (half away from zero)."""
    if not math.isfinite(value) or abs(value) > FLOAT_INT_LIMIT:
        return False
    if value == int(value):
        return True
    if rounding:
        nearest = math.copysign(math.floor(abs(value) + 0.5), value)
        return nearest != 0 and abs(value - nearest) < FLOAT_INT_EPSILON * abs(nearest)
    if value < 1:  # 0 < value < 1 truncates to 0, and negative values to garbage: never close enough
        return False
    truncated = float(int(value))
    return (value - truncated) / (value + truncated) < FLOAT_INT_EPSILON

# Bad values longer than this are shortened in messages: a 7 MiB string must not come back 7 MiB long.
MAX_SHOWN_VALUE = 256


class ErrorType(enum.StrEnum):
    """The error types kubectl knows, by the ``reason`` a Status cause gives them (a str: it serialises as one)."""

    REQUIRED = "FieldValueRequired"
    TOO_LONG = "FieldValueTooLong"
    NOT_SUPPORTED = "FieldValueNotSupported"
    TYPE_INVALID = "FieldValueTypeInvalid"
    INVALID = "FieldValueInvalid"
    DUPLICATE = "FieldValueDuplicate"
    FORBIDDEN = "FieldValueForbidden"


class FieldError(NamedTuple):
    """One problem at one field. ``message`` is what a Status cause carries: the text without the field path.

    ``cause`` and ``text`` are what a Status shows of it, made once with the error: most errors are constants of the
    generated checks (or cached), so a denial then only collects them. They are shared between answers, never
    changed.
    """

    type: ErrorType
    field: str
    message: str
    cause: dict[str, str]  # the Status cause: reason, message, field
    text: str  # "field: message", as in the Status message

    def __str__(self) -> str:
        return self.text


def error(type_: ErrorType, field: str, message: str) -> FieldError:
    return FieldError(type_, field, message, {"reason": type_, "message": message, "field": field},
                      f"{field}: {message}")


def required(field: str, detail: str) -> FieldError:
    return error(ErrorType.REQUIRED, field, f"Required value: {detail}" if detail else "Required value")


@functools.cache
def supported_values(values: tuple[str, ...]) -> str:
    return "supported values: " + ", ".join(go_quote(v) for v in values)


def json_type(value: Any) -> str:
    """The OpenAPI type name of a decoded JSON value, as kube-openapi reports it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if INT64_MIN <= value <= INT64_MAX else "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def format_value(value: Any, json_composites: bool = False) -> str:
    """Render a bad value the way Kubernetes' field errors do: strings quoted (``%q``), numbers and booleans bare
    (``%v``), anything else in Go syntax (``%#v``) or, in newer versions, as JSON."""
    if isinstance(value, str):
        if len(value) > MAX_SHOWN_VALUE:
            return go_quote(value[:MAX_SHOWN_VALUE]) + f"...({len(value) - MAX_SHOWN_VALUE} more characters)"
        return go_quote(value)
    if isinstance(value, dict | list) and json_composites:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # ints of any size
    return _go_syntax(value, top=True)


def _go_syntax(value: Any, top: bool = False) -> str:
    if value is None:
        return "null" if top else "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return str(value)
        try:  # the apiserver's decoder read it as a float64
            return go_float(float(value))
        except OverflowError:  # beyond float64 too: no apiserver would have decoded it
            return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict):
        items = ", ".join(f"{go_quote(k)}:{_go_syntax(v)}" for k, v in sorted(value.items()))
        return f"map[string]interface {{}}{{{items}}}"
    return "[]interface {}{" + ", ".join(_go_syntax(v) for v in value) + "}"


def go_float(value: float) -> str:
    """A float64 as Go's ``%v`` prints it: shortest digits, with an exponent below 1e-4 and from 1e6 on."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    # Python's repr has the same shortest digits as Go; only where the exponent starts differs.
    negative, digit_tuple, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    return go_shortest(bool(negative), digits, len(digits) - 1 + int(exponent))


def go_shortest(negative: bool, digits: str, power: int) -> str:
    """strconv's ``'g'`` format at the shortest precision, of the number ``[-]d.ddd x 10**power`` (``digits`` without
    trailing zeros): an exponent below 1e-4 and from 1e6 on, of at least two digits."""
    sign = "-" if negative else ""
    if power < -4 or power >= 6:
        tail = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{tail}e{power:+03d}"  # a signed exponent of at least two digits
    if power < 0:
        return f"{sign}0.{'0' * (-power - 1)}{digits}"
    if power + 1 >= len(digits):
        return sign + digits + "0" * (power + 1 - len(digits))
    return f"{sign}{digits[:power + 1]}.{digits[power + 1:]}"


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
            "\t": "\\t", "\v": "\\v"}


def go_quote(text: str) -> str:
    """Quote like Go's ``%q`` (strconv.Quote), which is how the apiserver quotes values in messages."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # the usual case, without the per-character walk
    out = ['"']
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            if code < 0x80:
                out.append(f"\\x{code:02x}")
            elif code <= 0xFFFF:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
