"""Enforcement modes: each route answers in its mode (deny, warn, dryrun), the default route in the server's mode,
and every violation reaches the violations metric and the request log with its mode.

The live tests run the server in this process, so that mutation testing sees the code that fills the metric and
the log; the child-process test checks the same on the real command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.https import Client, answer
from tests.support.reviews import pool, review, update
from tests.support.servers import Lines, LiveServer, ServerProcess, logged, start_server
from webhook.rules import enforcement
from webhook.rules import fielderrors as fe

LONG = "p" * 70
PROJECT_TOO_LONG = "spec.project: Too long: may not be more than 63 bytes"
BAD = pool(project=LONG, poolMode="bogus")


# One server per test: the webhooks are made when the app starts, and mutmut credits what a fixture runs to the
# first test that asks for it.
@pytest.fixture
def live(pki: Path) -> Iterator[tuple[LiveServer, Lines]]:
    server = LiveServer(pki, "--log-format", "json", "--enforcement", "warn", "--kubernetes-version", "1.28")
    with logged(server) as live:
        yield live


def violations(client: Client) -> dict[str, float]:
    text = client.request("GET", "/metrics").body.decode()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "connectionpool_webhook_violations":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels["webhook"] == "validate":
                    counts[sample.labels["enforcement"]] = sample.value
    return counts


@pytest.mark.parametrize(("path", "mode", "allowed"), [
    ("/validate", "warn", True),  # the server's default mode, here warn
    ("/validate/warn", "warn", True),
    ("/validate/dryrun", "dryrun", True),
    ("/validate/deny", "deny", False),
])
def test_each_route_delivers_in_its_mode_and_counts_the_violation(live: tuple[LiveServer, Lines], path: str,
                                                                  mode: str, allowed: bool) -> None:
    server, log = live
    client = server.client()
    uid = f"mode-{path.replace('/', '-')}"
    before = violations(client).get(mode, 0.0)
    response = client.post(path, review(BAD, uid=uid)).json()["response"]
    assert response["allowed"] is allowed
    assert ("warnings" in response) is (mode == "warn")
    assert violations(client).get(mode, 0.0) == before + 1
    [entry] = [line for line in log.lines if line["msg"] == "admission review" and line.get("uid") == uid]
    assert (entry["enforcement"], entry["errors"]) == (mode, 2)
    assert entry["decision"] == ("allowed" if allowed else "denied")
    client.close()


def test_a_valid_object_is_no_violation(live: tuple[LiveServer, Lines]) -> None:
    client = live[0].client()
    before = violations(client)
    assert client.post("/validate/dryrun", review(pool())).json()["response"]["allowed"] is True
    assert violations(client) == before
    client.close()


@pytest.mark.parametrize("path", ["/validate", "/validate/warn", "/validate/dryrun", "/validate/deny"])
def test_every_route_words_as_the_servers_kubernetes_version(live: tuple[LiveServer, Lines], path: str) -> None:
    client = live[0].client()
    response = client.post(path, review(pool(project="p" * 64))).json()["response"]
    client.close()
    if path == "/validate/deny":
        [cause] = response["status"]["details"]["causes"]
        assert (cause["reason"], cause["message"]) == ("FieldValueTooLong", "Too long: may not be longer than 63")
    elif path != "/validate/dryrun":
        assert any("Too long: may not be longer than 63" in w for w in response["warnings"]), response


@pytest.mark.parametrize(("length", "shown"), [(256, "x" * 256), (257, "x" * 253 + "...")])
def test_a_warning_is_cut_only_beyond_256_characters(length: int, shown: str) -> None:
    """Where the apiserver may truncate: a warning that names another object keeps the names."""
    error = fe.error(fe.ErrorType.INVALID, "f", "m")._replace(text="x" * length)
    assert enforcement.warning(error) == shown
    assert enforcement.warning(error, " (unchanged)") == shown[: 256 - 12 - 3] + "..." + " (unchanged)"


@pytest.fixture(scope="module")
def warn_server(pki: Path) -> Iterator[ServerProcess | LiveServer]:
    """A server whose default mode is warn, wording as v1.28 does."""
    started = start_server(pki, "--enforcement", "warn", "--kubernetes-version", "v1.28.7")
    yield started
    started.stop()


def test_each_mode_has_its_path(client: Client) -> None:
    deny = answer(client, "/validate/deny", review(BAD))
    assert deny["allowed"] is False and len(deny["status"]["details"]["causes"]) == 2
    warn = answer(client, "/validate/warn", review(BAD))
    assert warn["allowed"] is True and "status" not in warn
    assert warn["warnings"] == [
        PROJECT_TOO_LONG,
        'spec.poolMode: Unsupported value: "bogus": supported values: "session", "transaction", "statement"',
    ]
    dryrun = answer(client, "/validate/dryrun", review(BAD))
    assert dryrun == {"uid": review(BAD)["request"]["uid"], "allowed": True}
    # The default path follows --enforcement (deny unless set).
    assert answer(client, "/validate", review(BAD))["allowed"] is False


def test_modes_change_nothing_for_a_valid_object(client: Client) -> None:
    for path in ("/validate/deny", "/validate/warn", "/validate/dryrun"):
        assert answer(client, path, review(pool())) == {"uid": review(pool())["request"]["uid"], "allowed": True}


def test_the_server_default_mode_and_version_apply_to_validate(warn_server: ServerProcess | LiveServer) -> None:
    client = warn_server.client()
    try:
        response = answer(client, "/validate?timeout=10s", review(BAD))
        assert response["allowed"] is True
        assert response["warnings"][0] == "spec.project: Too long: may not be longer than 63"
        denied = answer(client, "/validate/deny", review(BAD))
        assert denied["status"]["details"]["causes"][0]["message"] == "Too long: may not be longer than 63"
    finally:
        client.close()


@pytest.mark.process
def test_violations_are_counted_by_mode_and_logged_with_the_mode(pki: Path) -> None:
    proc = ServerProcess(pki, "--log-format", "json").wait_ready()
    client = proc.client()
    try:
        for path, times in (("/validate/warn", 2), ("/validate/dryrun", 3), ("/validate", 1)):
            for _ in range(times):
                answer(client, path, review(BAD))
        answer(client, "/validate/dryrun", review(pool()))  # valid: no violation
        # Ratcheted only: not a violation either.
        answer(client, "/validate", update(pool(project=LONG), pool(project=LONG)))
        text = client.request("GET", "/metrics").body.decode()
    finally:
        client.close()
        proc.stop()
    counts = dict(re.findall(r'^connectionpool_webhook_violations_total\{enforcement="(\w+)",webhook="validate"\} '
                             r"(\S+)$", text, re.MULTILINE))
    assert counts == {"warn": "2.0", "dryrun": "3.0", "deny": "1.0"}
    lines = [json.loads(line) for line in proc.log_file.read_text().splitlines() if '"admission review"' in line]
    modes = [(line["enforcement"], line["decision"], line["errors"]) for line in lines]
    assert modes.count(("dryrun", "allowed", 2)) == 3
    assert modes.count(("warn", "allowed", 2)) == 2
    assert ("deny", "denied", 2) in modes and ("dryrun", "allowed", 0) in modes
