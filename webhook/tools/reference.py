"""The rules as documentation, generated from their declarations so that the docs cannot drift from the code:
the rules table, the wording table, the table of operator releases and the ConnectionPool API reference (``docs/``;
tests keep the pages current).

``python -m webhook.tools.reference --write`` rewrites every generated page and block; without ``--write`` it lists
the stale ones and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from webhook.rules import releases, wording
from webhook.rules.connectionpool import SCHEMA
from webhook.rules.releases import Added, Change
from webhook.rules.schema import Boolean, Integer, Map, Object, String, Walker

ROOT = Path(__file__).resolve().parents[2]
API_REFERENCE = "docs/api-reference/connectionpool.md"
RULES_PAGE = "docs/rules.md"


def rules_table(root: Object, changes: Sequence[Change] = ()) -> str:
    """The schema as a Markdown table, one row per field; with ``changes`` (releases.CHANGES), the fields later
    releases added too, and per field what changed from which release."""
    header = "| field | type | required | rule |"
    rows = [header + " later releases |" if changes else header, "| --- | --- | --- | --- |" + (" --- |" if changes
                                                                                               else "")]
    notes = _notes(changes)

    def walk(node: Object, prefix: str) -> None:
        for name, child in node.properties.items():
            path = prefix + name
            kind = {String: "string", Integer: "integer (int64)", Boolean: "boolean", Object: "object",
                    Map: "map of strings"}[type(child)]
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
            row = f"| `{path}` | {kind} | {'yes' if child.required else ''} | {'; '.join(rules)} |"
            rows.append(row + f" {'; '.join(notes.get(path, ()))} |" if changes else row)
            if isinstance(child, Object):
                walk(child, path + ".")

    walk(_with_additions(root, changes), "")
    return "\n".join(rows)


def releases_table(changes: Sequence[Change]) -> str:
    """What each aiven-operator release changed in the ConnectionPool CRD, row by row, with the source of each."""
    rows = ["| release | field | change | source |", "| --- | --- | --- | --- |"]
    for change in changes:
        rows.append(f"| {change.release} | `{change.field}` | {change.edit.describe()} | {change.source} |")
    return "\n".join(rows)


def _notes(changes: Sequence[Change]) -> dict[str, list[str]]:
    """Field path -> "from vX: what changed", in release order."""
    notes: dict[str, list[str]] = {}
    for change in changes:
        notes.setdefault(change.field, []).append(f"from {change.release}: {change.edit.describe()}")
    return notes


def _with_additions(root: Object, changes: Sequence[Change]) -> Object:
    """``root`` with the fields later releases added (and only those: their other changes are notes)."""
    for change in changes:
        if isinstance(change.edit, Added):
            root = root.replace_at(change.path, change.edit.node)
    return root


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


# --- The API reference -------------------------------------------------------------------------------------------
# The layout of the aiven-operator's own API reference pages (docs/api-reference/<kind>.md there), so that our page
# reads like the operator's: one "## name {: #path }" section per object, its properties sorted by name under
# **Required** and **Optional**, each "- [`name`](#path-property){: name='path-property'} (type, constraints).
# Description." Anchors are field paths without the kind (attr_list syntax; MkDocs renders them).

# The kind's metadata is Kubernetes' ObjectMeta: the operator's pages describe it in one line and do not expand it.
OBJECT_META = "Data that identifies the object, including a `name` string and optional `namespace`."
ROOT_SECTION = "Schema"


@dataclass(frozen=True, slots=True)
class _Property:
    """What one property's item says: its type and constraints in brackets, its sentence, and the object to
    describe in a section of its own, if any."""

    definition: tuple[str, ...]
    sentence: str
    nested: Object | None = None


class _Describe(Walker[str, _Property]):
    """A property's item, given its anchor (the field path below the kind, e.g. ``spec.poolMode``). Constraints come
    in the operator docs' order: Enum, Pattern, Minimum, Maximum, MinItems, MaxItems, MinLength, MaxLength."""

    def string(self, node: String, at: str) -> _Property:
        definition = ["string"]
        sentence = _sentence(node.description)
        if len(node.enum) == 1:  # a constant, such as apiVersion and kind
            sentence = " ".join(filter(None, (f"Must be equal to `{node.enum[0]}`.", sentence)))
        elif node.enum:
            definition.append("Enum: " + ", ".join(f"`{value}`" for value in node.enum))
        if node.pattern is not None:
            definition.append(f"Pattern: `{node.pattern}`")
        min_length = 1 if node.blank_is_missing and node.min_length is None else node.min_length
        if min_length is not None:
            definition.append(f"MinLength: {min_length}")
        if node.max_length is not None:
            definition.append(f"MaxLength: {node.max_length}")
        return _Property(tuple(definition), sentence)

    def integer(self, node: Integer, at: str) -> _Property:
        return _Property(("integer",), _sentence(node.description))

    def boolean(self, node: Boolean, at: str) -> _Property:
        return _Property(("boolean",), _sentence(node.description))

    def map(self, node: Map, at: str) -> _Property:
        values = self.node(node.values, at).definition[0]
        return _Property(("object", f"AdditionalProperties: {values}"), _sentence(node.description))

    def object(self, node: Object, at: str) -> _Property:
        if at == "metadata":
            return _Property(("object",), OBJECT_META)
        return _Property(("object",), _sentence(node.description), node if node.properties else None)


def _sentence(description: str) -> str:
    if not description or description.endswith("."):
        return description
    return description + "."


def api_reference(schema: Object, changes: Sequence[Change] = ()) -> str:
    """The API reference page of the kind ``schema`` declares (its title is the value ``kind`` must have). With
    ``changes`` (releases.CHANGES), the fields later releases added are listed too, and each field's sentence ends
    with what changed from which release."""
    kind = schema.properties.get("kind")
    if not isinstance(kind, String) or len(kind.enum) != 1:
        raise ValueError("the schema's kind must be a string with exactly one allowed value")
    lines = ["---", f'title: "{kind.enum[0]}"', "---", ""]
    _section(_with_additions(schema, changes), ROOT_SECTION, "", lines, _notes(changes))
    return "\n".join(lines) + "\n"


def _section(node: Object, title: str, anchor: str, lines: list[str], notes: dict[str, list[str]]) -> None:
    """One object's section, then the sections of the objects below it, depth first, by name."""
    lines += [f"## {title} {{: #{anchor or title} }}", ""]
    if node.description:
        lines += [_sentence(node.description), ""]
    names = sorted(node.properties)
    nested: list[tuple[str, str, Object]] = []
    for heading, required in (("Required", True), ("Optional", False)):
        items = [name for name in names if node.properties[name].required is required]
        if not items:
            continue
        lines += [f"**{heading}**", ""]
        for name in items:
            path = f"{anchor}.{name}" if anchor else name
            prop = _Describe().node(node.properties[name], path)
            sentence = " ".join(filter(None, (prop.sentence, *(_sentence(n[0].upper() + n[1:])
                                                                 for n in notes.get(path, ())))))
            item = (f"- [`{name}`](#{path}-property){{: name='{path}-property'}} "
                    f"({', '.join(prop.definition)}). {sentence}")
            if prop.nested is not None:
                item += f" See below for [nested schema](#{path})."
                nested.append((name, path, prop.nested))
            lines.append(item)
        lines.append("")
    for name, path, child in sorted(nested, key=lambda entry: entry[0]):
        _section(child, name, path, lines, notes)


# --- Regenerating the docs ----------------------------------------------------------------------------------------

def generated(root: Path) -> dict[Path, str]:
    """Every file with generated content under ``root`` (a checkout), as it should read."""
    rules_page = (root / RULES_PAGE).read_text()
    rules_page = replace_block(rules_page, "rules-table", rules_table(SCHEMA, releases.CHANGES))
    rules_page = replace_block(rules_page, "wording-table", wording_table())
    rules_page = replace_block(rules_page, "releases-table", releases_table(releases.CHANGES))
    return {root / RULES_PAGE: rules_page, root / API_REFERENCE: api_reference(SCHEMA, releases.CHANGES)}


def block(text: str, name: str) -> str:
    """The generated block ``name`` in a page: what stands between ``<!-- name ... -->`` and ``<!-- end name -->``."""
    start, end = f"<!-- {name}", f"<!-- end {name} -->"
    if text.count(start) != 1 or text.count(end) != 1:
        raise ValueError(f"expected one '{start} ... -->' and one '{end}'")
    return text.split(start, 1)[1].split("-->", 1)[1].split(end, 1)[0].strip("\n")


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with the generated block ``name`` holding ``content``."""
    block(text, name)  # exactly one of each marker
    head, rest = text.split(f"<!-- {name}", 1)
    marker, rest = rest.split("-->", 1)
    tail = rest.split(f"<!-- end {name} -->", 1)[1]
    return f"{head}<!-- {name}{marker}-->\n{content}\n<!-- end {name} -->{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webhook.tools.reference", description="Check, or with --write rewrite, the generated docs."
    )
    parser.add_argument("--write", action="store_true", help="rewrite the files that are not current")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout (default: the one this module is in)")
    args = parser.parse_args(argv)
    stale = {path: text for path, text in generated(args.root).items()
             if not path.is_file() or path.read_text() != text}
    for path, text in stale.items():
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
        else:
            print(f"not current: {path} (python -m webhook.tools.reference --write)", file=sys.stderr)
    return 0 if args.write or not stale else 1


if __name__ == "__main__":
    sys.exit(main())
