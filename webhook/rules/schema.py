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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar


@dataclass(frozen=True, slots=True)
class _Node:
    """What every field has: whether it must be there, and words for the docs."""

    description: str = ""
    required: bool = False
    # What Kubernetes adds after "Required value", where it says more.
    required_detail: str = ""


@dataclass(frozen=True, slots=True)
class String(_Node):
    # metadata.name: the apiserver reports "" as missing rather than as too short.
    blank_is_missing: bool = False
    min_length: int | None = None
    max_length: int | None = None
    enum: tuple[str, ...] = ()


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
        """This schema with the property at ``path`` (names from here down) replaced by ``node``."""
        head, *rest = path
        child = self.properties[head]
        if rest:
            if not isinstance(child, Object):
                raise TypeError(f"{head} is not an object")
            node = child.replace_at(rest, node)
        return replace(self, properties={**self.properties, head: node})


Node = String | Integer | Boolean | Object

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
        return self.object(node, at)

    def string(self, node: String, at: At) -> Out:
        raise NotImplementedError

    def integer(self, node: Integer, at: At) -> Out:
        raise NotImplementedError

    def boolean(self, node: Boolean, at: At) -> Out:
        raise NotImplementedError

    def object(self, node: Object, at: At) -> Out:
        raise NotImplementedError
