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


def test_an_expired_continue_token_in_a_namespace_reads_that_namespace_again(apiserver: FakeApiserver,
                                                                            kubeconfig: Path) -> None:
    apiserver.expire_continue = True
    code, report, _ = audit("--kubeconfig", str(kubeconfig), "-n", "team-b", "--chunk-size", "2", "-o", "json")
    assert code == 1 and {r["name"] for r in report["results"]} == {"long-project", "ok-b", "ok-c"}
    assert [(path, q.get("limit"), "continue" in q) for path, q in apiserver.pool_requests()] == [
        (f"{PREFIX}/namespaces/team-b/connectionpools", ["2"], False),
        (f"{PREFIX}/namespaces/team-b/connectionpools", ["2"], True),
        (f"{PREFIX}/namespaces/team-b/connectionpools", None, False),
    ]


def test_a_failure_on_a_later_page_is_reported_not_read_around(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    # Only an expired token (410) is read again from the start; any other failure ends the audit with an error.
    apiserver.canned[1] = (500, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
                                 "reason": "InternalError", "message": "etcd is down"})
    code, report, stderr = audit("--kubeconfig", str(kubeconfig), "-A", "--chunk-size", "3", "-o", "json")
    assert code == 2 and report["results"] == [] and len(apiserver.requests) == 2
    assert stderr == f"error: the server {apiserver.url} answered 500 Internal Server Error: etcd is down\n"


@pytest.mark.parametrize(("code", "body", "message"), [
    # Statuses without a message: the one-line reason alone, never an empty ": ".
    (401, None, "Unauthorized: the server {url} rejected the credentials (401)"),
    (403, None, "Forbidden (403): the credentials may not list connectionpools.aiven.io"),
    (404, None, "the server {url} has no resource connectionpools.aiven.io/v1alpha1 (is the ConnectionPool CRD "
                "installed?)"),
    (503, None, "the server {url} answered 503 Service Unavailable"),
    (503, {"kind": "Status", "message": "  the apiserver\n is  shutting down "},
     "the server {url} answered 503 Service Unavailable: the apiserver is shutting down"),
    # What a proxy in front of the apiserver may send: not a Status, so only the status line is shown.
    (502, b"<html><body>Bad Gateway</body></html>", "the server {url} answered 502 Bad Gateway"),
    (502, "Bad Gateway", "the server {url} answered 502 Bad Gateway"),
    (200, [], "the server's answer to a list was not a JSON object"),
])
def test_what_the_server_answers_instead_of_a_list(apiserver: FakeApiserver, kubeconfig: Path, code: int, body: Any,
                                                    message: str) -> None:
    apiserver.canned[0] = (code, body)
    status, report, stderr = audit("--kubeconfig", str(kubeconfig), "-o", "json")
    assert status == 2 and report["results"] == []
    assert report["errors"] == [{"message": message.format(url=apiserver.url)}]
    assert stderr == f"error: {message.format(url=apiserver.url)}\n"


def test_listed_objects_are_judged_as_connection_pools_and_non_objects_skipped(apiserver: FakeApiserver,
                                                                                kubeconfig: Path) -> None:
    # Items of a list may leave out apiVersion and kind (the list says them); an item that is not an object at all
    # is passed over, and the ones after it are still judged.
    bare = stored("bare", "team-a")
    del bare["apiVersion"], bare["kind"]
    apiserver.objects[:] = ["not an object", bare, stored("after", "team-a", poolMode="bogus")]
    code, report, _ = audit("--kubeconfig", str(kubeconfig), "-A", "-o", "json")
    assert code == 1
    assert [(r["kind"], r["name"], r["allowed"]) for r in report["results"]] == [
        ("ConnectionPool", "bare", True), ("ConnectionPool", "after", False)]


def test_a_context_without_a_namespace_lists_default(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    code, _, _ = audit("--kubeconfig", str(kubeconfig), "--context", "nobody")
    assert code == 2  # nobody may not list; what matters is where it looked
    assert apiserver.requests[-1][0] == f"{PREFIX}/namespaces/default/connectionpools"


def test_junit_sarif_and_text_name_objects_by_namespace(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    # An audit has no files: objects are named namespace/name, test cases are classed by namespace, and SARIF
    # results have a logical location only.
    apiserver.objects[:] = [stored("float-size", "team-a", poolSize=1.5)]
    args = ("--kubeconfig", str(kubeconfig), "-n", "team-a")
    text = command("audit", *args)
    assert text.stdout.splitlines()[0] == "team-a/float-size"
    junit = command("audit", *args, "--output", "junit").stdout
    assert '<testsuites name="connectionpool-webhook audit" tests="1" failures="1" errors="0" skipped="0">' in junit
    assert '<testcase name="ConnectionPool team-a/float-size" classname="team-a">' in junit
    sarif = json.loads(command("audit", *args, "--output", "sarif").stdout)
    assert [r["locations"] for r in sarif["runs"][0]["results"]] == [[{"logicalLocations": [
        {"name": "float-size", "fullyQualifiedName": "ConnectionPool/team-a/float-size", "kind": "resource"}]}]]


def test_an_unreadable_cluster_is_said_so_in_the_summary(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.crd_installed = False
    result = command("audit", "--kubeconfig", str(kubeconfig))
    assert result.stdout == "0 ConnectionPools checked: 0 allowed, 0 denied; the cluster could not be read\n"
    # JUnit: the failure to read is one test case in error, named for what could not be read (no file here).
    junit = command("audit", "--kubeconfig", str(kubeconfig), "--output", "junit").stdout
    assert '<testcase name="input" classname="input">' in junit


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
    # The TLS error itself, not urllib3's retry wrapper around it.
    assert stderr.startswith(f"error: Unable to connect to the server 127.0.0.1:{apiserver.port}: TLS: "
                             "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), stderr
    assert stderr.count("\n") == 1


@pytest.mark.parametrize(("setup", "message"), [
    # The Kubernetes client's own words for its configuration errors; anything else it raises is named by its type.
    ("missing", "cannot load the cluster configuration: Invalid kube-config file. No configuration found."),
    ("garbage", "cannot load the cluster configuration: ParserError: while parsing a flow node expected the node "
                "content, but found '}'"),
    ("context", "cannot load the cluster configuration: Invalid kube-config file. Expected object with name "
                "no-such-context in "),
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
    assert code == 2
    assert stderr == (f"error: the server {apiserver.url} has no resource connectionpools.aiven.io/v1alpha1 (is the "
                      "ConnectionPool CRD installed?): the server could not find the requested resource\n")
