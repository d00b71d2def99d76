"""``connectionpool-webhook check``: manifests in, the webhook's verdict on every ConnectionPool in them out.

Files, directories (walked recursively for ``.yaml``, ``.yml`` and ``.json``) and stdin (``-``) are read the way
kubectl reads them (:mod:`webhook.tools.kubeyaml`); ``List`` objects are flattened as kubectl flattens them (any
object with ``items``); every ConnectionPool is judged by :func:`webhook.tools.verdicts.judge`, the webhook's own
defaulting and rules. Objects of other kinds, and YAML that is not a Kubernetes object (a values file, a CI
workflow), are skipped and counted.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from webhook.rules import connectionpool, integrity
from webhook.rules.enforcement import Enforcement
from webhook.rules.integrity import Pool
from webhook.rules.ruleset import RuleSet
from webhook.tools import kubeyaml
from webhook.tools.report.model import Problem, Report, Result
from webhook.tools.verdicts import cross_check, judge

EXTENSIONS = (".yaml", ".yml", ".json")
STDIN = "-"


@dataclass(slots=True)
class Found:
    """A ConnectionPool found in a manifest: where it is, and its verdict."""

    document: kubeyaml.Document
    path: tuple[str | int, ...]  # from the document's root to the object: () or ("items", 3)
    result: Result


@dataclass(slots=True)
class FileCheck:
    """One input's text and what was found in it (``--fix`` works from this)."""

    name: str
    text: str = ""
    found: list[Found] = field(default_factory=list)
    json_stream: bool = False


def inputs(paths: Sequence[str], excludes: Sequence[str] = ()) -> Iterator[str]:
    """Every file to read, in a stable order: the paths given, directories expanded; ``-`` for stdin."""
    for path in paths or [STDIN]:
        if path != STDIN and os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in files:
                    full = os.path.join(root, name)
                    if name.endswith(EXTENSIONS) and not _excluded(full, excludes):
                        found.append(full)
            yield from sorted(found)
        elif not _excluded(path, excludes):
            yield path


def _excluded(path: str, excludes: Sequence[str]) -> bool:
    posix = Path(path).as_posix()
    return any(fnmatch.fnmatch(posix, pattern) or fnmatch.fnmatch(Path(path).name, pattern) for pattern in excludes)


def read_text(name: str, stdin: TextIO | None = None) -> str:
    """A file's text (UTF-8, a BOM dropped), or stdin's for ``-``; raises OSError or UnicodeDecodeError."""
    if name == STDIN:
        stream = stdin if stdin is not None else sys.stdin
        data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode()
    else:
        data = Path(name).read_bytes()
    return data.decode("utf-8-sig")


def check_paths(paths: Sequence[str], rules: RuleSet, enforcement: Enforcement = Enforcement.DENY, *,
                excludes: Sequence[str] = (), stdin: TextIO | None = None) -> tuple[Report, list[FileCheck]]:
    """Judge every ConnectionPool in ``paths``; the report, and per file what was found (for ``--fix``)."""
    report = Report("check", rules, enforcement, files=0)
    checked: list[FileCheck] = []
    pools: list[tuple[int, Pool]] = []
    for name in inputs(paths, excludes):
        shown = name
        report.files = (report.files or 0) + 1
        try:
            text = read_text(name, stdin)
        except FileNotFoundError:
            report.problems.append(Problem("no such file or directory", shown))
            continue
        except UnicodeDecodeError as exc:
            report.problems.append(Problem(f"not UTF-8 text (byte {exc.start})", shown))
            continue
        except OSError as exc:
            report.problems.append(Problem(exc.strerror or str(exc), shown))
            continue
        file = FileCheck(shown, text, json_stream=kubeyaml.is_json_stream(text))
        checked.append(file)
        check_text(text, shown, rules, report, file, pools=pools)
    # The same Aiven pool, or the same Secret in one namespace, twice among the manifests: each object is judged
    # against the ones before it, as applying them in that order would judge it.
    cross_check(report.results, pools)
    return report, checked


def check_text(text: str, name: str, rules: RuleSet, report: Report, file: FileCheck | None = None, *,
               pools: list[tuple[int, Pool]] | None = None) -> None:
    """Judge the ConnectionPools of one stream into ``report``; a stream kubectl cannot read is a problem. With
    ``pools``, each ConnectionPool's identity is collected there, for the checks across objects."""
    try:
        for document in kubeyaml.load(text):
            for path, obj in objects(document.value):
                if not is_connection_pool(obj):
                    report.skipped += 1
                    continue
                if document.error:
                    report.problems.append(Problem(document.error.message, name, document.error.line or None))
                    continue
                result = judge(obj, rules, file=name, line=document.line_of(*path),
                               locate=_locator(document, path))
                report.results.append(result)
                if pools is not None and (pool := integrity.pool_of(obj)) is not None:
                    pools.append((len(report.results) - 1, pool._replace(where=result.where)))
                if file is not None:
                    file.found.append(Found(document, path, result))
    except kubeyaml.ManifestError as exc:
        report.problems.append(Problem(exc.message, name, exc.line or None))


def objects(value: Any, path: tuple[str | int, ...] = ()) -> Iterable[tuple[tuple[str | int, ...], Any]]:
    """The objects of a document: itself, or the items of a list (any object with ``items``, as kubectl decides)."""
    if isinstance(value, dict) and value.get("items") is not None:
        items = value["items"]
        if isinstance(items, list):
            for i, item in enumerate(items):
                yield from objects(item, (*path, "items", i))
            return
    yield path, value


def is_connection_pool(obj: Any) -> bool:
    """``kind: ConnectionPool`` of the aiven.io group (or with no usable apiVersion, which the rules then deny)."""
    if not isinstance(obj, dict) or obj.get("kind") != connectionpool.KIND:
        return False
    api_version = obj.get("apiVersion")
    return not isinstance(api_version, str) or api_version.split("/")[0] == connectionpool.GROUP


def _locator(document: kubeyaml.Document, path: tuple[str | int, ...]) -> Any:
    def locate(field_path: str) -> int:
        return document.line_of(*path, *field_path.split("."))

    return locate
