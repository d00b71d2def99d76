"""``--output sarif``: SARIF 2.1.0 for code scanning, one result per cause, ``ruleId`` the cause's reason."""

from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from webhook import __version__
from webhook.rules.enforcement import Enforcement
from webhook.tools.report.model import TOOL, Report, Result

INFORMATION_URI = "https://github.com/aiven/connectionpool-webhook"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


RULE_HELP = {
    "FieldValueRequired": "A required field is missing.",
    "FieldValueTooLong": "A string is longer than the field allows.",
    "FieldValueNotSupported": "The value is not one of the values the field supports.",
    "FieldValueTypeInvalid": "The value has the wrong JSON type.",
    "FieldValueInvalid": "The value breaks the field's rules.",
    "FieldValueDuplicate": "Another object already claims the same value (the same Aiven pool, the same Secret).",
    "FieldValueForbidden": "The value would take over something this object does not own.",
}


def render_sarif(report: Report) -> str:
    """SARIF 2.1.0: one result per cause, at the line of its field (the object's line when the field is absent)."""
    level = {Enforcement.DENY: "error", Enforcement.WARN: "warning", Enforcement.DRYRUN: "note"}[report.enforcement]
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
