"""admission.Reader for a schema of its own: what it builds of a review, what it refuses, and the oldObject.

The webhooks' reader is built once at import for the ConnectionPool schema; these tests build theirs in the test,
for a small schema, so that the reader's own behaviour is seen apart from the rules.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.reviews import pool, review
from webhook.rules.schema import Integer, Object, String
from webhook.serve import admission, handlers

SCHEMA = Object(properties={
    "metadata": Object(required=True, properties={"name": String(required=True)}),
    "spec": Object(required=True, properties={"size": Integer()}),
})


def body(operation: str = "UPDATE", **request: Any) -> bytes:
    review: dict[str, Any] = {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "extra": {"ignored": [1, 2]},
        "request": {
            "uid": "u-1", "operation": operation, "name": "n", "namespace": "ns", "dryRun": True,
            "userInfo": {"username": "alice", "groups": ["g"]},
            "kind": {"group": "aiven.io", "version": "v1alpha1", "kind": "ConnectionPool"},
            "object": {"metadata": {"name": "n", "annotations": {"a": "b"}}, "spec": {"size": 1, "junk": [{}]}},
            "oldObject": {"metadata": {"name": "n"}, "spec": {"size": 2, "other": True}},
        },
    }
    review["request"].update(request)
    return json.dumps(review).encode()


def test_only_what_is_checked_is_built() -> None:
    parsed = admission.Reader(SCHEMA).parse(body())
    assert parsed == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1", "operation": "UPDATE", "name": "n", "namespace": "ns", "dryRun": True,
            "userInfo": {"username": "alice"},
            "object": {"metadata": {"name": "n"}, "spec": {"size": 1}},
        },
    }


def test_decode_gives_the_request_and_the_old_object_on_demand() -> None:
    request = admission.Reader(SCHEMA).decode(body())
    assert (request.api_version, request.uid, request.operation) == ("admission.k8s.io/v1", "u-1", "UPDATE")
    assert (request.name, request.namespace, request.dry_run, request.username) == ("n", "ns", True, "alice")
    assert request.object == {"metadata": {"name": "n"}, "spec": {"size": 1}}
    assert request.old_object() == {"metadata": {"name": "n"}, "spec": {"size": 2}}


@pytest.mark.parametrize(("old", "read"), [
    ("absent", None), (None, None), ("x", "x"), ([1], [1]), ({"spec": {"size": "big"}}, {"spec": {"size": "big"}}),
])
def test_the_old_object_as_sent_whatever_its_shape(old: Any, read: Any) -> None:
    raw = json.loads(body())
    if old == "absent":
        del raw["request"]["oldObject"]
    else:
        raw["request"]["oldObject"] = old
    assert admission.Reader(SCHEMA).decode(json.dumps(raw).encode()).old_object() == read


def test_an_object_of_the_schema_but_incomplete_is_read_not_refused() -> None:
    # The object's own required fields are the rules' business, not the reader's: it is read, and judged later.
    request = admission.Reader(SCHEMA).decode(body(object={"spec": {}}))
    assert request.object == {"spec": {}}


@pytest.mark.parametrize(("edit", "complaint"), [
    ({"object": [1]}, "request.object in body must be of type object"),
    ({"object": {"spec": []}}, None),  # not the reader's to judge: the object is read in full, for the rules
    ({"uid": 5}, "request.uid in body must be of type string"),
    ({"operation": ""}, "request.operation: Required value"),
])
def test_a_shape_the_projection_does_not_fit_is_read_in_full(edit: dict[str, Any], complaint: str | None) -> None:
    reader = admission.Reader(SCHEMA)
    if complaint is None:
        assert reader.decode(body(**edit)).object == {"spec": []}
        return
    with pytest.raises(admission.BadReview, match=complaint):
        reader.decode(body(**edit))


def test_bad_bytes_are_refused_with_a_reason() -> None:
    reader = admission.Reader(SCHEMA)
    with pytest.raises(admission.BadReview, match="not valid JSON"):
        reader.decode(body().replace(b'"n"', b'"\xff"', 1))
    with pytest.raises(admission.BadReview, match="must be a JSON object"):
        reader.decode(b"[]")


def _update(obj: Any, old: Any = "absent") -> bytes:
    raw = review(obj, "UPDATE")
    if old == "absent":
        del raw["request"]["oldObject"]
    else:
        raw["request"]["oldObject"] = old
    return json.dumps(raw).encode()


def test_an_update_without_old_object_is_judged_like_a_create() -> None:
    response = handlers.validate(handlers.REVIEWS.decode(_update(pool(project="p" * 64))))
    assert response.allowed is False and response.status is not None and response.status["code"] == 422


def test_an_update_read_by_the_full_parse_still_ratchets_against_its_old_object() -> None:
    # spec a string: not the projection's shape, so the whole review is parsed; the same bad spec before and after
    # is an unchanged problem, allowed with a warning.
    obj = pool()
    obj["spec"] = "x"
    request = handlers.REVIEWS.decode(_update(obj, old=obj))
    assert request.old_object() == obj
    response = handlers.validate(request)
    assert response.allowed is True and len(response.warnings) == 1
    assert response.warnings[0].startswith("spec: Invalid value")
