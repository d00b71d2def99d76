"""A clean security scan: Checkov (a maintained scanner of Kubernetes manifests) over the chart's renders finds nothing
that is not either fixed or skipped in the templates with the scanner's own annotation and a reason.

Checkov lives in its own virtualenv (`make test` makes it: the Makefile's CHECKOV_VENV) because it pins dozens of
dependencies; the Makefile passes its path in ``CHECKOV``. Run alone: `make scan`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT
from tests.support.chart_render import NAMESPACE, RELEASE, Rendered, render

pytestmark = [pytest.mark.helm, pytest.mark.process]

FULLNAME = f"{RELEASE}-connectionpool-webhook"
DIGEST = "sha256:" + "a" * 64
RENDERS: dict[str, dict[str, Any]] = {
    "defaults": {},
    # Every optional feature on, and the image pinned as a careful user pins it.
    "everything": {
        "image": {"digest": DIGEST},
        "certManager": {"enabled": True},
        "serviceMonitor": {"enabled": True},
        "metrics": {"port": 9090},
        "networkPolicy": {"enabled": True, "ingressFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
                          "metricsFrom": [{"namespaceSelector": {"matchLabels": {
                              "kubernetes.io/metadata.name": "monitoring"}}}]},
        "audit": {"enabled": True},
        "autoscaling": {"enabled": True, "minReplicas": 3, "targetMemoryUtilizationPercentage": 90},
        "mode": "both",
        "policy": {"mutating": True},
        "tls": {"clientCA": {"configMap": "apiserver-client-ca"}},
        "priorityClassName": "system-cluster-critical",
    },
    # ... and an audit whose CPU limit was taken away (it is then skipped, with its reason).
    "host-network": {"hostNetwork": True, "server": {"port": 10250},
                     "audit": {"enabled": True, "resources": {"limits": {"cpu": None}}}},
    # What a user can satisfy with values is then checked, not skipped: no skip annotation is left on the server.
    "satisfied-by-values": {"image": {"digest": DIGEST}, "resources": {"limits": {"cpu": "1"}},
                            "clusterChecks": {"enabled": False}},
}
DEPLOYMENT = f"Deployment.{NAMESPACE}.{FULLNAME}"
TEST_POD = f"Pod.{NAMESPACE}.{FULLNAME}-test"
AUDIT = f"CronJob.{NAMESPACE}.{FULLNAME}-audit"
# The checks skipped, per render: each skip is reviewed, and a new one fails here until it is added.
IMAGE_BY_TAG = {"CKV_K8S_43", "CKV_K8S_15"}  # digest; pull policy Always (which a digest also satisfies)
SKIPPED: dict[str, set[tuple[str, str]]] = {
    "defaults": {(DEPLOYMENT, c) for c in {"CKV_K8S_11", "CKV_K8S_38"} | IMAGE_BY_TAG}
    | {(TEST_POD, c) for c in {"CKV_K8S_8", "CKV_K8S_9", "CKV2_K8S_6"} | IMAGE_BY_TAG},
    "everything": {(DEPLOYMENT, "CKV_K8S_11"), (DEPLOYMENT, "CKV_K8S_38"), (AUDIT, "CKV_K8S_38")}
    | {(TEST_POD, c) for c in ("CKV_K8S_8", "CKV_K8S_9", "CKV2_K8S_6")},
    "host-network": {(DEPLOYMENT, c) for c in {"CKV_K8S_11", "CKV_K8S_38", "CKV_K8S_19"} | IMAGE_BY_TAG}
    | {(AUDIT, c) for c in {"CKV_K8S_11", "CKV_K8S_38"} | IMAGE_BY_TAG}
    | {(TEST_POD, c) for c in {"CKV_K8S_8", "CKV_K8S_9", "CKV2_K8S_6"} | IMAGE_BY_TAG},
    "satisfied-by-values": {(TEST_POD, c) for c in ("CKV_K8S_8", "CKV_K8S_9", "CKV2_K8S_6")},
}
SKIP_ANNOTATION = re.compile(r"^checkov\.io/skip\d+$")


def checkov() -> str:
    """The checkov executable: ``CHECKOV`` (set by the Makefile), the Makefile's virtualenv, or the PATH."""
    for candidate in (os.environ.get("CHECKOV"), str(ROOT / ".venv-checkov" / "bin" / "checkov"),
                      shutil.which("checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    message = "checkov is not installed: `make test` (or `make scan`) installs it into .venv-checkov"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def scan(out: Rendered, directory: Path) -> dict[str, Any]:
    """Checkov's JSON report on the rendered manifests, one file per template as `helm template --output-dir`."""
    for path, text in out.files.items():
        if not path.endswith("NOTES.txt") and text.strip():
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    # Offline and deterministic: no download of Prisma Cloud's guidelines, no check for a newer checkov.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    result = subprocess.run([checkov(), "--directory", str(directory), "--framework", "kubernetes", "--skip-download",
                             "--output", "json"], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: failed checks, read below
    report = json.loads(result.stdout)
    assert isinstance(report, dict) and report["check_type"] == "kubernetes", result.stdout[:500]
    return report


@pytest.fixture(scope="module", params=list(RENDERS))
def scanned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[str, Rendered, dict[str, Any]]:
    name: str = request.param
    out = render(RENDERS[name])
    return name, out, scan(out, tmp_path_factory.mktemp(name))


def results(report: dict[str, Any], kind: str) -> set[tuple[str, str]]:
    return {(r["resource"], r["check_id"]) for r in report["results"][f"{kind}_checks"]}


def test_the_scan_read_every_workload(scanned: tuple[str, Rendered, dict[str, Any]]) -> None:
    """No failure means something only if the scanner read the manifests: each workload was checked."""
    _, out, report = scanned
    assert report["summary"]["parsing_errors"] == 0
    checked = {resource for resource, _ in results(report, "passed") | results(report, "skipped")}
    workloads = {f"{o['kind']}.{NAMESPACE}.{o['metadata']['name']}" for o in out.objects
                 if o["kind"] in ("Deployment", "Pod", "CronJob")}
    assert DEPLOYMENT in workloads and workloads <= checked, workloads - checked
    assert report["summary"]["passed"] > 100


def test_no_failed_check(scanned: tuple[str, Rendered, dict[str, Any]]) -> None:
    name, _, report = scanned
    failed = [f"{r['check_id']} {r['check_name']}: {r['resource']}" for r in report["results"]["failed_checks"]]
    assert sorted(failed) == [], name


def test_every_skip_is_reviewed_and_has_a_reason(scanned: tuple[str, Rendered, dict[str, Any]]) -> None:
    name, _, report = scanned
    assert results(report, "skipped") == SKIPPED[name]
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment", "")
        # Checkov writes "No comment provided" for an annotation without "=reason".
        assert len(reason) > 40 and reason != "No comment provided", skipped


def test_skip_annotations_are_well_formed(scanned: tuple[str, Rendered, dict[str, Any]]) -> None:
    """``checkov.io/skipN: CHECK=reason``, with no second "=": checkov splits at every "=" and fails on a reason
    that holds one. Only the objects checkov reads them from (top-level metadata) carry them."""
    _, out, _ = scanned
    for obj in out.objects:
        for key, value in (obj["metadata"].get("annotations") or {}).items():
            if key.startswith("checkov.io/"):
                assert SKIP_ANNOTATION.match(key), key
                assert re.fullmatch(r"CKV2?_K8S_\d+=[^=]{40,}", value), value
        template = obj.get("spec", {}).get("template", {}).get("metadata", {})
        assert not [k for k in template.get("annotations") or {} if k.startswith("checkov.io/")], obj["kind"]
