"""How each Kubernetes version words a CRD's validation errors (and which of them it checks at all): one table, with
the source of each row.

The apiserver's own OpenAPI validation of a custom resource changed its wording over the releases (kube-openapi's
errors, converted to field errors by apiextensions-apiserver, printed by apimachinery's ``field.Error``). A webhook
that wants to be indistinguishable from native validation words its causes as the cluster's apiserver does, so the
version is a setting (``--kubernetes-version``) and every version-dependent message comes from a row here.

Messages are templates with named fields, so that the CEL export (``webhook.tools.policy``) can put expressions where
Python puts values: ``{field}`` the field path, ``{value}`` the bad value as Go prints it, ``{limit}`` a length,
``{unit}`` "bytes" or "byte", ``{expected}``/``{found}`` JSON type names (``{found}`` quoted), ``{supported}`` the
quoted enum values, ``{pattern}`` a regular expression, ``{type}`` a schema node's type (quoted) and ``{message}`` a
CEL rule's message.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from typing import Any

from webhook.rules import fielderrors as fe
from webhook.rules.fielderrors import ErrorType, FieldError


@dataclass(frozen=True, slots=True)
class Template:
    """One cause: its reason and its message, with ``{name}`` placeholders."""

    reason: ErrorType
    message: str


@dataclass(frozen=True, slots=True, eq=False)  # rows are singletons: hashed by identity, cheaply, per request
class Wording:
    """The wording of one range of Kubernetes minor versions, from ``since`` to the next row."""

    since: tuple[int, int]
    source: str
    too_long: Template
    # The reason of a type error: FieldValueTypeInvalid from 1.24, FieldValueInvalid before (same message).
    type_reason: ErrorType
    # How a bad value that is neither a string nor a number nor a boolean is printed: Go syntax (``%#v``) or JSON.
    composite_values: str
    # Which float is near enough to a whole number to pass ``type: integer``: go-openapi's swag compares it with its
    # truncation up to v0.23, with its rounding from v0.24 (see fielderrors.float_is_integer).
    rounding_integers: bool = False
    # A CRD's CEL rules (x-kubernetes-validations) are enforced: beta and on by default from 1.25
    # (CustomResourceValidationExpressions; GA in 1.29), alpha and off before.
    evaluates_rules: bool = True
    # How a field error shows a nil value: Go's "null" string, quoted, until values other than scalars are printed
    # as JSON (1.34), then JSON's null.
    null_shown: str = '"null"'

    @property
    def version(self) -> str:
        return f"{self.since[0]}.{self.since[1]}"

    def float_is_integer(self, value: float) -> bool:
        return fe.float_is_integer(value, self.rounding_integers)

    def type_error(self, field: str, value: Any, expected: str) -> FieldError:
        return _type_error(self.type_reason, field, expected, fe.json_type(value))

    def too_long_error(self, field: str, value: Any, limit: int) -> FieldError:
        return _render(self.too_long, field, value, limit)

    def pattern_error(self, field: str, value: Any, pattern: str) -> FieldError:
        return _pattern_error(field, fe.format_value(value), pattern)

    def rule_error(self, field: str, json_type: str, message: str) -> FieldError:
        """A failed CEL rule: at the node that carries it, showing the node's schema type, not its value."""
        return _rule_error(field, json_type, message)

    def rules_not_checked(self) -> FieldError:
        """The cause the apiserver adds when a schema error kept it from running the CRD's CEL rules."""
        return fe.error(UNCHECKED.reason, UNCHECKED_FIELD, UNCHECKED.message.format(value=self.null_shown))

    def too_short_error(self, field: str, value: Any, limit: int) -> FieldError:
        return _render(TOO_SHORT, field, value, limit)

    def not_supported_error(self, field: str, value: Any, supported: tuple[str, ...]) -> FieldError:
        shown = fe.format_value(value, self.composite_values == "json")
        return _rendered(NOT_SUPPORTED, field, shown, 0, fe.supported_values(supported))


def _render(template: Template, field: str, value: Any, limit: int) -> FieldError:
    shown = fe.format_value(value) if "{value}" in template.message else ""
    return _rendered(template, field, shown, limit, "")


@functools.lru_cache(maxsize=1024)  # keyed by schema paths and limits, plus a shown value only where the row has one
def _rendered(template: Template, field: str, shown: str, limit: int, supported: str) -> FieldError:
    unit = "byte" if limit == 1 else "bytes"
    message = template.message.format(field=field, value=shown, limit=limit, unit=unit, supported=supported)
    return fe.error(template.reason, field, message)


@functools.lru_cache(maxsize=1024)
def _pattern_error(field: str, shown: str, pattern: str) -> FieldError:
    return fe.error(PATTERN.reason, field, PATTERN.message.format(field=field, value=shown, pattern=pattern))


@functools.lru_cache(maxsize=1024)  # keyed by schema paths and rules: a few dozen entries
def _rule_error(field: str, json_type: str, message: str) -> FieldError:
    return fe.error(RULE.reason, field, RULE.message.format(type=fe.go_quote(json_type), message=message))


@functools.lru_cache(maxsize=1024)  # keyed by schema paths and type names only: a few dozen entries
def _type_error(reason: ErrorType, field: str, expected: str, found: str) -> FieldError:
    return fe.error(reason, field, TYPE.message.format(field=field, expected=expected, found=fe.go_quote(found)))


# The same in every version (kube-openapi's texts; apiextensions has no TooShort case, so minLength is an Invalid).
REQUIRED = Template(ErrorType.REQUIRED, "Required value")
TOO_SHORT = Template(ErrorType.INVALID, "Invalid value: {value}: {field} in body should be at least {limit} chars long")
TYPE = Template(ErrorType.TYPE_INVALID, "Invalid value: {found}: {field} in body must be of type {expected}: {found}")
NOT_SUPPORTED = Template(ErrorType.NOT_SUPPORTED, "Unsupported value: {value}: {supported}")
PATTERN = Template(ErrorType.INVALID, "Invalid value: {value}: {field} in body should match '{pattern}'")
# A failed x-kubernetes-validations rule: field.Invalid(path, <the node's schema type>, message).
RULE = Template(ErrorType.INVALID, "Invalid value: {type}: {message}")
# What apiextensions adds instead of running the CEL rules when the schema found a type, required, enum or size error
# (strategy.go hasBlockingErr, since kubernetes#108859): field.Invalid(nil, nil, ...), a nil path printed as <nil>.
UNCHECKED = Template(ErrorType.INVALID, "Invalid value: {value}: some validation rules were not checked because the "
                     "object was invalid; correct the existing errors to complete validation")
UNCHECKED_FIELD = "<nil>"
# The schema errors that keep the apiserver from running the CEL rules (hasBlockingErr; TooMany never occurs here).
BLOCKING = frozenset({ErrorType.NOT_SUPPORTED, ErrorType.REQUIRED, ErrorType.TOO_LONG, ErrorType.TYPE_INVALID})

# Oldest first, each row the one before with what changed. A version uses the last row whose ``since`` is not after
# it. Sources: apiextensions-apiserver pkg/apiserver/validation/validation.go (how kube-openapi's errors become field
# errors), apimachinery pkg/util/validation/field/errors.go (how a field error prints), and the measurements in the
# shared reference.
_UP_TO_1_24 = Wording(
    since=(1, 0),
    source="measured on v1.24; before apiextensions mapped TooLong and InvalidType (kubernetes#108859, #108996, "
    "which the sources date to 1.24.0: re-measure 1.24) they fell through to field.Invalid",
    too_long=Template(ErrorType.INVALID,
                      "Invalid value: {value}: {field} in body should be at most {limit} chars long"),
    type_reason=ErrorType.INVALID,
    composite_values="go",
    evaluates_rules=False,
)
_FROM_1_25 = replace(
    _UP_TO_1_24, since=(1, 25), source="measured on v1.28; field.TooLongMaxLength, field.TypeInvalid; CEL rules on "
    "by default",
    too_long=Template(ErrorType.TOO_LONG, "Too long: may not be longer than {limit}"),
    type_reason=ErrorType.TYPE_INVALID,
    evaluates_rules=True,
)
_FROM_1_32 = replace(
    _FROM_1_25, since=(1, 32),
    source="measured from v1.32; field.TooLong counts bytes in its words since kubernetes#128553 (the limit still "
    "counts characters)",
    too_long=Template(ErrorType.TOO_LONG, "Too long: may not be more than {limit} {unit}"),
)
_FROM_1_34 = replace(
    _FROM_1_32, since=(1, 34),
    source="inferred: field errors print values that are not scalars as JSON since kubernetes#132314 (a nil one as "
    "null, as kubectl output of newer clusters shows for the unchecked-rules cause)",
    composite_values="json",
    null_shown="null",
)
_FROM_1_35 = replace(
    _FROM_1_34, since=(1, 35),
    source="inferred: the vendored go-openapi/swag moved to swag/conv (v0.24), whose integer check rounds",
    rounding_integers=True,
)
ROWS: tuple[Wording, ...] = (_UP_TO_1_24, _FROM_1_25, _FROM_1_32, _FROM_1_34, _FROM_1_35)
LATEST = ROWS[-1]
OLDEST = ROWS[0]

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$")


def parse_version(text: str) -> tuple[int, int]:
    """``1.28``, ``v1.28.7`` or ``v1.28.7-gke.1026000`` (what ``.Capabilities.KubeVersion`` gives) -> (1, 28)."""
    match = _VERSION.match(text.strip())
    if not match:
        raise ValueError(f"not a Kubernetes version: {text!r} (expected e.g. 1.28 or v1.28.7)")
    return int(match[1]), int(match[2])


def for_version(version: str | tuple[int, int] | None) -> Wording:
    """The wording of a Kubernetes version; the newest for ``None``, the oldest row for anything older."""
    if version is None:
        return LATEST
    minor = parse_version(version) if isinstance(version, str) else version
    chosen = OLDEST
    for row in ROWS:
        if row.since <= minor:
            chosen = row
    return chosen
