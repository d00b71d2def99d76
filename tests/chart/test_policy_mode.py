"""The chart's policy mode: its template is generated from webhook/tools/policy/ and renders the same objects as
`connectionpool-webhook policy`, for every aiven-operator release and every Kubernetes version, with no server, no
certificates and no webhooks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from helm_python import HelmValuesError

from tests.support import ROOT
from tests.support.chart_render import CHART, NAMESPACE, RELEASE, Rendered, lint_findings, render, validate_values
from webhook.rules import releases
from webhook.rules.releases import Release
from webhook.tools.policy import chart, objects

FULLNAME = f"{RELEASE}-connectionpool-webhook"
SERVER_KINDS = {"Deployment", "Service", "Secret", "Certificate", "Issuer", "PodDisruptionBudget", "Pod",
                "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ServiceAccount", "NetworkPolicy",
                "ServiceMonitor"}


def test_template_is_generated_from_the_policy_module() -> None:
    # Regenerate with `python -m webhook.tools.policy.chart`.
    assert (ROOT / chart.CHART_TEMPLATE).read_text() == chart.chart_template()


def _assert_renders_the_export(rendered: Rendered, version: str, release: str, mutating: bool = True) -> None:
    exported = {o["kind"]: o for o in objects.export(version, name=FULLNAME, release=releases.parse(release))}
    for kind in ("ValidatingAdmissionPolicy", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"):
        if kind not in exported or (not mutating and kind.startswith("Mutating")):
            assert rendered.of_kind(kind) == []
            continue
        obj = rendered.one(kind, FULLNAME)
        assert obj["apiVersion"] == exported[kind]["apiVersion"]
        if kind == "MutatingAdmissionPolicyBinding":
            assert obj["spec"]["policyName"] == FULLNAME
        else:
            assert obj["spec"] == exported[kind]["spec"], (kind, version, release)
    binding = rendered.one("ValidatingAdmissionPolicyBinding", FULLNAME)
    assert binding["apiVersion"] == exported["ValidatingAdmissionPolicyBinding"]["apiVersion"]
    assert binding["spec"]["validationActions"] == ["Deny"]


# Every listed release with every minor the export knows: 70 renders, about 5 s on the 2-core machine (2026-12-02).
@pytest.mark.helm
@pytest.mark.parametrize("version", [f"1.{minor}" for minor in chart.MINORS])
@pytest.mark.parametrize("release", [str(release) for release in releases.RELEASES])
def test_policy_mode_renders_what_the_command_prints(release: str, version: str) -> None:
    rendered = render({"mode": "policy", "kubernetesVersion": version, "operatorVersion": release,
                       "policy": {"mutating": True}})
    _assert_renders_the_export(rendered, version, release)
    if release in (str(releases.DEFAULT), str(releases.NEWEST)):  # the other objects do not change by release
        for obj in rendered.objects:
            kubernetes_validate.validate(obj, f"{version}.0", strict=True)


@pytest.mark.helm
@pytest.mark.parametrize("version", [f"1.{minor}" for minor in chart.MINORS])
def test_without_the_mutating_policy_the_rest_is_the_same(version: str) -> None:
    # policy.mutating only says whether the MutatingAdmissionPolicy is rendered, whatever the release.
    release = str(releases.NEWEST)
    rendered = render({"mode": "policy", "kubernetesVersion": version, "operatorVersion": release,
                       "policy": {"mutating": False}})
    _assert_renders_the_export(rendered, version, release, mutating=False)


# The inputs of the brief and the forms values.schema.json lets through: a patch between releases, major.minor, a
# pre-release, a suffix that is no SemVer pre-release, build metadata, a major release.
OPERATOR_VERSIONS = ["", "v0.8.0", "v0.11.9", "0.20", "v0.25.1", "v0.37.0", "v0.38.0", "v0.44.0", "0.44",
                     "v0.38.0-rc1", "v0.9.0-rc_1", "v0.20.0+build.7", "v0.12", "v1.0.0", "2.3"]


def _expected_release(text: str) -> Release:
    return releases.parse(text) if text else releases.DEFAULT


@pytest.fixture(scope="module")
def probe_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart with one more template that shows what the policy template reads .Values.operatorVersion as."""
    probe = tmp_path_factory.mktemp("chart") / CHART.name
    shutil.copytree(CHART, probe)
    (probe / "templates" / "probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata:\n"
        f'  release: {{{{ include "{chart.RELEASE_TEMPLATE}" . | quote }}}}\n')
    return probe


@pytest.mark.helm
@pytest.mark.parametrize("operator_version", OPERATOR_VERSIONS)
def test_the_template_reads_operator_version_like_releases_parse(probe_chart: Path, operator_version: str) -> None:
    rendered = render({"mode": "policy", "operatorVersion": operator_version}, chart=probe_chart)
    index = rendered.one("ConfigMap", "probe")["data"]["release"]
    assert index == str(releases.RELEASES.index(_expected_release(operator_version)))


@pytest.mark.helm
@pytest.mark.parametrize("operator_version", OPERATOR_VERSIONS)
def test_policy_mode_follows_operator_version(operator_version: str) -> None:
    rendered = render({"mode": "policy", "kubernetesVersion": "1.33", "operatorVersion": operator_version,
                       "policy": {"mutating": True}})
    _assert_renders_the_export(rendered, "1.33", str(_expected_release(operator_version)))


@pytest.mark.helm
@pytest.mark.parametrize(("given", "as_version"), [
    ("v1.30.2-gke.1026000", "1.30"), ("1.35.0", "1.35"), ("v1.40.1", "1.40"),  # newer than NEWEST: the newest's
])
def test_kubernetes_versions_in_other_forms(given: str, as_version: str) -> None:
    rendered = render({"mode": "policy", "kubernetesVersion": given, "operatorVersion": "v0.20.0",
                       "policy": {"mutating": True}})
    _assert_renders_the_export(rendered, as_version, "v0.20.0")


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
    assert lint_findings({"mode": "both", "operatorVersion": "v0.38.0", "kubernetesVersion": "1.36"}) == []
    validate_values({"mode": "both", "policy": {"mutating": "auto"}})
    for bad in ({"mode": "webhooks"}, {"policy": {"mutating": "yes"}}):
        with pytest.raises(HelmValuesError):
            validate_values(bad)
