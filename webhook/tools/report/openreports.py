"""``--output openreports``: the audit's reports as OpenReports ``Report`` objects (``openreports.io/v1alpha1``), the
successor of the Policy WG's PolicyReport that Kyverno (``openreports.enabled``) and Policy Reporter moved to. The
same document as :mod:`.policyreport`, with the source named once at the top as well."""

from __future__ import annotations

from webhook.tools.report.model import Report
from webhook.tools.report.policyreport import Kind, render

OPENREPORTS = Kind("openreports.io", "v1alpha1", "Report", "reports", top_level_source=True)


def render_openreports(report: Report) -> str:
    return render(report, OPENREPORTS)
