"""The chart's scheduled audit: a CronJob running ``audit --all-namespaces --output json`` with read-only RBAC, or
writing policy reports (``audit.policyReports``) with RBAC on them that exists only then.

Rendered by the real Helm engine, checked against Kubernetes' schemas, and its command line parsed by our own CLI.
"""

from __future__ import annotations

from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from tests.support.chart_render import NAMESPACE, RELEASE, lint_findings, render, validate_values
from webhook import cli
from webhook.rules import wording

pytestmark = [pytest.mark.helm]

FULLNAME = f"{RELEASE}-connectionpool-webhook"
AUDIT_KINDS = {"CronJob", "ClusterRole", "ClusterRoleBinding"}
ON: dict[str, Any] = {"audit": {"enabled": True}}
READ_POOLS = {"apiGroups": ["aiven.io"], "resources": ["connectionpools"], "verbs": ["get", "list"]}
# The integrity checks read the Secrets the pools name, by name and as metadata: get, never list or watch.
GET_SECRETS = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
REPORTS = {"policyreport": ("wgpolicyk8s.io", "policyreports"), "openreports": ("openreports.io", "reports")}


def test_off_by_default() -> None:
    rendered = render()
    # By name: the server has a ClusterRole and binding of its own (for the cluster checks).
    assert not [o for o in rendered.objects if o["kind"] in AUDIT_KINDS | {"ServiceAccount"}
                and o["metadata"]["name"].endswith("-audit")]
    assert "CronJob" not in rendered.kinds()


def test_cronjob_and_read_only_rbac() -> None:
    rendered = render(ON)
    cronjob = rendered.one("CronJob")
    assert cronjob["metadata"]["name"] == f"{FULLNAME}-audit"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is True
    (container,) = pod["containers"]
    assert container["command"] == ["connectionpool-webhook"]
    args = cli.build_parser().parse_args(container["args"])
    assert args.command == "audit" and args.all_namespaces and args.output == "json"
    assert args.enforcement == "dryrun", "by default the Job reports and succeeds"
    assert wording.parse_version(args.kubernetes_version)  # the cluster's version at install time
    assert container["securityContext"]["readOnlyRootFilesystem"] is True

    account = rendered.one("ServiceAccount", f"{FULLNAME}-audit")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    role = rendered.one("ClusterRole", f"{FULLNAME}-audit")
    assert role["rules"] == [READ_POOLS, GET_SECRETS]
    binding = rendered.one("ClusterRoleBinding", f"{FULLNAME}-audit")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": NAMESPACE}]


def test_values() -> None:
    values = {"audit": {
        "enabled": True, "schedule": "@daily", "timeZone": "Europe/Helsinki", "chunkSize": 50,
        "kubernetesVersion": "1.28", "failOnDenied": True, "ttlSecondsAfterFinished": 0,
        "startingDeadlineSeconds": 300, "extraArgs": ["--enforcement", "warn"],
        "priorityClassName": "low", "podLabels": {"team": "platform"}, "tolerations": [{"operator": "Exists"}],
        "serviceAccount": {"create": False, "name": "existing"},
    }}
    rendered = render(values)
    cronjob = rendered.one("CronJob")
    assert cronjob["spec"]["schedule"] == "@daily" and cronjob["spec"]["timeZone"] == "Europe/Helsinki"
    assert cronjob["spec"]["startingDeadlineSeconds"] == 300
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["ttlSecondsAfterFinished"] == 0
    pod = job["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[:8] == ["audit", "--all-namespaces", "--output", "json", "--chunk-size", "50",
                        "--kubernetes-version", "1.28"]
    assert args[8:] == ["--enforcement", "warn"], "failOnDenied drops dryrun; extraArgs come last"
    assert cli.build_parser().parse_args(args).enforcement == "warn"
    assert pod["serviceAccountName"] == "existing" and pod["priorityClassName"] == "low"
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert job["template"]["metadata"]["labels"]["team"] == "platform"
    assert not [o for o in rendered.of_kind("ServiceAccount") if o["metadata"]["name"].endswith("-audit")]
    assert rendered.one("ClusterRoleBinding", f"{FULLNAME}-audit")["subjects"][0]["name"] == "existing"


@pytest.mark.parametrize("output", list(REPORTS))
@pytest.mark.parametrize("fail_on_denied", [False, True])
def test_policy_reports(output: str, fail_on_denied: bool) -> None:
    values = {"enforcement": "warn", "audit": {"enabled": True, "failOnDenied": fail_on_denied,
                                               "policyReports": {"enabled": True, "format": output}}}
    rendered = render(values)
    (container,) = rendered.one("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    args = cli.build_parser().parse_args(container["args"])
    assert args.output == output and args.apply and args.all_namespaces
    assert args.enforcement == "warn", "unlabelled namespaces are graded by the chart's cluster-wide mode"
    assert args.exit_zero is not fail_on_denied, "the Job succeeds after reporting, unless failOnDenied"
    group, resource = REPORTS[output]
    assert rendered.one("ClusterRole", f"{FULLNAME}-audit")["rules"] == [
        READ_POOLS, GET_SECRETS,
        {"apiGroups": [group], "resources": [resource], "verbs": ["get", "list", "create", "update", "delete"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
    ]


def test_policy_reports_off_keeps_the_json_log() -> None:
    values = {"audit": {"enabled": True, "policyReports": {"enabled": False, "format": "openreports"}}}
    rendered = render(values)
    audit_files = [name for name in rendered.files if "/audit-" in name]
    assert len(audit_files) == 2
    assert [rendered.files[n] for n in audit_files] == [render(ON).files[n] for n in audit_files], \
        "the format alone changes nothing"
    (container,) = rendered.one("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    args = cli.build_parser().parse_args(container["args"])
    assert (args.output, args.apply, args.exit_zero) == ("json", False, False)
    assert not any(rule["resources"][0] in ("policyreports", "reports", "namespaces")
                   for rule in rendered.one("ClusterRole", f"{FULLNAME}-audit")["rules"])


@pytest.mark.parametrize("kube_version", ["1.28", kubernetes_validate.utils.latest_version()])
@pytest.mark.parametrize("values", [ON, {"audit": {"enabled": True, "policyReports": {"enabled": True}}}])
def test_matches_kubernetes_schemas(kube_version: str, values: dict[str, Any]) -> None:
    for obj in render(values).objects:
        if obj["kind"] in AUDIT_KINDS or obj["metadata"]["name"].endswith("-audit"):
            kubernetes_validate.validate(obj, kube_version, strict=True)


@pytest.mark.parametrize("values", [ON, {"audit": {"enabled": True, "policyReports": {"enabled": True,
                                                                                        "format": "openreports"}}}])
def test_lint(values: dict[str, Any]) -> None:
    assert lint_findings(values) == []
    validate_values(values)


@pytest.mark.parametrize(("values", "where"), [
    ({"audit": {"schedule": "every hour"}}, "/audit/schedule"),
    ({"audit": {"chunkSize": 0}}, "/audit/chunkSize"),
    ({"audit": {"concurrencyPolicy": "Sometimes"}}, "/audit/concurrencyPolicy"),
    ({"audit": {"kubernetesVersion": "latest"}}, "/audit/kubernetesVersion"),
    ({"audit": {"enable": True}}, "enable"),
    ({"audit": {"policyReports": {"format": "clusterpolicyreport"}}}, "/audit/policyReports/format"),
    ({"audit": {"policyReports": {"enabled": "yes"}}}, "/audit/policyReports/enabled"),
    ({"audit": {"policyReports": {"kind": "openreports"}}}, "kind"),
])
def test_schema_rejects_bad_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError) as exc:
        validate_values(values)
    assert where in str(exc.value)
