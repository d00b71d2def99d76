"""The projecting parse against the full parse: the server must answer the same whichever one read the body.

``webhook.serve.admission.Reader`` builds only the fields that the envelope check, the rules and the log look at, and
falls back to parsing everything when a body does not fit that shape. These tests read the same bytes both ways
(the projection with its fallback, and the full parse alone) and require the same outcome: the same request
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
from tests.support.reviews import reference, reference_requests
from webhook.rules import connectionpool
from webhook.rules.schema import Object
from webhook.serve import admission, handlers
from webhook.serve.handlers import REVIEWS


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


@fuzz(300)
@given(review=projectable_reviews(), ascii_only=st.booleans())
def test_projection_answers_like_the_full_parse(review: dict[str, Any], ascii_only: bool) -> None:
    assert_same(encode(review, ascii_only))


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
