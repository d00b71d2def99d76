"""The schema compiled into one flat Python function that checks a value, worded by a Kubernetes version.

The generated code makes no call per field on the happy path, which a walk over the nodes at check time (or a tree
of closures) cannot avoid; at the apiserver's request rate that is most of what validation costs. The function's
source is kept on it as ``__source__``.

This is the OpenAPI part of the apiserver's validation (kube-openapi). The CEL rules of the schema run after it, and
only on UPDATE: :mod:`webhook.rules.transitions`.
"""

from __future__ import annotations

import builtins
import functools
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from webhook.rules import fielderrors as fe
from webhook.rules.fielderrors import FieldError
from webhook.rules.schema import Boolean, Integer, Map, Node, Object, String, Walker
from webhook.rules.wording import LATEST, Wording

# What compile() returns: validator(value, errors) appends every problem of ``value`` to ``errors``.
Validator = Callable[[Any, list[FieldError]], None]


def compile(schema: Object, wording: Wording = LATEST) -> Validator:
    """One function checking values against ``schema``, generated from it, worded as ``wording`` says."""
    gen = _Generator()
    gen.line("", "def validate(value, errors):")
    gen.node(schema, _Site("value", "", "    "))
    namespace: dict[str, Any] = {"W": wording, "fe": fe, **gen.constants}
    source = "\n".join(gen.lines) + "\n"
    exec(builtins.compile(source, "<generated schema check>", "exec"), namespace)
    validator: Validator = namespace["validate"]
    validator.__source__ = source  # type: ignore[attr-defined]
    return validator


@functools.cache
def go_regexp(pattern: str) -> re.Pattern[str]:
    """A Go (RE2) regular expression as Python's ``re`` reads it, for the patterns CRDs declare: ``$`` is the end of
    the text (Python's also matches before a final newline), and ``\\d``, ``\\w``, ``\\s`` are ASCII classes."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        elif ch == "$" and not in_class:
            ch = r"\Z"
        out.append(ch)
        i += 1
    return re.compile("".join(out), re.ASCII)


class _Site(NamedTuple):
    """Where a node's checks go: the variable holding its value, its field path (as a Python expression when it is
    only known at run time, under a map's keys), the indentation of its lines."""

    var: str
    path: str
    pad: str
    dynamic: bool = False

    @property
    def field(self) -> str:
        """Python source for the field path."""
        return self.path if self.dynamic else repr(self.path)


class _Generator(Walker[_Site, None]):
    """Source lines of a generated check, with the constants it refers to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._vars = 0

    def string(self, node: String, at: _Site) -> None:
        var, field, pad = at.var, at.field, at.pad
        if node.enum:
            # kube-openapi runs the enum check on a value of the wrong type too: a type error, then Unsupported value.
            supported = self.const(node.enum)
            self.line(pad, f"if type({var}) is not str:")
            self.line(pad, f"    errors.append(W.type_error({field}, {var}, 'string'))")
            self.line(pad, f"    errors.append(W.not_supported_error({field}, {var}, {supported}))")
            self.line(pad, f"elif {var} not in {self.const(frozenset(node.enum))}:")
            self.line(pad, f"    errors.append(W.not_supported_error({field}, {var}, {supported}))")
        else:
            self.type_check(at, "str", "string")
        # kube-openapi's string checks stop at the first that fails: maxLength, minLength, pattern.
        if node.max_length is not None:
            self.line(pad, f"elif len({var}) > {node.max_length}:")
            self.line(pad, f"    errors.append(W.too_long_error({field}, {var}, {node.max_length}))")
        if node.min_length is not None:
            self.line(pad, f"elif len({var}) < {node.min_length}:")
            self.line(pad, f"    errors.append(W.too_short_error({field}, {var}, {node.min_length}))")
        if node.pattern is not None:
            self.line(pad, f"elif {self.const(go_regexp(node.pattern))}.search({var}) is None:")
            self.line(pad, f"    errors.append(W.pattern_error({field}, {var}, {node.pattern!r}))")

    def integer(self, node: Integer, at: _Site) -> None:
        var, field, pad = at.var, at.field, at.pad
        # An int literal beyond int64 is a float to the apiserver's decoder, so not an integer; a (nearly) whole
        # float within +-(2**53 - 1) (`1.0`, `1e3`) is one to kube-openapi's type check.
        self.line(pad, f"if type({var}) is int:")
        self.line(pad, f"    if not {fe.INT64_MIN} <= {var} <= {fe.INT64_MAX}:")
        self.line(pad, f"        errors.append(W.type_error({field}, 0.5, 'integer'))")  # a float to the apiserver
        self.line(pad, f"elif type({var}) is not float or not W.float_is_integer({var}):")
        self.line(pad, f"    errors.append(W.type_error({field}, {var}, 'integer'))")

    def boolean(self, node: Boolean, at: _Site) -> None:
        self.type_check(at, "bool", "boolean")

    def object(self, node: Object, at: _Site) -> None:
        var, pad = at.var, at.pad
        self.type_check(at, "dict", "object")
        if not node.properties:
            return
        self.line(pad, "else:")
        # kube-openapi checks an object's properties first and its required list after them.
        missing: list[tuple[str, _Site, Node]] = []
        for name, child in node.properties.items():
            site = self.child(at, name, self.var(), pad + "        ")
            self.line(pad, f"    {site.var} = {var}.get({name!r})")
            absent, present = f"{site.var} is None", f"{site.var} is not None"
            if isinstance(child, String) and child.blank_is_missing:
                absent, present = f"{absent} or {site.var} == ''", f"{present} and {site.var} != ''"
            self.line(pad, f"    if {present}:")
            self.node(child, site)
            if child.required:
                missing.append((absent, site, child))
        for absent, site, child in missing:
            self.line(pad, f"    if {absent}:")
            if site.dynamic:
                self.line(pad, f"        errors.append(fe.required({site.field}, {child.required_detail!r}))")
            else:
                self.line(pad, f"        errors.append({self.const(fe.required(site.path, child.required_detail))})")

    def map(self, node: Map, at: _Site) -> None:
        var, field, pad = at.var, at.field, at.pad
        self.type_check(at, "dict", "object")
        self.line(pad, "else:")
        # Go ranges over a map in random order, so the apiserver reports its members in no stable order: sorted here.
        key, item = self.var(), self.var()
        self.line(pad, f"    for {key} in sorted({var}):")
        self.line(pad, f"        {item} = {var}[{key}]")
        self.line(pad, f"        if {item} is not None:")  # a null member is pruned, like a null property
        self.node(node.values, _Site(item, f"{field} + '.' + {key}", pad + "            ", dynamic=True))

    def child(self, at: _Site, name: str, var: str, pad: str) -> _Site:
        if at.dynamic:
            return _Site(var, f"{at.path} + {'.' + name!r}", pad, dynamic=True)
        return _Site(var, f"{at.path}.{name}" if at.path else name, pad)

    def line(self, pad: str, text: str) -> None:
        self.lines.append(pad + text)

    def var(self) -> str:
        self._vars += 1
        return f"v{self._vars}"

    def type_check(self, at: _Site, python_type: str, json_type: str) -> None:
        """The check every node starts with; the node's own checks follow as ``elif`` branches."""
        self.line(at.pad, f"if type({at.var}) is not {python_type}:")
        self.line(at.pad, f"    errors.append(W.type_error({at.field}, {at.var}, {json_type!r}))")

    def const(self, value: Any) -> str:
        name = f"C{len(self.constants)}"
        self.constants[name] = value
        return name
