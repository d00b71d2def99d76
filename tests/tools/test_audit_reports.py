"""``audit --output policyreport|openreports [--apply]`` against the stand-in apiserver (real TLS, a real kubeconfig):
one report per namespace, graded by the namespace's enforcement label, valid against the published CRDs' schemas
(tests/data/reports, written from the CRDs), under 1 MiB however large the namespace, and written to the cluster by
``--apply`` (created, left alone, replaced, deleted) with one-line errors.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.support import DATA
from tests.support.commands import command
from tests.support.fake_apiserver import PREFIX, FakeApiserver, audited_cluster, stored
from webhook.rules import ruleset
from webhook.rules.ruleset import ruleset as rules_of
from webhook.tools.report import policyreport
from webhook.tools.report.model import Report
from webhook.tools.verdicts import judge

LABEL = "connectionpool-webhook.io/enforcement"
OURS = {"app.kubernetes.io/managed-by": "connectionpool-webhook"}
SCHEMAS = {
    "policyreport": json.loads((DATA / "reports" / "policyreport-v1alpha2.schema.json").read_text()),
    "openreports": json.loads((DATA / "reports" / "openreports-report-v1alpha1.schema.json").read_text()),
}
# --output -> (resource, API path, kind, as kubectl names the type)
API = {
    "policyreport": ("policyreports", "/apis/wgpolicyk8s.io/v1alpha2", "PolicyReport", "policyreport.wgpolicyk8s.io"),
    "openreports": ("reports", "/apis/openreports.io/v1alpha1", "Report", "report.openreports.io"),
}
FORMATS = list(API)


objects = audited_cluster  # the cluster of conftest's apiserver


def audit(kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    result = command("audit", "--kubeconfig", str(kubeconfig), *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


def documents(stdout: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(stdout) if d is not None]


def validate(document: dict[str, Any], output: str) -> None:
    jsonschema.validate(document, SCHEMAS[output], cls=jsonschema.Draft202012Validator)


def expected_entries(obj: dict[str, Any], outcome: str) -> list[tuple[str, str, str, str]]:
    """(name, rule, result, message) of one object, from the rules themselves."""
    name = obj["metadata"]["name"]
    errors = ruleset.admit(obj).errors
    if not errors:
        return [(name, "AllRules", "pass", "The webhook would admit this ConnectionPool as it is.")]
    return [(name, str(e.type), outcome, f"{e.field}: {e.message}") for e in errors]


# --- the documents --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("output", FORMATS)
def test_one_report_per_namespace_graded_by_its_label(apiserver: FakeApiserver, kubeconfig: Path,
                                                       output: str) -> None:
    apiserver.namespaces["team-a"] = {LABEL: "warn"}
    apiserver.namespaces["team-b"] = {LABEL: "dryrun", "team": "b"}
    before = time.time()
    code, stdout, stderr = audit(kubeconfig, "-A", "-o", output)
    after = time.time()
    assert (code, stderr) == (1, ""), "default is graded by --enforcement deny, and denies bogus-mode"
    # One list of the labelled namespaces, after the pools.
    assert apiserver.requests[-1] == ("/api/v1/namespaces", {"labelSelector": [LABEL], "limit": ["500"]})
    found = documents(stdout)
    for document in found:
        validate(document, output)
    _, _, kind, _ = API[output]
    assert [(d["apiVersion"], d["kind"]) for d in found] == [(SCHEMAS[output]["properties"]["apiVersion"]["const"],
                                                              kind)] * 3
    assert [d["metadata"]["namespace"] for d in found] == ["default", "team-a", "team-b"]
    modes = {"default": "deny", "team-a": "warn", "team-b": "dryrun"}
    for document in found:
        namespace = document["metadata"]["namespace"]
        assert document["metadata"]["name"] == "connectionpool-webhook"
        assert document["metadata"]["labels"] == OURS
        assert document["metadata"]["annotations"] == {  # nothing left out: no omitted-results
            "connectionpool-webhook.io/enforcement": modes[namespace],
            "connectionpool-webhook.io/operator-version": "v0.8.0",
            "connectionpool-webhook.io/kubernetes-version": rules_of().words.version,
        }
        assert document["scope"] == {"apiVersion": "v1", "kind": "Namespace", "name": namespace}
        assert ("source" in document) == (output == "openreports")
        outcome = "fail" if modes[namespace] == "deny" else "warn"
        pools = [o for o in objects() if o["metadata"]["namespace"] == namespace]
        entries = sorted(e for o in pools for e in expected_entries(o, outcome))
        failures = [e for e in entries if e[2] != "pass"]
        assert [(r["resources"][0]["name"], r["rule"], r["result"], r["message"]) for r in document["results"]] == [
            *failures, *(e for e in entries if e[2] == "pass")], "failures first, each part sorted"
        assert document["summary"] == {"pass": len(entries) - len(failures), "error": 0, "skip": 0,
                                       "fail": len(failures) * (outcome == "fail"),
                                       "warn": len(failures) * (outcome == "warn")}
        for result in document["results"]:
            assert result["policy"] == result["source"] == "connectionpool-webhook"
            assert result["scored"] is (modes[namespace] == "deny")
            assert result["category"] == "Aiven ConnectionPool"
            (resource,) = result["resources"]
            assert resource == {"apiVersion": "aiven.io/v1alpha1", "kind": "ConnectionPool", "namespace": namespace,
                                "name": resource["name"], "uid": f"uid-{namespace}-{resource['name']}"}
            assert before <= result["timestamp"]["seconds"] + result["timestamp"]["nanos"] / 1e9 <= after
            if result["result"] == "pass":
                assert "severity" not in result and "properties" not in result
            else:
                assert result["severity"] == "medium"
                assert result["message"].startswith(result["properties"]["field"] + ": ")
    assert apiserver.writes == [], "without --apply nothing is written"


def test_unknown_label_values_take_the_default(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.namespaces["team-a"] = {LABEL: "Deny"}  # the webhook's entries match exact values only
    code, stdout, _ = audit(kubeconfig, "-A", "-o", "policyreport", "--enforcement", "warn")
    assert code == 0
    team_a = documents(stdout)[1]
    assert team_a["metadata"]["annotations"]["connectionpool-webhook.io/enforcement"] == "warn"
    assert team_a["summary"]["warn"] == 1


def test_one_namespace_is_read_by_name(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.namespaces["team-b"] = {LABEL: "warn"}
    code, stdout, _ = audit(kubeconfig, "-n", "team-b", "-o", "openreports")
    assert apiserver.requests[-1] == ("/api/v1/namespaces/team-b", {})
    (document,) = documents(stdout)
    assert document["metadata"]["namespace"] == "team-b"
    assert document["summary"] == {"pass": 2, "fail": 0, "warn": 2, "error": 0, "skip": 0}
    assert code == 0, "team-b only warns"


def test_exit_status_follows_each_namespace_mode(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    for namespace in ("default", "team-a", "team-b"):
        apiserver.namespaces[namespace] = {LABEL: "warn"}
    assert audit(kubeconfig, "-A", "-o", "policyreport")[0] == 0, "nothing is denied anywhere"
    apiserver.namespaces["team-b"] = {LABEL: "deny"}
    assert audit(kubeconfig, "-A", "-o", "policyreport", "--enforcement", "dryrun")[0] == 1, "team-b denies"
    assert audit(kubeconfig, "-A", "-o", "policyreport", "--exit-zero")[0] == 0
    # The other outputs read no label, and exit as before.
    requests = len(apiserver.requests)
    assert audit(kubeconfig, "-A", "-o", "json")[0] == 1
    assert all(path.startswith(PREFIX) or "/secrets/" in path for path, _ in apiserver.requests[requests:])


def test_namespaces_that_cannot_be_read_take_the_default(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    apiserver.namespaces["team-a"] = {LABEL: "dryrun"}
    apiserver.refused.add("namespaces")
    code, stdout, stderr = audit(kubeconfig, "-A", "-o", "policyreport")
    assert stderr == (
        "warning: cannot read the Namespaces' connectionpool-webhook.io/enforcement labels: Forbidden (403): "
        'namespaces is forbidden: User "system:serviceaccount:webhooks:audit" cannot list resource "namespaces" '
        'in API group "" at the cluster scope; every namespace is graded by --enforcement\n')
    assert code == 1
    assert [d["metadata"]["annotations"]["connectionpool-webhook.io/enforcement"] for d in documents(stdout)] == [
        "deny"] * 3


def test_a_cluster_that_cannot_be_read_gives_no_report(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    code, stdout, stderr = audit(kubeconfig, "--context", "nobody", "-A", "-o", "policyreport", "--apply")
    assert code == 2 and stderr.startswith("error: Forbidden (403): connectionpools.aiven.io is forbidden")
    assert stdout == "0 ConnectionPools checked: 0 allowed, 0 denied; the cluster could not be read\n"
    assert apiserver.writes == [] and not any(p.startswith("/api/v1/") for p, _ in apiserver.requests)


def test_apply_needs_a_report_output(kubeconfig: Path) -> None:
    code, _, stderr = audit(kubeconfig, "-A", "--apply")
    assert code == 2
    assert stderr.splitlines()[-1] == ("connectionpool-webhook audit: error: --apply writes the reports to the "
                                       "cluster: give --output policyreport or --output openreports")


# --- --apply ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("output", FORMATS)
def test_apply_creates_leaves_replaces_and_deletes(apiserver: FakeApiserver, kubeconfig: Path, output: str) -> None:
    resource, prefix, kind, shown = API[output]
    summary = "7 ConnectionPools checked: 4 allowed, 3 denied"
    code, stdout, stderr = audit(kubeconfig, "-A", "-o", output, "--apply")
    assert (code, stderr) == (1, "")
    assert stdout.splitlines() == [f"{shown}/connectionpool-webhook created in namespace {ns}"
                                   for ns in ("default", "team-a", "team-b")] + [summary]
    assert [m for m, _ in apiserver.writes] == ["POST"] * 3
    assert sorted(apiserver.reports) == [(resource, ns, "connectionpool-webhook") for ns in ("default", "team-a",
                                                                                            "team-b")]
    for report in apiserver.reports.values():
        validate({k: v for k, v in report.items()}, output)
        assert report["metadata"]["labels"] == OURS

    # Nothing new: nothing written, the first timestamps kept.
    first = copy.deepcopy(apiserver.reports)
    code, stdout, _ = audit(kubeconfig, "-A", "-o", output, "--apply")
    assert stdout.splitlines()[:3] == [f"{shown}/connectionpool-webhook unchanged in namespace {ns}"
                                       for ns in ("default", "team-a", "team-b")]
    assert len(apiserver.writes) == 3 and apiserver.reports == first

    # Someone else's reports: one of another name, and one of ours' name in a namespace we never wrote.
    foreign = {"apiVersion": prefix.removeprefix("/apis/"), "kind": kind,
               "metadata": {"name": "kyverno-report", "namespace": "team-b", "labels": {
                   "app.kubernetes.io/managed-by": "kyverno"}}}
    apiserver.store_report(resource, foreign)
    squatter = {**foreign, "metadata": {"name": "connectionpool-webhook", "namespace": "team-c"}}
    apiserver.store_report(resource, squatter)
    # bogus-mode is fixed, team-a's pools are gone, team-c gets one.
    apiserver.objects[:] = [o for o in objects() if o["metadata"]["namespace"] != "team-a"]
    apiserver.objects[1]["spec"]["poolMode"] = "session"
    apiserver.objects.append(stored("new", "team-c"))
    apiserver.namespaces["team-c"] = {}
    code, stdout, stderr = audit(kubeconfig, "-A", "-o", output, "--apply")
    assert stdout.splitlines() == [
        f"{shown}/connectionpool-webhook replaced in namespace default",
        f"{shown}/connectionpool-webhook unchanged in namespace team-b",
        f"{shown}/connectionpool-webhook deleted in namespace team-a",
        f"6 ConnectionPools checked: 5 allowed, 1 denied; the {kind}s could not all be written",
    ]
    assert stderr == (f"error: the {kind} team-c/connectionpool-webhook exists and is not ours (label "
                      "app.kubernetes.io/managed-by=connectionpool-webhook): left alone\n")
    assert code == 2
    assert apiserver.writes[3:] == [
        ("PUT", f"{prefix}/namespaces/default/{resource}/connectionpool-webhook"),
        ("POST", f"{prefix}/namespaces/team-c/{resource}"),
        ("DELETE", f"{prefix}/namespaces/team-a/{resource}/connectionpool-webhook"),
    ]
    default = apiserver.reports[(resource, "default", "connectionpool-webhook")]
    assert default["summary"]["pass"] == 2 and default["metadata"]["uid"] == first[
        (resource, "default", "connectionpool-webhook")]["metadata"]["uid"], "replaced, not recreated"
    assert apiserver.reports[(resource, "team-b", "kyverno-report")]["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "kyverno"}
    assert "labels" not in apiserver.reports[(resource, "team-c", "connectionpool-webhook")]["metadata"]


def test_apply_in_one_namespace_touches_only_that_namespace(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    assert audit(kubeconfig, "-A", "-o", "policyreport", "--apply")[0] == 1
    apiserver.objects[:] = [o for o in objects() if o["metadata"]["namespace"] != "team-b"]
    code, stdout, _ = audit(kubeconfig, "-n", "team-b", "-o", "policyreport", "--apply")
    assert code == 0
    assert stdout.splitlines() == ["policyreport.wgpolicyk8s.io/connectionpool-webhook deleted in namespace team-b",
                                   "0 ConnectionPools checked: 0 allowed, 0 denied"]
    assert {ns for _, ns, _ in apiserver.reports} == {"default", "team-a"}


def test_a_report_changed_meanwhile_is_read_again(apiserver: FakeApiserver, kubeconfig: Path) -> None:
    audit(kubeconfig, "-n", "default", "-o", "policyreport", "--apply")
    apiserver.objects[1]["spec"]["poolMode"] = "session"
    apiserver.conflict_next_replace = True
    code, stdout, stderr = audit(kubeconfig, "-n", "default", "-o", "policyreport", "--apply")
    assert (code, stderr) == (0, "")
    assert stdout.splitlines()[0] == "policyreport.wgpolicyk8s.io/connectionpool-webhook replaced in namespace default"
    assert [m for m, _ in apiserver.writes] == ["POST", "PUT", "PUT"]
    report = apiserver.reports[("policyreports", "default", "connectionpool-webhook")]
    assert report["summary"] == {"pass": 2, "fail": 0, "warn": 0, "error": 0, "skip": 0}


@pytest.mark.parametrize(("setup", "message"), [
    ("no-crd", "error: cannot list policyreports.wgpolicyk8s.io: the server {url} has no resource "
               "policyreports.wgpolicyk8s.io/v1alpha2 (is the PolicyReport CRD installed?): the server could not "
               "find the requested resource\n"),
    ("refused", 'error: cannot list policyreports.wgpolicyk8s.io: Forbidden (403): policyreports.wgpolicyk8s.io is '
                'forbidden: User "system:serviceaccount:webhooks:audit" cannot get resource "policyreports" in API '
                'group "wgpolicyk8s.io"\n'),
])
def test_apply_failures_are_one_line(apiserver: FakeApiserver, kubeconfig: Path, setup: str, message: str) -> None:
    if setup == "no-crd":
        apiserver.report_crds.discard("policyreports")
    else:
        apiserver.refused.add("policyreports")
    code, stdout, stderr = audit(kubeconfig, "-A", "-o", "policyreport", "--apply", "--exit-zero")
    assert code == 2, "--exit-zero forgives denials, never a failure to write"
    assert stderr == message.format(url=apiserver.url)
    assert stdout == "7 ConnectionPools checked: 4 allowed, 3 denied; the PolicyReports could not all be written\n"
    assert apiserver.writes == []


# --- the size cap -------------------------------------------------------------------------------------------------


def crowd(count: int, namespace: str = "big") -> list[dict[str, Any]]:
    """``count`` pools, three in four breaking four rules each (the rest break none), names in reverse order."""
    bad = stored("x", namespace, poolMode="bogus", project="p" * 64, username=None, poolSize=1.5)
    good = stored("x", namespace)
    out = []
    for i in reversed(range(count)):
        obj = copy.deepcopy(good if i % 4 == 0 else bad)
        obj["metadata"].update(name=f"pool-{i:05d}", uid=f"uid-{i}")
        out.append(obj)
    return out


@pytest.mark.slow
def test_a_large_namespace_stays_under_the_cap() -> None:
    rules = rules_of()
    report = Report("audit", rules)
    report.results = [judge(obj, rules) for obj in crowd(20_000)]
    (document,) = policyreport.documents(report)
    validate(document, "policyreport")
    assert len(json.dumps(document)) <= policyreport.MAX_BYTES - policyreport.RESERVE
    assert len(json.dumps(document, separators=(",", ":"))) <= policyreport.MAX_BYTES - policyreport.RESERVE
    # The summary counts everything; the annotation says how much the results leave out.
    assert document["summary"] == {"pass": 5_000, "fail": 60_000, "warn": 0, "error": 0, "skip": 0}
    kept = document["results"]
    left = int(document["metadata"]["annotations"]["connectionpool-webhook.io/omitted-results"])
    assert len(kept) + left == 65_000 and len(kept) > 1_000
    assert policyreport.omitted(document) == left
    # Failures before passes, in order: the cap drops the passes first, then the last failures.
    assert {r["result"] for r in kept} == {"fail"}
    assert kept == sorted(kept, key=lambda r: (r["resources"][0]["name"], r["rule"], r["properties"]["field"],
                                                r["message"]))
    assert kept[0]["resources"][0]["name"] == "pool-00001"
    # One more result would have broken the budget.
    budget = policyreport.MAX_BYTES - policyreport.RESERVE - len(json.dumps({**document, "results": []}))
    assert len(json.dumps(kept)) <= budget < len(json.dumps([*kept, kept[-1]]))
    assert policyreport.notes([document]) == [
        f"PolicyReport big/connectionpool-webhook: {left} of 65000 results left out to keep it under 1 MiB "
        "(annotation connectionpool-webhook.io/omitted-results); its summary counts them all"]


@pytest.mark.slow
def test_a_large_namespace_is_applied(certs: Path, tmp_path: Path) -> None:
    """5,000 pools, 15,000 failures: the cluster (its schema, etcd's 1.5 MiB) takes the shortened report."""
    with FakeApiserver(certs, crowd(5_000)) as apiserver:
        config = apiserver.kubeconfig(tmp_path / "kubeconfig", certs / "ca.crt")
        code, stdout, stderr = audit(config, "-A", "-o", "openreports", "--apply", "--exit-zero",
                                     "--no-secret-checks")
        assert code == 0, stderr
        assert stdout.splitlines()[0] == "report.openreports.io/connectionpool-webhook created in namespace big"
        report = apiserver.reports[("reports", "big", "connectionpool-webhook")]
        left = int(report["metadata"]["annotations"]["connectionpool-webhook.io/omitted-results"])
        assert stderr == (f"warning: Report big/connectionpool-webhook: {left} of 16250 results left out to keep it "
                          "under 1 MiB (annotation connectionpool-webhook.io/omitted-results); its summary counts "
                          "them all\n")
        assert len(report["results"]) + left == 16_250
        assert report["summary"]["fail"] == 15_000 and report["summary"]["pass"] == 1_250


# --- the schemas can fail ---------------------------------------------------------------------------------------


def minimal(output: str) -> dict[str, Any]:
    _, prefix, kind, _ = API[output]
    return {"apiVersion": prefix.removeprefix("/apis/"), "kind": kind,
            "metadata": {"name": "r", "namespace": "ns"},
            "results": [{"policy": "p", "result": "pass", "timestamp": {"seconds": 1, "nanos": 0}}],
            "summary": {"pass": 1}}


@pytest.mark.parametrize("output", FORMATS)
@pytest.mark.parametrize(("path", "value"), [
    (("results", 0, "result"), "passed"),
    (("results", 0, "severity"), "urgent"),
    (("results", 0, "timestamp", "nanos"), 1_000_000_000),
    (("results", 0, "timestamp", "seconds"), "1"),
    (("results", 0, "scored"), "true"),
    (("results", 0, "properties", "field"), 1),
    (("results", 0, "resources"), [{"name": "x", "labels": {}}]),
    (("results", 0, "unknown"), "pruned by the apiserver"),
    (("summary", "pass"), "1"),
    (("summary", "total"), 1),
    (("scope", "kind"), 1),
    (("metadata", "name"), "Not_A_Name"),
    (("kind",), "ClusterPolicyReport"),
])
def test_the_schemas_refuse_what_the_crds_refuse(output: str, path: tuple[Any, ...], value: Any) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMAS[output])
    jsonschema.Draft202012Validator.check_schema(SCHEMAS[output])
    document = minimal(output)
    assert not list(validator.iter_errors(document))
    where: Any = document
    for key in path[:-1]:
        where = where.setdefault(key, {}) if isinstance(key, str) else where[key]
    where[path[-1]] = value
    assert list(validator.iter_errors(document)), f"{path} = {value!r} passed"


def test_the_schemas_require_what_the_crds_require() -> None:
    for output in FORMATS:
        validator = jsonschema.Draft202012Validator(SCHEMAS[output])
        for drop in ("policy", "timestamp.seconds", "timestamp.nanos"):
            document = minimal(output)
            where = document["results"][0]
            *parents, last = drop.split(".")
            for key in parents:
                where = where[key]
            del where[last]
            assert list(validator.iter_errors(document)), f"{output} without results[].{drop}"
    openreports = minimal("openreports")
    validator = jsonschema.Draft202012Validator(SCHEMAS["openreports"])
    assert not list(validator.iter_errors({**openreports, "source": "s", "configuration": {"limits": {
        "maxResults": 10, "statusFilter": ["fail", "warn"]}}}))
    assert list(validator.iter_errors({**openreports, "configuration": {}}))
    assert list(validator.iter_errors({**openreports, "configuration": {"limits": {"statusFilter": ["bad"]}}}))
    assert list(jsonschema.Draft202012Validator(SCHEMAS["policyreport"]).iter_errors({**minimal("policyreport"),
                                                                                      "source": "s"}))
