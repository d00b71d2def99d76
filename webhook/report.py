"""One reporting layer for ``check`` and ``audit``: verdicts in, text / JSON / JUnit / SARIF out.

A :class:`Result` holds what the webhook would answer for one object: allowed or not, the Status causes it would
send, the JSON Patch defaulting would apply. :func:`judge` gets it from ``connectionpool.admit`` (defaulting, then the
rules), the same code the webhook runs; nothing here knows a rule. The formats only render results:

- ``text``: per denied object ``file:line`` (or ``namespace/name``), then exactly the lines kubectl prints for the
  denial (``The ConnectionPool "x" is invalid: ...``, cmd/util/helpers.go ``checkErr``/``MultilineError``);
- ``json``: ``{"results": [...], "errors": [...], "summary": {...}}``;
- ``junit``: one test case per object, a failure per denial, an error per input that could not be read;
- ``sarif``: SARIF 2.1.0 for code scanning, one result per cause, ``ruleId`` the cause's reason.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from webhook import __version__, connectionpool, enforcement
from webhook.fielderrors import go_quote
from webhook.wording import Wording

FORMATS = ("text", "json", "junit", "sarif")
ENFORCEMENTS = ("deny", "warn", "dryrun")
TOOL = "connectionpool-webhook"
INFORMATION_URI = "https://github.com/aiven/connectionpool-webhook"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

# Exit statuses.
ALL_ALLOWED, DENIED, UNREADABLE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Result:
    """The verdict on one object. ``file``/``line`` for manifests; ``cause_lines`` the line of each cause's field."""

    kind: str
    namespace: str | None
    name: str | None
    allowed: bool
    causes: tuple[dict[str, str], ...] = ()
    patch: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    file: str | None = None
    line: int | None = None
    cause_lines: tuple[int, ...] = ()
    # What a webhook in warn mode sends for each cause (enforcement.warning), which kubectl prints as "Warning: ...".
    warn_texts: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        if self.file is not None:
            return f"{self.file}:{self.line}" if self.line else self.file
        return f"{self.namespace}/{self.name}" if self.namespace else str(self.name)


@dataclass(frozen=True, slots=True)
class Problem:
    """Input that could not be read: a YAML error, a missing file, a cluster that cannot be reached."""

    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.file is not None else ""
        if where and self.line:
            where += f":{self.line}"
        return f"{where}: {self.message}" if where else self.message


@dataclass(slots=True)
class Report:
    """Everything one run found; ``files`` is None for an audit (there are no files)."""

    command: str
    wording: Wording
    enforcement: str = "deny"
    results: list[Result] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0
    files: int | None = None

    @property
    def denied(self) -> list[Result]:
        return [r for r in self.results if not r.allowed]

    def exit_code(self) -> int:
        """2 when some input could not be read, else 1 when an object is denied (and enforcement denies), else 0."""
        if self.problems:
            return UNREADABLE
        if self.denied and self.enforcement == "deny":
            return DENIED
        return ALL_ALLOWED

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "checked": len(self.results),
            "allowed": len(self.results) - len(self.denied),
            "denied": len(self.denied),
            "skipped": self.skipped,
            "errors": len(self.problems),
        }
        if self.files is not None:
            out["files"] = self.files
        out["enforcement"] = self.enforcement
        out["kubernetesVersion"] = self.wording.version
        out["exitCode"] = self.exit_code()
        return out


def judge(obj: dict[str, Any], wording: Wording, *, file: str | None = None, line: int | None = None,
          locate: Callable[[str], int] | None = None) -> Result:
    """The webhook's verdict on creating ``obj``: ``connectionpool.admit`` (defaulting, then the rules).

    An object with only ``metadata.generateName`` is judged as the apiserver judges it: defaulting runs before the
    name exists (so it only warns), the rules run after the apiserver made one up.
    """
    admission = connectionpool.admit(obj, wording)
    errors = admission.errors
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    name = metadata.get("name")
    generate = metadata.get("generateName")
    if not name and isinstance(generate, str) and generate:
        named = {**obj, "metadata": {**metadata, "name": generate + "x" * 5}}
        errors = connectionpool.admit(named, wording).errors
        name = generate
    namespace = metadata.get("namespace")
    causes = tuple({"reason": str(e.type), "field": e.field, "message": e.message} for e in errors)
    return Result(
        kind=str(obj.get("kind")),
        namespace=namespace if isinstance(namespace, str) else None,
        name=name if isinstance(name, str) else None,
        allowed=not errors,
        causes=causes,
        patch=tuple(admission.patch),
        warnings=tuple(admission.warnings),
        file=file,
        line=line,
        cause_lines=tuple(locate(e.field) for e in errors) if locate else (),
        warn_texts=tuple(enforcement.warning(e) for e in errors),
    )


# --- text ------------------------------------------------------------------------------------------------------


def kubectl_lines(result: Result) -> list[str]:
    """What kubectl prints for the webhook's denial (cmd/util/helpers.go): one line per distinct cause."""
    distinct: list[str] = []
    for cause in result.causes:
        line = f"{cause['field']}: {cause['message']}"
        if line not in distinct:
            distinct.append(line)
    head = f"The {result.kind} {go_quote(result.name or '')} is invalid:"
    if len(distinct) == 1:
        return [f"{head} {distinct[0]}"]
    return [head, *(f"* {line}" for line in distinct)]


def render_text(report: Report) -> str:
    out: list[str] = []
    for result in report.denied:
        out.append(result.where)
        if report.enforcement == "warn":
            out.extend(f"Warning: {text}" for text in result.warn_texts)
        else:
            out.extend(kubectl_lines(result))
        out.append("")
    out.append(summary_line(report))
    return "\n".join(out) + "\n"


def summary_line(report: Report) -> str:
    s = report.summary()
    noun = "ConnectionPool" if s["checked"] == 1 else "ConnectionPools"
    where = ""
    if report.files is not None:
        where = f" in {report.files} file{'' if report.files == 1 else 's'}"
    line = f"{s['checked']} {noun} checked{where}: {s['allowed']} allowed, {s['denied']} denied"
    if report.skipped:
        line += f"; {report.skipped} other object{'' if report.skipped == 1 else 's'} skipped"
    if report.problems and report.command == "audit":
        line += "; the cluster could not be read"
    elif report.problems:
        line += f"; {len(report.problems)} input{'' if len(report.problems) == 1 else 's'} could not be read"
    if report.enforcement != "deny" and s["denied"]:
        line += f" (enforcement {report.enforcement}: not failing)"
    return line


# --- json ------------------------------------------------------------------------------------------------------


def result_json(result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.file is not None:
        out["file"] = result.file
        out["line"] = result.line
    out.update({
        "kind": result.kind,
        "namespace": result.namespace,
        "name": result.name,
        "allowed": result.allowed,
        "causes": list(result.causes),
        "patch": list(result.patch),
    })
    if result.warnings:
        out["warnings"] = list(result.warnings)
    return out


def problem_json(problem: Problem) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if problem.file is not None:
        out["file"] = problem.file
        out["line"] = problem.line
    out["message"] = problem.message
    return out


def render_json(report: Report) -> str:
    document = {
        "results": [result_json(r) for r in report.results],
        "errors": [problem_json(p) for p in report.problems],
        "summary": report.summary(),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- junit -----------------------------------------------------------------------------------------------------


def render_junit(report: Report) -> str:
    """JUnit XML as Jenkins, GitLab and GitHub test reporters read it: one test case per object."""
    suites = ET.Element("testsuites", name=f"{TOOL} {report.command}")
    suite = ET.SubElement(suites, "testsuite", name=f"{TOOL} {report.command}")
    failures = 0
    for result in report.results:
        case = ET.SubElement(suite, "testcase", name=_case_name(result),
                             classname=result.file or (result.namespace or "cluster"))
        if result.file is not None:
            case.set("file", result.file)
            if result.line:
                case.set("line", str(result.line))
        if not result.allowed:
            failures += 1
            lines = kubectl_lines(result)
            failure = ET.SubElement(case, "failure", message=lines[0], type="Invalid")
            failure.text = "\n".join(lines)
    for problem in report.problems:
        case = ET.SubElement(suite, "testcase", name=str(problem.file or "input"), classname=problem.file or "input")
        error = ET.SubElement(case, "error", message=problem.message, type="Unreadable")
        error.text = str(problem)
    counts = {"tests": str(len(report.results) + len(report.problems)), "failures": str(failures),
              "errors": str(len(report.problems)), "skipped": "0"}
    for element in (suites, suite):
        for key, value in counts.items():
            element.set(key, value)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _case_name(result: Result) -> str:
    name = f"{result.kind} {result.namespace + '/' if result.namespace else ''}{result.name or ''}"
    return f"{name} ({result.where})" if result.file is not None else name


# --- sarif -----------------------------------------------------------------------------------------------------

RULE_HELP = {
    "FieldValueRequired": "A required field is missing.",
    "FieldValueTooLong": "A string is longer than the field allows.",
    "FieldValueNotSupported": "The value is not one of the values the field supports.",
    "FieldValueTypeInvalid": "The value has the wrong JSON type.",
    "FieldValueInvalid": "The value breaks the field's rules.",
}


def render_sarif(report: Report) -> str:
    """SARIF 2.1.0: one result per cause, at the line of its field (the object's line when the field is absent)."""
    level = "warning" if report.enforcement == "warn" else ("note" if report.enforcement == "dryrun" else "error")
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for result in report.denied:
        for i, cause in enumerate(result.causes):
            reason = cause["reason"]
            if reason not in rules:
                rules[reason] = {
                    "id": reason,
                    "name": reason,
                    "shortDescription": {"text": RULE_HELP.get(reason, reason)},
                    "helpUri": INFORMATION_URI + "#what-it-checks",
                    "defaultConfiguration": {"level": "error"},
                }
            line = result.cause_lines[i] if i < len(result.cause_lines) else result.line
            results.append({
                "ruleId": reason,
                "ruleIndex": list(rules).index(reason),
                "level": level,
                "message": {"text": f'The {result.kind} "{result.name or ""}" is invalid: '
                                    f"{cause['field']}: {cause['message']}"},
                "locations": [_location(result, line)],
            })
    notifications = [
        {"level": "error", "message": {"text": str(p)}, **({"locations": [_physical(p.file, p.line)]} if p.file
                                                            and p.file != "-" else {})}
        for p in report.problems
    ]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": TOOL, "version": __version__, "informationUri": INFORMATION_URI,
                            "rules": list(rules.values())}},
        "invocations": [{"executionSuccessful": not report.problems,
                         "toolExecutionNotifications": notifications}],
        "results": results,
    }
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _location(result: Result, line: int | None) -> dict[str, Any]:
    logical = {"name": result.name or "", "fullyQualifiedName": f"{result.kind}/{result.where}"
               if result.file is None else f"{result.kind}/{result.namespace or ''}/{result.name or ''}",
               "kind": "resource"}
    if result.file is None or result.file == "-":
        return {"logicalLocations": [logical]}
    return {**_physical(result.file, line), "logicalLocations": [logical]}


def _physical(file: str, line: int | None) -> dict[str, Any]:
    path = PurePath(file)
    uri = Path(file).as_uri() if path.is_absolute() else quote(path.as_posix())
    location: dict[str, Any] = {"artifactLocation": {"uri": uri}}
    if line:
        location["region"] = {"startLine": line}
    return {"physicalLocation": location}


RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "json": render_json,
    "junit": render_junit,
    "sarif": render_sarif,
}


def render(report: Report, output: str) -> str:
    return RENDERERS[output](report)


def problems_text(problems: Sequence[Problem], command: str) -> str:
    """The one-line messages for stderr, kubectl style: ``error: <where>: <what>``."""
    return "".join(f"error: {p}\n" for p in problems)
