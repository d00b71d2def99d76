"""The request log: one line per admission review saying who asked about which object and what was decided, in JSON
or as text for humans, never with the object's values; and the name a denial gives.

The live tests run the server in this process, so that mutation testing sees the code that fills the log; the
child-process tests check the log the real command writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.https import Client
from tests.support.reviews import pool, reference, review
from tests.support.servers import Lines, LiveServer, ServerProcess, logged

FIELDS = ("webhook", "enforcement", "operation", "namespace", "name", "user", "dryRun", "decision", "errors",
          "patchOps")


@pytest.fixture
def live(pki: Path) -> Iterator[tuple[LiveServer, Lines]]:
    with logged(LiveServer(pki, "--log-format", "json")) as live:
        yield live


def entry(log: Lines, uid: str) -> dict[str, Any]:
    [line] = [line for line in log.lines if line["msg"] == "admission review" and line["uid"] == uid]
    return {key: line[key] for key in FIELDS}


def test_a_captured_review_is_logged_with_who_and_what(live: tuple[LiveServer, Lines]) -> None:
    server, log = live
    body = reference("validate-update.json")["body"]
    request = body["request"]
    client = server.client()
    assert client.post("/validate", body).json()["response"]["allowed"] is True
    client.close()
    assert entry(log, request["uid"]) == {
        "webhook": "validate", "enforcement": "deny", "operation": "UPDATE", "namespace": request["namespace"],
        "name": request["name"], "user": request["userInfo"]["username"], "dryRun": False, "decision": "allowed",
        "errors": 0, "patchOps": 0}


@pytest.mark.parametrize("absent", [None, "missing"])
def test_what_a_review_leaves_out_is_logged_empty(live: tuple[LiveServer, Lines], absent: str | None) -> None:
    # A cluster-scoped or generateName request has no name or namespace; a review may lack userInfo and dryRun.
    body = review(pool(), uid=f"bare-{absent}")
    request = body["request"]
    for key in ("namespace", "name", "userInfo", "dryRun"):
        if absent:
            request.pop(key, None)
        else:
            request[key] = None
    client = live[0].client()
    assert client.post("/mutate", body).json()["response"]["allowed"] is True
    client.close()
    assert entry(live[1], f"bare-{absent}") == {
        "webhook": "mutate", "enforcement": "", "operation": "CREATE", "namespace": "", "name": "", "user": "",
        "dryRun": False, "decision": "patched", "errors": 0, "patchOps": 1}


@pytest.mark.parametrize("user", [{}, {"username": None}, {"username": ""}])
def test_a_user_without_a_name_is_logged_empty(live: tuple[LiveServer, Lines], user: dict[str, Any]) -> None:
    body = review(pool(), uid="nameless-user")
    body["request"]["userInfo"] = user
    body["request"]["dryRun"] = True
    client = live[0].client()
    client.post("/validate", body)
    client.close()
    logged_entry = entry(live[1], "nameless-user")
    assert (logged_entry["user"], logged_entry["dryRun"]) == ("", True)


def requests_total(client: Client) -> dict[tuple[str, str], float]:
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(client.request("GET", "/metrics").body.decode()):
        if family.name == "connectionpool_webhook_requests":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = (sample.labels["webhook"], sample.labels["result"])
                    counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def test_the_mutating_webhook_is_counted_as_mutate(live: tuple[LiveServer, Lines]) -> None:
    client = live[0].client()
    before = requests_total(client)
    client.post("/mutate", review(pool()))
    after = requests_total(client)
    client.close()
    changed = {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}
    assert changed == {("mutate", "patched"): 1.0}


# The denial names the object as the apiserver does (details.name): metadata.name, or, when the object has none yet
# (generateName), the request's name, which the apiserver leaves empty then.
@pytest.mark.parametrize(("metadata_name", "request_name", "shown"), [
    ("from-object", "from-request", "from-object"),
    (None, "from-request", "from-request"),
    ("", "from-request", "from-request"),
    (None, None, ""),
])
def test_a_denial_names_the_object(live: tuple[LiveServer, Lines], metadata_name: str | None,
                                   request_name: str | None, shown: str) -> None:
    obj = pool(poolMode="bogus")
    obj["metadata"] = {"generateName": "pool-"} if metadata_name is None else {"name": metadata_name}
    body = review(obj)
    body["request"].pop("name", None)
    if request_name is not None:
        body["request"]["name"] = request_name
    client = live[0].client()
    status = client.post("/validate", body).json()["response"]["status"]
    client.close()
    assert status["details"]["name"] == shown
    assert status["message"].startswith(f'ConnectionPool.aiven.io "{shown}" is invalid: ')


def log_lines(server: ServerProcess) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]


@pytest.mark.process
def test_one_json_log_line_per_admission_request(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server()
    secret = "do-not-log-this-value"
    client = server.client()
    obj = pool(project=secret, poolMode="bogus")
    body = review(obj, uid="uid-1")
    body["request"]["dryRun"] = True
    client.post("/validate", body)
    client.post("/mutate", review(pool(authSecretRef={"name": secret}), uid="uid-2"))
    client.close()
    time.sleep(0.2)
    entries = [e for e in log_lines(server) if e["msg"] == "admission review"]
    assert [e["uid"] for e in entries] == ["uid-1", "uid-2"]
    first = entries[0]
    assert {k: first[k] for k in ("webhook", "operation", "namespace", "name", "user", "dryRun", "decision",
                                  "errors", "patchOps")} == {
        "webhook": "validate", "operation": "CREATE", "namespace": "default", "name": "my-pool", "user": "admin",
        "dryRun": True, "decision": "denied", "errors": 1, "patchOps": 0}
    assert entries[1]["decision"] == "patched" and entries[1]["patchOps"] == 1
    assert all(isinstance(e["latencyMs"], float) and e["level"] == "info" for e in entries)
    assert secret not in server.logs()


@pytest.mark.process
def test_text_log_format_is_for_humans(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server("--log-format", "text")
    client = server.client()
    client.post("/validate", review(pool(), uid="uid-text"))
    client.close()
    time.sleep(0.2)
    line = next(line for line in server.logs().splitlines() if "uid-text" in line)
    assert not line.startswith("{")
    assert "admission review" in line and "decision=allowed" in line
