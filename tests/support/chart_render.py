"""Render and lint the Helm chart offline with the real Helm engine (helm-python-sdk, Helm v4's Go code)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from tests.support import ROOT

CHART = ROOT / "charts" / "connectionpool-webhook"
RELEASE = "cpw"
NAMESPACE = "webhooks"
# Kinds whose schemas come from CRDs (cert-manager, Prometheus Operator): kubernetes-validate has none.
CRD_KINDS = {"Certificate", "Issuer", "ServiceMonitor"}


@dataclass
class Rendered:
    files: dict[str, str]
    objects: list[dict[str, Any]]
    notes: str

    def kinds(self) -> list[str]:
        return sorted(o["kind"] for o in self.objects)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, got {[o['metadata']['name'] for o in found]}"
        return found[0]

    def webhooks(self) -> dict[str, dict[str, Any]]:
        """Webhook configuration kind -> its first webhook (the validating one of namespaces without a label)."""
        return {kind: self.one(kind)["webhooks"][0]
                for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")}

    def all_webhooks(self) -> list[dict[str, Any]]:
        """Every webhook entry of both configurations."""
        return [hook for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
                for hook in self.one(kind)["webhooks"]]

    def deployment_container(self) -> dict[str, Any]:
        (container,) = self.one("Deployment")["spec"]["template"]["spec"]["containers"]
        assert isinstance(container, dict)
        return container

    def env(self) -> dict[str, str]:
        return {e["name"]: e["value"] for e in self.deployment_container()["env"] if "value" in e}


def render(values: dict[str, Any] | None = None, *, chart: Path = CHART, release: str = RELEASE,
           namespace: str = NAMESPACE) -> Rendered:
    """``helm template``: every manifest parsed, NOTES.txt kept as text. Raises the SDK's Helm errors."""
    with helm.Chart.load(chart) as loaded:
        files = loaded.render(values or {}, name=release, namespace=namespace, is_install=True)
    objects: list[dict[str, Any]] = []
    notes = ""
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return Rendered(files, objects, notes)


def lint_findings(values: dict[str, Any] | None = None, *, kube_version: str | None = None,
                  namespace: str = NAMESPACE) -> list[str]:
    """``helm lint --strict``: findings of warning severity or worse (info, like "icon is recommended", is fine)."""
    report = helm.lint(CHART, values or {}, strict=True, namespace=namespace, kube_version=kube_version)
    findings = [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2]
    return findings + [str(e) for e in report["errors"]]


def validate_values(values: dict[str, Any]) -> None:
    """Check values against values.schema.json; raises helm_python.HelmValuesError."""
    with helm.Chart.load(CHART) as loaded:
        loaded.validate_schema(values)


def secret_pem(secret: dict[str, Any], key: str) -> bytes:
    return base64.b64decode(secret["data"][key])
