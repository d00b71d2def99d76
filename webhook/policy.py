"""The rules as a ValidatingAdmissionPolicy, and defaulting as a MutatingAdmissionPolicy: CEL generated from
``webhook.connectionpool.SCHEMA``, never written by hand per field.

Facts about the apiserver this generator relies on (sources in the README's policy section):

- A policy sees ``object`` and ``oldObject`` as the apiserver decoded them, as dynamically typed CEL values: an
  integer literal that fits int64 is an ``int``, any other number (``1.0``, ``1e3``, 2^63) a ``double``; a ``null``
  member is present (``has()`` is true) with the value ``null``. So every check tests a value's type before using
  it, and treats ``null`` as absent, like the apiserver's pruning of nulls before its own validation.
- kube-openapi's ``type: integer`` accepts a double that go-openapi's ``IsFloat64AJSONInteger`` calls an integer
  (whole, within +-(2^53 - 1), with a relative tolerance of 1e-9): see ``_integer``.
- ``size()`` of a string counts code points, as the apiserver's ``maxLength`` does.
- New expressions are compiled against the CEL environment of the previous minor version, so only what Kubernetes
  1.27 offers is used: the standard library and the strings extension of version 0 (``replace``, ``substring``).
  No optional types, no cross-type numeric comparisons, no ``strings.quote``.
- There is no static cost limit for admission policies, but each expression may cost at most 1,000,000 at run time
  and one policy evaluation 10,000,000: every check is constant work on the object except string comparisons and
  ``replace`` over values, which are bounded by the request size (3 MiB) or cut to 256 characters first.
- With ``Deny`` the apiserver reports the first failing validation only; ``Warn`` gives every failure as a warning.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from webhook import connectionpool, wording
from webhook import fielderrors as fe
from webhook.schema import Boolean, Integer, Node, Object, String
from webhook.wording import Wording

# The newest Kubernetes minor version the export knows; the default of `--kubernetes-version`.
NEWEST = (1, 37)
OLDEST = (1, 28)  # ValidatingAdmissionPolicy v1beta1, with variables, matchConditions and messageExpression
ENFORCEMENT_ACTIONS = {"deny": "Deny", "warn": "Warn", "dryrun": "Audit"}
DEFAULT_NAME = "connectionpool-webhook"
GROUP_VERSION = "admissionregistration.k8s.io"

# What `connectionpool.default()` does, as data: copy SOURCE into TARGET when TARGET is absent.
DEFAULT_SOURCE = ("metadata", "name")
DEFAULT_TARGET = ("spec", "connInfoSecretTarget", "name")

# go-openapi's IsFloat64AJSONInteger (fielderrors.float_is_integer); the wording row says truncation or rounding.
_FLOAT_INT_LIMIT = f"{float(fe.FLOAT_INT_LIMIT)!r}"
_EPSILON = f"{fe.FLOAT_INT_EPSILON:.9f}"

# CEL's reserved words cannot be selected with a dot; such members are read with an index instead.
_RESERVED = frozenset({"as", "break", "const", "continue", "else", "false", "for", "function", "if", "import", "in",
                       "let", "loop", "namespace", "null", "package", "return", "true", "var", "void", "while"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UnsupportedVersion(ValueError):
    pass


def parse_version(text: str | None) -> tuple[int, int]:
    """``1.28``, ``v1.30.2`` -> (1, 28); the newest known for ``None``; refuses versions without the policy API."""
    if text is None:
        return NEWEST
    minor = wording.parse_version(text)
    if minor < OLDEST:
        raise UnsupportedVersion(
            f"Kubernetes {minor[0]}.{minor[1]} has no ValidatingAdmissionPolicy with messageExpression and "
            f"variables; the export needs {OLDEST[0]}.{OLDEST[1]} or newer"
        )
    return minor


def validating_api_version(minor: tuple[int, int]) -> str:
    """v1beta1 in 1.28 and 1.29 (beta, off by default), v1 (GA) from 1.30."""
    return f"{GROUP_VERSION}/{'v1' if minor >= (1, 30) else 'v1beta1'}"


def mutating_api_version(minor: tuple[int, int]) -> str | None:
    """None before 1.32; v1alpha1 in 1.32 and 1.33, v1beta1 in 1.34 and 1.35 (both off by default), v1 from 1.36."""
    if minor >= (1, 36):
        return f"{GROUP_VERSION}/v1"
    if minor >= (1, 34):
        return f"{GROUP_VERSION}/v1beta1"
    if minor >= (1, 32):
        return f"{GROUP_VERSION}/v1alpha1"
    return None


# ---------------------------------------------------------------------------------------------------------------
# CEL building blocks


def lit(text: str) -> str:
    """A CEL string literal for ``text``."""
    out = ["'"]
    for ch in text:
        code = ord(ch)
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append("'")
    return "".join(out)


def _member(parent: str, name: str) -> str:
    return f"{parent}.{name}" if _IDENT.match(name) and name not in _RESERVED else f"{parent}[{lit(name)}]"


def _has(parent: str, name: str) -> str:
    return f"has({parent}.{name})" if _IDENT.match(name) and name not in _RESERVED else f"{lit(name)} in {parent}"


# Characters Go's %q shows as they are, in the ASCII range: then a value needs no escaping at all.
_PLAIN = r"^[^\x00-\x1f\x7f\"\\]*$"
# The escapes a value needs most: Go's %q spells these the same way.
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r"))


def _go_quote(value: str) -> str:
    """CEL for ``value`` (a string) quoted as Go's %q quotes it: exactly for printable text, backslashes, quotes,
    newlines, tabs and carriage returns; other control characters stay as they are. (A chain of ``replace`` for every
    control character would nest too deep for CEL parsers, and the message must only be free of line breaks.)"""
    escaped = value + "".join(f".replace({lit(a)}, {lit(b)})" for a, b in _ESCAPES)
    return f"({value}.matches({lit(_PLAIN)}) ? '\"' + {value} + '\"' : '\"' + {escaped} + '\"')"


def _shown_string(value: str) -> str:
    """CEL for a string value as the webhook shows it (fielderrors.format_value): quoted, long ones shortened."""
    limit = fe.MAX_SHOWN_VALUE
    cut = f"(size({value}) > {limit} ? {value}.substring(0, {limit}) : {value})"
    more = f"(size({value}) > {limit} ? '...(' + string(size({value}) - {limit}) + ' more characters)' : '')"
    return f"({_go_quote(cut)} + {more})"


def _shown(value: str, json_composites: bool = False) -> str:
    """CEL for any bad value as a field error shows it (fielderrors.format_value): strings quoted, numbers and
    booleans as Go's %v prints them (CEL's string() of a double is Go's %g), empty containers in Go syntax or
    JSON; other containers by their type name, which CEL cannot print as Go does."""
    empty_map, empty_list = ("{}", "[]") if json_composites else ("map[string]interface {}{}", "[]interface {}{}")
    return (f"(type({value}) == string ? {_shown_string(value)} : type({value}) == bool ? ({value} ? 'true' : "
            f"'false') : type({value}) == int || type({value}) == double ? string({value}) : "
            f"type({value}) == map && size({value}) == 0 ? {lit(empty_map)} : "
            f"type({value}) == list && size({value}) == 0 ? {lit(empty_list)} : {_json_type(value)})")


def _json_type(value: str) -> str:
    """CEL for the OpenAPI type name of a value, as kube-openapi reports what it found."""
    return (f"(type({value}) == string ? 'string' : type({value}) == bool ? 'boolean' : type({value}) == int ? "
            f"'integer' : type({value}) == double ? 'number' : type({value}) == list ? 'array' : "
            f"type({value}) == map ? 'object' : 'null')")


def _integer(value: str, rounding: bool) -> str:
    """CEL: the value passes kube-openapi's ``type: integer`` (an int, or a double go-openapi calls an integer)."""
    whole = f"double(int({value})) == {value}"
    if rounding:
        # |f - round(f)| < 1e-9 * |round(f)|, with round half away from zero (math.Round).
        rounded = f"double(int({value} + ({value} < 0.0 ? -0.5 : 0.5)))"
        near = (f"({rounded} != 0.0 && ({value} - {rounded}) * ({value} < {rounded} ? -1.0 : 1.0) < "
                f"{_EPSILON} * ({rounded} < 0.0 ? -{rounded} : {rounded}))")
    else:
        # Truncation g = float64(uint64(f)): for a positive f above 1, (f - g) / (f + g) < 1e-9; never otherwise.
        near = f"({value} > 1.0 && ({value} - double(int({value}))) / ({value} + double(int({value}))) < {_EPSILON})"
    return (f"(type({value}) == int || (type({value}) == double && {value} >= -{_FLOAT_INT_LIMIT} && "
            f"{value} <= {_FLOAT_INT_LIMIT} && ({whole} || {near})))")


def _render(template: str, static: dict[str, str], dynamic: dict[str, str]) -> str:
    """A message template (``{field}``, ``{value}``...) as CEL: ``static`` parts filled in as text, ``dynamic`` ones
    (CEL expressions) concatenated where they go."""
    pieces: list[str] = []
    text = ""
    # Split with a group: text at the even indexes, placeholder names at the odd ones.
    for i, chunk in enumerate(re.split(r"\{(\w+)\}", template)):
        if i % 2 == 0:
            text += chunk
        elif chunk in dynamic:
            if text:
                pieces.append(lit(text))
                text = ""
            pieces.append(dynamic[chunk])
        else:
            text += static[chunk]
    if text:
        pieces.append(lit(text))
    return " + ".join(pieces)


# ---------------------------------------------------------------------------------------------------------------
# The checks, walked from the schema


@dataclass(frozen=True)
class Check:
    """One rule at one field: CEL that is true when it is broken, and the cause the webhook would give. (Not its
    reason: a policy's validations can only say Invalid, which is also the reason of the webhook's denial.)"""

    violation: str  # CEL; true when the rule is broken (before ratcheting)
    message: str  # CEL string: "field: message", worded like the webhook's cause
    fallback: str  # the message without the bad value, for the policy's static `message`
    parent_new: str  # CEL for the parent object (a map, or null when the parent is absent or not an object)
    parent_old: str
    name: str


@dataclass(frozen=True)
class _Scope:
    """Where a node sits: CEL for its parent map (new and old object), and its path."""

    new: str
    old: str
    path: tuple[str, ...]
    root: bool = False  # the parent is `object` itself, never null

    @property
    def field(self) -> str:
        return ".".join(self.path)


def _present(parent: str, name: str, root: bool = False) -> str:
    value = _member(parent, name)
    guard = "" if root else f"{parent} != null && "
    return f"{guard}{_has(parent, name)} && {value} != null"


def _variable(path: tuple[str, ...], old: bool = False) -> str:
    return ("old_" if old else "") + "_".join(path)


class _Walk:
    def __init__(self, words: Wording) -> None:
        self.words = words
        self.variables: list[tuple[str, str]] = [
            ("old", "request.operation == 'UPDATE' && oldObject != null ? oldObject : null"),
        ]
        self.checks: list[Check] = []

    def object(self, node: Object, scope: _Scope) -> None:
        """An object's properties in order, then its required list: the order kube-openapi reports them in."""
        for name, child in node.properties.items():
            path = (*scope.path, name)
            here = _Scope(scope.new, scope.old, path, scope.root)
            self.node(child, name, here)
            if isinstance(child, Object) and child.properties:
                for old in (False, True):
                    parent = scope.old if old else scope.new
                    value = _member(parent, name)
                    self.variables.append((
                        _variable(path, old),
                        f"{_present(parent, name, scope.root and not old)} && type({value}) == map ? {value} : null",
                    ))
                self.object(child, _Scope(f"variables.{_variable(path)}", f"variables.{_variable(path, True)}", path))
        for name, child in node.properties.items():
            if child.required:
                self.required(child, name, _Scope(scope.new, scope.old, (*scope.path, name), scope.root))

    def add(self, scope: _Scope, name: str, template: str, violation: str, *, fallback: str,
            static: dict[str, str] | None = None, **dynamic: str) -> None:
        field = scope.field
        message = _render("{field}: " + template, {"field": field, **(static or {})}, dynamic)
        self.checks.append(Check(violation, message, f"{field}: {fallback}", scope.new, scope.old, name))

    def required(self, node: Node, name: str, scope: _Scope) -> None:
        present = _present(scope.new, name, scope.root)
        missing = f"!({present})"
        if isinstance(node, String) and node.blank_is_missing:
            missing = f"(!({present}) || {_member(scope.new, name)} == '')"
        guard = "" if scope.root else f"{scope.new} != null && "
        text = fe.required(scope.field, node.required_detail).message
        self.add(scope, name, text, f"{guard}{missing}", fallback=text)

    def node(self, node: Node, name: str, scope: _Scope) -> None:
        present = _present(scope.new, name, scope.root)
        if isinstance(node, String) and node.blank_is_missing:
            present += f" && {_member(scope.new, name)} != ''"
        value = _member(scope.new, name)
        if isinstance(node, String):
            self.string(node, name, scope, present, value)
        elif isinstance(node, Integer):
            integer = _integer(value, self.words.rounding_integers)
            self.type_error(scope, name, f"{present} && !{integer}", value, "integer")
        elif isinstance(node, Boolean):
            self.type_error(scope, name, f"{present} && type({value}) != bool", value, "boolean")
        elif isinstance(node, Object):
            self.type_error(scope, name, f"{present} && type({value}) != map", value, "object")

    def type_error(self, scope: _Scope, name: str, violation: str, value: str, expected: str) -> None:
        found = f"{lit(chr(34))} + {_json_type(value)} + {lit(chr(34))}"
        self.add(scope, name, wording.TYPE.message, violation, fallback=f"Invalid value: must be of type {expected}",
                 static={"expected": expected}, found=found)

    def not_supported(self, scope: _Scope, name: str, violation: str, value: str, enum: tuple[str, ...]) -> None:
        supported = fe.supported_values(enum)
        self.add(scope, name, wording.NOT_SUPPORTED.message, violation, fallback=f"Unsupported value: {supported}",
                 static={"supported": supported}, value=_shown(value, self.words.composite_values == "json"))

    def string(self, node: String, name: str, scope: _Scope, present: str, value: str) -> None:
        is_string = f"type({value}) == string"
        self.type_error(scope, name, f"{present} && !({is_string})", value, "string")
        if node.enum:
            # kube-openapi runs the enum check on a value of another type too: a type error, then this one.
            members = "[" + ", ".join(lit(v) for v in node.enum) + "]"
            self.not_supported(scope, name, f"{present} && (!({is_string}) || !({value} in {members}))", value,
                               node.enum)
        # The length checks run as one chain, like the webhook's: a value gets the first problem only.
        passed = f"{present} && {is_string}"
        if node.enum:
            passed += f" && {value} in {members}"
        if node.max_length is not None:
            self.length(scope, name, f"{passed} && size({value}) > {node.max_length}", value,
                        template=self.words.too_long, limit=node.max_length)
            passed += f" && size({value}) <= {node.max_length}"
        if node.min_length is not None:
            self.length(scope, name, f"{passed} && size({value}) < {node.min_length}", value,
                        template=wording.TOO_SHORT, limit=node.min_length)

    def length(self, scope: _Scope, name: str, violation: str, value: str, *, template: wording.Template,
               limit: int) -> None:
        unit = "byte" if limit == 1 else "bytes"
        fallback = template.message.replace("{value}", "(value)").format(field=scope.field, limit=limit, unit=unit)
        self.add(scope, name, template.message, violation, fallback=fallback,
                 static={"limit": str(limit), "unit": unit}, value=_shown(value))


def checks(words: Wording = wording.LATEST, schema: Object = connectionpool.SCHEMA) -> tuple[list[Check],
                                                                                       list[tuple[str, str]]]:
    """Every check of the schema, in the webhook's order, and the variables they use (name, CEL). Any schema of
    webhook.schema's nodes: the tests also export small ones, for the nodes and limits ConnectionPool lacks."""
    walk = _Walk(words)
    walk.object(schema, _Scope("object", "variables.old", (), True))
    return walk.checks, walk.variables


def ratcheted(check: Check) -> str:
    """CEL: on UPDATE, the field's value is the one in oldObject (or absent in both), so its error does not deny.

    Equality is CEL's, with the types compared first: 1 and true differ, as they do to the webhook; a number's
    int and double forms (1, 1.0) only ever meet in nested values of the wrong type.
    """
    root = check.parent_new == "object"
    new_present = _present(check.parent_new, check.name, root)
    old_present = _present(check.parent_old, check.name)
    new, old = _member(check.parent_new, check.name), _member(check.parent_old, check.name)
    return (f"variables.old != null && ((!({new_present}) && !({old_present})) || "
            f"({new_present} && {old_present} && type({new}) == type({old}) && {new} == {old}))")


# ---------------------------------------------------------------------------------------------------------------
# The objects


# Never deny nor patch an object being deleted; skip UPDATEs that leave spec as it was (every error there would be
# ratcheted anyway). Both were proven as webhook matchConditions on a real v1.28 apiserver (shared README).
NOT_BEING_DELETED = (
    "!(has(object.metadata) && type(object.metadata) == map && has(object.metadata.deletionTimestamp) && "
    "object.metadata.deletionTimestamp != null)"
)
SPEC_CHANGED = (
    "request.operation != 'UPDATE' || oldObject == null || !has(oldObject.spec) || !has(object.spec) || "
    "object.spec != oldObject.spec"
)
MATCH_CONDITIONS = [
    {"name": "not-being-deleted", "expression": NOT_BEING_DELETED},
    {"name": "spec-changed", "expression": SPEC_CHANGED},
]


def _match_constraints() -> dict[str, Any]:
    return {
        "resourceRules": [{
            "apiGroups": [connectionpool.GROUP],
            "apiVersions": [connectionpool.VERSION],
            "operations": ["CREATE", "UPDATE"],
            "resources": [connectionpool.RESOURCE],
        }],
    }


def validations(words: Wording, schema: Object = connectionpool.SCHEMA) -> tuple[list[dict[str, Any]],
                                                                                list[dict[str, str]]]:
    """The policy's ``validations`` (one per check) and ``variables``."""
    found, variables = checks(words, schema)
    out = [{
        "expression": f"!({check.violation}) || ({ratcheted(check)})",
        "messageExpression": check.message,
        "message": check.fallback,
        "reason": "Invalid",
    } for check in found]
    return out, [{"name": name, "expression": expression} for name, expression in variables]


def validating_spec(words: Wording) -> dict[str, Any]:
    found, variables = validations(words)
    return {
        # Fail: an expression that cannot be evaluated is reported through the binding's actions (a denial, a
        # warning or an audit annotation), never silently skipped.
        "failurePolicy": "Fail",
        "matchConstraints": _match_constraints(),
        "matchConditions": MATCH_CONDITIONS,
        "variables": variables,
        "validations": found,
    }


def validating_policy(name: str, minor: tuple[int, int], words: Wording) -> dict[str, Any]:
    return {
        "apiVersion": validating_api_version(minor),
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": validating_spec(words),
    }


def validating_binding(name: str, minor: tuple[int, int], enforcement: str) -> dict[str, Any]:
    return {
        "apiVersion": validating_api_version(minor),
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": [ENFORCEMENT_ACTIONS[enforcement]]},
    }


def defaulting_variables() -> list[tuple[str, str]]:
    """(name, CEL) of the values defaulting reads: the target's parent object and the source name."""
    spec, target, _leaf = DEFAULT_TARGET
    source_parent, source = DEFAULT_SOURCE
    obj_spec = _member("object", spec)
    target_value = _member(f"variables.{spec}", target)
    return [
        (spec, f"{_present('object', spec, True)} && type({obj_spec}) == map ? {obj_spec} : null"),
        ("target", f"variables.{spec} != null && {_has(f'variables.{spec}', target)} ? {target_value} : null"),
        ("name", f"{_has('object', source_parent)} && type({_member('object', source_parent)}) == map && "
                 f"{_has(_member('object', source_parent), source)} && "
                 f"type({_member(_member('object', source_parent), source)}) == string ? "
                 f"{_member(_member('object', source_parent), source)} : ''"),
    ]


def _defaulting_wanted() -> str:
    """CEL: defaulting acts, as ``connectionpool.default`` decides: spec is an object, the target or its name is
    absent (or null), and the object has a name to copy (a generateName CREATE has none yet when mutating admission
    runs). It reads variables, which matchConditions cannot, so it is part of the patch expression."""
    spec, _target, leaf = DEFAULT_TARGET
    target_name = _member("variables.target", leaf)
    return (f"variables.{spec} != null && variables.name != '' && (variables.target == null || "
            f"(type(variables.target) == map && (!{_has('variables.target', leaf)} || {target_name} == null)))")


def json_patch(op: str, path: str, value: str, typed: bool) -> str:
    """CEL for one JSON Patch operation; ``typed=False`` gives a plain map (for CEL runtimes without the type)."""
    fields = [("op", lit(op)), ("path", lit(path)), ("value", value)]
    if typed:
        return "JSONPatch{" + ", ".join(f"{k}: {v}" for k, v in fields) + "}"
    return "{" + ", ".join(f"{lit(k)}: {v}" for k, v in fields) + "}"


def defaulting_patch(typed: bool = True) -> str:
    """CEL for the patch: add the whole target object when it is absent, else only its name (never replace)."""
    target_path = "/" + "/".join(DEFAULT_TARGET[:-1])
    whole = json_patch("add", target_path, f"{{{lit(DEFAULT_TARGET[-1])}: variables.name}}", typed)
    leaf = json_patch("add", f"{target_path}/{DEFAULT_TARGET[-1]}", "variables.name", typed)
    return f"!({_defaulting_wanted()}) ? [] : variables.target == null ? [{whole}] : [{leaf}]"


def mutating_spec() -> dict[str, Any]:
    return {
        # Ignore, like the mutating webhook: the operator falls back to the resource name itself, and the
        # validating policy judges the object either way.
        "failurePolicy": "Ignore",
        "reinvocationPolicy": "Never",
        "matchConstraints": _match_constraints(),
        "matchConditions": MATCH_CONDITIONS,
        "variables": [{"name": n, "expression": e} for n, e in defaulting_variables()],
        "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": defaulting_patch()}}],
    }


def mutating_policy(name: str, minor: tuple[int, int]) -> dict[str, Any] | None:
    api_version = mutating_api_version(minor)
    if api_version is None:
        return None
    return {"apiVersion": api_version, "kind": "MutatingAdmissionPolicy", "metadata": {"name": name},
            "spec": mutating_spec()}


def mutating_binding(name: str, minor: tuple[int, int]) -> dict[str, Any] | None:
    api_version = mutating_api_version(minor)
    if api_version is None:
        return None
    return {
        "apiVersion": api_version,
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name},
    }


def export(version: str | None = None, enforcement: str = "deny", name: str = DEFAULT_NAME) -> list[dict[str, Any]]:
    """The objects `connectionpool-webhook policy` prints, for a Kubernetes version (default: the newest)."""
    if enforcement not in ENFORCEMENT_ACTIONS:
        raise ValueError(f"enforcement must be one of {', '.join(ENFORCEMENT_ACTIONS)}, not {enforcement!r}")
    minor = parse_version(version)
    words = wording.for_version(minor)
    objects: list[dict[str, Any] | None] = [
        validating_policy(name, minor, words),
        validating_binding(name, minor, enforcement),
        mutating_policy(name, minor),
        mutating_binding(name, minor),
    ]
    return [o for o in objects if o is not None]


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_name(name: str) -> str:
    """Policy and binding names are DNS subdomains (lower case, at most 253 characters)."""
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise ValueError(f"{name!r} is not a valid object name: lower-case letters, digits, '-' and '.', starting "
                         "and ending with a letter or digit, at most 253 characters")
    return name


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """The objects as one YAML stream, ``---`` between documents; long CEL on one line each, never folded."""
    from io import StringIO  # noqa: PLC0415

    from ruamel.yaml import YAML  # noqa: PLC0415

    dumper = YAML(typ="safe", pure=True)
    dumper.default_flow_style = False
    dumper.width = sys.maxsize  # never fold a line
    dumper.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    out = StringIO()
    dumper.dump_all(objects, out)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# The Helm chart's template: the chart cannot run Python, so its policy template is generated from the objects
# above (`python -m webhook.policy --chart`), and tests/test_policy_chart.py checks it is current.

CHART_TEMPLATE = "charts/connectionpool-webhook/templates/policy.yaml"


def _spec_lines(spec: dict[str, Any]) -> list[str]:
    """The spec as YAML lines indented under ``spec:``."""
    return ["  " + line for line in to_yaml([spec]).splitlines()]


def _eras(make: Any) -> list[tuple[tuple[int, int], list[str]]]:
    """(first minor, lines) of each run of consecutive versions whose ``make(minor)`` lines are the same."""
    eras: list[tuple[tuple[int, int], list[str]]] = []
    for minor_number in range(OLDEST[1], NEWEST[1] + 1):
        minor = (1, minor_number)
        lines = make(minor)
        if lines is None:
            continue
        if not eras or eras[-1][1] != lines:
            eras.append((minor, lines))
    return eras


def _since(minor: tuple[int, int]) -> str:
    return f'semverCompare ">={minor[0]}.{minor[1]}-0" $version'


def _by_version(eras: list[tuple[tuple[int, int], list[str]]]) -> list[str]:
    """Template lines choosing among the eras' lines by the Kubernetes version, line by line where they align."""
    newest_first = list(reversed(eras))
    if len({len(lines) for _, lines in eras}) == 1:
        out: list[str] = []
        for i in range(len(eras[0][1])):
            variants = [lines[i] for _, lines in newest_first]
            if len(set(variants)) == 1:
                out.append(variants[0])
                continue
            for n, (minor, lines) in enumerate(newest_first):
                keyword = "if" if n == 0 else "else if"
                out.append("{{- else }}" if n == len(newest_first) - 1 else f"{{{{- {keyword} {_since(minor)} }}}}")
                out.append(lines[i])
            out.append("{{- end }}")
        return out
    out = []
    for n, (minor, lines) in enumerate(newest_first):
        keyword = "if" if n == 0 else "else if"
        out.append("{{- else }}" if n == len(newest_first) - 1 else f"{{{{- {keyword} {_since(minor)} }}}}")
        out.extend(lines)
    out.append("{{- end }}")
    return out


def chart_template() -> str:
    """templates/policy.yaml: the same objects as ``export``, for the cluster's version (or kubernetesVersion)."""
    def validating(minor: tuple[int, int]) -> list[str]:
        return _spec_lines(validating_spec(wording.for_version(minor)))

    map_versions = _eras(lambda minor: None if mutating_api_version(minor) is None else [mutating_api_version(minor)])
    lines = [
        "{{- /*",
        "GENERATED from webhook/policy.py by `python -m webhook.policy --chart`: do not edit by hand.",
        "tests/test_policy_chart.py fails when this file and the generator disagree. The same objects as",
        "`connectionpool-webhook policy`, for the cluster's Kubernetes version (or .Values.kubernetesVersion).",
        "*/}}",
        '{{- if has .Values.mode (list "policy" "both") }}',
        '{{- $fullname := include "connectionpool-webhook.fullname" . }}',
        "{{- $version := .Values.kubernetesVersion | default .Capabilities.KubeVersion.Version }}",
        '{{- $vap := "" }}',
    ]
    lines += _by_version(_eras(lambda minor: [f'{{{{- $vap = "{validating_api_version(minor)}" }}}}']))
    lines += [
        "apiVersion: {{ $vap }}",
        "kind: ValidatingAdmissionPolicy",
        "metadata:",
        "  name: {{ $fullname }}",
        "  labels:",
        '    {{- include "connectionpool-webhook.labels" . | nindent 4 }}',
        "spec:",
        *_by_version(_eras(validating)),
        "{{- /* One binding per enforcement mode, told apart by the namespace label, like the webhook's entries. */}}",
        '{{- range $mode := list "default" "deny" "warn" "dryrun" }}',
        '{{- $effective := ternary $.Values.enforcement $mode (eq $mode "default") }}',
        "---",
        "apiVersion: {{ $vap }}",
        "kind: ValidatingAdmissionPolicyBinding",
        "metadata:",
        '  name: {{ ternary $fullname (printf "%s-%s" $fullname $mode) (eq $mode "default") }}',
        "  labels:",
        '    {{- include "connectionpool-webhook.labels" $ | nindent 4 }}',
        "spec:",
        "  policyName: {{ $fullname }}",
        "  validationActions:",
        '    - {{ get (dict "deny" "Deny" "warn" "Warn" "dryrun" "Audit") $effective }}',
        "  matchResources:",
        '    {{- include "connectionpool-webhook.policyMatchResources" (dict "root" $ "enforcement" $mode) '
        "| nindent 4 }}",
        "{{- end }}",
        '{{- $map := "" }}',
    ]
    for n, (minor, (api,)) in enumerate(reversed(map_versions)):
        keyword = "if" if n == 0 else "else if"
        lines.append(f"{{{{- {keyword} {_since(minor)} }}}}")
        lines.append(f'{{{{- $map = "{api}" }}}}')
    lines += [
        "{{- end }}",
        "{{- /* Alpha and beta APIs are off unless enabled: auto renders it where the cluster serves the kind. */}}",
        "{{- $mutating := toString .Values.policy.mutating }}",
        '{{- $served := .Capabilities.APIVersions.Has (printf "%s/MutatingAdmissionPolicy" $map) }}',
        '{{- if and $map (or (eq $mutating "true") (and (eq $mutating "auto") $served)) }}',
        "---",
        "apiVersion: {{ $map }}",
        "kind: MutatingAdmissionPolicy",
        "metadata:",
        "  name: {{ $fullname }}",
        "  labels:",
        '    {{- include "connectionpool-webhook.labels" . | nindent 4 }}',
        "spec:",
        *_spec_lines(mutating_spec()),  # the same in every version that has the API
        "---",
        "apiVersion: {{ $map }}",
        "kind: MutatingAdmissionPolicyBinding",
        "metadata:",
        "  name: {{ $fullname }}",
        "  labels:",
        '    {{- include "connectionpool-webhook.labels" . | nindent 4 }}',
        "spec:",
        "  policyName: {{ $fullname }}",
        "  matchResources:",
        '    {{- include "connectionpool-webhook.policyMatchResources" (dict "root" . "enforcement" "") | nindent 4 }}',
        "{{- end }}",
        "{{- end }}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from pathlib import Path

    if sys.argv[1:] != ["--chart"]:
        sys.exit("usage: python -m webhook.policy --chart  (rewrites " + CHART_TEMPLATE + ")")
    target = Path(__file__).resolve().parent.parent / CHART_TEMPLATE
    target.write_text(chart_template())
    print(f"wrote {target}")
