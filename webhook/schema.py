"""A small structural schema: declare fields once, then validate against them and export them as OpenAPI.

It implements the subset of a CRD's OpenAPI v3 validation that the rules need, with the apiserver's semantics:

- ``null`` counts as absent: the apiserver prunes nulls of non-nullable fields before it validates.
- integers are JSON integer literals that fit in int64 (``1.0``, ``1e3``, ``true`` and 2**63 are not), which is how
  the apiserver's JSON decoder and kube-openapi's type check treat them.
- lengths count Unicode code points, like Go's ``utf8.RuneCountInString``.
- a value of the wrong type gets one type error and no further checks below it.
- unknown fields are not errors (the apiserver prunes them).

Each node also says how a projecting JSON parser should read it (``projection()``): the declared properties of
declared objects, any value at a leaf. Parsing with it skips everything the checks never look at (managedFields,
annotations, a whole oldObject) instead of building it, and the check then sees the same values as with a full parse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

from webhook import fielderrors as fe
from webhook.fielderrors import FieldError
from webhook.wording import LATEST, Wording


@dataclass(frozen=True, slots=True)
class _Node:
    """What every field has: whether it must be there, and words for the docs."""

    description: str = ""
    required: bool = False
    # What Kubernetes adds after "Required value", where it says more.
    required_detail: str = ""

    def projection(self) -> Any:
        """The type a projecting parser (msgspec) reads this field as: any value, judged by the check afterwards."""
        return Any

    def _openapi(self, json_type: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": json_type}
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True, slots=True)
class String(_Node):
    # metadata.name: the apiserver reports "" as missing rather than as too short.
    blank_is_missing: bool = False
    min_length: int | None = None
    max_length: int | None = None
    enum: tuple[str, ...] = ()

    def emit(self, gen: _Codegen, var: str, path: str, pad: str) -> None:
        if self.enum:
            # Some versions also run the enum check on a value of the wrong type: the wording says which causes.
            # kube-openapi runs the enum check on a value of the wrong type too: a type error, then Unsupported value.
            supported = gen.const(self.enum)
            gen.line(pad, f"if type({var}) is not str:")
            gen.line(pad, f"    errors.append(W.type_error({path!r}, {var}, 'string'))")
            gen.line(pad, f"    errors.append(W.not_supported_error({path!r}, {var}, {supported}))")
            gen.line(pad, f"elif {var} not in {gen.const(frozenset(self.enum))}:")
            gen.line(pad, f"    errors.append(W.not_supported_error({path!r}, {var}, {supported}))")
        else:
            gen.type_check(pad, var, path, "str", "string")
        if self.max_length is not None:
            gen.line(pad, f"elif len({var}) > {self.max_length}:")
            gen.line(pad, f"    errors.append(W.too_long_error({path!r}, {var}, {self.max_length}))")
        if self.min_length is not None:
            gen.line(pad, f"elif len({var}) < {self.min_length}:")
            gen.line(pad, f"    errors.append(W.too_short_error({path!r}, {var}, {self.min_length}))")

    def openapi(self) -> dict[str, Any]:
        out = self._openapi("string")
        if self.enum:
            out["enum"] = list(self.enum)
        if self.min_length is not None or self.blank_is_missing:
            out["minLength"] = self.min_length or 1
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        return out


@dataclass(frozen=True, slots=True)
class Integer(_Node):

    def emit(self, gen: _Codegen, var: str, path: str, pad: str) -> None:
        # An int literal beyond int64 is a float to the apiserver's decoder, so not an integer; a (nearly) whole
        # float within +-(2**53 - 1) (`1.0`, `1e3`) is one to kube-openapi's type check.
        gen.line(pad, f"if type({var}) is int:")
        gen.line(pad, f"    if not {fe.INT64_MIN} <= {var} <= {fe.INT64_MAX}:")
        gen.line(pad, f"        errors.append(W.type_error({path!r}, 0.5, 'integer'))")  # a float to the apiserver
        gen.line(pad, f"elif type({var}) is not float or not W.float_is_integer({var}):")
        gen.line(pad, f"    errors.append(W.type_error({path!r}, {var}, 'integer'))")

    def openapi(self) -> dict[str, Any]:
        # No format: the reference declares a plain integer, and `format: int64` would change kube-openapi's
        # wording of a fractional number.
        return self._openapi("integer")


@dataclass(frozen=True, slots=True)
class Boolean(_Node):

    def emit(self, gen: _Codegen, var: str, path: str, pad: str) -> None:
        gen.type_check(pad, var, path, "bool", "boolean")

    def openapi(self) -> dict[str, Any]:
        return self._openapi("boolean")


@dataclass(frozen=True, slots=True)
class Object(_Node):
    properties: dict[str, Node] = field(default_factory=dict)

    def emit(self, gen: _Codegen, var: str, path: str, pad: str) -> None:
        gen.type_check(pad, var, path, "dict", "object")
        if not self.properties:
            return
        gen.line(pad, "else:")
        prefix = f"{path}." if path else ""
        # kube-openapi checks an object's properties first and its required list after them.
        missing: list[tuple[str, str, Node]] = []
        for name, node in self.properties.items():
            child, child_path = gen.var(), prefix + name
            gen.line(pad, f"    {child} = {var}.get({name!r})")
            absent, present = f"{child} is None", f"{child} is not None"
            if isinstance(node, String) and node.blank_is_missing:
                absent, present = f"{absent} or {child} == ''", f"{present} and {child} != ''"
            gen.line(pad, f"    if {present}:")
            node.emit(gen, child, child_path, pad + "        ")
            if node.required:
                missing.append((absent, child_path, node))
        for absent, child_path, node in missing:
            gen.line(pad, f"    if {absent}:")
            gen.line(pad, f"        errors.append({gen.const(fe.required(child_path, node.required_detail))})")

    def projection(self) -> Any:
        """A dict of only the declared properties, or null; anything else does not parse (see ``projection``)."""
        if not self.properties:
            return Any
        fields = {name: node.projection() for name, node in self.properties.items()}
        return TypedDict("Projection", fields, total=False) | None  # type: ignore[operator]

    def replace_at(self, path: Sequence[str], node: Node) -> Object:
        """This schema with the property at ``path`` (names from here down) replaced by ``node``."""
        head, *rest = path
        child = self.properties[head]
        if rest:
            if not isinstance(child, Object):
                raise TypeError(f"{head} is not an object")
            node = child.replace_at(rest, node)
        return replace(self, properties={**self.properties, head: node})

    def compile(self, wording: Wording = LATEST) -> Check:
        """One flat function checking values against this schema, generated from it.

        The generated code makes no call per field on the happy path, which a walk over the nodes (or closures)
        cannot avoid; at the apiserver's request rate that is most of what validation costs. The source is kept on
        the function as ``__source__``.
        """
        gen = _Codegen()
        gen.line("", "def check(value, errors):")
        self.emit(gen, "value", "", "    ")
        namespace: dict[str, Any] = {
            "W": wording, **gen.constants,
        }
        source = "\n".join(gen.lines) + "\n"
        exec(compile(source, "<generated schema check>", "exec"), namespace)
        check: Check = namespace["check"]
        check.__source__ = source  # type: ignore[attr-defined]
        return check

    def openapi(self) -> dict[str, Any]:
        out = self._openapi("object")
        out["properties"] = {name: node.openapi() for name, node in self.properties.items()}
        required = [name for name, node in self.properties.items() if node.required]
        if required:
            out["required"] = required
        return out



Node = String | Integer | Boolean | Object
Check = Callable[[Any, list[FieldError]], None]


class _Codegen:
    """Source lines of a generated check, with the constants it refers to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._vars = 0

    def line(self, pad: str, text: str) -> None:
        self.lines.append(pad + text)

    def var(self) -> str:
        self._vars += 1
        return f"v{self._vars}"

    def type_check(self, pad: str, var: str, path: str, python_type: str, json_type: str) -> None:
        """The check every node starts with; the node's own checks follow as ``elif`` branches."""
        self.line(pad, f"if type({var}) is not {python_type}:")
        self.line(pad, f"    errors.append(W.type_error({path!r}, {var}, {json_type!r}))")

    def const(self, value: Any) -> str:
        name = f"C{len(self.constants)}"
        self.constants[name] = value
        return name


def rules_table(root: Object) -> str:
    """The schema as a Markdown table, one row per field: what the README shows users."""
    rows = ["| field | type | required | rule |", "| --- | --- | --- | --- |"]

    def walk(node: Object, prefix: str) -> None:
        for name, child in node.properties.items():
            path = prefix + name
            kind = {String: "string", Integer: "integer (int64)", Boolean: "boolean", Object: "object"}[type(child)]
            rules = []
            if isinstance(child, String):
                if child.enum:
                    rules.append("one of " + ", ".join(f"`{v}`" for v in child.enum))
                if child.max_length is not None:
                    rules.append(f"at most {child.max_length} characters")
                if child.min_length is not None:
                    rules.append(f"at least {child.min_length} character{'s' if child.min_length > 1 else ''}")
                if child.blank_is_missing:
                    rules.append("non-empty")
            rows.append(f"| `{path}` | {kind} | {'yes' if child.required else ''} | {'; '.join(rules)} |")
            if isinstance(child, Object):
                walk(child, path + ".")

    walk(root, "")
    return "\n".join(rows)
