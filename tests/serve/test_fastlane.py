"""The fast lane (webhook/serve/fastlane.py): webhook requests answered in the HTTP protocol, the rest through ASGI.

Every other test that posts a review goes through the fast lane too; these are about where the two paths meet:
requests in one stream answered in order, the unusual requests the lane leaves to ASGI answered the same, bodies in
pieces, clients that leave, and shutdown while a request is arriving.
"""

from __future__ import annotations

import json
import signal
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.commands import make_certs
from tests.support.https import Client
from tests.support.metrics import https_metrics, sample
from tests.support.reviews import pool, review
from tests.support.servers import ServerProcess

PREFIX = "connectionpool_webhook"


def body_of(uid: str, **spec: object) -> bytes:
    return json.dumps(review(pool(**spec), uid=uid)).encode()


def post(path: str, body: bytes, *extra: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    head = b"POST %s %s\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
        path.encode(), version, len(body))
    return head + b"".join(extra) + b"\r\n" + body


def get(path: str) -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode()


class Reader:
    """Reads HTTP/1.1 responses (with a Content-Length) one after another from one socket."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError(f"connection closed; unread: {self.buffer!r}")
        self.buffer += data

    def next(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            self._fill()
        data, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, data


def uid_of(data: bytes) -> str:
    return str(json.loads(data)["response"]["uid"])


@pytest.fixture
def sock(server: ServerProcess) -> Iterator[ssl.SSLSocket]:
    s = server.client(timeout=10).connect()
    yield s
    s.close()


@pytest.mark.process
def test_pipelined_reviews_are_answered_in_order(sock: ssl.SSLSocket) -> None:
    sock.sendall(post("/validate", body_of("a-1")) + post("/mutate", body_of("a-2"))
                 + post("/validate?timeout=10s", body_of("a-3", poolMode="bogus")))
    reader = Reader(sock)
    answers = [reader.next() for _ in range(3)]
    assert [uid_of(data) for _, _, data in answers] == ["a-1", "a-2", "a-3"]
    assert [json.loads(data)["response"]["allowed"] for _, _, data in answers] == [True, True, False]
    for status, headers, data in answers:
        assert status == 200 and headers["content-type"] == "application/json"
        assert int(headers["content-length"]) == len(data) and "date" in headers and "connection" not in headers


@pytest.mark.process
def test_a_review_behind_an_asgi_request_waits_its_turn(sock: ssl.SSLSocket) -> None:
    """The lane answers at once, but never before an answer still due from the ASGI path on the same connection."""
    sock.sendall(get("/metrics") + post("/validate", body_of("b-1")) + get("/healthz")
                 + post("/mutate", body_of("b-2")))
    reader = Reader(sock)
    status, headers, data = reader.next()
    assert status == 200 and headers["content-type"].startswith("text/plain") and b"# HELP" in data
    assert uid_of(reader.next()[2]) == "b-1"
    assert reader.next()[2] == b'{"status":"ok"}'
    assert uid_of(reader.next()[2]) == "b-2"


@pytest.mark.process
@pytest.mark.parametrize(("label", "body", "content_type"), [
    ("valid", body_of("c-1"), b"application/json"),
    ("invalid", body_of("c-2", project="p" * 70, poolSize="1"), b"application/json"),
    ("malformed JSON", b'{"apiVersion": ', b"application/json"),
    ("not an AdmissionReview", b"[]", b"application/json"),
    ("not JSON", body_of("c-3"), b"text/plain"),
])
def test_requests_the_lane_leaves_to_asgi_get_the_same_answer(server: ServerProcess, label: str, body: bytes,
                                                              content_type: bytes) -> None:
    """A percent-encoded path is routed by the ASGI path (which decodes it), and HTTP/1.0 is left to it too: the
    answers are byte for byte the lane's, because both call the same code."""
    def ask(path: bytes, version: bytes = b"HTTP/1.1") -> tuple[int, dict[str, str], bytes]:
        with server.client(timeout=10).connect() as sock:
            sock.sendall(b"POST %s %s\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                         % (path, version, content_type, len(body)) + body)
            return Reader(sock).next()

    lane, asgi, old = ask(b"/validate"), ask(b"/valid%61te"), ask(b"/validate", b"HTTP/1.0")
    assert lane[0] == asgi[0] == old[0] and lane[2] == asgi[2] == old[2], label
    assert lane[1]["content-type"] == asgi[1]["content-type"] == old[1]["content-type"] == "application/json"
    # A refusal closes the connection, on both paths; any other answer keeps it.
    assert lane[1].get("connection") == asgi[1].get("connection") == ("close" if lane[0] == 415 else None)


@pytest.mark.process
def test_expect_100_continue_is_honoured(sock: ssl.SSLSocket) -> None:
    body = body_of("d-1")
    sock.sendall(post("/validate", body, b"Expect: 100-continue\r\n")[:-len(body)])
    assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    sock.sendall(body)
    status, _, data = Reader(sock).next()
    assert status == 200 and uid_of(data) == "d-1"


@pytest.mark.process
def test_a_body_in_many_records_and_chunks(sock: ssl.SSLSocket) -> None:
    body = body_of("e-1", poolMode="bogus")
    sock.sendall(post("/mutate", body)[:-len(body)])
    for i in range(0, len(body), 97):
        sock.sendall(body[i:i + 97])  # each its own TLS record
        time.sleep(0.001)
    reader = Reader(sock)
    status, _, data = reader.next()
    assert status == 200 and uid_of(data) == "e-1"
    chunked = body_of("e-2")
    pieces = b"".join(b"%x\r\n%s\r\n" % (len(chunked[i:i + 500]), chunked[i:i + 500])
                      for i in range(0, len(chunked), 500))
    sock.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n" + pieces + b"0\r\n\r\n")
    status, _, data = reader.next()
    assert status == 200 and uid_of(data) == "e-2"


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(make_certs(tmp_path / "pki"), "--log-level", "info").wait_ready()
    yield proc
    proc.stop()


@pytest.mark.process
@pytest.mark.slow
def test_after_an_answer_the_connection_waits_for_the_keep_alive_timeout(tmp_path: Path) -> None:
    """The request deadline stops with the request: an idle kept-alive connection is closed by the (longer)
    keep-alive timeout only, never under a client about to reuse it."""
    server = ServerProcess(make_certs(tmp_path / "pki"), "--request-timeout", "1", "--keep-alive-timeout", "4")
    try:
        server.wait_ready()
        with server.client(timeout=10).connect() as sock:
            reader = Reader(sock)
            for path in ("/validate", "/mutate", "/valid%61te"):  # the lane's answers and the ASGI path's
                sock.sendall(post(path, body_of("j-1")))
                assert reader.next()[0] == 200
                time.sleep(2)  # past the request deadline, within the keep-alive timeout
            started = time.monotonic()
            assert sock.recv(1) == b""  # closed by the keep-alive timeout, about 4 s after the last answer
            assert 1 < time.monotonic() - started < 4
    finally:
        server.stop()


@pytest.mark.process
def test_a_client_gone_mid_body_is_counted_as_499(own_server: ServerProcess) -> None:
    body = body_of("f-1")
    leaving = own_server.client().connect()
    leaving.sendall(post("/validate", body)[:-len(body) // 2])
    time.sleep(0.2)
    leaving.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        samples = https_metrics(own_server)
        if sample(samples, f"{PREFIX}_requests_total", webhook="validate", operation="unknown", result="error",
                  code="499"):
            break
        time.sleep(0.1)
    else:
        pytest.fail("no 499 counted for the client that left")
    assert sample(samples, f"{PREFIX}_requests_in_flight", webhook="validate") == 0


@pytest.mark.process
@pytest.mark.slow
def test_sigterm_while_a_body_arrives_answers_it_then_closes(own_server: ServerProcess) -> None:
    body = body_of("g-1")
    sock = own_server.client(timeout=10).connect()
    sock.sendall(post("/mutate", body)[:-100])
    time.sleep(0.2)
    own_server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    sock.sendall(body[-100:])
    status, headers, data = Reader(sock).next()
    assert status == 200 and uid_of(data) == "g-1" and headers["connection"] == "close"
    assert sock.recv(1) == b""  # then closed
    assert own_server.proc.wait(30) == 0
    assert '"uid":"g-1"' in own_server.logs()  # the request log line was written


@pytest.mark.process
def test_the_request_log_and_metrics_see_lane_requests(own_server: ServerProcess) -> None:
    client = own_server.client()
    assert client.post("/validate", body_of("h-1")).status == 200
    assert client.post("/validate", body_of("h-2", username=None)).status == 200
    assert client.post("/mutate", body_of("h-3"), content_type="text/plain").status == 415
    client.close()
    samples = https_metrics(own_server)
    for labels, want in [({"webhook": "validate", "operation": "CREATE", "result": "allowed", "code": "200"}, 1),
                         ({"webhook": "validate", "operation": "CREATE", "result": "denied", "code": "200"}, 1),
                         ({"webhook": "mutate", "operation": "unknown", "result": "error", "code": "415"}, 1)]:
        assert sample(samples, f"{PREFIX}_requests_total", **labels) == want, labels
    deadline = time.monotonic() + 10
    while '"uid":"h-2"' not in own_server.logs() and time.monotonic() < deadline:
        time.sleep(0.1)  # the request log is written in batches
    lines = [json.loads(line) for line in own_server.logs().splitlines() if '"uid":"h-' in line]
    assert [(line["uid"], line["decision"]) for line in lines] == [("h-1", "allowed"), ("h-2", "denied")]


@pytest.mark.process
def test_a_new_connection_after_a_refusal(server: ServerProcess) -> None:
    """A refused request closes its connection; the client's next one is served as usual."""
    client = server.client()
    refused = client.post("/validate", body_of("i-1"), content_type="text/plain")
    assert refused.status == 415 and refused.headers["connection"] == "close"
    assert client.post("/validate", body_of("i-2")).status == 200
    client.close()


def test_other_routes_still_go_through_fastapi(client: Client) -> None:
    assert client.request("GET", "/validate").status == 405
    assert client.request("GET", "/openapi.json").json()["paths"]["/validate"]["post"]
    assert client.request("POST", "/nowhere", b"{}", {"Content-Type": "application/json"}).status == 404
