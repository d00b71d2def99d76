"""The schema as a CRD's ``openAPIV3Schema``: what ``connectionpool-webhook schema`` prints."""

from __future__ import annotations

from typing import Any

from webhook.rules.schema import Boolean, Integer, Node, Object, String, Walker


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
        return out

    def integer(self, node: Integer, at: None) -> dict[str, Any]:
        # No format: the reference declares a plain integer, and `format: int64` would change kube-openapi's
        # wording of a fractional number.
        return self.typed(node, "integer")

    def boolean(self, node: Boolean, at: None) -> dict[str, Any]:
        return self.typed(node, "boolean")

    def object(self, node: Object, at: None) -> dict[str, Any]:
        out = self.typed(node, "object")
        out["properties"] = {name: self.node(child, None) for name, child in node.properties.items()}
        required = [name for name, child in node.properties.items() if child.required]
        if required:
            out["required"] = required
        return out

    @staticmethod
    def typed(node: Node, json_type: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": json_type}
        if node.description:
            out["description"] = node.description
        return out
