"""The chart's scheduled audit: a CronJob running ``audit --all-namespaces --output json`` with read-only RBAC.

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
    assert role["rules"] == [{"apiGroups": ["aiven.io"], "resources": ["connectionpools"], "verbs": ["get", "list"]}]
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


@pytest.mark.parametrize("kube_version", ["1.28", kubernetes_validate.utils.latest_version()])
def test_matches_kubernetes_schemas(kube_version: str) -> None:
    for obj in render(ON).objects:
        if obj["kind"] in AUDIT_KINDS or obj["metadata"]["name"].endswith("-audit"):
            kubernetes_validate.validate(obj, kube_version, strict=True)


def test_lint() -> None:
    assert lint_findings(ON) == []
    validate_values(ON)


@pytest.mark.parametrize(("values", "where"), [
    ({"audit": {"schedule": "every hour"}}, "/audit/schedule"),
    ({"audit": {"chunkSize": 0}}, "/audit/chunkSize"),
    ({"audit": {"concurrencyPolicy": "Sometimes"}}, "/audit/concurrencyPolicy"),
    ({"audit": {"kubernetesVersion": "latest"}}, "/audit/kubernetesVersion"),
    ({"audit": {"enable": True}}, "enable"),
])
def test_schema_rejects_bad_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError) as exc:
        validate_values(values)
    assert where in str(exc.value)
