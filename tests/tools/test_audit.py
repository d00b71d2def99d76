"""``connectionpool-webhook audit`` against a local HTTPS stand-in for the apiserver's list API (real TLS, a real
kubeconfig read by the Kubernetes client), with objects shaped like ones a v1.28 apiserver stored.

The command runs as a user runs it (``command``: in this process under `make mutation`, so that mutation testing
sees audit.py), except where the test sets the environment of a child process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import cli, command, make_certs
from tests.support.fake_apiserver import PREFIX, FakeApiserver, audited_cluster, stored
from tests.support.https import free_port
from webhook.rules import ruleset

objects = audited_cluster  # the cluster of conftest's apiserver


def audit(*args: str, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """``audit ARGS``: the exit status, the report (JSON parsed when asked for) and stderr. With ``env``, always in a
    child process with that environment (the Kubernetes client reads KUBECONFIG when it is imported)."""
    result = cli("audit", *args, env=env) if env is not None else command("audit", *args)
    try:
        body: Any = json.loads(result.stdout) if "--output" in args or "-o" in args else result.stdout
    except json.JSONDecodeError:
        body = result.stdout
    return result.returncode, body, result.stderr


def test_all_namespaces_page_by_page(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    code, report, stderr = audit("--kubeconfig", str(kubeconfig), "--all-namespaces", "--chunk-size", "3",
                                 "--output", "json")
    assert code == 1, stderr
    # Three pages of at most 3, each after the first carrying the previous page's continue token.
    assert [path for path, _ in apiserver.pool_requests()] == [f"{PREFIX}/connectionpools"] * 3
    assert [q.get("limit") for _, q in apiserver.pool_requests()] == [["3"]] * 3
    assert [("continue" in q) for _, q in apiserver.pool_requests()] == [False, True, True]
    names = [(r["namespace"], r["name"]) for r in report["results"]]
    assert names == [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects()]
    assert all("file" not in r and "line" not in r for r in report["results"])
    denied = {r["name"]: {c["reason"] for c in r["causes"]} for r in report["results"] if not r["allowed"]}
    assert denied == {"bogus-mode": {"FieldValueNotSupported"}, "float-size": {"FieldValueTypeInvalid"},
                      "long-project": {"FieldValueTooLong", "FieldValueRequired"}}
    # The verdict is admit's: causes and patch, for every object.
    for obj, result in zip(objects(), report["results"], strict=True):
        admission = ruleset.admit(obj)
        assert result["causes"] == _causes(obj)
        assert result["patch"] == list(admission.patch)
    assert report["summary"] == {"checked": 7, "allowed": 4, "denied": 3, "skipped": 0, "errors": 0,
                                 "enforcement": "deny", "kubernetesVersion": report["summary"]["kubernetesVersion"],
                                 "operatorVersion": "v0.8.0",
                                 "exitCode": 1}


def _causes(obj: dict[str, Any]) -> list[dict[str, str]]:
    return [{"reason": str(e.type), "field": e.field, "message": e.message} for e in ruleset.admit(obj).errors]


def test_one_namespace_and_the_context_namespace(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    code, report, _ = audit("--kubeconfig", str(kubeconfig), "-n", "team-b", "-o", "json")
    assert code == 1
    assert {r["name"] for r in report["results"]} == {"long-project", "ok-b", "ok-c"}
    assert apiserver.pool_requests()[-1][0] == f"{PREFIX}/namespaces/team-b/connectionpools"
    # No --namespace: the kubeconfig context's namespace (team-a), as kubectl would use.
    code, report, _ = audit("--kubeconfig", str(kubeconfig), "-o", "json")
    assert apiserver.pool_requests()[-1][0] == f"{PREFIX}/namespaces/team-a/connectionpools"
    assert {r["name"] for r in report["results"]} == {"float-size", "ok-a"}


def test_another_context_lists_its_own_namespace(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    # --context team-b without -n: team-b's namespace, as kubectl --context team-b would, not the current context's.
    code, report, _ = audit("--kubeconfig", str(kubeconfig), "--context", "team-b", "-o", "json")
    assert apiserver.pool_requests()[-1][0] == f"{PREFIX}/namespaces/team-b/connectionpools"
    assert code == 1 and {r["name"] for r in report["results"]} == {"long-project", "ok-b", "ok-c"}


@pytest.mark.process
def test_kubeconfig_from_the_environment(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    import os  # noqa: PLC0415

    code, report, _ = audit("-n", "team-a", "-o", "json", env={**os.environ, "KUBECONFIG": str(kubeconfig)})
    assert code == 1 and len(report["results"]) == 2


def test_text_output(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    code, out, _ = audit("--kubeconfig", str(kubeconfig), "-n", "default")
    assert code == 1
    assert out == (
        "default/bogus-mode\n"
        'The ConnectionPool "bogus-mode" is invalid: spec.poolMode: Unsupported value: "bogus": supported values: '
        '"session", "transaction", "statement"\n'
        "\n"
        "2 ConnectionPools checked: 1 allowed, 1 denied\n"
    )


def test_all_allowed_and_warn(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.objects[:] = [stored("fine", "team-a")]
    assert audit("--kubeconfig", str(kubeconfig))[0] == 0
    apiserver.objects[:] = objects()
    assert audit("--kubeconfig", str(kubeconfig), "-A", "--enforcement", "warn")[0] == 0


def test_an_expired_continue_token_reads_the_list_again(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.expire_continue = True
    code, report, _ = audit("--kubeconfig", str(kubeconfig), "-A", "--chunk-size", "2", "-o", "json")
    assert code == 1 and len(report["results"]) == len(objects())
    assert [("limit" in q, "continue" in q) for _, q in apiserver.pool_requests()] == [(True, False), (True, True),
                                                                                (False, False)]


@pytest.mark.parametrize(("args", "message"), [
    (("--context", "nobody", "-A"),
     'Forbidden (403): connectionpools.aiven.io is forbidden: User "system:serviceaccount:default:nobody" cannot '
     'list resource "connectionpools" in API group "aiven.io" at the cluster scope'),
])
def test_forbidden(apiserver: FakeApiserver, kubeconfig: Path, args: tuple[str, ...], message: str) -> None:
    code, report, stderr = audit("--kubeconfig", str(kubeconfig), *args, "-o", "json")
    assert code == 2
    assert stderr == f"error: {message}\n"
    assert report["errors"] == [{"message": message}] and report["results"] == []


def test_unauthorized(apiserver: FakeApiserver, certs: Path, tmp_path: Path) -> None:
    config = apiserver.kubeconfig(tmp_path / "kubeconfig", certs / "ca.crt", token="wrong")
    code, _, stderr = audit("--kubeconfig", str(config))
    assert code == 2
    assert stderr == (f"error: Unauthorized: the server {apiserver.url} rejected the credentials (401): "
                      "Unauthorized\n")


def test_unreachable_server(apiserver: FakeApiserver, certs: Path, tmp_path: Path) -> None:
    config = apiserver.kubeconfig(tmp_path / "kubeconfig", certs / "ca.crt")
    port = free_port()
    config.write_text(config.read_text().replace(f":{apiserver.port}", f":{port}"))
    code, _, stderr = audit("--kubeconfig", str(config))
    assert code == 2
    assert stderr == (f"error: The connection to the server 127.0.0.1:{port} was refused - did you specify the "
                      "right host or port?\n")


def test_untrusted_certificate(apiserver: FakeApiserver, tmp_path: Path) -> None:
    other_ca = make_certs(tmp_path / "other", "localhost") / "ca.crt"
    config = apiserver.kubeconfig(tmp_path / "kubeconfig", other_ca)
    code, _, stderr = audit("--kubeconfig", str(config))
    assert code == 2
    assert stderr.startswith(f"error: Unable to connect to the server 127.0.0.1:{apiserver.port}: TLS: ")
    assert "CERTIFICATE_VERIFY_FAILED" in stderr and stderr.count("\n") == 1


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "cannot load the cluster configuration: "),
    ("garbage", "cannot load the cluster configuration: "),
    ("context", "cannot load the cluster configuration: "),
])
def test_bad_configuration(tmp_path: Path, kubeconfig: Path, setup: str, message: str) -> None:
    args = ["--kubeconfig", str(tmp_path / "nope")]
    if setup == "garbage":
        (tmp_path / "garbage").write_text("clusters: [}")
        args = ["--kubeconfig", str(tmp_path / "garbage")]
    if setup == "context":
        args = ["--kubeconfig", str(kubeconfig), "--context", "no-such-context"]
    code, _, stderr = audit(*args)
    assert code == 2 and stderr.startswith(f"error: {message}") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr


def test_no_crd(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.crd_installed = False
    code, _, stderr = audit("--kubeconfig", str(kubeconfig))
    assert code == 2 and "has no resource connectionpools.aiven.io/v1alpha1" in stderr
