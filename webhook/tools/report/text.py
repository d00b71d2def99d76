"""``--output text``: per denied object ``file:line`` (or ``namespace/name``), then exactly the lines kubectl prints for
the denial (``The ConnectionPool "x" is invalid: ...``, cmd/util/helpers.go ``checkErr``/``MultilineError``), and a
summary line; problems go to stderr as kubectl prints errors.
"""

from __future__ import annotations

from collections.abc import Sequence

from webhook.rules.enforcement import Enforcement
from webhook.rules.fielderrors import go_quote
from webhook.tools.report.model import Problem, Report, Result


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
        if report.enforcement is Enforcement.WARN:
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
    if report.enforcement is not Enforcement.DENY and s["denied"]:
        line += f" (enforcement {report.enforcement}: not failing)"
    return line


def problems_text(problems: Sequence[Problem], command: str) -> str:
    """The one-line messages for stderr, kubectl style: ``error: <where>: <what>``."""
    return "".join(f"error: {p}\n" for p in problems)
