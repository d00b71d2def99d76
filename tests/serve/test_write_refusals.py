"""A write without the object it writes is not a review anyone can answer: HTTP 400, on both webhooks.

The apiserver always sends ``request.object`` for CREATE and UPDATE. A review that lacks it (absent, or ``null``)
comes from something else, and judging "nothing" would be wrong both ways: ``/validate`` would deny with a bogus
422 listing every required field, and ``/mutate`` would allow a write it never saw. A DELETE carries no object, and
is allowed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.support.https import Client
from tests.support.reviews import REFERENCE_REQUESTS, pool, reference, review
from webhook.serve import admission, handlers

PATHS = ["/validate", "/mutate"]


def without_object(operation: str, how: str) -> dict[str, Any]:
    """A captured UPDATE (oldObject and all), turned into ``operation`` with its object absent or null."""
    body: dict[str, Any] = copy.deepcopy(reference("validate-update.json")["body"])
    body["request"]["operation"] = operation
    if how == "absent":
        del body["request"]["object"]
    else:
        body["request"]["object"] = None
    return body


@pytest.mark.parametrize("how", ["absent", "null"])
@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
@pytest.mark.parametrize("path", PATHS)
def test_a_write_without_its_object_is_refused_with_400(client: Client, path: str, operation: str, how: str) -> None:
    reply = client.post(path + "?timeout=10s", without_object(operation, how))
    assert reply.status == 400, reply.body
    status = reply.json()
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"request.object: Required value for {operation}",
        "reason": "BadRequest",
        "code": 400,
    }


@pytest.mark.parametrize("how", ["absent", "null"])
@pytest.mark.parametrize("path", PATHS)
def test_a_delete_without_object_is_allowed(client: Client, path: str, how: str) -> None:
    body = without_object("DELETE", how)
    reply = client.post(path, body)
    assert reply.status == 200, reply.body
    assert reply.json()["response"] == {"uid": body["request"]["uid"], "allowed": True}


@pytest.mark.parametrize("path", PATHS)
def test_the_captured_delete_is_allowed_as_sent(client: Client, path: str) -> None:
    captured = reference("validate-delete.json")["body"]
    assert captured["request"]["object"] is None  # as the apiserver sends it
    reply = client.post(path, captured)
    assert reply.status == 200 and reply.json()["response"]["allowed"] is True


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
@pytest.mark.parametrize("path", PATHS)
def test_an_empty_object_is_an_object_and_is_judged(client: Client, path: str, operation: str) -> None:
    # Only a missing object is refused: {} is an object, which /validate denies and /mutate leaves alone.
    body = review({}, operation)
    if operation == "UPDATE":
        body["request"]["oldObject"] = pool()  # an UPDATE always has the stored object beside it
    reply = client.post(path, body)
    assert reply.status == 200
    response = reply.json()["response"]
    assert response["allowed"] is (path == "/mutate")
    if path == "/validate":
        assert response["status"]["code"] == 422


# The documented request body (OpenAPI, derived from the envelope the server checks) says the same thing.
def documented() -> Draft202012Validator:
    return Draft202012Validator(admission.openapi_schema())
@pytest.mark.parametrize("name", REFERENCE_REQUESTS)
def test_the_documented_request_body_takes_every_captured_review(name: str) -> None:
    assert list(documented().iter_errors(reference(name)["body"])) == []


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_the_documented_request_body_requires_the_object_of_writes(operation: str) -> None:
    errors = list(documented().iter_errors(without_object(operation, "absent")))
    assert [e.message for e in errors] == ["'object' is a required property"]
    errors = list(documented().iter_errors(without_object(operation, "null")))
    assert [e.message for e in errors] == ["None is not of type 'object'"]


@pytest.mark.parametrize("how", ["absent", "null"])
@pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
def test_the_documented_request_body_needs_no_object_for_other_operations(operation: str, how: str) -> None:
    assert list(documented().iter_errors(without_object(operation, how))) == []


@pytest.mark.parametrize(("edit", "complaint"), [
    (lambda r: r.pop("kind"), "'kind' is a required property"),
    (lambda r: r.update(apiVersion="v1"), "'v1' is not one of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']"),
    (lambda r: r["request"].pop("uid"), "'uid' is a required property"),
    (lambda r: r["request"].update(uid=""), "'' should be non-empty"),
    (lambda r: r["request"].update(dryRun="yes"), "'yes' is not of type 'boolean', 'null'"),
    (lambda r: r["request"].update(uid=None), "None is not of type 'string'"),  # required: null is no value
    (lambda r: r.update(request=None), "None is not of type 'object'"),
])
def test_the_documented_request_body_refuses_what_the_server_refuses(edit: Any, complaint: str) -> None:
    body: dict[str, Any] = copy.deepcopy(reference("validate-update.json")["body"])
    edit(body)
    assert [e.message for e in documented().iter_errors(body)] == [complaint]
    with pytest.raises(admission.BadReview):
        handlers.REVIEWS.decode(json.dumps(body).encode())
