"""``check --fix``: write defaulting's additions into the manifests, and change nothing else.

ruamel.yaml's round-trip dump keeps comments and key order, but it re-indents mappings to one width, re-spaces
``key:    value`` and flow mappings, and moves a trailing comment of a block; on our test file it changed 25 lines to
add 2. So the additions are written as text instead: each JSON Patch ``add`` of defaulting becomes new lines (or, in
a flow mapping, new text before its ``}``) at the positions the YAML parser reports for the nodes, indented like
their siblings. The result is then read again the way kubectl reads it and must be exactly the old objects with the
patches applied; if not, nothing is written and the object is reported as not fixed.

Not fixed (with a reason): JSON streams, stdin, and targets that the text does not hold directly: a mapping reached
through a merge key or an alias, or one that carries an anchor (other places may share it).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook.tools import kubeyaml, yaml11
from webhook.tools.check import STDIN, FileCheck, Found

_SAFE_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/")


class CannotFix(ValueError):
    """This addition cannot be written without touching other text; the message says why."""


@dataclass(frozen=True, slots=True)
class Edit:
    """Insert ``text`` at 0-based ``line``/``column`` of the original text."""

    line: int
    column: int
    text: str


def scalar(value: str) -> str:
    """``value`` as a YAML scalar that kubectl reads back as this very string (quoted when YAML 1.1 would not)."""
    if value and set(value) <= _SAFE_PLAIN and value[0] not in "-." and yaml11.resolve_plain(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


def flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    return scalar(value)


def edits_for(found: Found, lines: Sequence[str], newline: str) -> list[Edit]:
    """The text edits that write ``found``'s patch into its document."""
    edits = []
    for op in found.result.patch:
        if op.get("op") != "add":
            raise CannotFix(f"cannot write a JSON Patch {op.get('op')!r}")
        *parent_path, key = [_unescape(p) for p in op["path"].split("/")[1:]]
        parent = found.document.node_at(*found.path, *parent_path)
        if parent is None or parent.kind != "map":
            where = ".".join(parent_path) or "the object"
            raise CannotFix(f"{where} is not written as a mapping in the file (a merge key or an alias?)")
        if parent.anchor:
            raise CannotFix(f"{'.'.join(parent_path)} carries an anchor; other places may share it")
        owner = found.document.node_at(*found.path, *parent_path[:-1]) if parent_path else None
        key_node = _key_node(owner, parent_path[-1]) if parent_path else None
        edits.append(_insert(parent, key, op["value"], key_column=key_node.column if key_node else None,
                             lines=lines, newline=newline))
    return edits


def _key_node(mapping: kubeyaml.Node | None, name: str) -> kubeyaml.Node | None:
    return kubeyaml.entry(mapping, name)[0]


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def _insert(parent: kubeyaml.Node, key: str, value: Any, *, key_column: int | None, lines: Sequence[str],
            newline: str) -> Edit:
    children = parent.children or []
    if parent.flow:
        end_line, end_column = parent.end
        separator = ", " if children else ""
        return Edit(end_line - 1, end_column, f"{separator}{scalar(key)}: {flow(value)}")
    if not children:
        raise CannotFix("an empty block mapping")
    first = children[0]
    indent = first.column
    step = indent - key_column if key_column is not None and indent > key_column else 2
    last = _block_end(lines, first.line - 1, indent)
    pad = " " * indent
    if isinstance(value, dict):
        inner = " " * (indent + step)
        body = f"{pad}{scalar(key)}:{newline}" + "".join(
            f"{inner}{scalar(k)}: {flow(v)}{newline}" for k, v in value.items())
    else:
        body = f"{pad}{scalar(key)}: {flow(value)}{newline}"
    if not lines[last].endswith(("\n", "\r")):
        body = newline + body
    return Edit(last + 1, 0, body)


def _block_end(lines: Sequence[str], start: int, indent: int) -> int:
    """The last line (0-based) of the block mapping whose keys sit at ``indent`` and whose first key is at ``start``.

    A block ends at the first non-blank line indented less than its keys (a comment at that depth included); lines
    indented at least as much (nested values, block scalars, continuation lines, comments inside) belong to it.
    """
    last = start
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped:
            continue
        if len(lines[i]) - len(lines[i].lstrip(" ")) < indent:
            break
        last = i
    return last


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    lines = text.splitlines(keepends=True)
    for edit in sorted(edits, key=lambda e: (e.line, e.column), reverse=True):
        if edit.line >= len(lines):
            lines.append(edit.text)
            continue
        line = lines[edit.line]
        if edit.column == 0:
            lines.insert(edit.line, edit.text)
        else:
            lines[edit.line] = line[: edit.column] + edit.text + line[edit.column:]
    return "".join(lines)


def expected_values(text: str, found: Sequence[Found]) -> list[Any]:
    """The documents of ``text`` with each found object's patch applied, as the apiserver would apply them."""
    values = [copy.deepcopy(doc.value) for doc in kubeyaml.load(text)]
    lines = [doc.line for doc in kubeyaml.load(text)]
    for item in found:
        target = values[lines.index(item.document.line)]
        for step in item.path:
            target = target[step]
        for op in item.result.patch:
            *parents, key = [_unescape(p) for p in op["path"].split("/")[1:]]
            place = target
            for name in parents:
                place = place[name]
            place[key] = copy.deepcopy(op["value"])
    return values


def fix_text(text: str, found: Sequence[Found]) -> tuple[str, list[tuple[Found, str]]]:
    """``text`` with every patch of ``found`` written in; and the objects that could not be fixed, with why."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    edits: list[Edit] = []
    fixed: list[Found] = []
    refused: list[tuple[Found, str]] = []
    for item in found:
        if not item.result.patch:
            continue
        try:
            edits.extend(edits_for(item, lines, newline))
            fixed.append(item)
        except CannotFix as exc:
            refused.append((item, str(exc)))
    if not edits:
        return text, refused
    new_text = apply_edits(text, edits)
    try:
        ok = [doc.value for doc in kubeyaml.load(new_text)] == expected_values(text, fixed)
    except kubeyaml.ManifestError:
        ok = False
    if not ok:
        return text, refused + [(item, "writing the default would change more than the default") for item in fixed]
    return new_text, refused


def write_in_place(path: str, text: str) -> None:
    """Replace the file atomically, keeping its permissions."""
    target = Path(path)
    mode = target.stat().st_mode
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temp, mode & 0o7777)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def fix_files(files: Sequence[FileCheck]) -> list[str]:
    """Write the defaults into every file that needs them; one line per file written or object left alone."""
    notes: list[str] = []
    for file in files:
        needing = [f for f in file.found if f.result.patch]
        if not needing:
            continue
        if file.name == STDIN:
            notes.append("not fixed: stdin cannot be written back")
            continue
        if file.json_stream:
            for item in needing:
                notes.append(f"not fixed: {item.result.where}: --fix does not rewrite JSON; add {_describe(item)}")
            continue
        new_text, refused = fix_text(file.text, needing)
        for item, why in refused:
            notes.append(f"not fixed: {item.result.where}: {why}; add {_describe(item)}")
        if new_text != file.text:
            write_in_place(file.name, new_text)
            count = len(needing) - len(refused)
            notes.append(f"fixed {file.name}: wrote the defaults of {count} ConnectionPool{'' if count == 1 else 's'}")
    return notes


def _describe(item: Found) -> str:
    return ", ".join(f"{op['path']} = {json.dumps(op['value'])}" for op in item.result.patch)
