"""Validation errors as values, in the vocabulary of Kubernetes' ``apimachinery/pkg/util/validation/field``.

Every check produces :class:`FieldError` values; they are turned into an API ``Status`` in exactly one place
(:func:`webhook.admission.invalid_status`), which is what lets kubectl print them like native validation.
"""

from __future__ import annotations

import enum
import functools
from typing import Any, NamedTuple

# The range of the apiserver's integers; its decoder reads an integer literal beyond it as a float.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Bad values longer than this are shortened in messages: a 7 MiB string must not come back 7 MiB long.
MAX_SHOWN_VALUE = 256


class ErrorType(enum.StrEnum):
    """The error types kubectl knows, by the ``reason`` a Status cause gives them (a str: it serialises as one)."""

    REQUIRED = "FieldValueRequired"
    TOO_LONG = "FieldValueTooLong"
    NOT_SUPPORTED = "FieldValueNotSupported"
    TYPE_INVALID = "FieldValueTypeInvalid"
    INVALID = "FieldValueInvalid"


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


def _error(type_: ErrorType, field: str, message: str) -> FieldError:
    return FieldError(type_, field, message, {"reason": type_, "message": message, "field": field},
                      f"{field}: {message}")


def required(field: str, detail: str = "") -> FieldError:
    return _error(ErrorType.REQUIRED, field, f"Required value: {detail}" if detail else "Required value")


def too_long(field: str, max_length: int) -> FieldError:
    return _error(ErrorType.TOO_LONG, field, f"Too long: may not be more than {max_length} characters")


def not_supported(field: str, value: Any, supported: tuple[str, ...]) -> FieldError:
    return _error(
        ErrorType.NOT_SUPPORTED, field, f"Unsupported value: {format_value(value)}: {_supported(supported)}"
    )


@functools.cache
def _supported(values: tuple[str, ...]) -> str:
    return "supported values: " + ", ".join(go_quote(v) for v in values)


def type_invalid(field: str, value: Any, expected: str, found: str | None = None) -> FieldError:
    """Worded as kube-openapi words it: the bad "value" is the JSON type that was found (``found`` overrides)."""
    return _type_invalid(field, expected, found or json_type(value))


@functools.lru_cache(maxsize=1024)  # keyed by schema paths and type names only: a few dozen entries
def _type_invalid(field: str, expected: str, found: str) -> FieldError:
    quoted = go_quote(found)
    return _error(
        ErrorType.TYPE_INVALID, field, f"Invalid value: {quoted}: {field} in body must be of type {expected}: {quoted}"
    )


def invalid(field: str, value: Any, detail: str) -> FieldError:
    return _error(ErrorType.INVALID, field, f"Invalid value: {format_value(value)}: {detail}")


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


def format_value(value: Any) -> str:
    """Render a bad value the way Kubernetes' field errors do: strings quoted, scalars bare."""
    if isinstance(value, str):
        if len(value) > MAX_SHOWN_VALUE:
            return go_quote(value[:MAX_SHOWN_VALUE]) + f"...({len(value) - MAX_SHOWN_VALUE} more characters)"
        return go_quote(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json_type(value)


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
        elif ch.isprintable() or ch == " ":
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
