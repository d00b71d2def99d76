"""Shutdown on SIGTERM, as Kubernetes stops a pod: the requests already under way are answered, then the server
exits 0."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.support.reviews import pool, review
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.process]


def test_sigterm_finishes_the_request_in_flight(pki: Path) -> None:
    server = ServerProcess(pki).wait_ready()
    body = json.dumps(review(pool())).encode()
    sock = server.client().connect()
    sock.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
    time.sleep(0.3)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    # New connections are no longer accepted...
    with pytest.raises(OSError):
        server.client(timeout=2).connect()
    # ...but the request already under way is answered in full.
    sock.sendall(body[100:])
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        if b'"allowed":true' in data:
            break
    sock.close()
    assert data.startswith(b"HTTP/1.1 200") and b'"allowed":true' in data
    assert server.proc.wait(30) == 0


def test_sigterm_answers_a_request_sent_on_an_idle_keep_alive_connection(pki: Path) -> None:
    """The apiserver keeps pooled connections to a terminating pod; one may carry a request just as SIGTERM lands."""
    server = ServerProcess(pki).wait_ready()
    client = server.client()
    assert client.post("/validate", review(pool())).status == 200  # now idle, kept alive
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    reply = client.post("/mutate", review(pool()))
    assert reply.status == 200
    assert reply.json()["response"]["patchType"] == "JSONPatch"
    assert reply.headers["connection"] == "close"
    assert server.proc.wait(30) == 0
