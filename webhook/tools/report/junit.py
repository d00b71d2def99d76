"""``--output junit``: one test case per object, a failure per denial, an error per input that could not be read."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from webhook.tools.report.model import TOOL, Report, Result
from webhook.tools.report.text import kubectl_lines


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
