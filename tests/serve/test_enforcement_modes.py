"""Enforcement modes on the server run in this process: each route's mode reaches the violations metric and the
request log (tests/test_adoption.py checks the same on a child process; here mutation testing sees it too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.https import Client
from tests.support.reviews import pool, review
from tests.support.servers import Lines, LiveServer, logged
from webhook.rules import enforcement
from webhook.rules import fielderrors as fe

BAD = pool(project="p" * 64, poolMode="bogus")


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


@pytest.mark.parametrize(("length", "shown"), [(120, "x" * 120), (121, "x" * 117 + "...")])
def test_a_warning_is_cut_only_beyond_120_characters(length: int, shown: str) -> None:
    error = fe.error(fe.ErrorType.INVALID, "f", "m")._replace(text="x" * length)
    assert enforcement.warning(error) == shown
    assert enforcement.warning(error, " (unchanged)") == shown[: 120 - 12 - 3] + "..." + " (unchanged)"
