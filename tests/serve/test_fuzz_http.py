"""Hostile and broken input against the real server over verified HTTPS.

What this proves: whatever arrives at ``/validate`` or ``/mutate`` (arbitrary bytes, arbitrary JSON values,
AdmissionReviews with any field missing, null or of the wrong type, ConnectionPools that are wrong in every way,
hand-made bytes the json module cannot produce: duplicate keys, NaN/Infinity, 5000-digit integers, invalid UTF-8,
100k-deep nesting, lone surrogates; strings of hundreds of KB; any Content-Type; bodies over 7 MiB), the answer is a
well-formed AdmissionReview echoing the request's uid and apiVersion, or a 4xx JSON ``Status``; never a 5xx, a
traceback or a hang, and the server stays up. Where a review is usable, ``/validate`` agrees with the independent
JSON Schema oracle of tests/support/fuzzing.py field for field, and ``/mutate`` never denies and only adds the absent
``spec.connInfoSecretTarget.name``, idempotently.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fuzzing import (
    API_VERSIONS,
    EDGE_STRINGS,
    OPERATIONS,
    admission_reviews,
    check_defaulting,
    check_verdict,
    connection_pools,
    json_values,
    oracle_fields,
)
from tests.support.fuzzing import fuzz as _fuzz
from tests.support.https import Client, Reply
from tests.support.reviews import pool, review
from tests.support.servers import ServerProcess
from tests.support.wording_oracle import NEWEST, check_causes

# Every test checks that the shared server process survived it (_server_survives).
pytestmark = [pytest.mark.process]

JUDGED = ("CREATE", "UPDATE")
ENDPOINTS = ("/validate", "/mutate")
MAX_BODY = 7 * 1024 * 1024  # the documented limit: 7 MiB


def fuzz(examples: int) -> settings:
    # The `client` fixture is one kept-alive connection, deliberately reused across examples.
    return _fuzz(examples, shared_fixture=True)


@pytest.fixture(autouse=True)
def _server_survives(server: ServerProcess) -> Iterator[None]:
    yield
    assert server.proc.poll() is None, f"server died:\n{server.logs()[-4000:]}"


# ---------------------------------------------------------------------------------------------------------------
# What every answer must look like


def unsendable(value: Any) -> bool:
    """Holds what Go's encoder never writes, so the apiserver never sends: half a UTF-16 surrogate pair, or a
    number beyond float64. A server may refuse such a body (400) where Go's decoder would guess or fail."""
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(unsendable(k) or unsendable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(unsendable(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            return True
    return False


def post(client: Client, path: str, body: bytes, content_type: str | None = "application/json") -> Reply:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return client.request("POST", path + "?timeout=10s", body, headers)


def sane(reply: Reply) -> Any:
    """Never a 5xx, always JSON, never a traceback."""
    assert reply.status == 200 or 400 <= reply.status < 500, (reply.status, reply.body[:500])
    assert reply.headers.get("content-type") == "application/json", reply.headers
    assert b"Traceback" not in reply.body and b'File "' not in reply.body, reply.body[:2000]
    return json.loads(reply.body)


def refused(reply: Reply, code: int | None = None) -> dict[str, Any]:
    """A 4xx with a meta/v1 Status body whose code is the HTTP status."""
    body = sane(reply)
    assert 400 <= reply.status < 500, (reply.status, reply.body[:500])
    if code is not None:
        assert reply.status == code, reply.body[:500]
    assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
    assert body["status"] == "Failure" and body["code"] == reply.status, body
    assert isinstance(body["message"], str) and body["message"], body
    assert len(reply.body) < 16384, "an error must not echo the input back at length"
    return body


def answered(reply: Reply, uid: str, api_version: str) -> dict[str, Any]:
    """A well-formed AdmissionReview for this request; returns its ``response``."""
    body = sane(reply)
    assert reply.status == 200, reply.body[:500]
    assert body["kind"] == "AdmissionReview" and body["apiVersion"] == api_version, body
    response = body["response"]
    assert response["uid"] == uid
    assert type(response["allowed"]) is bool
    return response  # type: ignore[no-any-return]


def patch_ops(response: dict[str, Any]) -> list[dict[str, Any]]:
    if "patch" not in response:
        return []
    assert response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"], validate=True))
    assert isinstance(ops, list) and ops, "an empty patch should be left out"
    return ops


def judge(client: Client, path: str, obj: Any, operation: str, response: dict[str, Any]) -> None:
    """The verdict on a usable review: the oracle's at /validate, never a denial at /mutate."""
    if path == "/mutate":
        assert response["allowed"] is True, response
        if operation in JUDGED:
            check_defaulting(obj, patch_ops(response), lambda again: mutate_ops(client, again))
        else:
            assert "patch" not in response
        return
    if operation not in JUDGED:
        assert response["allowed"] is True, response
        return
    if not oracle_fields(obj):
        assert response["allowed"] is True, response
        return
    assert response["allowed"] is False, "the oracle rejects this object"
    status = response["status"]
    assert status["code"] == 422 and status["reason"] == "Invalid" and status["status"] == "Failure", status
    causes = status["details"]["causes"]
    assert causes, status
    check_verdict(obj, [cause["field"] for cause in causes])
    # Reasons and messages too, worded independently, as the newest Kubernetes words them (the server's default).
    check_causes(obj, [(cause["field"], cause["reason"], cause["message"]) for cause in causes], NEWEST)


def make_review(obj: Any, operation: str = "CREATE", api_version: str = "admission.k8s.io/v1",
                uid: str = "fuzz") -> dict[str, Any]:
    """The apiserver's envelope; its request.name is always a string, whatever metadata.name holds."""
    body = review(obj, operation, api_version, uid)
    if not isinstance(body["request"].get("name"), str):
        body["request"].pop("name", None)
    return body


def mutate_ops(client: Client, obj: Any) -> list[dict[str, Any]]:
    try:
        body = json.dumps(make_review(obj), allow_nan=False).encode()
    except ValueError:  # 1e400 was read as inf: the object cannot be sent again as JSON
        return []
    reply = post(client, "/mutate", body)
    response = answered(reply, "fuzz", "admission.k8s.io/v1")
    assert response["allowed"] is True
    return patch_ops(response)


# ---------------------------------------------------------------------------------------------------------------
# Generated input


@pytest.mark.property
@pytest.mark.slow
@fuzz(200)
@given(obj=connection_pools(), operation=st.sampled_from(JUDGED), api_version=st.sampled_from(API_VERSIONS),
       uid=st.uuids().map(str))
def test_validate_agrees_with_oracle_over_https(client: Client, obj: dict[str, Any], operation: str,
                                                api_version: str, uid: str) -> None:
    reply = post(client, "/validate", json.dumps(make_review(obj, operation, api_version, uid)).encode())
    if reply.status == 400 and unsendable(obj):
        refused(reply, 400)
        return
    judge(client, "/validate", obj, operation, answered(reply, uid, api_version))


@pytest.mark.property
@pytest.mark.slow
@fuzz(150)
@given(obj=connection_pools(), operation=st.sampled_from(JUDGED), api_version=st.sampled_from(API_VERSIONS))
def test_mutate_only_adds_the_absent_target_name_over_https(client: Client, obj: dict[str, Any], operation: str,
                                                            api_version: str) -> None:
    uid = "fuzz-mutate"
    reply = post(client, "/mutate", json.dumps(make_review(obj, operation, api_version, uid)).encode())
    if reply.status == 400 and unsendable(obj):
        refused(reply, 400)
        return
    judge(client, "/mutate", obj, operation, answered(reply, uid, api_version))


def envelope(body: Any) -> tuple[str, dict[str, Any]]:
    """("bad" | "good" | "either", request): bad must be a 400, good must be answered, either may be both."""
    if not isinstance(body, dict) or body.get("apiVersion") not in API_VERSIONS:
        return "bad", {}
    request = body.get("request")
    if body.get("kind") != "AdmissionReview" or not isinstance(request, dict):
        return "bad", {}
    uid, operation, obj = request.get("uid"), request.get("operation"), request.get("object")
    if not isinstance(uid, str) or not uid or not isinstance(operation, str) or not operation:
        return "bad", request
    if (obj is not None and not isinstance(obj, dict)) or (obj is None and operation in JUDGED):
        return "bad", request
    # Beyond the brief's rules, a server may be strict about the other fields it reads, or lenient.
    user = request.get("userInfo")
    tidy = (
        operation in OPERATIONS
        and all(isinstance(request.get(k), str | None) for k in ("name", "namespace"))
        and isinstance(request.get("dryRun"), bool | None)
        and isinstance(user, dict | None)
        and isinstance((user or {}).get("username"), str | None)
    )
    return ("good" if tidy and not unsendable(body) else "either"), request


def check_review_reply(client: Client, path: str, body: Any, reply: Reply) -> None:
    verdict, request = envelope(body)
    if verdict == "bad" or (verdict == "either" and reply.status != 200):
        refused(reply, 400)
        return
    response = answered(reply, request["uid"], body["apiVersion"])
    if request["operation"] in OPERATIONS:
        judge(client, path, request.get("object"), request["operation"], response)


@pytest.mark.property
@pytest.mark.slow
@fuzz(250)
@given(body=admission_reviews(), path=st.sampled_from(ENDPOINTS))
def test_any_admission_review(client: Client, body: dict[str, Any], path: str) -> None:
    check_review_reply(client, path, body, post(client, path, json.dumps(body).encode()))


@pytest.mark.property
@pytest.mark.slow
@fuzz(150)
@given(body=json_values(30), path=st.sampled_from(ENDPOINTS))
def test_any_json_value(client: Client, body: Any, path: str) -> None:
    check_review_reply(client, path, body, post(client, path, json.dumps(body).encode()))


@pytest.mark.property
@pytest.mark.slow
@fuzz(150)
@given(body=st.binary(max_size=300), path=st.sampled_from(ENDPOINTS))
def test_any_bytes(client: Client, body: bytes, path: str) -> None:
    reply = post(client, path, body)
    if reply.status != 200:
        refused(reply, 400)
    else:  # only possible if the bytes happen to be a usable review
        check_review_reply(client, path, json.loads(body), reply)


def is_json_media_type(content_type: str) -> bool:
    """application/json, or a structured +json type (RFC 6839), parameters and case aside."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/json ",
                 "application/merge-patch+json", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "application/jsonp", "application/yaml", "json", "",
                 "application/", "*/*", "application/json\tx", "application/xml; a=application/json"]


@pytest.mark.property
@fuzz(120)
@given(content_type=st.one_of(
    st.sampled_from(CONTENT_TYPES),
    st.from_regex(r"[a-zA-Z*]{0,12}/[a-zA-Z0-9.+*-]{0,16}(;[ ]?[a-z]{1,8}=[a-zA-Z0-9/+-]{0,12})?", fullmatch=True),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
            max_size=40),
), path=st.sampled_from(ENDPOINTS))
def test_content_type(client: Client, content_type: str, path: str) -> None:
    # HTTP trims optional whitespace around a header value, so what the server sees is the stripped value.
    reply = post(client, path, json.dumps(review(pool())).encode(), content_type)
    if is_json_media_type(content_type.strip(" \t")):
        answered(reply, review(pool())["request"]["uid"], "admission.k8s.io/v1")
    else:
        refused(reply, 415)


def test_no_content_type(client: Client) -> None:
    refused(post(client, "/validate", json.dumps(review(pool())).encode(), None), 415)


# ---------------------------------------------------------------------------------------------------------------
# Hand-made bytes: what the json module will not produce

UID = "c0ce5656-7ee1-411f-a96e-4b4294b711e9"
TEMPLATE = json.dumps(review(pool(poolSize=424242, x_marker="MARK"), uid=UID)).encode()


BOGUS = json.dumps(review(pool(poolMode="bogus"), uid=UID)).encode()
VALID_SPEC = json.dumps(pool()["spec"]).encode()


def swap(body: bytes, old: bytes, new: bytes) -> bytes:
    assert body.count(old) == 1, old
    return body.replace(old, new)


def with_pool_size(literal: bytes) -> bytes:
    return swap(TEMPLATE, b"424242", literal)


def with_marker(literal: bytes) -> bytes:
    return swap(TEMPLATE, b'"MARK"', literal)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def read_int(literal: str) -> int | float:
    # Python converts at most 4300 digits to an int; beyond that, read the literal the way Go would, as a float.
    return int(literal) if len(literal) <= 4300 else float(literal)


# (name, body, expected): "bad" must be a 400; "answer" must be a usable review (verdict checked against the oracle
# on the json module's reading of the same bytes); "either" may be a 400 or a usable review.
RAW_CASES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "bad"),
    ("whitespace", b" \r\n\t ", "bad"),
    ("null", b"null", "bad"),
    ("array", b"[]", "bad"),
    ("string", b'"AdmissionReview"', "bad"),
    ("number", b"1", "bad"),
    ("truncated", TEMPLATE[:-1], "bad"),
    ("trailing garbage", TEMPLATE + b"x", "bad"),
    ("trailing newline", TEMPLATE + b"\n", "answer"),
    ("two documents", TEMPLATE + TEMPLATE, "bad"),
    ("comment", b"// hi\n" + TEMPLATE, "bad"),
    ("single quotes", TEMPLATE.replace(b'"', b"'"), "bad"),
    ("raw control character in a string", swap(TEMPLATE, b"my-project", b"my-\x01project"), "bad"),
    ("NaN", with_pool_size(b"NaN"), "bad"),
    ("Infinity", with_pool_size(b"Infinity"), "bad"),
    ("-Infinity", with_pool_size(b"-Infinity"), "bad"),
    ("NaN in an unknown field", with_marker(b"NaN"), "bad"),
    ("1.0", with_pool_size(b"1.0"), "answer"),
    ("1e3", with_pool_size(b"1e3"), "answer"),
    ("-0", with_pool_size(b"-0"), "answer"),
    ("1e400 overflows a float", with_pool_size(b"1e400"), "either"),
    ("2**63", with_pool_size(str(2**63).encode()), "answer"),
    ("-2**63", with_pool_size(str(-(2**63)).encode()), "answer"),
    ("400 digits", with_pool_size(b"9" * 400), "either"),
    ("5000 digits", with_pool_size(b"9" * 5000), "either"),
    # The server skips what it does not read, as Go's decoder does, rather than refusing a number it cannot read.
    ("5000 digits in an unknown field", with_marker(b"9" * 5000), "answer"),
    ("100k-deep array", nested(100_000), "bad"),
    ("100k-deep object", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "bad"),
    ("100k-deep unknown field", with_marker(nested(100_000)), "bad"),
    ("unclosed 100k-deep array", b"[" * 100_000, "bad"),
    ("200-deep unknown field", with_marker(nested(200)), "answer"),
    ("duplicate uid", swap(TEMPLATE, b'"uid": ', b'"uid": "first", "uid": '), "answer"),
    ("duplicate spec, valid last", swap(TEMPLATE, b'"spec": ', b'"spec": {"poolMode": "bogus"}, "spec": '), "answer"),
    ("duplicate spec, invalid last", swap(BOGUS, b'"spec": ', b'"spec": ' + VALID_SPEC + b', "spec": '), "answer"),
    ("duplicate poolSize", swap(TEMPLATE, b'"poolSize": ', b'"poolSize": 1.5, "poolSize": '), "answer"),
    ("duplicate request", TEMPLATE[:-1] + b', "request": null}', "bad"),
    ("lone high surrogate", with_marker(b'"\\ud800"'), "either"),
    ("lone low surrogate in project", swap(TEMPLATE, b"my-project", b"\\udfff"), "either"),
    ("surrogate pair escapes", swap(TEMPLATE, b"my-project", b"\\ud83d\\ude00" * 63), "answer"),
    ("reversed surrogate pair", swap(TEMPLATE, b"my-project", b"\\ude00\\ud83d"), "either"),
    ("lone surrogate uid", swap(TEMPLATE, UID.encode(), b"\\ud800"), "either"),
    ("escaped NUL", swap(TEMPLATE, b"my-project", b"a\\u0000b"), "answer"),
    ("invalid UTF-8", swap(TEMPLATE, b"my-project", b"my-\xffproject"), "either"),
    ("truncated UTF-8", swap(TEMPLATE, b"my-project", b"my-\xe2\x82"), "either"),
    ("overlong UTF-8", swap(TEMPLATE, b"my-project", b"\xc0\xaf"), "either"),
    ("UTF-8 encoded surrogate", swap(TEMPLATE, b"my-project", b"\xed\xa0\x80"), "either"),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + TEMPLATE, "either"),
    ("UTF-16", TEMPLATE.decode().encode("utf-16"), "either"),
    ("latin-1 byte", swap(TEMPLATE, b"my-project", b"caf\xe9"), "either"),
    ("NUL bytes", b"\x00" * 64, "bad"),
]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(("name", "body", "expected"), RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_hand_made_bytes(client: Client, path: str, name: str, body: bytes, expected: str) -> None:
    reply = post(client, path, body)
    if expected == "bad" or (expected == "either" and reply.status != 200):
        refused(reply, 400)
        return
    try:  # the test's own reading of the bytes; duplicate keys: the last one wins, as in Go's decoder
        sent = json.loads(body, parse_int=read_int)
    except ValueError:
        pytest.fail(f"{name}: the server answered a body that Python cannot read: {reply.body[:300]!r}")
    request = sent["request"]
    response = answered(reply, request["uid"], sent["apiVersion"])
    judge(client, path, request["object"], request["operation"], response)


@pytest.mark.parametrize("digits", [20, 309, 400, 5000])
def test_integer_beyond_int64_is_refused_or_denied(client: Client, digits: int) -> None:
    # Never valid as poolSize: a 400 (unreadable number) or a 422 type error, but never an internal error.
    reply = post(client, "/validate", with_pool_size(b"1" + b"0" * digits))
    if reply.status != 200:
        refused(reply, 400)
        return
    response = answered(reply, UID, "admission.k8s.io/v1")
    assert response["allowed"] is False
    assert response["status"]["code"] == 422, response["status"]
    assert [c["field"] for c in response["status"]["details"]["causes"]] == ["spec.poolSize"]


# ---------------------------------------------------------------------------------------------------------------
# Size: huge strings and bodies around the 7 MiB limit

HUGE = 300_000


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(("where", "value"), [
    ("/spec/project", "p" * HUGE),
    ("/spec/poolMode", "\U0001f600" * HUGE),
    ("/spec/authSecretRef", {"key": "k" * HUGE, "name": ""}),
    ("/metadata/name", "n" * HUGE),
    ("/metadata/annotations", {"a" * HUGE: "b" * HUGE}),
    ("/spec/x-unknown", [[s for s in EDGE_STRINGS if not unsendable(s)] * 1000] * 10),
])
def test_huge_values(client: Client, path: str, where: str, value: Any) -> None:
    obj = pool()
    parent, _, key = where.rpartition("/")
    target = obj
    for part in parent.strip("/").split("/"):
        target = target[part]
    target[key] = value
    reply = post(client, path, json.dumps(review(obj)).encode())
    judge(client, path, obj, "CREATE", answered(reply, review(obj)["request"]["uid"], "admission.k8s.io/v1"))
    if path == "/validate":
        assert len(reply.body) < 16384, "a denial must not echo a huge value back in full"


def test_huge_uid_is_echoed(client: Client) -> None:
    uid = "u" * HUGE
    answered(post(client, "/validate", json.dumps(review(pool(), uid=uid)).encode()), uid, "admission.k8s.io/v1")


def exactly(size: int) -> bytes:
    """A valid review of exactly ``size`` bytes, padded with an annotation."""
    obj = pool()
    obj["metadata"]["annotations"] = {"pad": ""}
    base = len(json.dumps(review(obj)).encode())
    obj["metadata"]["annotations"]["pad"] = "x" * (size - base)
    body = json.dumps(review(obj)).encode()
    assert len(body) == size
    return body


def test_body_of_exactly_7_mib_is_answered(client: Client) -> None:
    reply = post(client, "/validate", exactly(MAX_BODY))
    assert answered(reply, review(pool())["request"]["uid"], "admission.k8s.io/v1")["allowed"] is True


def raw_exchange(server: ServerProcess, request: bytes) -> bytes:
    """Send bytes by hand and read one answer. Callers send nothing the server will not read, so its close is
    a clean FIN, not a reset that could discard the answer before we read it."""
    sock = server.client(timeout=20).connect()
    received = b""
    try:
        sock.sendall(request)
        while b"\r\n\r\n" not in received or len(received) < received.index(b"\r\n\r\n") + 4 + _length(received):
            data = sock.recv(65536)
            if not data:
                break
            received += data
    finally:
        sock.close()
    return received


def _length(received: bytes) -> int:
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def _status(received: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), received[:200]
    assert b"content-type: application/json" in head.lower()
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_body_over_7_mib_is_413_by_content_length(server: ServerProcess, path: str) -> None:
    # Refused on the header alone: the body is not sent, and must not be waited for.
    head = (f"POST {path}?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {MAX_BODY + 1}\r\n\r\n").encode()
    status, body = _status(raw_exchange(server, head))
    assert status == 413 and body["kind"] == "Status" and body["code"] == 413


@pytest.mark.parametrize("path", ENDPOINTS)
def test_body_over_7_mib_is_413_when_chunked(server: ServerProcess, path: str) -> None:
    # Without a Content-Length the server must count: 7 MiB + 1 byte of chunks, and no final chunk, so the
    # answer can only come from counting.
    body = exactly(MAX_BODY + 1)
    head = (f"POST {path}?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    step = 1 << 20
    chunks = b"".join(f"{len(body[i:i + step]):x}\r\n".encode() + body[i:i + step] + b"\r\n"
                      for i in range(0, len(body), step))
    status, answer = _status(raw_exchange(server, head + chunks))
    assert status == 413 and answer["kind"] == "Status" and answer["code"] == 413
