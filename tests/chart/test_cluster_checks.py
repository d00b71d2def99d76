"""The chart's side of the cluster checks (``--cluster-checks``): on by default, with a ServiceAccount whose RBAC grants
get, list and watch on connectionpools.aiven.io and get on Secrets and nothing more; the token mounted only then.

Rendered by the real Helm engine; what the RBAC allows is worked out from the rendered rules as the apiserver's RBAC
authorizer reads them (wildcards included), so "nothing more" is checked verb by verb, not only as text.
"""

from __future__ import annotations

from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from tests.support.chart_render import NAMESPACE, RELEASE, Rendered, lint_findings, render, validate_values

pytestmark = [pytest.mark.helm]

FULLNAME = f"{RELEASE}-connectionpool-webhook"
RBAC_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
OFF: dict[str, Any] = {"clusterChecks": {"enabled": False}}
EXACT_RULES = [
    {"apiGroups": ["aiven.io"], "resources": ["connectionpools"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
]
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "impersonate", "bind",
         "escalate"]
# (group, resource) pairs to ask about: what the checks read, what sits next to it, and a subresource.
RESOURCES = [("aiven.io", "connectionpools"), ("aiven.io", "connectionpools/status"), ("aiven.io", "pgs"),
             ("", "secrets"), ("", "configmaps"), ("", "pods"), ("", "serviceaccounts/token"),
             ("rbac.authorization.k8s.io", "clusterroles")]


def allows(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    """Whether any rule grants the request, with the RBAC authorizer's matching: ``*`` matches any group, resource or
    verb, and a resource ``x/*`` every subresource of x (no resourceNames: every rule here is for all names)."""
    def matches(values: list[str], value: str, *, subresources: bool = False) -> bool:
        if "*" in values or value in values:
            return True
        return subresources and "/" in value and f"{value.split('/', maxsplit=1)[0]}/*" in values
    return any(matches(rule.get("apiGroups", []), group) and matches(rule.get("resources", []), resource,
                                                                     subresources=True)
               and matches(rule.get("verbs", []), verb) and not rule.get("resourceNames")
               for rule in rules)


def server_account(out: Rendered) -> tuple[str, str]:
    """(namespace, name) of the ServiceAccount the server's pods run as."""
    return NAMESPACE, out.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]


def rules_bound_to(out: Rendered, account: tuple[str, str]) -> list[dict[str, Any]]:
    """Every rule of every role the render binds to ``account``."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in out.objects
             if o["kind"] in ("ClusterRole", "Role")}
    rules: list[dict[str, Any]] = []
    for binding in out.objects:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        subjects = {(s.get("namespace"), s["name"]) for s in binding["subjects"] if s["kind"] == "ServiceAccount"}
        if account not in subjects:
            continue
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        rules += roles[(ref["kind"], namespace, ref["name"])]["rules"]
    return rules


def test_on_by_default_with_exactly_the_rbac_the_checks_need() -> None:
    out = render()
    role = out.one("ClusterRole", FULLNAME)
    assert role["rules"] == EXACT_RULES
    binding = out.one("ClusterRoleBinding", FULLNAME)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": FULLNAME}
    account = out.one("ServiceAccount", FULLNAME)
    assert server_account(out) == (NAMESPACE, account["metadata"]["name"])
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    # No other role or binding in the default render: the binding above is all the server gets.
    assert sorted(o["kind"] for o in out.objects if o["kind"] in RBAC_KINDS) == ["ClusterRole", "ClusterRoleBinding"]


@pytest.mark.parametrize("values", [{}, {"audit": {"enabled": True}}, {"serviceAccount": {"create": False,
                                                                                           "name": "webhook"}}],
                         ids=["defaults", "with-audit", "own-account"])
def test_the_server_can_do_exactly_what_the_checks_need(values: dict[str, Any]) -> None:
    """Verb by verb over the rules bound to the server's ServiceAccount (the audit's binding is another account's)."""
    out = render(values)
    rules = rules_bound_to(out, server_account(out))
    granted = {(group, resource, verb) for group, resource in RESOURCES for verb in VERBS
               if allows(rules, group, resource, verb)}
    assert granted == {("aiven.io", "connectionpools", "get"), ("aiven.io", "connectionpools", "list"),
                       ("aiven.io", "connectionpools", "watch"), ("", "secrets", "get")}


def test_the_rbac_reading_can_fail() -> None:
    """``allows`` is only worth something if a wider rule makes it say so."""
    assert allows([{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}], "", "configmaps", "get")
    assert allows([{"apiGroups": ["*"], "resources": ["secrets"], "verbs": ["*"]}], "", "secrets", "list")
    assert allows([{"apiGroups": ["aiven.io"], "resources": ["connectionpools/*"], "verbs": ["get"]}], "aiven.io",
                  "connectionpools/status", "get")
    assert not allows(EXACT_RULES, "", "secrets", "list")
    assert not allows(EXACT_RULES, "", "secrets", "watch")
    assert not allows(EXACT_RULES, "aiven.io", "connectionpools", "update")


def test_token_and_environment_only_with_cluster_checks() -> None:
    on, off = render(), render(OFF)
    on_pod, off_pod = (r.one("Deployment")["spec"]["template"]["spec"] for r in (on, off))
    assert on_pod["automountServiceAccountToken"] is True
    assert off_pod["automountServiceAccountToken"] is False
    # The ServiceAccount itself never mounts by default: only the pod that needs the token asks for it.
    for out in (on, off):
        assert out.one("ServiceAccount")["automountServiceAccountToken"] is False
    assert on.env()["WEBHOOK_CLUSTER_CHECKS"] == "true"
    assert on.env()["WEBHOOK_CLUSTER_TIMEOUT"] == "1"
    assert not {"WEBHOOK_CLUSTER_CHECKS", "WEBHOOK_CLUSTER_TIMEOUT"} & set(off.env())
    assert not RBAC_KINDS & set(off.kinds())
    # Nothing else about the pod changes with the checks: no other volume, port or variable.
    on_pod["automountServiceAccountToken"] = off_pod["automountServiceAccountToken"]
    on_pod["containers"][0]["env"] = off_pod["containers"][0]["env"] = []
    assert on_pod == off_pod


@pytest.mark.parametrize(("seconds", "shown"), [(0.5, "0.5"), (2, "2"), (4.9, "4.9")])
def test_timeout(seconds: float, shown: str) -> None:
    assert render({"clusterChecks": {"timeoutSeconds": seconds}}).env()["WEBHOOK_CLUSTER_TIMEOUT"] == shown


def test_rbac_create_false_leaves_the_binding_to_you() -> None:
    out = render({"rbac": {"create": False}})
    assert not RBAC_KINDS & set(out.kinds())
    assert out.env()["WEBHOOK_CLUSTER_CHECKS"] == "true"
    assert out.one("Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"] is True


def test_an_existing_service_account_is_bound() -> None:
    out = render({"serviceAccount": {"create": False, "name": "webhook"}})
    assert not out.of_kind("ServiceAccount")
    assert out.one("ClusterRoleBinding")["subjects"] == [{"kind": "ServiceAccount", "name": "webhook",
                                                          "namespace": NAMESPACE}]
    assert server_account(out) == (NAMESPACE, "webhook")


def test_the_namespace_default_service_account_is_never_bound() -> None:
    with pytest.raises(helm.HelmRenderError) as exc:
        render({"serviceAccount": {"create": False}})
    assert "name one in serviceAccount.name" in str(exc.value)
    # Without RBAC from the chart, or without the checks, the default account is what it was.
    assert render({"serviceAccount": {"create": False}, "rbac": {"create": False}}).one(
        "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "default"
    assert not RBAC_KINDS & set(render({"serviceAccount": {"create": False}, **OFF}).kinds())


@pytest.mark.parametrize("values", [{"mode": "policy"}, {"webhook": {"url": "https://dev.example.com:8443"}}],
                         ids=["policy-mode", "url"])
def test_no_rbac_without_a_server_in_the_cluster(values: dict[str, Any]) -> None:
    assert not RBAC_KINDS & set(render(values).kinds())


@pytest.mark.parametrize("values", [{}, OFF, {"rbac": {"create": False}}], ids=["on", "off", "no-rbac"])
def test_lint_strict(values: dict[str, Any]) -> None:
    assert lint_findings(values) == []
    validate_values(values)


@pytest.mark.parametrize("kube_version", ["1.28", kubernetes_validate.utils.latest_version()])
def test_rbac_matches_kubernetes_schemas(kube_version: str) -> None:
    for obj in render().objects:
        if obj["kind"] in RBAC_KINDS:
            kubernetes_validate.validate(obj, kube_version, strict=True)


@pytest.mark.parametrize(("values", "where"), [
    ({"clusterChecks": {"timeoutSeconds": 0}}, "/clusterChecks/timeoutSeconds"),
    ({"clusterChecks": {"timeoutSeconds": -1}}, "/clusterChecks/timeoutSeconds"),
    ({"clusterChecks": {"timeoutSeconds": 10.5}}, "/clusterChecks/timeoutSeconds"),
    ({"clusterChecks": {"timeoutSeconds": "1s"}}, "/clusterChecks/timeoutSeconds"),
    ({"clusterChecks": {"enabled": "yes"}}, "/clusterChecks/enabled"),
    ({"clusterChecks": {"enable": True}}, "enable"),
    ({"rbac": {"create": "true"}}, "/rbac/create"),
    # Not below the apiserver's own wait for the answer: it would give up before the checks did.
    ({"clusterChecks": {"timeoutSeconds": 5}}, "/clusterChecks/timeoutSeconds"),
    ({"clusterChecks": {"timeoutSeconds": 3}, "webhook": {"timeoutSeconds": 3}}, "/clusterChecks/timeoutSeconds"),
    ({"clusterChecks": {"timeoutSeconds": 2.5}, "webhook": {"timeoutSeconds": 2}}, "/clusterChecks/timeoutSeconds"),
    ({"clusterChecks": {"timeoutSeconds": 1}, "webhook": {"timeoutSeconds": 1}}, "/clusterChecks/timeoutSeconds"),
])
def test_schema_rejects_bad_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError) as exc:
        validate_values(values)
    assert where in str(exc.value)


@pytest.mark.parametrize("values", [
    {"clusterChecks": {"timeoutSeconds": 10}, "webhook": {"timeoutSeconds": 11}},
    {"clusterChecks": {"timeoutSeconds": 10}, "webhook": {"timeoutSeconds": 30}},
    {"clusterChecks": {"timeoutSeconds": 2.9}, "webhook": {"timeoutSeconds": 3}},
    {"clusterChecks": {"timeoutSeconds": 0.001}, "webhook": {"timeoutSeconds": 1}},
])
def test_schema_accepts_timeouts_below_the_webhooks(values: dict[str, Any]) -> None:
    validate_values(values)
