"""A schema's CEL rules (``x-kubernetes-validations``), evaluated as the apiserver's CEL validator evaluates them.

The rules are data (:class:`webhook.rules.schema.Rule`); what each kind of rule means is written here once, in
Python, and checked against its CEL text with a real CEL runtime by the tests. As in the apiserver:

- a rule runs on a value that is present (null counts as absent) and, if it reads ``oldSelf`` (all of these do),
  only on UPDATE and only where the old object has a value at the same place;
- a failed rule is a ``FieldValueInvalid`` at the path of the node that carries it, showing the node's schema type
  (``Invalid value: "string": Value is immutable``);
- a node's own rules come first, in the order the schema lists them, then its properties (in name order, as the
  CRD lists them: the apiserver was measured giving them in that order).

The apiserver runs them only when the schema found no type, required, enum or size error; that decision is the
caller's (:mod:`webhook.rules.releases`), as is which rules apply at all.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from webhook.rules.fielderrors import FieldError
from webhook.rules.schema import Boolean, CreationOnly, Immutable, Integer, Map, Node, Object, Rule
from webhook.rules.updates import same
from webhook.rules.wording import Wording


def errors(schema: Object, obj: Any, old: Any, words: Wording) -> list[FieldError]:
    """Every failed rule of ``schema`` for ``obj`` (``old`` is the stored object on UPDATE, None on CREATE)."""
    found: list[FieldError] = []
    _Walk(obj, words, found).node(schema, obj, old, "")
    return found


def json_type(node: Node) -> str:
    """The type a schema node declares, as a failed rule shows it."""
    if isinstance(node, Object | Map):
        return "object"
    if isinstance(node, Integer):
        return "integer"
    if isinstance(node, Boolean):
        return "boolean"
    return "string"


def holds(rule: Rule, value: Any, old: Any, root: Any) -> bool:
    """Whether ``rule`` holds for a present ``value`` whose old value is ``old`` (None: absent, or a CREATE)."""
    if isinstance(rule, Immutable):
        if old is None:
            if not rule.strict:
                return True  # a transition rule does not run without an old value
            # set where it was absent: a change, unless to the (string) value defaulting copies there
            return bool(rule.default_from) and type(value) is str and value == _at(root, rule.default_from)
        return same(value, old)
    if old is None or type(value) is not dict or type(old) is not dict:
        return True
    if isinstance(rule, CreationOnly):
        return (value.get(rule.field) is None) == (old.get(rule.field) is None)
    before, after = old.get(rule.field), value.get(rule.field)
    if not _set(before) and not _set(after):
        return True
    return _set(before) and _set(after) and same(after, before)


def _set(value: Any) -> bool:
    """Present and not empty, as ``has(x) && size(x) > 0`` sees it (``size`` counts a string's, map's or list's
    members)."""
    return value is not None and not (type(value) in (str, dict, list) and len(value) == 0)


class _Walk(NamedTuple):
    root: Any
    words: Wording
    found: list[FieldError]

    def node(self, node: Node, value: Any, old: Any, path: str) -> None:
        if value is None:
            return
        for rule in node.rules:
            if not holds(rule, value, old, self.root):
                self.found.append(self.words.rule_error(path, json_type(node), rule.message))
        if isinstance(node, Object) and type(value) is dict:
            old_map = old if type(old) is dict else {}
            for name in sorted(node.properties):
                self.node(node.properties[name], value.get(name), old_map.get(name), f"{path}.{name}" if path else name)


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if type(obj) is not dict:
            return None
        obj = obj.get(name)
    return obj
