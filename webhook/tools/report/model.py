"""What ``check`` and ``audit`` found, before any format: a :class:`Result` per object, a :class:`Problem` per input
that could not be read, and the :class:`Report` of one run with its exit status.

Results come from :func:`webhook.tools.verdicts.judge`; nothing here knows a rule, and the formats (one module each
beside this one) only render reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from webhook.rules.enforcement import Enforcement
from webhook.rules.ruleset import RuleSet

TOOL = "connectionpool-webhook"

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
    # metadata.uid of a stored object (audit), which policy reports name their resources by.
    uid: str | None = None

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
    rules: RuleSet
    enforcement: Enforcement = Enforcement.DENY
    results: list[Result] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0
    files: int | None = None
    # The namespaces whose label (connectionpool-webhook.io/enforcement) sets their mode, as the webhook delivers it
    # there; the others take ``enforcement``. Read by audit for the policy-report outputs only.
    modes: dict[str, Enforcement] = field(default_factory=dict)
    # What the run could not look at without failing it (printed as "warning: ..."), e.g. Secrets audit may not read.
    notes: list[str] = field(default_factory=list)

    def enforcement_of(self, namespace: str | None) -> Enforcement:
        """The mode a verdict on an object of ``namespace`` is delivered in."""
        return self.modes.get(namespace or "", self.enforcement)

    @property
    def denied(self) -> list[Result]:
        return [r for r in self.results if not r.allowed]

    def exit_code(self) -> int:
        """2 when some input could not be read, else 1 when an object is denied where enforcement denies, else 0."""
        if self.problems:
            return UNREADABLE
        if any(self.enforcement_of(r.namespace) is Enforcement.DENY for r in self.denied):
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
        out["kubernetesVersion"] = self.rules.words.version
        out["operatorVersion"] = str(self.rules.release)
        out["exitCode"] = self.exit_code()
        return out
