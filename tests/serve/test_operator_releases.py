"""The server with ``--operator-version``: a release's rules over HTTPS, as the apiserver that runs its CRD words
them (the cases that tell releases apart are in tests/rules/test_releases.py; here they reach a real server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.https import Client, answer
from tests.support.reviews import pool, review, update
from tests.support.servers import LiveServer, ServerProcess


@pytest.fixture(scope="module")
def current(pki: Path) -> Iterator[Client]:
    """A server for a cluster on Kubernetes 1.33 running aiven-operator v0.44.0 (v0.38.0's rules)."""
    server = LiveServer(pki, "--operator-version", "v0.44.0", "--kubernetes-version", "1.33").start()
    client = server.client()
    yield client
    client.close()
    server.stop()


def causes(response: dict[str, Any]) -> list[str]:
    return [f"{c['field']}: {c['message']}" for c in response["status"]["details"]["causes"]]


def test_a_pool_without_username_is_allowed_on_a_current_operator(current: Client, client: Client) -> None:
    assert answer(current, "/validate", review(pool(username=None)))["allowed"] is True
    # ...and denied with the default rules (v0.8.0's), which the other server runs.
    denied = answer(client, "/validate", review(pool(username=None)))
    assert denied["allowed"] is False and causes(denied) == ["spec.username: Required value"]


def test_a_pattern_is_worded_as_the_apiserver_words_it(current: Client) -> None:
    denied = answer(current, "/validate", review(pool(serviceName="My-PG")))
    assert causes(denied) == ["spec.serviceName: Invalid value: \"My-PG\": spec.serviceName in body should match "
                              "'^[a-z][-a-z0-9]+$'"]
    assert denied["status"]["message"] == ('ConnectionPool.aiven.io "my-pool" is invalid: spec.serviceName: Invalid '
                                           "value: \"My-PG\": spec.serviceName in body should match "
                                           "'^[a-z][-a-z0-9]+$'")


def test_changing_the_identity_of_a_pool_is_denied_by_its_crds_rules(current: Client) -> None:
    old = pool(connInfoSecretTarget={"name": "my-pool"})
    denied = answer(current, "/validate", update(old, pool(project="p2", username="u2",
                                                           connInfoSecretTarget={"name": "my-pool"})))
    assert causes(denied) == ['spec: Invalid value: "object": username is immutable',
                              'spec.project: Invalid value: "string": Value is immutable',
                              'spec.username: Invalid value: "string": username is immutable']
    added = answer(current, "/validate", update(old, pool(connInfoSecretTargetDisabled=True,
                                                          connInfoSecretTarget={"name": "my-pool"})))
    assert causes(added) == ['spec: Invalid value: "object": connInfoSecretTargetDisabled can only be set during '
                             "resource creation."]
    assert answer(current, "/validate", update(old, pool(poolSize=3, connInfoSecretTarget={"name": "my-pool"}))) == {
        "uid": "11111111-2222-3333-4444-555555555555", "allowed": True}


def test_a_blocked_rule_run_is_reported_as_the_apiserver_reports_it(current: Client) -> None:
    denied = answer(current, "/validate", review(pool(project=None)))
    assert causes(denied) == ["spec.project: Required value",
                              '<nil>: Invalid value: "null": some validation rules were not checked because the '
                              "object was invalid; correct the existing errors to complete validation"]
    assert [c["reason"] for c in denied["status"]["details"]["causes"]] == ["FieldValueRequired", "FieldValueInvalid"]


def test_the_identity_rules_apply_with_the_default_release_too(client: Client) -> None:
    denied = answer(client, "/validate", update(pool(), pool(databaseName="elsewhere")))
    assert causes(denied) == ['spec.databaseName: Invalid value: "string": databaseName is immutable']


@pytest.mark.process
def test_the_option_and_its_environment_variable_reach_the_server(pki: Path) -> None:
    server = ServerProcess(pki, env={"WEBHOOK_OPERATOR_VERSION": "v0.29.0"}).wait_ready()
    try:
        client = server.client()
        assert answer(client, "/validate", review(pool(username=None)))["allowed"] is True
        assert answer(client, "/validate", review(pool(project="my proj")))["allowed"] is False
        client.close()
    finally:
        server.stop()


@pytest.mark.process
def test_an_unknown_release_stops_the_server_with_a_clear_error(pki: Path) -> None:
    server = ServerProcess(pki, "--operator-version", "v0.7.0")
    assert server.proc.wait(20) == 2
    assert ("--operator-version: Value error, aiven-operator v0.7.0 is older than v0.8.0, the oldest release whose "
            "rules are known") in server.logs()
    server.stop()
