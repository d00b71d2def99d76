"""The schema as a CRD's ``openAPIV3Schema``: what ``connectionpool-webhook schema`` prints, CEL rules included as
``x-kubernetes-validations``."""

from __future__ import annotations

from typing import Any

from webhook.rules.schema import Boolean, Integer, Map, Node, Object, String, Walker


def openapi(schema: Node) -> dict[str, Any]:
    """``schema`` in OpenAPI v3, as a CRD declares it."""
    return _OpenAPI().node(schema, None)


class _OpenAPI(Walker[None, dict[str, Any]]):
    def string(self, node: String, at: None) -> dict[str, Any]:
        out = self.typed(node, "string")
        if node.enum:
            out["enum"] = list(node.enum)
        if node.min_length is not None or node.blank_is_missing:
            out["minLength"] = node.min_length or 1
        if node.max_length is not None:
            out["maxLength"] = node.max_length
        if node.pattern is not None:
            out["pattern"] = node.pattern
        return self.with_rules(node, out)

    def integer(self, node: Integer, at: None) -> dict[str, Any]:
        # No format: the reference declares a plain integer, and `format: int64` would change kube-openapi's
        # wording of a fractional number.
        return self.with_rules(node, self.typed(node, "integer"))

    def boolean(self, node: Boolean, at: None) -> dict[str, Any]:
        return self.with_rules(node, self.typed(node, "boolean"))

    def object(self, node: Object, at: None) -> dict[str, Any]:
        out = self.typed(node, "object")
        out["properties"] = {name: self.node(child, None) for name, child in node.properties.items()}
        required = [name for name, child in node.properties.items() if child.required]
        if required:
            out["required"] = required
        return self.with_rules(node, out)

    def map(self, node: Map, at: None) -> dict[str, Any]:
        out = self.typed(node, "object")
        out["additionalProperties"] = self.node(node.values, None)
        if node.preserve_unknown_fields:
            out["x-kubernetes-preserve-unknown-fields"] = True
        return self.with_rules(node, out)

    @staticmethod
    def with_rules(node: Node, out: dict[str, Any]) -> dict[str, Any]:
        if node.rules:
            out["x-kubernetes-validations"] = [{"message": rule.message, "rule": rule.rule} for rule in node.rules]
        return out

    @staticmethod
    def typed(node: Node, json_type: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": json_type}
        if node.description:
            out["description"] = node.description
        return out
