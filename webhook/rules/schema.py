"""The schema language the rules are declared in: a small structural schema with the apiserver's semantics.

It declares the subset of a CRD's OpenAPI v3 schema that the rules need. The nodes are data only; each output of the
language is a :class:`Walker` with one method per kind of node, written in one style:

- :mod:`webhook.rules.validator`: a Python function that checks a value, generated from the nodes;
- :mod:`webhook.rules.openapi`: the nodes as a CRD's ``openAPIV3Schema``;
- :mod:`webhook.tools.policy.cel`: the nodes as CEL validations of an admission policy.

What every output honours, as the apiserver does:

- ``null`` counts as absent: the apiserver prunes nulls of non-nullable fields before it validates.
- integers are JSON integer literals that fit in int64, or whole floats that kube-openapi takes for integers.
- lengths count Unicode code points, like Go's ``utf8.RuneCountInString``.
- a value of the wrong type gets one type error and no further checks below it.
- unknown fields are not errors (the apiserver prunes them).
- within an object, the errors of its properties come first, then its missing required properties.

CEL rules (a CRD's ``x-kubernetes-validations``) are data too: a :class:`Rule` of a known kind on a node, with the
rule's text and message as the CRD declares them. :mod:`webhook.rules.transitions` evaluates them as the apiserver's
CEL validator does, the policy export writes them as admission-policy CEL, and the OpenAPI export prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar


@dataclass(frozen=True, slots=True)
class Immutable:
    """``self == oldSelf``: once set, the value may not change. The apiserver evaluates it on UPDATE only, and only
    where the field is set in both objects, so setting or removing it passes (``strict`` counts those as changes
    too, as the integrity rules do, except setting it to the value at ``default_from`` that defaulting gives it)."""

    message: str
    strict: bool = False
    default_from: tuple[str, ...] = ()

    @property
    def rule(self) -> str:
        return "self == oldSelf"


@dataclass(frozen=True, slots=True)
class CreationOnly:
    """``has(oldSelf.f) == has(self.f)`` on an object: its field ``f`` can only be set (or left unset) at creation."""

    field: str
    message: str

    @property
    def rule(self) -> str:
        return f"has(oldSelf.{self.field}) == has(self.{self.field})"


@dataclass(frozen=True, slots=True)
class ImmutableOnceSet:
    """A rule on an object about its string field ``f``: empty (or absent) before and after, or set before and the
    same after. aiven-operator's spec-level ``username`` rule, which also catches setting and removing the field."""

    field: str
    message: str

    @property
    def rule(self) -> str:
        f = self.field
        return (f"((!has(oldSelf.{f}) || size(oldSelf.{f}) == 0) && (!has(self.{f}) || size(self.{f}) == 0)) || "
                f"(has(oldSelf.{f}) && size(oldSelf.{f}) > 0 && has(self.{f}) && self.{f} == oldSelf.{f})")


Rule = Immutable | CreationOnly | ImmutableOnceSet


@dataclass(frozen=True, slots=True)
class _Node:
    """What every field has: whether it must be there, its CEL rules, and words for the docs."""

    description: str = ""
    required: bool = False
    # What Kubernetes adds after "Required value", where it says more.
    required_detail: str = ""
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class String(_Node):
    # metadata.name: the apiserver reports "" as missing rather than as too short.
    blank_is_missing: bool = False
    min_length: int | None = None
    max_length: int | None = None
    enum: tuple[str, ...] = ()
    # A Go (RE2) regular expression the value must match somewhere, as kube-openapi's `pattern` is applied.
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class Integer(_Node):
    pass


@dataclass(frozen=True, slots=True)
class Boolean(_Node):
    pass


@dataclass(frozen=True, slots=True)
class Object(_Node):
    properties: dict[str, Node] = field(default_factory=dict)

    def replace_at(self, path: Sequence[str], node: Node) -> Object:
        """This schema with the property at ``path`` (names from here down) replaced by (or set to) ``node``."""
        head, *rest = path
        if rest:
            child = self.properties[head]
            if not isinstance(child, Object):
                raise TypeError(f"{head} is not an object")
            node = child.replace_at(rest, node)
        return replace(self, properties={**self.properties, head: node})

    def node_at(self, path: Sequence[str]) -> Node:
        """The node at ``path`` (property names from here down; ``()`` is this object)."""
        node: Node = self
        for name in path:
            if not isinstance(node, Object):
                raise TypeError(f"{name} is not in an object")
            node = node.properties[name]
        return node


@dataclass(frozen=True, slots=True)
class Map(_Node):
    """An object whose every member is a ``values`` (``additionalProperties``), e.g. a Secret's labels."""

    values: Node = field(default_factory=String)
    # x-kubernetes-preserve-unknown-fields: the apiserver keeps members the schema does not name (all of them, here).
    preserve_unknown_fields: bool = False


Node = String | Integer | Boolean | Object | Map

At = TypeVar("At")
Out = TypeVar("Out")


class Walker(Generic[At, Out]):
    """One output of the schema language: a method per kind of node, each given the node and where it is (``At``:
    whatever that output needs to know about the place, such as the field path)."""

    def node(self, node: Node, at: At) -> Out:
        if isinstance(node, String):
            return self.string(node, at)
        if isinstance(node, Integer):
            return self.integer(node, at)
        if isinstance(node, Boolean):
            return self.boolean(node, at)
        if isinstance(node, Map):
            return self.map(node, at)
        return self.object(node, at)

    def string(self, node: String, at: At) -> Out:
        raise NotImplementedError

    def integer(self, node: Integer, at: At) -> Out:
        raise NotImplementedError

    def boolean(self, node: Boolean, at: At) -> Out:
        raise NotImplementedError

    def object(self, node: Object, at: At) -> Out:
        raise NotImplementedError

    def map(self, node: Map, at: At) -> Out:
        raise NotImplementedError
