"""Admission requests over HTTPS, as the kube-apiserver sends them: verified TLS, real JSON Patch, the answers and
the refusals (a real server process; the same server in this process under `make mutation`)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from typing import Any

import pytest

from tests.support.https import Client
from tests.support.reviews import apply_patch, pool, reference, reference_requests, review
from tests.support.servers import LiveServer, ServerProcess
from webhook.serve import admission
from webhook.serve.review import Refused, read_body


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    with sock:
        while chunk := sock.recv(65536):
            data += chunk
    return data


def post(client: Client, path: str, body: Any) -> dict[str, Any]:
    reply = client.post(path, body)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    return reply.json()


@pytest.mark.parametrize("name", reference_requests())
def test_replay_reference_requests(client: Client, name: str) -> None:
    """Every captured apiserver request, on the path it was sent to (query and all), then the full flow."""
    captured = reference(name)
    body = captured["body"]
    answer = post(client, captured["http"]["path"], body)
    assert answer["apiVersion"] == body["apiVersion"] and answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert response["uid"] == body["request"]["uid"]
    assert response["allowed"] is True
    obj = body["request"]["object"]
    if obj is None:
        return
    # Mutate then validate, as the apiserver does; the patched object must pass validation
    # (the mutating webhook sees no name for generateName, so it cannot default that one).
    mutation = post(client, "/mutate?timeout=10s", body)["response"]
    if obj["metadata"].get("deletionTimestamp"):
        assert mutation["allowed"] is True and "patch" not in mutation  # never patched on its way out
        return
    mutated = apply_patch(obj, mutation)
    if mutated["metadata"].get("name"):
        assert mutated["spec"]["connInfoSecretTarget"]["name"] == mutated["metadata"]["name"]
    again = dict(body, request=dict(body["request"], object=mutated))
    if mutated["metadata"].get("name"):
        assert post(client, "/validate?timeout=10s", again)["response"]["allowed"] is True


def test_mutate_create_reference_patch(client: Client) -> None:
    body = reference("mutate-create.json")["body"]
    response = post(client, "/mutate?timeout=10s", body)["response"]
    obj = body["request"]["object"]
    patched = apply_patch(obj, response)
    assert patched["spec"]["connInfoSecretTarget"] == {"name": "my-pool"}
    # Everything else survives byte for byte, annotations (kubectl's last-applied) included.
    del patched["spec"]["connInfoSecretTarget"]
    assert json.dumps(patched, sort_keys=True) == json.dumps(obj, sort_keys=True)


def test_generate_name_is_allowed_with_a_short_warning(client: Client) -> None:
    body = reference("mutate-create-generatename.json")["body"]
    response = post(client, "/mutate", body)["response"]
    assert response["allowed"] is True and "patch" not in response
    assert len(response["warnings"]) == 1 and len(response["warnings"][0]) < 120


def test_defaulting_is_idempotent(client: Client) -> None:
    obj = pool()
    once = apply_patch(obj, post(client, "/mutate", review(obj))["response"])
    second = post(client, "/mutate", review(once))["response"]
    assert second["allowed"] is True and "patch" not in second and "warnings" not in second


def test_unknown_fields_survive_byte_for_byte(client: Client) -> None:
    obj = pool(zeta={"ü": [1, 2.5, None, {"nested": "x"}]}, alpha=None)
    obj["metadata"]["annotations"] = {"a": "1"}
    obj["x-top"] = "kept"
    response = post(client, "/mutate", review(obj))["response"]
    patched = apply_patch(obj, response)
    assert patched.pop("spec")["zeta"] == obj["spec"]["zeta"]
    assert {k: v for k, v in patched.items()} == {k: v for k, v in obj.items() if k != "spec"}
    ops = json.loads(base64.b64decode(response["patch"]))
    assert [op["op"] for op in ops] == ["add"]


@pytest.mark.parametrize("spec", [None, "x", [1]])
def test_mutate_never_denies_what_it_cannot_default(client: Client, spec: Any) -> None:
    obj = pool()
    obj["spec"] = spec
    response = post(client, "/mutate", review(obj))["response"]
    assert response == {"uid": review(obj)["request"]["uid"], "allowed": True}


def test_mutate_allows_an_invalid_object_and_leaves_judgement_to_validate(client: Client) -> None:
    obj = pool(poolMode="bogus", project="p" * 100)
    assert post(client, "/mutate", review(obj))["response"]["allowed"] is True
    assert post(client, "/validate", review(obj))["response"]["allowed"] is False


@pytest.mark.parametrize("version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_denial_in_the_apiservers_format(client: Client, version: str) -> None:
    obj = pool(project="p" * 64, poolMode="bogus")
    obj["metadata"]["name"] = "denied-three"
    answer = post(client, "/validate?timeout=10s", review(obj, api_version=version))
    assert answer["apiVersion"] == version
    status = answer["response"]["status"]
    assert answer["response"]["allowed"] is False
    assert status["code"] == 422 and status["reason"] == "Invalid" and status["status"] == "Failure"
    assert status["message"] == (
        'ConnectionPool.aiven.io "denied-three" is invalid: [spec.project: Too long: may not be more than 63 '
        'bytes, spec.poolMode: Unsupported value: "bogus": supported values: "session", "transaction", '
        '"statement"]'
    )
    # The shape of the apiserver's own Status for a webhook denial (captured; its messages were an older wording).
    captured = reference("apiserver-status-webhook-denied.json")
    # A Status as the apiserver writes one, less the type fields an AdmissionResponse's status does not carry.
    assert status.keys() == captured.keys() - {"kind", "apiVersion"}
    assert status["metadata"] == captured["metadata"] == {}
    expected = captured["details"]
    details = status["details"]
    assert details.keys() == expected.keys() and details["name"] == "denied-three"
    assert (details["group"], details["kind"]) == (expected["group"], expected["kind"])
    assert [(c["reason"], c["field"]) for c in details["causes"]] == [
        (c["reason"], c["field"]) for c in expected["causes"]]
    assert [c["message"] for c in details["causes"]] == [
        "Too long: may not be more than 63 bytes",
        'Unsupported value: "bogus": supported values: "session", "transaction", "statement"']


def test_single_error_message_has_no_brackets(client: Client) -> None:
    status = post(client, "/validate", review(pool(username=None)))["response"]["status"]
    assert status["message"] == 'ConnectionPool.aiven.io "my-pool" is invalid: spec.username: Required value'


@pytest.mark.parametrize("operation", ["UPDATE", "CREATE"])
def test_update_and_create_are_judged(client: Client, operation: str) -> None:
    assert post(client, "/validate", review(pool(poolSize=1.5), operation))["response"]["allowed"] is False


@pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
@pytest.mark.parametrize("path", ["/validate", "/mutate"])
def test_other_operations_are_allowed(client: Client, operation: str, path: str) -> None:
    response = post(client, path, review(None, operation))["response"]
    assert response["allowed"] is True and "patch" not in response


def test_allowed_needs_no_status(client: Client) -> None:
    response = post(client, "/validate", review(pool()))["response"]
    assert response == {"uid": review(pool())["request"]["uid"], "allowed": True}


# Bad input: a 4xx with a JSON Status, never a 5xx.

BAD_REVIEWS: list[tuple[bytes, str]] = [
    (b"not json", "not valid JSON"),
    (b"", "not valid JSON"),
    (b"[1,2]", "must be a JSON object"),
    (b'"AdmissionReview"', "must be a JSON object"),
    (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}', "request: Required value"),
    (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":[]}',
     "request in body must be of type object"),
    (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"operation":"CREATE"}}',
     "request.uid: Required value"),
    (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":7,"operation":"CREATE"}}',
     "request.uid in body must be of type string"),
    (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u"}}',
     "request.operation: Required value"),
    (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"CREATE",'
     b'"object":"x"}}', "request.object in body must be of type object"),
    (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"CREATE"}}',
     "request.object: Required value for CREATE"),
    (b'{"kind":"AdmissionReview","apiVersion":"v1","request":{"uid":"u","operation":"DELETE"}}',
     'apiVersion: Unsupported value: "v1": supported values: "admission.k8s.io/v1", "admission.k8s.io/v1beta1"'),
    (b'{"kind":"Pod","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"DELETE"}}',
     'kind: Unsupported value: "Pod": supported values: "AdmissionReview"'),
    (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"DELETE",'
     b'"dryRun":"yes"}}', "request.dryRun in body must be of type boolean"),
    (b'{"a": NaN}', "not valid JSON"),
    (b'{"a": Infinity}', "not valid JSON"),
    (b'{"a": "\\ud800"}', "not valid JSON"),
    # Where it would be read (a number too large in a field nobody reads may be skipped instead: test_fuzz_http).
    (b'{"kind": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    (b"[" * 100_000, "not valid JSON"),
    (b'{"a": "\xff"}', "not valid JSON"),
]


# The whole message, where it is ours rather than the JSON parser's.
@pytest.mark.parametrize(("body", "message"), [
    (b"[1,2]", "body must be a JSON object (an AdmissionReview)"),
    (b"null", "body must be a JSON object (an AdmissionReview)"),
    (b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}}',
     "request.uid: Required value, request.operation: Required value"),
    (b'{"apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"DELETE"}}', "kind: Required value"),
    (b"[" * 100_000 + b"]" * 100_000, "body is not valid JSON: nested too deeply"),
])
def test_refusals_say_exactly_what_is_wrong(client: Client, body: bytes, message: str) -> None:
    reply = client.post("/validate", body)
    assert (reply.status, reply.json()["message"]) == (400, message)


@pytest.mark.parametrize(("body", "complaint"), BAD_REVIEWS)
@pytest.mark.parametrize("path", ["/validate", "/mutate"])
def test_unusable_reviews_get_400(client: Client, path: str, body: bytes, complaint: str) -> None:
    reply = client.post(path, body)
    assert reply.status == 400
    status = reply.json()
    assert status["kind"] == "Status" and status["code"] == 400 and status["reason"] == "BadRequest"
    assert complaint in status["message"] and "Traceback" not in status["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/yaml"])
def test_non_json_content_type_gets_415(client: Client, content_type: str) -> None:
    reply = client.post("/validate", review(pool()), content_type=content_type)
    assert reply.status == 415 and reply.json()["code"] == 415


def test_missing_content_type_gets_415(client: Client) -> None:
    reply = client.request("POST", "/validate", json.dumps(review(pool())).encode())
    assert reply.status == 415


def test_json_with_charset_is_fine(client: Client) -> None:
    reply = client.post("/validate", review(pool()), content_type="application/json; charset=utf-8")
    assert reply.status == 200


def test_oversized_body_is_refused_before_it_is_read(serving: ServerProcess | LiveServer) -> None:
    """Announce 8 MiB, send only the headers: the 413 must come without waiting for the body."""
    sock = serving.client(timeout=5).connect()
    sock.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 8388608\r\n\r\n")
    data = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 413") and b'"code":413' in data


def test_oversized_chunked_body_is_refused(serving: ServerProcess | LiveServer) -> None:
    sock = serving.client(timeout=10).connect()
    sock.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"[" * (1024 * 1024)
    try:
        for _ in range(9):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        pass  # the server may close once it has answered
    assert read_until_closed(sock).startswith(b"HTTP/1.1 413")


def test_body_just_under_the_limit_is_read(client: Client) -> None:
    obj = pool(padding="x" * (7 * 1024 * 1024 - 2048))
    body = json.dumps(review(obj)).encode()
    assert len(body) < 7 * 1024 * 1024
    assert client.post("/validate", body).json()["response"]["allowed"] is True


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/validate", 405), ("PUT", "/mutate", 405), ("POST", "/nope", 404), ("GET", "/", 404),
])
def test_other_routes_are_4xx(client: Client, method: str, path: str, status: int) -> None:
    assert client.request(method, path).status == status


def test_health_and_readiness(client: Client) -> None:
    assert client.request("GET", "/healthz").json() == {"status": "ok"}
    assert client.request("GET", "/readyz").json() == {"status": "ok"}


def test_openapi_documents_the_webhooks(client: Client) -> None:
    doc = client.request("GET", "/openapi.json").json()
    for path in ("/validate", "/mutate"):
        op = doc["paths"][path]["post"]
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]
    # What the document promises is exactly what the server checks: it is derived from the same declaration.
    documented = doc["components"]["schemas"]["AdmissionReviewRequest"]
    assert documented == admission.openapi_schema()
    assert documented["properties"]["request"]["required"] == ["uid", "operation"]
    # A write needs its object, and not null (other operations may send null, as a DELETE does).
    assert documented["properties"]["request"]["then"] == {"required": ["object"],
                                                           "properties": {"object": {"type": "object"}}}


def test_many_requests_share_one_keep_alive_connection(serving: ServerProcess | LiveServer) -> None:
    client = serving.client()
    client.post("/validate", review(pool()))
    sock = client._connection().sock
    for _ in range(50):
        assert client.post("/validate", review(pool())).status == 200
    assert client._connection().sock is sock
    client.close()


@pytest.mark.slow
def test_idle_connection_outlives_uvicorns_default_keep_alive(serving: ServerProcess | LiveServer) -> None:
    """uvicorn closes idle connections after 5 s by default; the apiserver reuses them for up to 90 s."""
    client = serving.client()
    assert client.post("/validate", review(pool())).status == 200
    sock = client._connection().sock
    assert isinstance(sock, socket.socket)
    time.sleep(6.5)
    assert client.post("/validate", review(pool())).status == 200
    assert client._connection().sock is sock
    client.close()


def test_refusals_do_not_pin_earlier_requests() -> None:
    """Each refusal is a new exception: one shared instance would grow its traceback, and the memory it pins,
    with every oversized request."""
    scope = {"headers": [(b"content-type", b"application/json"), (b"content-length", b"99999999")]}

    async def receive() -> dict[str, object]:
        raise AssertionError("an oversized body must not be read")

    async def refusals() -> list[BaseException]:
        seen = []
        for _ in range(3):
            try:
                await read_body(scope, receive)
            except Refused as exc:
                seen.append(exc)
        return seen

    seen = asyncio.run(refusals())
    assert len({id(e) for e in seen}) == 3
    assert all(e.code == 413 for e in seen)
