"""Ratcheting, for safe adoption on a live cluster: an UPDATE is denied only for what it changes.

Objects stored before the webhook was installed may break the rules; a `kubectl label` or the finalizer removal of
an object being deleted must still go through, with a warning for what the update left unchanged. UPDATE cases are
built from the reviews a v1.28 apiserver sent (tests/data/reference), made to carry such objects.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.https import Client, answer
from tests.support.reviews import apply_patch, pool, reference, review, update
from webhook.rules import ruleset, updates
from webhook.rules.enforcement import MAX_WARNING

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
    errors = ruleset.validate(pool(poolMode=new))
    assert updates.ratchet(errors, pool(poolMode=old), pool(poolMode=new)).unchanged == []
    same = updates.ratchet(errors, pool(poolMode=copy.deepcopy(new)), pool(poolMode=new))
    assert same.denying == [] and same.unchanged == errors


def test_null_and_absent_are_the_same_value(client: Client) -> None:
    old, new = pool(username=None), pool()
    new["spec"]["username"] = None
    assert answer(client, "/validate", update(old, new))["allowed"] is True


def test_an_update_without_an_old_object_is_judged_like_a_create() -> None:
    errors = ruleset.validate(pool(username=None))
    assert updates.ratchet(errors, pool(username=None), None).denying == errors


def test_an_old_object_without_a_spec_to_compare_with_is_judged_like_a_create(client: Client) -> None:
    # The immutability rules read every UPDATE's oldObject; one whose spec is not an object (the apiserver never
    # sends one) has nothing to keep, and one the projection cannot read is read in full: both get an answer.
    body = update(pool(), pool())
    body["request"]["oldObject"] = {"spec": "x" * 10}
    assert answer(client, "/validate", body) == {"uid": body["request"]["uid"], "allowed": True}
    body = update(pool(), pool(project=LONG))
    body["request"]["oldObject"] = {"spec": ["not", "an", "object"]}
    assert answer(client, "/validate", body)["allowed"] is False


def test_warnings_stay_within_256_characters_and_keep_their_reason(client: Client) -> None:
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


def test_patched_then_ratcheted_update_round_trip(client: Client) -> None:
    # The full flow of a spec change on a legacy object: mutate (default the secret name), then validate.
    old = pool(project=LONG)
    new = pool(project=LONG, poolSize=5)
    mutated = apply_patch(new, answer(client, "/mutate", update(old, new)))
    assert mutated["spec"]["connInfoSecretTarget"] == {"name": "my-pool"}
    response = answer(client, "/validate", update(old, mutated))
    assert response["allowed"] is True and len(response["warnings"]) == 1
