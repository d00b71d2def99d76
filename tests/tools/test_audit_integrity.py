"""``audit`` as the net for what admission let through (two conflicting creates at once, objects from before the
webhook): the integrity rules 1 and 2 among the stored ConnectionPools, each conflict reported once on the younger
object and naming the older; 3 and 5 from the Secrets the pools name, read by name as metadata only, against the
stand-in apiserver over real TLS."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.commands import cli
from tests.support.fake_apiserver import PARTIAL_METADATA, FakeApiserver, stored
from tests.tools.test_audit import audit
from webhook.tools import secret_checks

POOL_OWNER = {"apiVersion": "aiven.io/v1alpha1", "kind": "ConnectionPool"}


def pool(name: str, namespace: str, created: str, **spec: Any) -> dict[str, Any]:
    obj = stored(name, namespace, **spec)
    obj["metadata"]["creationTimestamp"] = created
    return obj


@pytest.fixture
def apiserver(certs: Path) -> Iterator[FakeApiserver]:
    with FakeApiserver(certs) as server:
        yield server


def run(apiserver: FakeApiserver, kubeconfig: Path, objects: list[dict[str, Any]], *args: str) -> tuple[int, Any, str]:
    apiserver.load(objects)
    apiserver.put_tokens()
    return audit("--kubeconfig", str(kubeconfig), "-A", "-o", "json", *args)


def causes(report: dict[str, Any]) -> dict[str, list[tuple[str, str, str]]]:
    return {f"{r['namespace']}/{r['name']}": [(c["reason"], c["field"], c["message"]) for c in r["causes"]]
            for r in report["results"]}


def test_the_same_aiven_pool_twice_is_reported_once_on_the_younger(apiserver: FakeApiserver,
                                                                    kubeconfig: Path) -> None:
    # The list comes sorted by namespace; the older object is in the later namespace.
    code, report, stderr = run(apiserver, kubeconfig, [
        pool("orders", "team-a", "2026-11-30T10:00:00Z"),
        pool("orders", "team-z", "2026-11-01T10:00:00Z"),
    ])
    assert code == 1, stderr
    assert causes(report) == {
        "team-a/orders": [(
            "FieldValueDuplicate", "metadata.name",
            'Duplicate value: "orders": ConnectionPool team-z/orders already manages the Aiven connection pool '
            '"orders" of project "my-project", service "my-pg"; deleting either would delete it under the other')],
        "team-z/orders": [],
    }


def test_the_same_secret_twice_in_one_namespace(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    code, report, _ = run(apiserver, kubeconfig, [
        pool("orders", "team-a", "2026-11-01T10:00:00Z"),
        pool("reports", "team-a", "2026-11-02T10:00:00Z", connInfoSecretTarget={"name": "orders"}),
        # Another namespace's Secret of that name is another Secret.
        pool("orders-b", "team-b", "2026-11-03T10:00:00Z", project="other", connInfoSecretTarget={"name": "orders"}),
    ])
    assert code == 1
    assert causes(report) == {
        "team-a/orders": [],
        "team-a/reports": [(
            "FieldValueDuplicate", "spec.connInfoSecretTarget.name",
            'Duplicate value: "orders": ConnectionPool team-a/orders already writes the Secret team-a/orders; the '
            "operator would fail to reconcile this one")],
        "team-b/orders-b": [],
    }


def test_a_secret_another_object_controls(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.put_secret("team-a", "orders", controller={"apiVersion": "apps/v1", "kind": "Deployment",
                                                         "name": "billing"})
    apiserver.put_secret("team-a", "mine", controller={**POOL_OWNER, "name": "mine"})
    apiserver.put_secret("team-a", "loose")
    code, report, _ = run(apiserver, kubeconfig, [
        pool("orders", "team-a", "2026-11-01T10:00:00Z"),
        pool("mine", "team-a", "2026-11-01T10:00:00Z", serviceName="pg-2"),  # its own Secret: fine
        pool("loose", "team-a", "2026-11-01T10:00:00Z", serviceName="pg-3"),
        pool("absent", "team-a", "2026-11-01T10:00:00Z", serviceName="pg-4"),  # not reconciled yet: fine
    ])
    assert code == 1
    assert causes(report) == {
        "team-a/absent": [],
        "team-a/loose": [(
            "FieldValueForbidden", "spec.connInfoSecretTarget.name",
            "Forbidden: Secret team-a/loose already exists and has no controller; the operator would write this "
            "pool's keys into it")],
        "team-a/mine": [],
        "team-a/orders": [(
            "FieldValueForbidden", "spec.connInfoSecretTarget.name",
            "Forbidden: Secret team-a/orders already exists and is controlled by Deployment team-a/billing; the "
            "operator would write this pool's keys into it")],
    }
    # Each Secret was read once, by name, as metadata only.
    asked = apiserver.secret_requests()
    assert all(PARTIAL_METADATA in r.accept.replace(" ", "") for r in asked)
    assert sorted(r.path.rsplit("/", 1)[1] for r in asked) == ["absent", "aiven-token", "loose", "mine", "orders"]


def test_no_secret_is_written_when_the_target_is_disabled(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.put_secret("team-a", "orders")
    code, report, _ = run(apiserver, kubeconfig, [
        pool("orders", "team-a", "2026-11-01T10:00:00Z", connInfoSecretTargetDisabled=True),
        pool("second", "team-a", "2026-11-02T10:00:00Z", serviceName="pg-2", connInfoSecretTargetDisabled=True,
             connInfoSecretTarget={"name": "orders"}),
    ], "--operator-version", "v0.38.0")
    assert code == 0, causes(report)
    assert [r.path for r in apiserver.secret_requests()] == ["/api/v1/namespaces/team-a/secrets/aiven-token"]


def test_a_missing_auth_secret_is_a_warning(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.load([pool("orders", "team-a", "2026-11-01T10:00:00Z", authSecretRef={"name": "gone", "key": "t"})])
    code, report, _ = audit("--kubeconfig", str(kubeconfig), "-A", "-o", "json")
    assert code == 0
    warning = ("spec.authSecretRef.name: Secret team-a/gone not found; the operator cannot reconcile this "
               "ConnectionPool until it exists")
    assert report["results"][0]["allowed"] and report["results"][0]["warnings"] == [warning]
    code, text, _ = audit("--kubeconfig", str(kubeconfig), "-A")
    assert (code, text) == (0, f"team-a/orders\nWarning: {warning}\n\n1 ConnectionPool checked: 1 allowed, 0 denied\n")
    code, reports, _ = audit("--kubeconfig", str(kubeconfig), "-A", "-o", "policyreport")
    results = yaml.safe_load(reports)["results"]
    assert [(r["rule"], r["result"], r["scored"]) for r in results] == [("Warning", "warn", False),
                                                                        ("AllRules", "pass", True)]


def test_objects_being_deleted(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    older = pool("orders", "team-a", "2026-11-01T10:00:00Z")
    older["metadata"]["deletionTimestamp"] = "2026-12-01T10:00:00Z"
    younger_deleting = pool("orders", "team-c", "2026-11-05T10:00:00Z")
    younger_deleting["metadata"]["deletionTimestamp"] = "2026-12-01T10:00:00Z"
    apiserver.put_secret("team-c", "orders", controller={"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"})
    code, report, _ = run(apiserver, kubeconfig, [older, pool("orders", "team-b", "2026-11-02T10:00:00Z"),
                                                  younger_deleting])
    # The one being deleted still manages the Aiven pool until it is gone: the other is told so; an object being
    # deleted is never judged by these rules, and its Secret is not read.
    found = causes(report)
    assert found["team-a/orders"] == [] and found["team-c/orders"] == []
    assert [m for _, _, m in found["team-b/orders"]] == [
        'Duplicate value: "orders": ConnectionPool team-a/orders (being deleted) already manages the Aiven '
        'connection pool "orders" of project "my-project", service "my-pg"; deleting either would delete it under '
        "the other"]
    assert code == 1
    assert "/api/v1/namespaces/team-c/secrets/orders" not in [r.path for r in apiserver.secret_requests()]


def test_secrets_that_may_not_be_read_skip_their_checks_with_one_warning(apiserver: FakeApiserver,
                                                                         kubeconfig: Path) -> None:
    apiserver.refused.add("secrets")
    many = [pool(f"pool-{i}", "team-a", "2026-11-01T10:00:00Z") for i in range(60)]
    code, report, stderr = run(apiserver, kubeconfig, [*many, pool("pool-0", "team-b", "2026-11-02T10:00:00Z")])
    assert code == 1, "what could be judged still is: the same pool twice"
    assert [r["name"] for r in report["results"] if not r["allowed"]] == ["pool-0"]
    assert stderr == (
        "warning: the checks of the Secrets the ConnectionPools name were skipped: Forbidden (403): secrets "
        '"aiven-token" is forbidden: User "system:serviceaccount:default:nobody" cannot get resource "secrets" in '
        'API group "" in the namespace "team-a" (the audit needs get on secrets)\n')
    # The first refusal stops the lookups not yet sent.
    assert len(apiserver.secret_requests()) <= secret_checks.CONCURRENCY
    assert report["summary"]["errors"] == 0


def test_no_secret_checks(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.put_secret("team-a", "orders")
    code, report, _ = run(apiserver, kubeconfig, [pool("orders", "team-a", "2026-11-01T10:00:00Z")],
                          "--no-secret-checks")
    assert code == 0 and causes(report) == {"team-a/orders": []}
    assert apiserver.secret_requests() == []


@pytest.mark.process
def test_a_kubeconfig_that_skips_tls_verification_says_so_once(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    del cluster["certificate-authority"]
    cluster["insecure-skip-tls-verify"] = True
    kubeconfig.write_text(yaml.safe_dump(config))
    apiserver.load([pool(f"p{i}", "team-a", "2026-11-01T10:00:00Z", authSecretRef=None) for i in range(3)])
    result = cli("audit", "-A", env={**os.environ, "KUBECONFIG": str(kubeconfig)})
    assert result.returncode == 0, result.stderr
    # No urllib3 InsecureRequestWarning (with its source line) per request: our words, once.
    assert result.stderr == ("warning: the kubeconfig skips TLS verification (insecure-skip-tls-verify): the "
                             "server's certificate is not checked\n")


def test_a_secret_written_by_another_pool_is_reported_once(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.put_secret("team-a", "orders", controller={**POOL_OWNER, "name": "orders"})
    code, report, _ = run(apiserver, kubeconfig, [
        pool("orders", "team-a", "2026-11-01T10:00:00Z"),
        pool("reports", "team-a", "2026-11-02T10:00:00Z", serviceName="pg-2", connInfoSecretTarget={"name": "orders"}),
    ])
    assert code == 1
    assert [reason for reason, _, _ in causes(report)["team-a/reports"]] == ["FieldValueDuplicate"]
    assert causes(report)["team-a/orders"] == []
