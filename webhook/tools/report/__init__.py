"""The one reporting layer of ``check`` and ``audit``: a :class:`~.model.Report` in, text / JSON / JUnit / SARIF out,
one module per format (as kubeconform keeps its outputs); ``audit`` also writes the cluster's own report objects,
PolicyReport and OpenReports ``Report``."""

from __future__ import annotations

from collections.abc import Callable

from webhook.tools.report import json, junit, openreports, policyreport, sarif, text
from webhook.tools.report.model import Report
from webhook.tools.report.policyreport import Kind

RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": text.render_text,
    "json": json.render_json,
    "junit": junit.render_junit,
    "sarif": sarif.render_sarif,
    "policyreport": policyreport.render_policyreport,
    "openreports": openreports.render_openreports,
}
# The outputs that are Kubernetes objects, one per namespace: only ``audit`` has namespaces to write them for.
KINDS: dict[str, Kind] = {"policyreport": policyreport.POLICYREPORT, "openreports": openreports.OPENREPORTS}
FORMATS = tuple(name for name in RENDERERS if name not in KINDS)
AUDIT_FORMATS = tuple(RENDERERS)


def render(report: Report, output: str) -> str:
    return RENDERERS[output](report)
