"""``check``, ``audit`` and ``policy`` with ``--operator-version``: each offline point applies the chosen release's
rules, with the same verdicts and words as the server (tests/serve/test_operator_releases.py) and as the rules
themselves (tests/rules/test_releases.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import command, make_certs
from tests.support.fake_apiserver import FakeApiserver, stored
from tests.support.manifests import manifest, run, run_json
from tests.support.policy_eval import evaluate, expected_failures
from tests.support.reviews import pool
from webhook.rules import releases, wording
from webhook.rules.releases import RELEASES, Release
from webhook.rules.ruleset import ruleset
from webhook.tools.policy import objects as policy

NO_USERNAME = manifest("orders", spec="  databaseName: db\n  project: my-project\n  serviceName: my-pg\n")
BAD_SERVICE = manifest("orders", spec="  databaseName: db\n  project: my-project\n  serviceName: My-PG\n"
                                      "  username: u\n")


@pytest.mark.parametrize(("release", "code", "causes"), [
    ("v0.8.0", 1, ["spec.username: Required value"]),
    ("v0.20.0", 1, ["spec.username: Required value",
                    '<nil>: Invalid value: null: some validation rules were not checked because the object was '
                    "invalid; correct the existing errors to complete validation"]),
    ("v0.29.0", 0, []),
    ("v0.44.0", 0, []),
])
def test_check_applies_the_releases_rules(release: str, code: int, causes: list[str]) -> None:
    status, report = run_json("-", "--operator-version", release, stdin=NO_USERNAME)
    assert status == code
    (result,) = report["results"]
    assert [f"{c['field']}: {c['message']}" for c in result["causes"]] == causes
    assert report["summary"]["operatorVersion"] == str(releases.parse(release))


def test_check_refuses_a_release_it_does_not_know() -> None:
    result = run("-", "--operator-version", "v0.1.0", stdin=NO_USERNAME)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("error: --operator-version: aiven-operator v0.1.0 is older than v0.8.0, "
                                          "the oldest release whose rules are known")


def test_check_catches_in_ci_what_the_cluster_would_refuse() -> None:
    assert run("-", stdin=BAD_SERVICE).returncode == 0  # v0.8.0 has no pattern
    result = run("-", "--operator-version", "v0.38.0", stdin=BAD_SERVICE)
    assert result.returncode == 1
    assert ("The ConnectionPool \"orders\" is invalid: spec.serviceName: Invalid value: \"My-PG\": spec.serviceName "
            "in body should match '^[a-z][-a-z0-9]+$'") in result.stdout


@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_check_fix_writes_manifests_the_release_accepts(tmp_path: Path, release: Release) -> None:
    path = tmp_path / "pools.yaml"
    path.write_text(manifest("orders", spec="  databaseName: db\n  project: my-project\n  serviceName: my-pg\n"
                                            "  username: u\n  connInfoSecretTargetDisabled: false\n"))
    assert run(str(path), "--fix", "--operator-version", str(release)).returncode == 0
    assert "connInfoSecretTarget:\n    name: orders\n" in path.read_text()
    status, report = run_json(str(path), "--operator-version", str(release))
    assert status == 0 and report["results"][0]["patch"] == []


# --- audit --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certs(tmp_path_factory.mktemp("apiserver-certs"), "localhost")


@pytest.fixture
def kubeconfig(certs: Path, tmp_path: Path) -> Iterator[Path]:
    stored_objects = [
        stored("no-username", "team-a", username=None),
        stored("labels", "team-a", connInfoSecretTarget={"name": "labels", "labels": {"team": 7}}),
        stored("fine", "team-a"),
    ]
    with FakeApiserver(certs, stored_objects) as server:
        yield server.kubeconfig(tmp_path / "kubeconfig", certs / "ca.crt")


@pytest.mark.parametrize(("release", "denied"), [
    ("v0.8.0", {"no-username": ["spec.username: Required value"]}),
    ("v0.12.0", {"no-username": ["spec.username: Required value"],
                 "labels": ['spec.connInfoSecretTarget.labels.team: Invalid value: "integer": '
                            'spec.connInfoSecretTarget.labels.team in body must be of type string: "integer"']}),
    ("v0.38.0", {"labels": ['spec.connInfoSecretTarget.labels.team: Invalid value: "integer": '
                            'spec.connInfoSecretTarget.labels.team in body must be of type string: "integer"',
                            '<nil>: Invalid value: null: some validation rules were not checked because the object '
                            "was invalid; correct the existing errors to complete validation"]}),
])
def test_audit_judges_the_stored_objects_by_the_releases_rules(kubeconfig: Path, release: str,
                                                               denied: dict[str, list[str]]) -> None:
    result = command("audit", "--kubeconfig", str(kubeconfig), "-n", "team-a", "--operator-version", release,
                     "--output", "json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    found = {r["name"]: [f"{c['field']}: {c['message']}" for c in r["causes"]] for r in report["results"]
             if not r["allowed"]}
    assert found == denied
    assert report["summary"]["operatorVersion"] == release


# --- the policy's CEL ---------------------------------------------------------------------------------------------

CASES: list[tuple[Any, Any]] = [
    (None, pool(username=None)),
    (None, pool(serviceName="My-PG")),
    (None, pool(serviceName="my-pg")),
    (None, pool(project="my proj")),
    (None, pool(authSecretRef={})),
    (None, pool(connInfoSecretTarget={"name": "x", "labels": {"team": 7}})),
    (None, pool(connInfoSecretTarget={"name": "x", "labels": {"team": "a"}, "prefix": "P_"})),
    (None, pool(connInfoSecretTargetDisabled="yes")),
    (pool(), pool(connInfoSecretTargetDisabled=True)),
    (pool(connInfoSecretTargetDisabled=True), pool(connInfoSecretTargetDisabled=False)),
    (pool(), pool(project="p2", serviceName="s2", databaseName="d2", username="u2")),
    (pool(), pool(connInfoSecretTarget={"name": "my-pool"})),
    (pool(), pool(connInfoSecretTarget={"name": "elsewhere"})),
    (pool(username=None), pool()),
    (pool(), pool(username=None)),
    (pool(), pool(poolSize=3)),
]


@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_the_policy_gives_the_webhooks_verdicts_for_each_release(release: Release) -> None:
    words = wording.for_version("1.33")
    (vap, *_) = policy.export("1.33", release=release)
    rules = ruleset(release, words)
    for old, new in CASES:
        expected = expected_failures(rules, new, old)
        outcome = evaluate(copy.deepcopy(new), vap["spec"], old=copy.deepcopy(old),
                           operation="CREATE" if old is None else "UPDATE")
        got = outcome.failures if outcome.matched else []
        assert got == [e.text for e in expected], (release, old, new)
