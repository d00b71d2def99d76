"""A small structural schema: declare fields once, then validate against them and export them as OpenAPI.

It implements the subset of a CRD's OpenAPI v3 validation that the rules need, with the apiserver's semantics:

- ``null`` counts as absent: the apiserver prunes nulls of non-nullable fields before it validates.
- integers are JSON integer literals that fit in int64 (``1.0``, ``1e3``, ``true`` and 2**63 are not), which is how
  the apiserver's JSON decoder and kube-openapi's type check treat them.
- lengths count Unicode code points, like Go's ``utf8.RuneCountInString``.
- a value of the wrong type gets one type error and no further checks below it.
- unknown fields are not errors (the apiserver prunes them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from webhook import fielderrors as fe
from webhook.fielderrors import FieldError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class String:
    description: str = ""
    required: bool = False
    # What Kubernetes adds after "Required value", where it says more.
    required_detail: str = ""
    # metadata.name: the apiserver reports "" as missing rather than as too short.
    blank_is_missing: bool = False
    min_length: int | None = None
    max_length: int | None = None
    enum: tuple[str, ...] = ()

    def compile(self, path: str) -> Check:
        enum = frozenset(self.enum)
        low = self.min_length if self.min_length is not None else 0
        high = self.max_length if self.max_length is not None else INT64_MAX

        def check(value: Any, errors: list[FieldError]) -> None:
            if type(value) is not str:
                errors.append(fe.type_invalid(path, value, "string"))
            elif enum and value not in enum:
                errors.append(fe.not_supported(path, value, self.enum))
            elif not low <= len(value) <= high:
                if len(value) > high:
                    errors.append(fe.too_long(path, high))
                else:
                    errors.append(fe.invalid(path, value, f"{path} in body should be at least {low} chars long"))

        return check

    def openapi(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        if self.description:
            out["description"] = self.description
        if self.enum:
            out["enum"] = list(self.enum)
        if self.min_length is not None:
            out["minLength"] = self.min_length
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        return out


@dataclass(frozen=True, slots=True)
class Integer:
    description: str = ""
    required: bool = False
    required_detail: str = ""

    def compile(self, path: str) -> Check:
        def check(value: Any, errors: list[FieldError]) -> None:
            if type(value) is not int:
                errors.append(fe.type_invalid(path, value, "integer"))
            elif not INT64_MIN <= value <= INT64_MAX:
                # The apiserver's decoder turns an integer beyond int64 into a float, which fails the type check.
                errors.append(fe.type_invalid(path, value, "integer", found="number"))

        return check

    def openapi(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer", "format": "int64"}
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True, slots=True)
class Object:
    properties: dict[str, Node] = field(default_factory=dict)
    description: str = ""
    required: bool = False
    required_detail: str = ""

    def compile(self, path: str = "") -> Check:
        """A closure that checks values against this node; paths and sub-checks are worked out once, here."""
        prefix = f"{path}." if path else ""
        fields = [
            (
                name,
                node.compile(prefix + name),
                fe.required(prefix + name, node.required_detail) if node.required else None,
                isinstance(node, String) and node.blank_is_missing,
            )
            for name, node in self.properties.items()
        ]

        def check(value: Any, errors: list[FieldError]) -> None:
            if type(value) is not dict:
                errors.append(fe.type_invalid(path, value, "object"))
                return
            for name, check_child, missing, blank_is_missing in fields:
                child = value.get(name)
                if child is None or (blank_is_missing and child == ""):
                    if missing is not None:
                        errors.append(missing)
                else:
                    check_child(child, errors)

        return check

    def openapi(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        if self.description:
            out["description"] = self.description
        out["properties"] = {name: node.openapi() for name, node in self.properties.items()}
        required = [name for name, node in self.properties.items() if node.required]
        if required:
            out["required"] = required
        return out



Node = String | Integer | Object
Check = Callable[[Any, list[FieldError]], None]


def rules_table(root: Object) -> str:
    """The schema as a Markdown table, one row per field: what the README shows users."""
    rows = ["| field | type | required | rule |", "| --- | --- | --- | --- |"]

    def walk(node: Object, prefix: str) -> None:
        for name, child in node.properties.items():
            path = prefix + name
            kind = {String: "string", Integer: "integer (int64)", Object: "object"}[type(child)]
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
