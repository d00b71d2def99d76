"""Read manifests the way ``kubectl apply -f`` reads them, down to the JSON the apiserver receives.

kubectl does not read YAML as YAML 1.2 (or PyYAML) does. Its path, from the sources (kubernetes-sigs/yaml and its
goyaml.v2 fork, apimachinery's ``util/yaml`` and ``util/json``, Go's ``encoding/json``):

1. ``util/yaml.YAMLReader`` splits the stream into documents on lines that start with ``---`` and have nothing but
   spaces or a ``#`` comment after it (anything else there is "invalid Yaml document separator"). A stream whose first
   non-blank character is ``{`` is read as a stream of JSON objects instead.
2. Each document goes through ``sigs.k8s.io/yaml.YAMLToJSON``: go-yaml v2 (a port of libyaml, YAML 1.1) decodes it
   into Go values, only its first document is read, map keys are turned into strings
   (``convertToJSONableObject``) and ``encoding/json`` writes it out.
3. kubectl decodes that JSON into an unstructured object (integers that fit int64 stay int64, any other number is a
   float64) and encodes it again to send it; the apiserver decodes it the same way.

What the JSON steps do to numbers (Go's ``encoding/json`` float format: plain digits unless the magnitude is below
1e-6 or at least 1e21): a float with an integral value is written as an integer literal, so ``poolSize: 1.0`` and
``poolSize: 1e3`` reach the apiserver as the integers 1 and 1000, while ``1.5`` or ``1e21`` stay numbers; ``-0.0``
becomes ``0``; an integer beyond int64 is carried as a float64 (18446744073709551615 arrives as
18446744073709551616). Map keys become strings: ``1`` -> "1", ``yes``/``true`` -> "true", ``1.5`` -> "1.5" (Go's
shortest float32 form), ``2001-12-14`` -> "2001-12-14"; a ``null`` key, an integer key beyond int64 and a list or map
as a key cannot be converted, and kubectl refuses the document.

Inferred rather than read: that ``0o17`` parses (Go 1.13+ ``ParseInt``, which every supported kubectl is built
with); that when two keys convert to the same string (``1`` and ``"1"``) the last one in the file wins (Go iterates
the map in random order, so kubectl itself is not deterministic there).

Parsing is libyaml's (through ruamel.yaml's C extension; its pure-Python parser when the extension is missing),
which is the parser go-yaml v2 was ported from; this module composes its events into nodes, and
:mod:`webhook.tools.yaml11` resolves the scalars by go-yaml v2's YAML 1.1 rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from webhook.rules.fielderrors import INT64_MAX, INT64_MIN, go_float
from webhook.tools.yaml11 import MERGE, Unresolvable, go_float32_key, resolve_plain, resolve_tagged, wire_float


class ManifestError(ValueError):
    """The text cannot be read as kubectl would read it. ``line`` is 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(slots=True, eq=False)
class Node:
    """A composed YAML node: ``kind`` is "scalar", "map" or "seq"; aliases share the anchored node."""

    kind: str
    line: int  # 1-based, in the whole stream
    tag: str | None = None
    value: str = ""
    plain: bool = False  # an untagged plain scalar: resolved by the YAML 1.1 rules
    children: list[Node] | None = None  # seq items, or map keys and values alternating
    column: int = 0  # 0-based, where the node (its anchor or tag included) starts
    flow: bool = False  # a flow collection ({...} or [...])
    anchor: str = ""  # its anchor's name, if it has one: other nodes may alias it
    end: tuple[int, int] = (0, 0)  # collections: 1-based line and 0-based column of their end ("}" in flow style)


class Document(NamedTuple):
    """One document of a stream: its JSON value as the apiserver would receive it, and where it starts.

    ``error`` is set when kubectl could read the YAML but not turn it into JSON (``.nan``, a ``null`` key): ``value``
    is then the best reading we have, so that a caller can still tell what kind of object it was.
    """

    value: Any
    line: int
    node: Node | None = None
    error: ManifestError | None = None

    def line_of(self, *path: str | int) -> int:
        """The line of the field at ``path`` (keys and list indexes: its key's line), or of its nearest ancestor."""
        node, line = self.node, self.line
        for step in path:
            key, node = entry(node, step)
            if node is None:
                break
            line = (key or node).line
        return line

    def node_at(self, *path: str | int) -> Node | None:
        """The node written at ``path`` in the text (not one reached through a merge key), or None."""
        node = self.node
        for step in path:
            node = entry(node, step)[1]
        return node


def entry(node: Node | None, step: str | int) -> tuple[Node | None, Node | None]:
    """Key and value nodes of key ``step`` (the last one written), or (None, item) of a list; merges not followed."""
    if node is None or node.children is None:
        return None, None
    if node.kind == "seq":
        ok = isinstance(step, int) and 0 <= step < len(node.children)
        return None, (node.children[step] if ok else None)  # type: ignore[index]
    found: tuple[Node | None, Node | None] = (None, None)
    pairs = node.children
    for i in range(0, len(pairs), 2):
        key = pairs[i]
        if key.kind == "scalar" and key.value == step:
            found = (key, pairs[i + 1])
    return found


# --- step 1: splitting a stream into documents, as util/yaml.YAMLReader does ---------------------------------------


class Chunk(NamedTuple):
    """The text of one document and the 0-based index of its first line in the stream."""

    text: str
    first_line: int


def split_documents(text: str) -> list[Chunk]:
    """kubectl's split: a line starting with ``---`` ends a document (only spaces or a comment may follow it)."""
    chunks: list[Chunk] = []
    lines = text.splitlines(keepends=True)
    start = 0
    for i, line in enumerate(lines):
        if not line.startswith("---"):
            continue
        rest = line[3:].strip()
        if rest and not rest.startswith("#"):
            raise ManifestError(f"invalid Yaml document separator: {rest}", i + 1)
        if i > start:
            chunks.append(Chunk("".join(lines[start:i]), start))
        start = i + 1
    if start < len(lines):
        chunks.append(Chunk("".join(lines[start:]), start))
    return chunks


# Go's unicode.IsSpace: Latin-1's six ASCII spaces, NEL and NBSP, then the White_Space property. Python's isspace()
# differs (it takes the ASCII separators \x1c-\x1f too).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def is_json_stream(text: str) -> bool:
    """kubectl reads a stream as JSON when it starts with ``{`` after Unicode spaces (apimachinery's
    ``hasJSONPrefix``: ``bytes.TrimLeftFunc(buf, unicode.IsSpace)``)."""
    return text.lstrip(_GO_SPACE).startswith("{")


# --- composing events into nodes ---------------------------------------------------------------------------------

try:  # libyaml, through ruamel.yaml's C extension: about 20 times faster than its pure-Python parser
    from _ruamel_yaml import CParser as _CParser  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - no C extension for this interpreter
    _CParser = None

_YAML_SAFE = YAML(typ="safe", pure=True)


def _events(text: str) -> Iterator[Any]:
    if _CParser is None:
        yield from _YAML_SAFE.parse(text)
        return
    parser = _CParser(text)
    get_event = parser.get_event
    while True:
        event = get_event()
        yield event
        if type(event) is StreamEndEvent:
            return


def compose_first(text: str, first_line: int = 0) -> Node | None:
    """The first document of ``text`` as nodes (go-yaml's Unmarshal reads only the first), or None when empty."""
    anchors: dict[str, Node] = {}
    stack: list[Node] = []
    root: Node | None = None
    try:
        for event in _events(text):
            cls = type(event)
            if cls is ScalarEvent:
                tag = event.tag or None
                mark = event.start_mark
                node = Node("scalar", first_line + mark.line + 1, tag, event.value,
                            tag is None and bool(event.implicit[0]) and not event.style, column=mark.column)
            elif cls is MappingStartEvent or cls is SequenceStartEvent:
                mark = event.start_mark
                node = Node("map" if cls is MappingStartEvent else "seq", first_line + mark.line + 1, event.tag,
                            children=[], column=mark.column, flow=bool(event.flow_style))
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                mark = event.start_mark
                stack.pop().end = (first_line + mark.line + 1, mark.column)
                continue
            elif cls is AliasEvent:
                line = first_line + event.start_mark.line + 1
                if event.anchor not in anchors:
                    raise ManifestError(f"unknown anchor '{event.anchor}' referenced", line)
                node = anchors[event.anchor]
                _attach(stack, node)
                continue
            elif cls is DocumentEndEvent or cls is StreamEndEvent:
                break
            else:
                continue
            anchor = event.anchor
            if anchor:
                node.anchor = anchor
                anchors[anchor] = node  # registered before its children, as go-yaml does
            if root is None:
                root = node
            else:
                _attach(stack, node)
            if node.kind != "scalar":
                stack.append(node)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + mark.line + 1 if mark is not None else 0
        raise ManifestError(exc.problem or exc.context or "invalid YAML", line) from None
    except YAMLError as exc:
        raise ManifestError(str(exc).splitlines()[0] if str(exc) else "invalid YAML") from None
    return root


def _attach(stack: list[Node], node: Node) -> None:
    parent = stack[-1]
    assert parent.children is not None
    parent.children.append(node)


# --- nodes to Go values, Go values to what the apiserver receives ------------------------------------------------


class _Converter:
    """go-yaml v2's decode into interface{}, then convertToJSONableObject and the JSON round trips, in one walk.

    Errors that kubectl would stop at are collected (the first one is reported) and the walk goes on with a best
    reading, so the caller can still see the kind and name of the object.
    """

    def __init__(self) -> None:
        self.error: ManifestError | None = None
        self._active: set[int] = set()

    def fail(self, message: str, line: int) -> None:
        if self.error is None:
            self.error = ManifestError(message, line)

    def value(self, node: Node) -> Any:
        if node.kind == "scalar":
            return self.wire(self.scalar(node), node.line)
        if id(node) in self._active:
            raise ManifestError(f"anchor '{node.anchor}' value contains itself", node.line)
        self._active.add(id(node))
        try:
            if node.kind == "seq":
                return [self.value(child) for child in node.children or ()]
            out: dict[str, Any] = {}
            self.mapping(node, out)
            return out
        finally:
            self._active.discard(id(node))

    def scalar(self, node: Node) -> Any:
        if node.plain:
            return resolve_plain(node.value)
        if node.tag is None:
            return node.value  # quoted or block scalar
        try:
            return resolve_tagged(node.tag, node.value)
        except Unresolvable as exc:
            raise ManifestError(str(exc), node.line) from None

    def mapping(self, node: Node, out: dict[str, Any]) -> None:
        pairs = node.children or []
        for i in range(0, len(pairs), 2):
            key, value = pairs[i], pairs[i + 1]
            if key.kind == "scalar" and key.value == "<<" and (key.plain or key.tag == MERGE):
                self.merge(value, out)
                continue
            out[self.key(key)] = self.value(value)

    def merge(self, node: Node, out: dict[str, Any]) -> None:
        """decode.go's merge(): in place, so merged keys override earlier ones; earlier maps of a list win."""
        if node.kind == "map":
            self._merge_map(node, out)
        elif node.kind == "seq":
            for child in reversed(node.children or []):
                if child.kind != "map":
                    raise ManifestError("map merge requires map or sequence of maps as the value", child.line)
                self._merge_map(child, out)
        else:
            raise ManifestError("map merge requires map or sequence of maps as the value", node.line)

    def _merge_map(self, node: Node, out: dict[str, Any]) -> None:
        if id(node) in self._active:
            raise ManifestError(f"anchor '{node.anchor}' value contains itself", node.line)
        self._active.add(id(node))
        try:
            self.mapping(node, out)
        finally:
            self._active.discard(id(node))

    def key(self, node: Node) -> str:
        """convertToJSONableObject's key conversion."""
        if node.kind != "scalar":
            raise ManifestError("invalid map key: a list or map cannot be a key", node.line)
        value = self.scalar(node)
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            if INT64_MIN <= value <= INT64_MAX:
                return str(value)
            self.fail(f"unsupported map key of type: uint64, key: {value}", node.line)
            return str(value)
        if isinstance(value, float):
            return go_float32_key(value)
        self.fail("unsupported map key of type: <nil>, key: <nil>", node.line)
        return "null"

    def wire(self, value: Any, line: int) -> Any:
        """A Go value as the apiserver decodes it after encoding/json and kubectl's unstructured round trip."""
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        if isinstance(value, int):
            if INT64_MIN <= value <= INT64_MAX:
                return value
            try:
                value = float(value)
            except OverflowError:
                self.fail(f"number {value} is out of range", line)
                return value
        if math.isnan(value) or math.isinf(value):
            self.fail(f"json: unsupported value: {go_float(value)}", line)
            return value
        return wire_float(value)


# --- JSON streams ------------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    """encoding/json's words for NaN, Infinity and -Infinity, which are not JSON."""
    if name[0] == "-":
        raise ValueError(f"invalid character '{name[1]}' in numeric literal")
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _load_json(text: str) -> Iterator[Document]:
    position, line = 0, 1
    length = len(text)
    while True:
        while position < length and text[position] in " \t\r\n":
            if text[position] == "\n":
                line += 1
            position += 1
        if position >= length:
            return
        try:
            value, end = _JSON.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise ManifestError(exc.msg, exc.lineno) from None
        except ValueError as exc:
            raise ManifestError(str(exc), line) from None
        converter = _Converter()
        wired = _wire_tree(converter, value, line)
        yield Document(wired, line, _positions(text[position:end], line - 1), converter.error)
        line += text.count("\n", position, end)
        position = end


def _positions(text: str, first_line: int) -> Node | None:
    """Nodes for a JSON document's lines: JSON is YAML flow syntax, which the YAML parser reads (when it can)."""
    try:
        return compose_first(text, first_line)
    except ManifestError:
        return None


def _wire_tree(converter: _Converter, value: Any, line: int) -> Any:
    if isinstance(value, dict):
        return {k: _wire_tree(converter, v, line) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire_tree(converter, v, line) for v in value]
    return converter.wire(value, line)


# --- the entry point ---------------------------------------------------------------------------------------------


def load(text: str) -> Iterator[Document]:
    """Every non-empty document of a manifest stream, as kubectl would send it.

    Raises :class:`ManifestError` (with a line) for text kubectl cannot read at all; documents before the bad one
    have been yielded by then. Empty documents (only comments, or ``null``) are skipped, as kubectl skips them.
    """
    if is_json_stream(text):
        yield from _load_json(text)
        return
    for chunk in split_documents(text):
        node = compose_first(chunk.text, chunk.first_line)
        if node is None:
            continue
        converter = _Converter()
        value = converter.value(node)
        if value is None:
            continue
        yield Document(value, node.line, node, converter.error)


def loads(text: str) -> list[Any]:
    """The values of :func:`load`, raising on the first document kubectl could not convert."""
    out = []
    for doc in load(text):
        if doc.error:
            raise doc.error
        out.append(doc.value)
    return out
