"""``--output text``: per denied object ``file:line`` (or ``namespace/name``), then exactly the lines kubectl prints for
the denial (``The ConnectionPool "x" is invalid: ...``, cmd/util/helpers.go ``checkErr``/``MultilineError``), and a
summary line; problems go to stderr as kubectl prints errors.
"""

from __future__ import annotations

from webhook.rules.enforcement import Enforcement
from webhook.rules.fielderrors import go_quote
from webhook.tools.report.model import Report, Result


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
    """Each object that is denied or warned about, as kubectl would print it: its warnings (``Warning: ...``, which
    kubectl prints before the answer), then the denial."""
    out: list[str] = []
    for result in report.results:
        if result.allowed and not result.warnings:
            continue
        out.append(result.where)
        out.extend(f"Warning: {text}" for text in result.warnings)
        if not result.allowed:
            denial = kubectl_lines(result) if report.enforcement is not Enforcement.WARN else [
                f"Warning: {text}" for text in result.warn_texts]
            out.extend(denial)
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


def problems_text(report: Report) -> str:
    """The one-line messages for stderr, kubectl style: ``warning: <what>`` for what the run could not look at,
    ``error: <where>: <what>`` for input it could not read."""
    return "".join(f"warning: {note}\n" for note in report.notes) + "".join(f"error: {p}\n" for p in report.problems)
