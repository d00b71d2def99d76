"""``serve --cluster-checks``: the server checks each ConnectionPool against the others and against the Secrets it
names, through its view of a stand-in apiserver (real TLS, a real kubeconfig, the real Kubernetes client), and a
cluster it cannot read never makes it deny, fail to start or be unready.

The servers run in this process (``LiveServer``, serve's own uvicorn settings) except where the command line itself is
under test.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_apiserver import FakeApiserver, stored
from tests.support.https import Client, answer, free_port
from tests.support.metrics import https_metrics, sample
from tests.support.reviews import pool, review, update
from tests.support.servers import LiveServer, ServerProcess
from webhook import cli
from webhook.serve import cluster_checks

PARTIAL = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
NOT_SYNCED = "cluster checks skipped: the view of the cluster's ConnectionPools is not synced yet"
SYNCED = "connectionpool_webhook_cluster_view_synced"
SKIPPED = "connectionpool_webhook_cluster_checks_skipped_total"


@pytest.fixture
def apiserver(certs: Path) -> Iterator[FakeApiserver]:
    # team-a/my-pool manages the Aiven pool (my-project, my-pg, my-pool): the identity of reviews.pool()'s object.
    with FakeApiserver(certs, [stored("my-pool", "team-a", authSecretRef=None)]) as server:
        yield server


@pytest.fixture
def serve(pki: Path) -> Iterator[Callable[..., LiveServer]]:
    """``serve(*args)``: ``connectionpool-webhook serve --cluster-checks ARGS`` in this process, stopped after."""
    servers: list[LiveServer] = []

    def start(*args: str) -> LiveServer:
        server = LiveServer(pki, "--cluster-checks", *args).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def synced(server: LiveServer | ServerProcess) -> None:
    deadline = time.monotonic() + 15
    while sample(https_metrics(server), SYNCED) != 1:
        assert time.monotonic() < deadline, "the server's view of the cluster never synced"
        time.sleep(0.02)


def until(client: Client, body: dict[str, Any], allowed: bool, timeout: float = 5.0) -> dict[str, Any]:
    """The first answer to ``body`` that is ``allowed`` (or not): the view catches up with the fake."""
    deadline = time.monotonic() + timeout
    while (response := answer(client, "/validate", body))["allowed"] is not allowed:
        assert time.monotonic() < deadline, response
        time.sleep(0.01)
    return response


def test_a_pool_another_namespace_manages_is_denied_naming_it_then_allowed_once_it_is_gone(
        apiserver: FakeApiserver, kubeconfig: Path, serve: Callable[..., LiveServer]) -> None:
    server = serve("--kubeconfig", str(kubeconfig))
    synced(server)
    client = server.client()
    response = answer(client, "/validate", review(pool()))
    assert response["allowed"] is False
    assert response["status"]["code"] == 422 and response["status"]["reason"] == "Invalid"
    assert response["status"]["details"]["causes"] == [{
        "reason": "FieldValueDuplicate", "field": "metadata.name",
        "message": 'Duplicate value: "my-pool": ConnectionPool team-a/my-pool already manages the Aiven connection '
                   'pool "my-pool" of project "my-project", service "my-pg"; deleting either would delete it under '
                   "the other"}]
    # Its connection Secret was looked for (none), by name and as metadata only.
    secrets = [r for r in apiserver.recorded if "/secrets/" in r.path]
    assert [(r.path, r.accept) for r in secrets] == [("/api/v1/namespaces/default/secrets/my-pool", PARTIAL)]

    apiserver.delete("team-a", "my-pool")
    response = until(client, review(pool()), allowed=True, timeout=1.0)
    assert "warnings" not in response
    assert client.request("GET", "/readyz").status == 200
    # An UPDATE that changes nothing the checks read is not checked, whoever else manages the pool.
    apiserver.create(stored("my-pool", "team-a", authSecretRef=None))
    until(client, review(pool()), allowed=False)
    assert answer(client, "/validate", update(pool(), pool(poolSize=10)))["allowed"] is True
    client.close()


def test_a_secret_another_controller_owns_is_denied_and_a_missing_auth_secret_warned_about(
        apiserver: FakeApiserver, kubeconfig: Path, serve: Callable[..., LiveServer]) -> None:
    apiserver.put_secret("default", "my-pool", controller={"apiVersion": "apps/v1", "kind": "Deployment",
                                                           "name": "web"})
    server = serve("--kubeconfig", str(kubeconfig))
    synced(server)
    client = server.client()
    own = pool(project="own-project", authSecretRef={"name": "aiven-token", "key": "token"})
    response = answer(client, "/validate", review(own))
    assert response["allowed"] is False
    assert response["status"]["details"]["causes"] == [{
        "reason": "FieldValueForbidden", "field": "spec.connInfoSecretTarget.name",
        "message": "Forbidden: Secret default/my-pool already exists and is controlled by Deployment default/web; "
                   "the operator would write this pool's keys into it"}]
    assert response["warnings"] == ["spec.authSecretRef.name: Secret default/aiven-token not found; the operator "
                                    "cannot reconcile this ConnectionPool until it exists"]
    apiserver.put_secret("default", "aiven-token")
    apiserver.put_secret("default", "my-pool", controller={"apiVersion": "aiven.io/v1alpha1",
                                                           "kind": "ConnectionPool", "name": "my-pool"})
    assert answer(client, "/validate", review(own)) == {"uid": review(own)["request"]["uid"], "allowed": True}
    # Never the whole Secret: every lookup asked for the metadata only.
    assert {r.accept for r in apiserver.recorded if "/secrets/" in r.path} == {PARTIAL}
    client.close()


@pytest.mark.parametrize("cluster", ["unreachable", "forbidden"])
def test_a_cluster_that_cannot_be_read_never_denies_and_the_server_is_ready(
        apiserver: FakeApiserver, kubeconfig: Path, serve: Callable[..., LiveServer], tmp_path: Path,
        cluster: str) -> None:
    args = ["--kubeconfig", str(kubeconfig), "--context", "nobody"]
    if cluster == "unreachable":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.write_text(kubeconfig.read_text().replace(f":{apiserver.port}", f":{free_port()}"))
        args = ["--kubeconfig", str(elsewhere)]
    server = serve(*args)
    client = server.client()
    assert client.request("GET", "/readyz").status == 200
    skipped = sample(https_metrics(server), SKIPPED, reason="not_synced")
    response = answer(client, "/validate", review(pool()))
    assert response["allowed"] is True and response["warnings"] == [NOT_SYNCED]
    # The object's own rules still decide.
    response = answer(client, "/validate", review(pool(poolMode="bogus")))
    assert response["allowed"] is False
    assert response["status"]["details"]["causes"][0]["field"] == "spec.poolMode"
    assert response["warnings"] == [NOT_SYNCED]
    assert sample(https_metrics(server), SKIPPED, reason="not_synced") == skipped + 2
    assert sample(https_metrics(server), SYNCED) == 0
    assert client.request("GET", "/readyz").status == 200
    client.close()


@pytest.mark.process
def test_the_command_line_with_a_bare_cluster_checks_flag(apiserver: FakeApiserver, kubeconfig: Path,
                                                          pki: Path) -> None:
    server = ServerProcess(pki, "--cluster-checks", "--kubeconfig", str(kubeconfig)).wait_ready()
    try:
        synced(server)
        client = server.client()
        assert answer(client, "/validate", review(pool()))["allowed"] is False
        apiserver.delete("team-a", "my-pool")
        until(client, review(pool()), allowed=True)
        client.close()
    finally:
        assert server.stop() == 0
    assert "cluster view: 1 ConnectionPools listed" in server.log_file.read_text()


@pytest.mark.process
def test_without_cluster_checks_the_server_never_loads_the_kubernetes_client() -> None:
    code = ("import sys; from webhook.serve.app import create_app; create_app(); "
            "print('kubernetes' in sys.modules, 'webhook.kube' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


# --- the options -----------------------------------------------------------------------------------------------------

def test_cluster_checks_is_a_flag_that_also_takes_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.serve_settings([]).cluster_checks is False
    assert cli.serve_settings(["--cluster-checks"]).cluster_checks is True
    assert cli.serve_settings(["--cluster-checks", "--port", "9443"]).port == 9443
    assert cli.serve_settings(["--cluster-checks", "false"]).cluster_checks is False
    assert cli.serve_settings(["--cluster-checks=true"]).cluster_checks is True
    monkeypatch.setenv("WEBHOOK_CLUSTER_CHECKS", "true")
    monkeypatch.setenv("WEBHOOK_CLUSTER_TIMEOUT", "2.5")
    monkeypatch.setenv("WEBHOOK_CONTEXT", "prod")
    settings = cli.serve_settings(["--kubeconfig", "/etc/kube/config"])
    assert (settings.cluster_checks, settings.cluster_timeout, settings.context) == (True, 2.5, "prod")
    assert settings.kubeconfig == Path("/etc/kube/config")


@pytest.mark.parametrize(("args", "complaint"), [
    (["--cluster-checks", "maybe"], "--cluster-checks: Input should be a valid boolean"),
    (["--cluster-timeout", "0"], "--cluster-timeout: Input should be greater than 0"),
    (["--cluster-timeout", "11"], "--cluster-timeout: Input should be less than or equal to 10"),
])
def test_bad_cluster_options_are_refused_clearly(args: list[str], complaint: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.serve_settings(args)
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err


def _stored_object(**spec: Any) -> dict[str, Any]:
    base = {"project": "my-project", "serviceName": "my-pg", "databaseName": "db", "username": "u",
            "connInfoSecretTarget": {"name": "conn"}, "authSecretRef": {"name": "token", "key": "t"}}
    return {"metadata": {"name": "my-pool", "namespace": "team-a", "labels": {"a": "1"}}, "spec": {**base, **spec}}


@pytest.mark.parametrize(("change", "checked"), [
    ({"poolSize": 20}, False),
    ({"metadata": {"labels": {"a": "2"}}}, False),
    ({"project": "other"}, True),
    ({"serviceName": "other"}, True),
    ({"connInfoSecretTarget": {"name": "other"}}, True),
    ({"connInfoSecretTarget": None}, True),
    ({"connInfoSecretTargetDisabled": True}, True),
    ({"authSecretRef": {"name": "other", "key": "t"}}, True),
    ({"metadata": {"name": "renamed"}}, True),
])
def test_an_update_is_checked_against_the_cluster_only_when_it_changes_what_the_checks_read(
        change: dict[str, Any], checked: bool) -> None:
    """The usual UPDATE (labels, a new poolSize) is not looked up at all; one that changes the identity, the Secret
    it writes or the Secret it reads is."""
    old = _stored_object()
    new = _stored_object(**{k: v for k, v in change.items() if k != "metadata"})
    if change.get("connInfoSecretTarget", "") is None:
        del new["spec"]["connInfoSecretTarget"]
    new["metadata"].update(change.get("metadata", {}))
    assert cluster_checks.unchanged(new, old) is not checked
    assert cluster_checks.unchanged(old, old)
    assert not cluster_checks.unchanged(None, old) and not cluster_checks.unchanged({"spec": []}, old)
