"""The schema compiled into one flat Python function that checks a value, worded by a Kubernetes version.

The generated code makes no call per field on the happy path, which a walk over the nodes at check time (or a tree
of closures) cannot avoid; at the apiserver's request rate that is most of what validation costs. The function's
source is kept on it as ``__source__``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, NamedTuple

from webhook.rules import fielderrors as fe
from webhook.rules.fielderrors import FieldError
from webhook.rules.schema import Boolean, Integer, Node, Object, String, Walker
from webhook.rules.wording import LATEST, Wording

# What compile() returns: validator(value, errors) appends every problem of ``value`` to ``errors``.
Validator = Callable[[Any, list[FieldError]], None]


def compile(schema: Object, wording: Wording = LATEST) -> Validator:
    """One function checking values against ``schema``, generated from it, worded as ``wording`` says."""
    gen = _Generator()
    gen.line("", "def validate(value, errors):")
    gen.node(schema, _Site("value", "", "    "))
    namespace: dict[str, Any] = {"W": wording, **gen.constants}
    source = "\n".join(gen.lines) + "\n"
    exec(builtins.compile(source, "<generated schema check>", "exec"), namespace)
    validator: Validator = namespace["validate"]
    validator.__source__ = source  # type: ignore[attr-defined]
    return validator


class _Site(NamedTuple):
    """Where a node's checks go: the variable holding its value, its field path, the indentation of its lines."""

    var: str
    path: str
    pad: str


class _Generator(Walker[_Site, None]):
    """Source lines of a generated check, with the constants it refers to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._vars = 0

    def string(self, node: String, at: _Site) -> None:
        var, path, pad = at
        if node.enum:
            # kube-openapi runs the enum check on a value of the wrong type too: a type error, then Unsupported value.
            supported = self.const(node.enum)
            self.line(pad, f"if type({var}) is not str:")
            self.line(pad, f"    errors.append(W.type_error({path!r}, {var}, 'string'))")
            self.line(pad, f"    errors.append(W.not_supported_error({path!r}, {var}, {supported}))")
            self.line(pad, f"elif {var} not in {self.const(frozenset(node.enum))}:")
            self.line(pad, f"    errors.append(W.not_supported_error({path!r}, {var}, {supported}))")
        else:
            self.type_check(at, "str", "string")
        if node.max_length is not None:
            self.line(pad, f"elif len({var}) > {node.max_length}:")
            self.line(pad, f"    errors.append(W.too_long_error({path!r}, {var}, {node.max_length}))")
        if node.min_length is not None:
            self.line(pad, f"elif len({var}) < {node.min_length}:")
            self.line(pad, f"    errors.append(W.too_short_error({path!r}, {var}, {node.min_length}))")

    def integer(self, node: Integer, at: _Site) -> None:
        var, path, pad = at
        # An int literal beyond int64 is a float to the apiserver's decoder, so not an integer; a (nearly) whole
        # float within +-(2**53 - 1) (`1.0`, `1e3`) is one to kube-openapi's type check.
        self.line(pad, f"if type({var}) is int:")
        self.line(pad, f"    if not {fe.INT64_MIN} <= {var} <= {fe.INT64_MAX}:")
        self.line(pad, f"        errors.append(W.type_error({path!r}, 0.5, 'integer'))")  # a float to the apiserver
        self.line(pad, f"elif type({var}) is not float or not W.float_is_integer({var}):")
        self.line(pad, f"    errors.append(W.type_error({path!r}, {var}, 'integer'))")

    def boolean(self, node: Boolean, at: _Site) -> None:
        self.type_check(at, "bool", "boolean")

    def object(self, node: Object, at: _Site) -> None:
        var, path, pad = at
        self.type_check(at, "dict", "object")
        if not node.properties:
            return
        self.line(pad, "else:")
        prefix = f"{path}." if path else ""
        # kube-openapi checks an object's properties first and its required list after them.
        missing: list[tuple[str, str, Node]] = []
        for name, child in node.properties.items():
            child_var, child_path = self.var(), prefix + name
            self.line(pad, f"    {child_var} = {var}.get({name!r})")
            absent, present = f"{child_var} is None", f"{child_var} is not None"
            if isinstance(child, String) and child.blank_is_missing:
                absent, present = f"{absent} or {child_var} == ''", f"{present} and {child_var} != ''"
            self.line(pad, f"    if {present}:")
            self.node(child, _Site(child_var, child_path, pad + "        "))
            if child.required:
                missing.append((absent, child_path, child))
        for absent, child_path, child in missing:
            self.line(pad, f"    if {absent}:")
            self.line(pad, f"        errors.append({self.const(fe.required(child_path, child.required_detail))})")

    def line(self, pad: str, text: str) -> None:
        self.lines.append(pad + text)

    def var(self) -> str:
        self._vars += 1
        return f"v{self._vars}"

    def type_check(self, at: _Site, python_type: str, json_type: str) -> None:
        """The check every node starts with; the node's own checks follow as ``elif`` branches."""
        self.line(at.pad, f"if type({at.var}) is not {python_type}:")
        self.line(at.pad, f"    errors.append(W.type_error({at.path!r}, {at.var}, {json_type!r}))")

    def const(self, value: Any) -> str:
        name = f"C{len(self.constants)}"
        self.constants[name] = value
        return name
