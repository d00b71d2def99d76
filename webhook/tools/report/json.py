"""``--output json``: ``{"results": [...], "errors": [...], "summary": {...}}``."""

from __future__ import annotations

from typing import Any

import orjson

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
    # orjson: the text json.dumps(indent=2, ensure_ascii=False) would write, without the million small strings its
    # pure-Python indenting encoder holds at once for a large audit (450 MB at 100,000 objects).
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
