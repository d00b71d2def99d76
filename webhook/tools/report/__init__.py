"""The one reporting layer of ``check`` and ``audit``: a :class:`~.model.Report` in, text / JSON / JUnit / SARIF out,
one module per format (as kubeconform keeps its outputs)."""

from __future__ import annotations

from collections.abc import Callable

from webhook.tools.report import json, junit, sarif, text
from webhook.tools.report.model import Report

RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": text.render_text,
    "json": json.render_json,
    "junit": junit.render_junit,
    "sarif": sarif.render_sarif,
}
FORMATS = tuple(RENDERERS)


def render(report: Report, output: str) -> str:
    return RENDERERS[output](report)
