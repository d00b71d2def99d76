"""The rules as documentation, generated from their declarations so that the docs cannot drift from the code:
the rules table, the wording table and the ConnectionPool API reference (``docs/``; tests keep the pages current).
"""

from __future__ import annotations

from webhook.rules import wording
from webhook.rules.schema import Boolean, Integer, Object, String


def rules_table(root: Object) -> str:
    """The schema as a Markdown table, one row per field."""
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


def wording_table() -> str:
    """How each Kubernetes version words the errors (``wording.ROWS``), one row per range of versions."""
    rows = wording.ROWS
    lines = ["| versions | too long | type error | other values shown as | near-whole floats | source |",
             "| --- | --- | --- | --- | --- | --- |"]
    for i, row in enumerate(rows):
        first = "up" if i == 0 else f"{row.version}"
        until = f"{rows[i + 1].since[0]}.{rows[i + 1].since[1] - 1}" if i + 1 < len(rows) else "newest"
        lines.append(f"| {first} to {until} | `{row.too_long.reason}` `{row.too_long.message}` | `{row.type_reason}` "
                     f"| {'Go syntax' if row.composite_values == 'go' else 'JSON'} "
                     f"| {'rounded' if row.rounding_integers else 'truncated'} | {row.source} |")
    return "\n".join(lines)
