"""Reading a review: ``webhook.serve.admission.Reader`` builds only the fields that the envelope check, the rules and
the log look at (the projection), and falls back to parsing everything when a body does not fit that shape.

The first tests build a reader for a small schema of their own, so that the reader's behaviour is seen apart from the
rules: what it builds, what it refuses, and the oldObject. The rest read the same bytes both ways with the webhooks'
reader (the projection with its fallback, and the full parse alone) and require the same outcome: the same request
fields, the same validate and mutate answers, or the same refusal. Hypothesis supplies AdmissionReviews with every
field missing, null or of the wrong type, unknown fields everywhere, big numbers, lone surrogates and multi-byte
text, written both as ASCII (escaped) and as raw UTF-8.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import (
    API_VERSIONS,
    OPERATIONS,
    admission_reviews,
    connection_pools,
    fuzz,
    json_values,
    names,
)
from tests.support.reviews import pool, reference, reference_requests, review
from webhook.rules import connectionpool
from webhook.rules.schema import Integer, Object, String
from webhook.serve import admission, handlers
from webhook.serve.handlers import REVIEWS

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


# --- The projection reads what the full parse reads --------------------------------------------------------------


def outcome(read: Any, body: bytes) -> Any:
    """What the server would do with ``body`` read by ``read``: refuse it (and why), or answer both webhooks."""
    try:
        request = read(body)
    except admission.BadReview as exc:
        return "refused", str(exc)
    return (dataclasses.replace(request, object=None), request.object, request.old_object(),
            handlers.validate(request), handlers.mutate(request))


def full_parse(body: bytes) -> admission.Request:
    review = admission.parse_json(body)
    request = admission.request_of(review)
    request.old_object = lambda: review["request"].get("oldObject")
    return request


def assert_same(body: bytes) -> Any:
    projected, full = outcome(REVIEWS.decode, body), outcome(full_parse, body)
    if projected[0] == "refused":
        assert projected == full
    else:  # the projection builds only declared fields of the object; the request and the answers are the same
        assert (projected[0], *projected[3:]) == (full[0], *full[3:])
    return projected


def encode(value: Any, ascii_only: bool) -> bytes:
    # Raw UTF-8 may carry a lone surrogate, which strict UTF-8 refuses: both parsers must refuse it alike.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def declared_objects(node: Object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of the objects the rules declare fields in: the projection reads only objects (or null) there."""
    out = []
    for name, child in node.properties.items():
        if isinstance(child, Object) and child.properties:
            out += [(*path, name), *declared_objects(child, (*path, name))]
    return out


def objects_where_declared(obj: Any) -> Any:
    for path in declared_objects(connectionpool.SCHEMA):
        parent = obj
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and not isinstance(parent.get(path[-1]), dict | None):
            parent[path[-1]] = {}
    return obj


@st.composite
def projectable_reviews(draw: st.DrawFn) -> dict[str, Any]:
    """Well-formed envelopes around ConnectionPools that are wrong in every way at the leaves, with unknown fields
    everywhere: reviews the projection reads (a wrong type where an object is declared sends a body to the full
    parse, which ``admission_reviews`` covers)."""
    obj = objects_where_declared(draw(connection_pools()))
    request = {
        "uid": draw(st.uuids()).hex, "operation": draw(st.sampled_from(OPERATIONS)), "object": obj,
        "oldObject": draw(st.none() | json_values()), "name": draw(names()), "namespace": "default",
        "dryRun": draw(st.booleans()), "userInfo": {"username": draw(st.text(max_size=10)), "groups": ["g"]},
    }
    for key in draw(st.lists(st.sampled_from(sorted(request)), max_size=2)):
        request.pop(key, None)
    return {"apiVersion": draw(st.sampled_from(API_VERSIONS)), "kind": "AdmissionReview", "request": request,
            "extra": draw(json_values())}


@pytest.mark.property
@pytest.mark.slow
@fuzz(300)
@given(review=projectable_reviews(), ascii_only=st.booleans())
def test_projection_answers_like_the_full_parse(review: dict[str, Any], ascii_only: bool) -> None:
    assert_same(encode(review, ascii_only))


@pytest.mark.property
@fuzz(300)
@given(review=admission_reviews(), ascii_only=st.booleans())
def test_projection_refuses_like_the_full_parse(review: dict[str, Any], ascii_only: bool) -> None:
    assert_same(encode(review, ascii_only))


@pytest.mark.parametrize("name", reference_requests())
def test_captured_requests_are_read_by_the_projection(name: str) -> None:
    body = json.dumps(reference(name)["body"]).encode()
    review = REVIEWS.parse(body)
    # The projection did the reading: nothing the server does not look at was built.
    assert "oldObject" not in review["request"] and "kind" not in review["request"]
    if review["request"].get("object"):
        assert set(review["request"]["object"]["metadata"]) <= {"name", "namespace", "deletionTimestamp"}
    assert assert_same(body)[0] != "refused"


def captured(edit: Any = None) -> dict[str, Any]:
    review: dict[str, Any] = reference("mutate-create.json")["body"]
    if edit:
        edit(review)
    return review


def splice(review: dict[str, Any], raw: bytes, at: str = "object.metadata.annotations") -> bytes:
    """The review's bytes with ``raw`` (any bytes, valid JSON or not) as the value of a "marker" field at ``at``."""
    target = review["request"]
    for key in at.split("."):
        target = target[key]
    target["marker"] = "MARKER"
    return json.dumps(review).encode().replace(b'"MARKER"', raw)


# Bytes where a careless projection would differ from the full parse, in a field the server never reads
# (metadata.annotations) and in one it does (spec.project).
EDGES = [b'"\\ud800"', b'"\\udfff\\ud800"', b'"\xff"', b'"\xed\xa0\x80"', b'"\xc0\xaf"', b'"caf\xc3\xa9"', b"NaN",
         b"[1,]", b"01", b'"a\x01"', b"[" * 2000 + b"]" * 2000, b"[" * 200 + b"]" * 200, str(2**64).encode(),
         b"1" + b"0" * 400, b"1e308", b'"\\u0000"']


@pytest.mark.parametrize("raw", EDGES)
@pytest.mark.parametrize("at", ["object.metadata.annotations", "object.spec"])
def test_hand_made_bytes_are_read_alike(raw: bytes, at: str) -> None:
    body = splice(captured(), raw, at)
    if at == "object.spec":  # read by the rules: put the bytes in spec.project itself
        body = body.replace(b'"marker": ' + raw + b", ", b"").replace(b'"my-project"', raw)
        assert raw in body
    assert_same(body)


def test_a_number_too_large_to_read_is_skipped_where_nobody_reads_it() -> None:
    # The one difference, inherent to skipping: the full parse refuses it, the projection never reads it (as Go's
    # decoder skips fields it does not know). The answer is the one for the object without it.
    body = splice(captured(), b"1" + b"0" * 5000)
    assert outcome(full_parse, body)[0] == "refused"
    assert outcome(REVIEWS.decode, body)[3:] == outcome(REVIEWS.decode, json.dumps(captured()).encode())[3:]
