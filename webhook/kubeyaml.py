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

go-yaml v2's resolution of plain (unquoted, untagged) scalars, from ``resolve.go`` (verified in the source):

- null: ``""``, ``~``, ``null``, ``Null``, ``NULL``;
- bool: ``y Y yes Yes YES on On ON true True TRUE`` and ``n N no No NO off Off OFF false False FALSE``;
- float specials: ``.inf``, ``+.inf``, ``-.inf``, ``.nan`` in three casings; ``encoding/json`` cannot write them, so
  kubectl refuses the document ("json: unsupported value: NaN");
- a scalar that starts with a digit or sign: a YAML 1.1 timestamp (``2001-12-14``, ``2001-12-14T21:59:43Z``, with a
  space or a lower-case ``t``) stays the *original text* (decode.go keeps timestamps as strings when decoding into
  ``interface{}``); else, with every ``_`` removed, Go's ``ParseInt(s, 0, 64)`` (``0x1F``, ``0o17``, ``0b101``, legacy
  octal ``0777``; ``0778`` is not octal and falls through to the float rule: 778), then ``ParseUint``, then a float
  matching ``[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?``; sexagesimal ``1:30`` is a string;
- a scalar that starts with ``.``: Go's ``ParseFloat`` (``.5``);
- anything else, every quoted scalar and every block scalar (``|``, ``>``): a string.

Explicit tags: ``!!str``, ``!!int``, ``!!float`` (an integer becomes a float), ``!!bool``, ``!!null``, ``!!timestamp``
and ``!!binary`` (base64-decoded) are honoured, a value that does not fit its tag is an error; any other tag leaves
the scalar a string. Merge keys follow go-yaml v2, which merges in place, in order: keys after ``<<`` override the
merged ones *and the merged ones override keys before it*; in a sequence of maps the earlier map wins.

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
which is the parser go-yaml v2 was ported from; this module does the YAML 1.1 resolution on its events itself.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
import math
import re
import struct
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

from webhook.fielderrors import INT64_MAX, INT64_MIN, go_float, go_shortest

UINT64_MAX = 2**64 - 1

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = _TAG + "str", _TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null"
TIMESTAMP, BINARY, MERGE = _TAG + "timestamp", _TAG + "binary", _TAG + "merge"
_RESOLVABLE = frozenset({STR, INT, FLOAT, BOOL, NULL, TIMESTAMP})


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


# --- step 2: go-yaml v2's resolution ------------------------------------------------------------------------------

_SPECIAL: dict[str, Any] = {}
for _words, _value in (
    ("y Y yes Yes YES true True TRUE on On ON", True),
    ("n N no No NO false False FALSE off Off OFF", False),
    ("~ null Null NULL", None),
    (".nan .NaN .NAN", math.nan),
    (".inf .Inf .INF +.inf +.Inf +.INF", math.inf),
    ("-.inf -.Inf -.INF", -math.inf),
):
    for _word in _words.split():
        _SPECIAL[_word] = _value
_SPECIAL[""] = None

# The first character decides which rules can apply at all (resolve.go's resolveTable).
_HINT = dict.fromkeys("+-", "S") | dict.fromkeys("0123456789", "D") | dict.fromkeys("yYnNtTfFoO~", "M") | {".": "."}

_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")  # what Go's ParseFloat accepts of a string starting with "."
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
# resolve.go's allowedTimestampFormats, as Go's time.Parse reads them: 4-digit year, 1-2 digit month/day/h/m/s.
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?: +(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?))?"  # a space in a layout matches a run of them
)


def _go_parse_uint(text: str) -> tuple[int | None, bool]:
    """Go's ``strconv.ParseUint(text, 0, 64)``: (value, False), or (None, out_of_range)."""
    if not text:
        return None, False
    base, digits = 10, text
    if text[0] == "0":
        prefix = text[1:2].lower()
        if len(text) >= 3 and prefix in ("b", "o", "x"):
            base, digits = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
        else:
            base, digits = 8, text[1:]
    allowed = _DIGITS[base]
    valid = next((i for i, c in enumerate(digits) if c not in allowed), len(digits))
    # Go reads digit by digit: too many valid digits is a range error even when a bad one follows
    if valid and int(digits[:valid], base) > UINT64_MAX:
        return None, True
    if valid < len(digits):
        return None, False
    return (int(digits, base) if digits else 0), False


def _go_parse_int(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, 64)``, or None."""
    negative = text[:1] == "-"
    body = text[1:] if text[:1] in ("+", "-") else text
    value, _ = _go_parse_uint(body)
    if value is None:
        return None
    value = -value if negative else value
    return value if INT64_MIN <= value <= INT64_MAX else None


def _go_parse_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat`` for the decimal forms resolve.go hands it: None when it overflows."""
    value = float(text)
    return None if math.isinf(value) else value


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_timestamp(text: str) -> bool:
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        return False
    year, month, day = (int(g) for g in match.group(1, 2, 3))
    clock = [int(g) for g in (match.group(4, 5, 6) if match.group(4) else match.group(7, 8, 9)) if g is not None]
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)  # Go's years include 0000, a leap year
    if not (1 <= month <= 12 and 1 <= day <= (29 if leap and month == 2 else _MONTH_DAYS[month - 1])):
        return False
    return not clock or (clock[0] < 24 and clock[1] < 60 and clock[2] < 60)


def resolve_plain(text: str) -> Any:
    """What go-yaml v2 makes of an untagged plain scalar: None, bool, int, float or str."""
    hint = _HINT.get(text[0]) if text else "N"
    if hint is None:
        return text
    if text in _SPECIAL:
        return _SPECIAL[text]
    if hint == ".":
        return _go_parse_float(text) if _DOT_FLOAT.fullmatch(text) else text
    if hint in ("D", "S"):
        return _resolve_number(text)
    return text


def _resolve_number(text: str) -> Any:
    # A timestamp is not tried first here: decode.go keeps one as its text in interface{}, and no rule below reads
    # a number from a text with a dash after four digits, so the text it stays.
    plain = text.replace("_", "")
    as_int = _go_parse_int(plain)
    if as_int is not None:
        return as_int
    as_uint, out_of_range = _go_parse_uint(plain)
    if as_uint is not None:
        return as_uint
    if _YAML_FLOAT.fullmatch(plain):
        as_float = _go_parse_float(plain)
        if as_float is not None:
            return as_float
    # resolve.go's 0b branch: what ParseInt(s, 0, 64) read already, or a sign after the prefix ("0b-101" is -5).
    # Its -0b branch reads nothing ParseInt(s, 0, 64) did not: "-0b" and binary digits within int64 are read above.
    value = _go_parse_int_base2(plain[2:]) if plain.startswith("0b") else None
    if value is not None:
        return value
    if out_of_range:  # the goyaml.v2 fork in sigs.k8s.io/yaml reads such an integer as a big.Int, if it can
        try:  # (all digits, legacy octal included, met the float rule already: here a 0x, 0o or 0b prefix)
            return int(plain, 0)
        except ValueError:
            return text
    return text


def _go_parse_int_base2(text: str) -> int | None:
    """resolve.go's reading of the digits after ``0b``: ``ParseInt(text, 2, 64)``, else ``ParseUint(text, 2, 64)``
    (which takes no sign), else None."""
    sign = text[:1] if text[:1] in ("+", "-") else ""
    body = text[len(sign):]
    if not body or body.strip("01"):
        return None
    value = int(body, 2)
    if sign == "-":
        return -value if value <= -INT64_MIN else None
    return value if value <= (INT64_MAX if sign else UINT64_MAX) else None


def _resolve_tagged(tag: str, text: str, line: int) -> Any:
    """A scalar with an explicit tag (``!!int "10"``), as resolve.go's resolve(tag, in) and decode.go's scalar()."""
    if tag == BINARY:
        try:
            data = base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
        except (binascii.Error, ValueError):
            raise ManifestError("!!binary value contains invalid base64 data", line) from None
        # a Go string of the bytes, which encoding/json writes with each byte of invalid UTF-8 as U+FFFD
        return re.sub("[\udc80-\udcff]", "\ufffd", data.decode(errors="surrogateescape"))
    if tag not in _RESOLVABLE:
        return text  # any other tag (!foo, !!set...) leaves the scalar's text
    if tag == STR:
        return text
    if tag == TIMESTAMP and is_timestamp(text):
        return text  # decode.go sets a timestamp into interface{} as its text
    # resolve.go tries a timestamp only for !!timestamp (or no tag): for another tag, a timestamp's text is a !!str
    value = resolve_plain(text)
    kind = _kind_tag(value)
    if kind == tag:
        return value
    if tag == FLOAT and kind == INT and INT64_MIN <= value <= INT64_MAX:
        return float(value)  # resolve.go turns an int or int64 into a float64, not a uint64 or a big.Int
    raise ManifestError(f"cannot decode {_short(kind)} `{text}` as a {_short(tag)}", line)


def _kind_tag(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    return STR


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG):]  # only ever one of _RESOLVABLE


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
        return _resolve_tagged(node.tag, node.value, node.line)

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


def wire_float(value: float) -> int | float:
    """Go's encoding/json writes a float64 with an integral value below 1e21 as an integer literal, of its shortest
    digits (``1234567890123456768.0`` as 1234567890123456800, an int64 for the apiserver); beyond int64 the literal
    is a float64 again, given here as the float's exact integer."""
    magnitude = abs(value)
    if magnitude == 0:
        return 0
    if magnitude < 1e-6 or magnitude >= 1e21 or not value.is_integer():
        return value
    written = int(decimal.Decimal(repr(value)))
    return written if INT64_MIN <= written <= INT64_MAX else int(value)


def go_float32_key(value: float) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 32)``, with go-yaml's names for the infinities and NaN."""
    if math.isnan(value):
        return ".nan"
    try:
        single = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:  # some Pythons refuse what float32 cannot hold; Go rounds it to an infinity
        single = math.copysign(math.inf, value)
    if math.isinf(single):
        return ".inf" if single > 0 else "-.inf"
    if single == 0:
        return "-0" if math.copysign(1, single) < 0 else "0"
    for precision in range(1, 10):  # the shortest digits that read back as the same float32
        text = f"{single:.{precision - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    mantissa, exponent = text.split("e")
    digits = mantissa.replace(".", "").replace("-", "")  # the shortest digits end in no 0 (else fewer would do)
    return go_shortest(single < 0, digits, int(exponent))


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
