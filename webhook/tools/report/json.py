"""``--output json``: ``{"results": [...], "errors": [...], "summary": {...}}``."""

from __future__ import annotations

import json
from typing import Any

from webhook.tools.report.model import Problem, Report, Result


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
