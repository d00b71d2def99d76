"""The chart's policy mode: its template is generated from webhook/tools/policy/ and renders the same objects as
`connectionpool-webhook policy`, for every Kubernetes version, with no server, no certificates and no webhooks."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from helm_python import HelmValuesError

from tests.support import ROOT
from tests.support.chart_render import NAMESPACE, RELEASE, lint_findings, render, validate_values
from tests.tools.test_policy import VERSIONS
from webhook.tools.policy import chart, objects

FULLNAME = f"{RELEASE}-connectionpool-webhook"
SERVER_KINDS = {"Deployment", "Service", "Secret", "Certificate", "Issuer", "PodDisruptionBudget", "Pod",
                "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ServiceAccount", "NetworkPolicy",
                "ServiceMonitor"}


def test_template_is_generated_from_the_policy_module() -> None:
    # Regenerate with `python -m webhook.tools.policy --chart`.
    assert (ROOT / chart.CHART_TEMPLATE).read_text() == chart.chart_template()


@pytest.mark.helm
@pytest.mark.parametrize("version", VERSIONS)
def test_policy_mode_renders_what_the_command_prints(version: str) -> None:
    rendered = render({"mode": "policy", "kubernetesVersion": version, "policy": {"mutating": True}})
    exported = {o["kind"]: o for o in objects.export(version, name=FULLNAME)}
    for kind in ("ValidatingAdmissionPolicy", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"):
        if kind not in exported:
            assert rendered.of_kind(kind) == []
            continue
        obj = rendered.one(kind, FULLNAME)
        assert obj["apiVersion"] == exported[kind]["apiVersion"]
        if kind == "MutatingAdmissionPolicyBinding":
            assert obj["spec"]["policyName"] == FULLNAME
        else:
            assert obj["spec"] == exported[kind]["spec"]
    binding = rendered.one("ValidatingAdmissionPolicyBinding", FULLNAME)
    assert binding["apiVersion"] == exported["ValidatingAdmissionPolicyBinding"]["apiVersion"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, f"{version}.0", strict=True)


@pytest.mark.helm
def test_policy_mode_installs_no_server() -> None:
    rendered = render({"mode": "policy"})
    assert not SERVER_KINDS & set(rendered.kinds())
    assert set(rendered.kinds()) == {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    assert "No server runs" in rendered.notes


@pytest.mark.helm
def test_webhook_mode_is_the_default_and_has_no_policies() -> None:
    kinds = set(render({}).kinds())
    assert {"Deployment", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} <= kinds
    assert not {k for k in kinds if "AdmissionPolicy" in k}


@pytest.mark.helm
def test_both_modes_side_by_side() -> None:
    kinds = set(render({"mode": "both", "enforcement": "warn"}).kinds())
    assert {"Deployment", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy"} <= kinds


@pytest.mark.helm
@pytest.mark.parametrize(("enforcement", "action"), [("deny", "Deny"), ("warn", "Warn"), ("dryrun", "Audit")])
def test_bindings_follow_enforcement_and_the_namespace_label(enforcement: str, action: str) -> None:
    rendered = render({"mode": "policy", "enforcement": enforcement,
                       "webhook": {"namespaceSelector": {"matchLabels": {"team": "db"}},
                                   "objectSelector": {"matchLabels": {"checked": "yes"}}}})
    bindings = {b["metadata"]["name"]: b["spec"] for b in rendered.of_kind("ValidatingAdmissionPolicyBinding")}
    label = "connectionpool-webhook.io/enforcement"
    expected = {FULLNAME: (action, "NotIn", ["deny", "warn", "dryrun"])}
    expected |= {f"{FULLNAME}-{m}": (a, "In", [m]) for m, a in (("deny", "Deny"), ("warn", "Warn"),
                                                                ("dryrun", "Audit"))}
    assert set(bindings) == set(expected)
    for name, (want, operator, values) in expected.items():
        spec = bindings[name]
        assert spec["policyName"] == FULLNAME
        assert spec["validationActions"] == [want]
        selector = spec["matchResources"]["namespaceSelector"]
        assert selector["matchLabels"] == {"team": "db"}
        assert {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                "values": [NAMESPACE, "kube-system"]} in selector["matchExpressions"]
        assert {"key": label, "operator": operator, "values": values} in selector["matchExpressions"]
        assert spec["matchResources"]["objectSelector"] == {"matchLabels": {"checked": "yes"}}


@pytest.mark.helm
def test_mutating_policy_only_where_wanted() -> None:
    def kinds(**values: Any) -> set[str]:
        return set(render({"mode": "policy", **values}).kinds())

    assert "MutatingAdmissionPolicy" in kinds(kubernetesVersion="1.34", policy={"mutating": True})
    assert "MutatingAdmissionPolicy" not in kinds(kubernetesVersion="1.34", policy={"mutating": False})
    assert "MutatingAdmissionPolicy" not in kinds(kubernetesVersion="1.31", policy={"mutating": True})


@pytest.mark.helm
def test_lint_and_values_schema() -> None:
    assert lint_findings({"mode": "policy"}) == []
    validate_values({"mode": "both", "policy": {"mutating": "auto"}})
    for bad in ({"mode": "webhooks"}, {"policy": {"mutating": "yes"}}):
        with pytest.raises(HelmValuesError):
            validate_values(bad)
