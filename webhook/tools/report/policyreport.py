"""``--output policyreport``: an audit as the Kubernetes Policy WG's ``PolicyReport`` objects
(``wgpolicyk8s.io/v1alpha2``), one per namespace, where Kyverno's and Kubewarden's background scans put theirs and
Policy Reporter reads them. The OpenReports ``Report`` (:mod:`.openreports`) is the same document under its
successor's name.

- ``policy`` is the tool, as Kyverno names a result after the policy that produced it; ``rule`` is the cause's
  ``reason`` (``FieldValueRequired``... and the integrity rules' ``FieldValueDuplicate``, ``FieldValueForbidden``),
  one result per cause; an object that breaks nothing gets one ``pass`` under the rule :data:`PASS_RULE`; each
  warning the webhook would send (an ``authSecretRef`` naming no Secret) is a ``warn`` of its own, never scored.
- A broken rule is ``fail`` where the namespace's mode denies, and ``warn`` ("not met, and not scored", with
  ``scored: false``) where the webhook only warns or counts (``warn``, ``dryrun``): the report grades an object as
  the webhook would deliver its verdict there.
- A report stays under :data:`MAX_BYTES` (etcd refuses objects over 1.5 MiB by default): results are added, failures
  first, until the next would pass the budget; the summary still counts every result, and the annotation
  :data:`OMITTED` says how many were left out.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from io import StringIO
from typing import Any

from ruamel.yaml import YAML

from webhook.rules import connectionpool
from webhook.rules.enforcement import Enforcement
from webhook.tools.report.model import TOOL, Report, Result


@dataclass(frozen=True, slots=True)
class Kind:
    """One of the two report APIs: where its objects live, and whether it names its source once at the top."""

    group: str
    version: str
    kind: str
    plural: str
    top_level_source: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def resource(self) -> str:
        """``plural.group``, as RBAC and error messages name it."""
        return f"{self.plural}.{self.group}"

    @property
    def shown(self) -> str:
        """``kind.group``, as kubectl names an object's type in ``created``/``deleted`` lines."""
        return f"{self.kind.lower()}.{self.group}"


POLICYREPORT = Kind("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports", top_level_source=False)

NAME = TOOL  # each namespace's report: one stable name, so that a run replaces the last one
POLICY = TOOL
SOURCE = TOOL
CATEGORY = "Aiven ConnectionPool"
PASS_RULE = "AllRules"
PASS_MESSAGE = "The webhook would admit this ConnectionPool as it is."
WARNING_RULE = "Warning"  # a warning the webhook would send (a missing authSecretRef Secret): a result of its own
MANAGED_BY = "app.kubernetes.io/managed-by"
LABELS = {MANAGED_BY: TOOL}
ANNOTATIONS = "connectionpool-webhook.io/"
ENFORCEMENT = ANNOTATIONS + "enforcement"
OPERATOR_VERSION = ANNOTATIONS + "operator-version"
KUBERNETES_VERSION = ANNOTATIONS + "kubernetes-version"
OMITTED = ANNOTATIONS + "omitted-results"
# The rules among objects: a second pool managing the same Aiven pool or Secret breaks the operator, and taking over
# a foreign Secret loses its data.
HIGH = frozenset({"FieldValueDuplicate", "FieldValueForbidden"})

# What one report may weigh, as JSON: etcd's default request limit is 1.5 MiB; the apiserver adds metadata
# (uid, resourceVersion, managedFields...) that RESERVE leaves room for.
MAX_BYTES = 1024 * 1024
RESERVE = 16 * 1024


def documents(report: Report, kind: Kind = POLICYREPORT, now: float | None = None) -> list[dict[str, Any]]:
    """One report per namespace that holds an audited object, sorted by namespace; none when the audit failed."""
    if report.problems:
        return []
    stamp = _timestamp(time.time() if now is None else now)
    by_namespace: dict[str, list[Result]] = defaultdict(list)
    for result in report.results:
        if result.namespace:
            by_namespace[result.namespace].append(result)
    return [_document(report, kind, namespace, by_namespace[namespace], stamp) for namespace in sorted(by_namespace)]


def omitted(document: dict[str, Any]) -> int:
    """How many results the cap left out of ``document``."""
    return int(document["metadata"].get("annotations", {}).get(OMITTED, "0"))


def notes(documents: Iterable[dict[str, Any]]) -> list[str]:
    """One warning per report the cap shortened."""
    out = []
    for document in documents:
        left = omitted(document)
        if left:
            total = sum(document["summary"].values())
            out.append(f"{document['kind']} {document['metadata']['namespace']}/{document['metadata']['name']}"
                       f": {left} of {total} results left out to keep it under 1 MiB (annotation {OMITTED}); "
                       "its summary counts them all")
    return out


def render(report: Report, kind: Kind = POLICYREPORT) -> str:
    return to_yaml(documents(report, kind))


def to_yaml(found: list[dict[str, Any]]) -> str:
    """Reports as one YAML stream, ``---`` between documents (what ``kubectl apply -f -`` reads)."""
    if not found:
        return ""
    dumper = YAML(typ="safe")
    dumper.default_flow_style = False
    dumper.width = 4096  # long messages stay on one line
    dumper.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    dumper.representer.ignore_aliases = lambda _: True  # results share their timestamp: write it out each time
    out = StringIO()
    dumper.dump_all(found, out)
    return out.getvalue()


def render_policyreport(report: Report) -> str:
    return render(report, POLICYREPORT)


def size(value: Any) -> int:
    """Bytes of ``value`` as the Kubernetes client sends it (``json.dumps``, ASCII): at least what etcd stores."""
    return len(json.dumps(value))


def _document(report: Report, kind: Kind, namespace: str, results: list[Result],
              stamp: dict[str, int]) -> dict[str, Any]:
    mode = report.enforcement_of(namespace)
    entries = _entries(results, mode, stamp, namespace)
    counts = Counter(entry["result"] for entry in entries)
    annotations = {
        ENFORCEMENT: str(mode),
        OPERATOR_VERSION: str(report.rules.release),
        KUBERNETES_VERSION: report.rules.words.version,
    }
    document: dict[str, Any] = {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {"name": NAME, "namespace": namespace, "labels": dict(LABELS), "annotations": annotations},
    }
    if kind.top_level_source:
        document["source"] = SOURCE
    document["scope"] = {"apiVersion": "v1", "kind": "Namespace", "name": namespace}
    document["summary"] = {key: counts[key] for key in ("pass", "fail", "warn", "error", "skip")}
    # The budget is counted with the annotation at its widest, so that writing it cannot break the cap.
    budget = MAX_BYTES - RESERVE - size({**document, "results": []}) - size({OMITTED: str(len(entries))})
    kept = _fit(entries, budget)
    if len(kept) < len(entries):
        annotations[OMITTED] = str(len(entries) - len(kept))
    document["results"] = kept
    return document


def _entries(results: list[Result], mode: Enforcement, stamp: dict[str, int],
             namespace: str) -> list[dict[str, Any]]:
    """Every result of a namespace: each broken rule, failures first, then a pass per object that breaks none."""
    outcome = "fail" if mode is Enforcement.DENY else "warn"
    scored = mode is Enforcement.DENY
    problems: list[tuple[tuple[str, str, str, str], dict[str, Any]]] = []
    passes: list[tuple[str, dict[str, Any]]] = []
    for result in results:
        name = result.name or ""
        resource = {"apiVersion": connectionpool.API_VERSION, "kind": result.kind, "namespace": namespace,
                    "name": name}
        if result.uid:
            resource["uid"] = result.uid
        for text in dict.fromkeys(result.warnings):  # what the webhook would warn of, admitted or not: never scored
            problems.append(((name, WARNING_RULE, "", text), {
                "policy": POLICY, "rule": WARNING_RULE, "result": "warn", "scored": False, "severity": "low",
                "category": CATEGORY, "message": text, "resources": [resource], "source": SOURCE, "timestamp": stamp,
            }))
        if result.allowed:
            passes.append((name, {"policy": POLICY, "rule": PASS_RULE, "result": "pass", "scored": scored,
                                  "category": CATEGORY, "message": PASS_MESSAGE, "resources": [resource],
                                  "source": SOURCE, "timestamp": stamp}))
            continue
        seen = set()
        for cause in result.causes:
            key = (name, cause["reason"], cause["field"], cause["message"])
            if key in seen:
                continue
            seen.add(key)
            problems.append((key, {
                "policy": POLICY, "rule": cause["reason"], "result": outcome, "scored": scored,
                "severity": "high" if cause["reason"] in HIGH else "medium", "category": CATEGORY,
                "message": f"{cause['field']}: {cause['message']}", "properties": {"field": cause["field"]},
                "resources": [resource], "source": SOURCE, "timestamp": stamp,
            }))
    problems.sort(key=lambda item: item[0])
    passes.sort(key=lambda item: item[0])
    return [entry for _, entry in problems] + [entry for _, entry in passes]


def _fit(entries: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The longest head of ``entries`` whose JSON array fits in ``budget`` bytes."""
    used = 0
    for i, entry in enumerate(entries):
        used += size(entry) + 2  # ", " between items
        if used > budget:
            return entries[:i]
    return entries


def _timestamp(now: float) -> dict[str, int]:
    """A protobuf Timestamp, as the CRD declares it: whole seconds, and nanoseconds within the second."""
    nanos = round(now * 1e9)
    return {"seconds": nanos // 1_000_000_000, "nanos": nanos % 1_000_000_000}
