"""Safe adoption on a live cluster: ratcheting, objects being deleted, enforcement modes, the chart's matchConditions.

UPDATE cases are built from the reviews a v1.28 apiserver sent (tests/data/reference): a `kubectl label` and the
finalizer removal of an object being deleted, made to carry objects that break the rules, as pre-existing objects
do. They go over verified TLS to real server processes.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.chart_render import render
from tests.support.https import Client
from tests.support.policy_eval import run as cel
from tests.support.reviews import apply_patch, pool, reference, review
from tests.support.servers import ServerProcess
from webhook.rules import connectionpool, updates
from webhook.rules.enforcement import MAX_WARNING
from webhook.serve import handlers

LONG = "p" * 70
PROJECT_TOO_LONG = "spec.project: Too long: may not be more than 63 bytes"


def captured_update(name: str, **spec: Any) -> dict[str, Any]:
    """A captured UPDATE review whose object and oldObject both get ``spec`` (None removes a field)."""
    body = copy.deepcopy(reference(name)["body"])
    for side in ("object", "oldObject"):
        for key, value in spec.items():
            if value is None:
                body["request"][side]["spec"].pop(key, None)
            else:
                body["request"][side]["spec"][key] = value
    return body


def update(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    body = review(new, operation="UPDATE")
    body["request"]["oldObject"] = old
    return body


def answer(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = client.post(path, body)
    assert reply.status == 200, reply.body
    response: dict[str, Any] = reply.json()["response"]
    return response


@pytest.fixture(scope="module")
def warn_server(pki: Path) -> Iterator[ServerProcess]:
    """A server whose default mode is warn, wording as v1.28 does."""
    proc = ServerProcess(pki, "--enforcement", "warn", "--kubernetes-version", "v1.28.7").wait_ready()
    yield proc
    proc.stop()


# --- Ratcheting -----------------------------------------------------------------------------------------------------

def test_kubectl_label_of_a_preexisting_bad_object_is_allowed_with_a_warning(client: Client) -> None:
    body = captured_update("validate-update-metadata-only.json", project=LONG)
    assert answer(client, "/validate", review(body["request"]["object"]))["allowed"] is False  # as a CREATE
    response = answer(client, "/validate?timeout=10s", body)
    assert response["allowed"] is True
    assert response["warnings"] == [f"{PROJECT_TOO_LONG} (unchanged by this update, so allowed)"]


def test_finalizer_removal_of_a_bad_object_being_deleted_is_allowed_and_not_patched(client: Client) -> None:
    body = captured_update("validate-update-finalizer-removal.json", project=LONG, username=None,
                           poolMode="bogus")
    assert body["request"]["object"]["metadata"]["deletionTimestamp"]
    response = answer(client, "/validate", body)
    assert response == {"uid": body["request"]["uid"], "allowed": True}
    mutation = answer(client, "/mutate", body)
    assert mutation == {"uid": body["request"]["uid"], "allowed": True}
    # Even as a CREATE-shaped request (no oldObject to ratchet against), an object being deleted is let go.
    assert answer(client, "/validate/deny", review(body["request"]["object"]))["allowed"] is True


def test_a_bad_field_changed_to_another_bad_value_is_denied_with_the_usual_status(client: Client) -> None:
    old, new = pool(project=LONG), pool(project=LONG + "q")
    response = answer(client, "/validate", update(old, new))
    assert response["allowed"] is False
    assert response["status"]["details"]["causes"] == [
        {"reason": "FieldValueTooLong", "message": "Too long: may not be more than 63 bytes", "field": "spec.project"}]
    assert response["status"]["message"] == f'ConnectionPool.aiven.io "my-pool" is invalid: {PROJECT_TOO_LONG}'


def test_making_a_good_field_bad_is_denied_and_unchanged_problems_are_only_warned(client: Client) -> None:
    old, new = pool(project=LONG), pool(project=LONG, poolMode="bogus")
    response = answer(client, "/validate", update(old, new))
    assert response["allowed"] is False
    assert [c["field"] for c in response["status"]["details"]["causes"]] == ["spec.poolMode"]
    assert response["warnings"] == [f"{PROJECT_TOO_LONG} (unchanged by this update, so allowed)"]


def test_a_field_absent_in_both_is_ratcheted(client: Client) -> None:
    # Objects created without username (newer operator versions made it optional) keep working on UPDATE.
    old, new = pool(username=None), pool(username=None, poolSize=9)
    response = answer(client, "/validate", update(old, new))
    assert response["allowed"] is True
    assert response["warnings"] == ["spec.username: Required value (unchanged by this update, so allowed)"]
    # Removing it in this update is a change: denied.
    assert answer(client, "/validate", update(pool(), pool(username=None)))["allowed"] is False


@pytest.mark.parametrize(("old", "new"), [(1, 1.0), (True, 1), ("1", 1), ({"a": 1}, {"a": 1.0}), ([1], [True])])
def test_values_are_equal_only_with_the_same_json_type(old: Any, new: Any) -> None:
    # Go's DeepEqual on decoded JSON: 1 and 1.0 are an int64 and a float64. Both values are bad as a poolMode.
    errors = connectionpool.validate(pool(poolMode=new))
    assert updates.ratchet(errors, pool(poolMode=old), pool(poolMode=new)).unchanged == []
    same = updates.ratchet(errors, pool(poolMode=copy.deepcopy(new)), pool(poolMode=new))
    assert same.denying == [] and same.unchanged == errors


def test_null_and_absent_are_the_same_value(client: Client) -> None:
    old, new = pool(username=None), pool()
    new["spec"]["username"] = None
    assert answer(client, "/validate", update(old, new))["allowed"] is True


def test_an_update_without_an_old_object_is_judged_like_a_create() -> None:
    errors = connectionpool.validate(pool(username=None))
    assert updates.ratchet(errors, pool(username=None), None).denying == errors


def test_valid_updates_are_answered_without_reading_the_old_object(client: Client) -> None:
    # An oldObject the projection cannot read would be read in full, and a broken one refused: a valid object's
    # UPDATE never looks at it. (A bad new object does, and still gets an answer.)
    body = update(pool(), pool())
    body["request"]["oldObject"] = {"spec": "x" * 10}
    assert answer(client, "/validate", body) == {"uid": body["request"]["uid"], "allowed": True}
    body = update(pool(), pool(project=LONG))
    body["request"]["oldObject"] = {"spec": ["not", "an", "object"]}
    assert answer(client, "/validate", body)["allowed"] is False


def test_warnings_stay_within_120_characters_and_keep_their_reason(client: Client) -> None:
    bad = "\x00" * 300  # quoted as \x00: four characters each
    old = new = pool(poolMode=bad, authSecretRef={"key": ""})
    response = answer(client, "/validate", update(old, new))
    assert response["allowed"] is True
    assert len(response["warnings"]) == 2
    for warning in response["warnings"]:
        assert len(warning) <= MAX_WARNING
        assert warning.endswith("(unchanged by this update, so allowed)")
    assert response["warnings"][0].startswith('spec.poolMode: Unsupported value: "\\x00\\x00')
    assert "..." in response["warnings"][0]


# --- Enforcement modes ----------------------------------------------------------------------------------------------

BAD = pool(project=LONG, poolMode="bogus")


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


def test_the_server_default_mode_and_version_apply_to_validate(warn_server: ServerProcess) -> None:
    client = warn_server.client()
    try:
        response = answer(client, "/validate?timeout=10s", review(BAD))
        assert response["allowed"] is True
        assert response["warnings"][0] == "spec.project: Too long: may not be longer than 63"
        denied = answer(client, "/validate/deny", review(BAD))
        assert denied["status"]["details"]["causes"][0]["message"] == "Too long: may not be longer than 63"
    finally:
        client.close()


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


@pytest.mark.parametrize("version", ["1.28.x", "latest", ""])
def test_an_unknown_kubernetes_version_stops_the_server_with_a_clear_error(pki: Path, version: str) -> None:
    proc = ServerProcess(pki, "--kubernetes-version", version)
    assert proc.proc.wait(30) == 2
    assert "--kubernetes-version" in proc.logs() and "not a Kubernetes version" in proc.logs()
    assert "Traceback" not in proc.logs()
    proc.stop()


# --- The chart ------------------------------------------------------------------------------------------------------

def cel_request(body: dict[str, Any]) -> dict[str, Any]:
    request = body["request"]
    return {"object": request.get("object"), "oldObject": request.get("oldObject"), "request": request}


def conditions(values: dict[str, Any] | None = None) -> dict[str, list[dict[str, str]]]:
    out = render(values or {})
    return {hook["name"]: hook["matchConditions"] for hook in out.all_webhooks()}


def called(hook_conditions: list[dict[str, str]], body: dict[str, Any]) -> bool:
    """Whether the apiserver calls a webhook with these matchConditions: all must be true."""
    return all(cel(c["expression"], cel_request(body)) is True for c in hook_conditions)


@pytest.mark.parametrize(("name", "expected"), [
    ("mutate-create.json", True),
    ("validate-create-generatename.json", True),
    ("mutate-create-generatename.json", True),
    ("validate-update.json", True),  # changes spec
    ("validate-update-metadata-only.json", False),  # kubectl label
    ("validate-update-finalizer-removal.json", False),  # being deleted
])
def test_match_conditions_skip_what_can_only_be_allowed(name: str, expected: bool) -> None:
    # The chart's own CEL, evaluated with Google's CEL runtime against what a v1.28 apiserver sent.
    body = reference(name)["body"]
    for hook, hook_conditions in conditions().items():
        assert called(hook_conditions, body) is expected, hook


def test_match_conditions_see_a_spec_change_even_when_metadata_changes_too() -> None:
    body = copy.deepcopy(reference("validate-update-metadata-only.json")["body"])
    (hook_conditions, *_) = conditions().values()
    assert not called(hook_conditions, body)
    body["request"]["object"]["spec"]["poolSize"] = 5
    assert called(hook_conditions, body)
    body["request"]["oldObject"].pop("spec")  # an old object without spec: judged
    assert called(hook_conditions, body)


def test_user_match_conditions_come_after_the_built_in_ones() -> None:
    extra = {"name": "only-labelled", "expression": "has(object.metadata.labels)"}
    for hook_conditions in conditions({"webhook": {"matchConditions": [extra]}}).values():
        assert [c["name"] for c in hook_conditions] == [
            "exclude-objects-being-deleted", "exclude-updates-leaving-spec-unchanged", "only-labelled"]


def test_one_validating_entry_per_enforcement_label() -> None:
    out = render({"enforcement": "deny"})
    hooks = out.one("ValidatingWebhookConfiguration")["webhooks"]
    served = handlers.webhooks()
    rows = []
    for hook in hooks:
        path = hook["clientConfig"]["service"]["path"]
        assert path in served
        label = [e for e in hook["namespaceSelector"]["matchExpressions"]
                 if e["key"] == "connectionpool-webhook.io/enforcement"]
        rows.append((hook["name"], path, hook["failurePolicy"], label))
    assert rows == [
        ("vconnectionpool.connectionpool-webhook.io", "/validate", "Fail",
         [{"key": "connectionpool-webhook.io/enforcement", "operator": "NotIn", "values": ["deny", "warn", "dryrun"]}]),
        ("deny.vconnectionpool.connectionpool-webhook.io", "/validate/deny", "Fail",
         [{"key": "connectionpool-webhook.io/enforcement", "operator": "In", "values": ["deny"]}]),
        ("warn.vconnectionpool.connectionpool-webhook.io", "/validate/warn", "Ignore",
         [{"key": "connectionpool-webhook.io/enforcement", "operator": "In", "values": ["warn"]}]),
        ("dryrun.vconnectionpool.connectionpool-webhook.io", "/validate/dryrun", "Ignore",
         [{"key": "connectionpool-webhook.io/enforcement", "operator": "In", "values": ["dryrun"]}]),
    ]
    (mutating,) = out.one("MutatingWebhookConfiguration")["webhooks"]
    assert mutating["failurePolicy"] == "Ignore"
    assert not [e for e in mutating["namespaceSelector"]["matchExpressions"] if "enforcement" in e["key"]]


@pytest.mark.parametrize(("labels", "expected"), [
    ({}, "vconnectionpool"), ({"connectionpool-webhook.io/enforcement": "warn"}, "warn.vconnectionpool"),
    ({"connectionpool-webhook.io/enforcement": "deny"}, "deny.vconnectionpool"),
    ({"connectionpool-webhook.io/enforcement": "dryrun"}, "dryrun.vconnectionpool"),
    ({"connectionpool-webhook.io/enforcement": "bogus"}, "vconnectionpool"),
])
def test_every_namespace_is_selected_by_exactly_one_validating_entry(labels: dict[str, str], expected: str) -> None:
    # Label selector semantics: In needs the key with a listed value; NotIn also takes namespaces without the key.
    def selects(expression: dict[str, Any]) -> bool:
        value = {**labels, "kubernetes.io/metadata.name": "team-a"}.get(expression["key"])
        if expression["operator"] == "In":
            return value in expression["values"]
        return value not in expression["values"]

    hooks = render({}).one("ValidatingWebhookConfiguration")["webhooks"]
    chosen = [h["name"] for h in hooks if all(selects(e) for e in h["namespaceSelector"]["matchExpressions"])]
    assert chosen == [f"{expected}.connectionpool-webhook.io"]


def test_a_warn_default_fails_open_and_reaches_the_server() -> None:
    out = render({"enforcement": "warn", "kubernetesVersion": "1.28"})
    (default, deny, *_) = out.one("ValidatingWebhookConfiguration")["webhooks"]
    assert (default["failurePolicy"], deny["failurePolicy"]) == ("Ignore", "Fail")
    assert out.env()["WEBHOOK_ENFORCEMENT"] == "warn"
    assert out.env()["WEBHOOK_KUBERNETES_VERSION"] == "1.28"


def test_the_server_words_errors_as_the_clusters_version_by_default() -> None:
    # Helm's .Capabilities.KubeVersion: the offline engine reports its own default version here.
    version = render({}).env()["WEBHOOK_KUBERNETES_VERSION"]
    assert re.fullmatch(r"v1\.\d+\.\d+.*", version)


def test_patched_then_ratcheted_update_round_trip(client: Client) -> None:
    # The full flow of a spec change on a legacy object: mutate (default the secret name), then validate.
    old = pool(project=LONG)
    new = pool(project=LONG, poolSize=5)
    mutated = apply_patch(new, answer(client, "/mutate", update(old, new)))
    assert mutated["spec"]["connInfoSecretTarget"] == {"name": "my-pool"}
    response = answer(client, "/validate", update(old, mutated))
    assert response["allowed"] is True and len(response["warnings"]) == 1
