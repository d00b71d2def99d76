"""The CEL compiler: the schema's checks, defaulting and the update rules as CEL expressions, generated from their
declarations (``webhook.rules``), never written by hand per field. The policy objects (:mod:`.objects`) are made of
what it returns.

Facts about the apiserver this compiler relies on (sources in the docs' policy page):

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
from dataclasses import dataclass
from typing import NamedTuple

from webhook.rules import fielderrors as fe
from webhook.rules import transitions, wording
from webhook.rules.fielderrors import ErrorType
from webhook.rules.schema import (
    Boolean,
    CreationOnly,
    Immutable,
    ImmutableOnceSet,
    Integer,
    Map,
    Node,
    Object,
    Rule,
    String,
    Walker,
)
from webhook.rules.wording import Wording

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
# The schema's checks: a Walker, like the Python validator and the OpenAPI export


@dataclass(frozen=True)
class Validation:
    """One rule at one field: CEL that is true when it is broken, and the cause the webhook would give. (Not its
    reason: a policy's validations can only say Invalid, which is also the reason of the webhook's denial.)"""

    violation: str  # CEL; true when the rule is broken (before ratcheting)
    message: str  # CEL string: "field: message", worded like the webhook's cause
    fallback: str  # the message without the bad value, for the policy's static `message`
    parent_new: str  # CEL for the parent object (a map, or null when the parent is absent or not an object)
    parent_old: str
    name: str
    # Whether an UPDATE that leaves the field as it was is let through (ratcheted()); a CEL rule compares the two
    # objects itself, and a map's members are ratcheted one by one in the check.
    ratchets: bool = True
    # The reason of the webhook's cause: type, required, enum and size errors keep the CEL rules from running.
    reason: ErrorType = ErrorType.INVALID

    @property
    def blocking(self) -> bool:
        return self.reason in wording.BLOCKING


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

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def value(self) -> str:
        """CEL for the node's value."""
        return _member(self.new, self.name)


def _sized(value: str) -> str:
    """CEL: ``size()`` takes the value (a string, map or list)."""
    return f"(type({value}) == string || type({value}) == map || type({value}) == list)"


def _is_type(value: str, json_type: str) -> str:
    """CEL: ``value`` has the JSON type a schema node declares (string, boolean, integer)."""
    if json_type == "integer":
        return f"type({value}) == int"
    return f"type({value}) == {'bool' if json_type == 'boolean' else json_type}"


def _path_present(path: tuple[str, ...]) -> str:
    """CEL: ``object`` has a non-null value at ``path``, through maps."""
    checks, parent = [], "object"
    for name in path:
        checks.append(f"type({parent}) == map && {_has(parent, name)}")
        parent = _member(parent, name)
    return " && ".join([*checks, f"{parent} != null"])


def _present(parent: str, name: str, root: bool = False) -> str:
    value = _member(parent, name)
    guard = "" if root else f"{parent} != null && "
    return f"{guard}{_has(parent, name)} && {value} != null"


def _variable(path: tuple[str, ...], old: bool = False) -> str:
    return ("old_" if old else "") + "_".join(path)


# An UPDATE whose stored object has a spec to compare with (ruleset.RuleSet.validate_update judges one without it
# like a CREATE).
_COMPARABLE = f"variables.{_variable(('spec',), True)} != null"


class Compiled(NamedTuple):
    """A schema in CEL: its validations, in the webhook's order, and the variables they read (name, CEL)."""

    validations: list[Validation]
    variables: list[tuple[str, str]]


def compile(schema: Object, words: Wording = wording.LATEST) -> Compiled:
    """Every check of ``schema`` in CEL, worded as ``words`` says. Any schema of webhook.rules.schema's nodes: the
    tests also export small ones, for the nodes and limits ConnectionPool lacks."""
    compiler = _Compiler(words)
    root = _Scope("object", "variables.old", (), True)
    compiler.properties(schema, root)
    # The CEL rules come after the schema's checks, as in the apiserver. Where a schema error keeps the apiserver
    # from running them, a policy still does (its validations cannot see each other): with Deny it reports the
    # first failure, the schema's; with Warn the rules' failures come as warnings too.
    compiler.rules_of(schema, root)
    return Compiled(compiler.validations, compiler.variables)


class _Compiler(Walker[_Scope, None]):
    def __init__(self, words: Wording) -> None:
        self.words = words
        self.variables: list[tuple[str, str]] = [
            ("old", "request.operation == 'UPDATE' && oldObject != null ? oldObject : null"),
        ]
        self.validations: list[Validation] = []

    def string(self, node: String, at: _Scope) -> None:
        present, value = self.present(node, at), at.value
        is_string = f"type({value}) == string"
        self.type_error(at, f"{present} && !({is_string})", "string")
        if node.enum:
            # kube-openapi runs the enum check on a value of another type too: a type error, then this one.
            members = "[" + ", ".join(lit(v) for v in node.enum) + "]"
            self.not_supported(at, f"{present} && (!({is_string}) || !({value} in {members}))", node.enum)
        # The length checks run as one chain, like the webhook's: a value gets the first problem only.
        passed = f"{present} && {is_string}"
        if node.enum:
            passed += f" && {value} in {members}"
        if node.max_length is not None:
            self.length(at, f"{passed} && size({value}) > {node.max_length}", template=self.words.too_long,
                        limit=node.max_length)
            passed += f" && size({value}) <= {node.max_length}"
        if node.min_length is not None:
            self.length(at, f"{passed} && size({value}) < {node.min_length}", template=wording.TOO_SHORT,
                        limit=node.min_length)
            passed += f" && size({value}) >= {node.min_length}"
        if node.pattern is not None:
            self.add(at, wording.PATTERN.message, f"{passed} && !{value}.matches({lit(node.pattern)})",
                     fallback=f"Invalid value: should match '{node.pattern}'", reason=ErrorType.INVALID,
                     static={"pattern": node.pattern}, value=_shown(value))

    def integer(self, node: Integer, at: _Scope) -> None:
        integer = _integer(at.value, self.words.rounding_integers)
        self.type_error(at, f"{self.present(node, at)} && !{integer}", "integer")

    def boolean(self, node: Boolean, at: _Scope) -> None:
        self.type_error(at, f"{self.present(node, at)} && type({at.value}) != bool", "boolean")

    def object(self, node: Object, at: _Scope) -> None:
        self.type_error(at, f"{self.present(node, at)} && type({at.value}) != map", "object")
        if not node.properties:
            return
        for old in (False, True):
            parent = at.old if old else at.new
            value = _member(parent, at.name)
            self.variables.append((
                _variable(at.path, old),
                f"{_present(parent, at.name, at.root and not old)} && type({value}) == map ? {value} : null",
            ))
        self.properties(node, _Scope(f"variables.{_variable(at.path)}", f"variables.{_variable(at.path, True)}",
                                     at.path))

    def map(self, node: Map, at: _Scope) -> None:
        present, value = self.present(node, at), at.value
        self.type_error(at, f"{present} && type({value}) != map", "object")
        if not isinstance(node.values, String | Integer | Boolean):
            raise TypeError(f"{at.field}: the export checks maps of scalars only")
        expected = transitions.json_type(node.values)
        member = f"{value}[k]"
        old = _member(at.old, at.name)
        # A bad member left as it was by an UPDATE is let through, member by member, as the webhook ratchets.
        unchanged = (f"(variables.old != null && {_present(at.old, at.name)} && type({old}) == map && k in {old} && "
                     f"type({old}[k]) == type({member}) && {old}[k] == {member})")
        bad = f"{member} != null && !({_is_type(member, expected)}) && !{unchanged}"
        key = f"{value}.filter(k, {bad})[0]"
        found = f"{lit(chr(34))} + {_json_type(f'{value}[{key}]')} + {lit(chr(34))}"
        field = f"{lit(at.field + '.')} + {key}"
        message = (f"{field} + {lit(': Invalid value: ')} + {found} + {lit(': ')} + {field} + "
                   f"{lit(f' in body must be of type {expected}: ')} + {found}")
        self.validations.append(Validation(
            f"{present} && type({value}) == map && {value}.exists(k, {bad})", message,
            f"{at.field}: Invalid value: a member is not of type {expected}", at.new, at.old, at.name, ratchets=False,
            reason=self.words.type_reason))

    def rules_of(self, node: Object, scope: _Scope) -> None:
        """The CEL rules of ``node``'s properties (the node's own rules, then its properties in name order, as
        :mod:`webhook.rules.transitions` runs them)."""
        for name in sorted(node.properties):
            child = node.properties[name]
            at = _Scope(scope.new, scope.old, (*scope.path, name), scope.root)
            for rule in child.rules:
                self.rule(rule, child, at)
            if isinstance(child, Object) and child.properties:
                self.rules_of(child, _Scope(f"variables.{_variable(at.path)}",
                                            f"variables.{_variable(at.path, True)}", at.path))

    def rule(self, rule: Rule, node: Node, at: _Scope) -> None:
        new, old = at.value, _member(at.old, at.name)
        present_new, present_old = _present(at.new, at.name, at.root), _present(at.old, at.name)
        same = f"type({new}) == type({old}) && {new} == {old}"
        if isinstance(rule, Immutable):
            if rule.strict and rule.default_from:  # set where it was absent: a change, unless to the default
                source = ".".join(("object", *rule.default_from))
                default = f"type({new}) == string && {_path_present(rule.default_from)} && {new} == {source}"
                violation = f"{_COMPARABLE} && {present_new} && ({present_old} ? !({same}) : !({default}))"
            elif rule.strict:
                violation = f"{_COMPARABLE} && {present_new} && (!({present_old}) || !({same}))"
            else:
                violation = f"{present_new} && {present_old} && !({same})"
        else:
            maps = f"{present_new} && {present_old} && type({new}) == map && type({old}) == map"
            if isinstance(rule, CreationOnly):
                violation = f"{maps} && ({_present(new, rule.field)}) != ({_present(old, rule.field)})"
            else:
                assert isinstance(rule, ImmutableOnceSet)
                f_new, f_old = _member(new, rule.field), _member(old, rule.field)
                set_new = f"({_present(new, rule.field)} && !({_sized(f_new)} && size({f_new}) == 0))"
                set_old = f"({_present(old, rule.field)} && !({_sized(f_old)} && size({f_old}) == 0))"
                same_field = f"type({f_new}) == type({f_old}) && {f_new} == {f_old}"
                violation = (f"{maps} && !((!{set_old} && !{set_new}) || ({set_old} && {set_new} && "
                             f"{same_field}))")
        text = wording.RULE.message.format(type=fe.go_quote(transitions.json_type(node)), message=rule.message)
        self.validations.append(Validation(violation, lit(f"{at.field}: {text}"), f"{at.field}: {text}", at.new,
                                           at.old, at.name, ratchets=False))

    def properties(self, node: Object, scope: _Scope) -> None:
        """An object's properties in order, then its required list: the order kube-openapi reports them in."""
        for name, child in node.properties.items():
            self.node(child, _Scope(scope.new, scope.old, (*scope.path, name), scope.root))
        for name, child in node.properties.items():
            if child.required:
                self.required(child, _Scope(scope.new, scope.old, (*scope.path, name), scope.root))

    @staticmethod
    def present(node: Node, at: _Scope) -> str:
        present = _present(at.new, at.name, at.root)
        if isinstance(node, String) and node.blank_is_missing:
            present += f" && {at.value} != ''"
        return present

    def add(self, at: _Scope, template: str, violation: str, *, fallback: str, reason: ErrorType,
            static: dict[str, str] | None = None, **dynamic: str) -> None:
        field = at.field
        message = _render("{field}: " + template, {"field": field, **(static or {})}, dynamic)
        self.validations.append(Validation(violation, message, f"{field}: {fallback}", at.new, at.old, at.name,
                                           reason=reason))

    def required(self, node: Node, at: _Scope) -> None:
        present = _present(at.new, at.name, at.root)
        missing = f"!({present})"
        if isinstance(node, String) and node.blank_is_missing:
            missing = f"(!({present}) || {at.value} == '')"
        guard = "" if at.root else f"{at.new} != null && "
        text = fe.required(at.field, node.required_detail).message
        self.add(at, text, f"{guard}{missing}", fallback=text, reason=ErrorType.REQUIRED)

    def type_error(self, at: _Scope, violation: str, expected: str) -> None:
        found = f"{lit(chr(34))} + {_json_type(at.value)} + {lit(chr(34))}"
        self.add(at, wording.TYPE.message, violation, fallback=f"Invalid value: must be of type {expected}",
                 reason=self.words.type_reason, static={"expected": expected}, found=found)

    def not_supported(self, at: _Scope, violation: str, enum: tuple[str, ...]) -> None:
        supported = fe.supported_values(enum)
        self.add(at, wording.NOT_SUPPORTED.message, violation, fallback=f"Unsupported value: {supported}",
                 reason=ErrorType.NOT_SUPPORTED, static={"supported": supported},
                 value=_shown(at.value, self.words.composite_values == "json"))

    def length(self, at: _Scope, violation: str, *, template: wording.Template, limit: int) -> None:
        unit = "byte" if limit == 1 else "bytes"
        fallback = template.message.replace("{value}", "(value)").format(field=at.field, limit=limit, unit=unit)
        self.add(at, template.message, violation, fallback=fallback, reason=template.reason,
                 static={"limit": str(limit), "unit": unit}, value=_shown(at.value))


def ratcheted(check: Validation) -> str:
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
# The update rules (webhook.rules.updates) as match conditions

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


# ---------------------------------------------------------------------------------------------------------------
# Defaulting (webhook.rules.connectionpool.default) as a JSON Patch


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


