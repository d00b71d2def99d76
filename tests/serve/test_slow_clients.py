"""Clients that stall or send slowly: cut off at the deadlines, without holding up anyone else."""

from __future__ import annotations

import json
import socket
import ssl
import time

import pytest

from tests.support.reviews import pool, review
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.process]


def raw(server: ServerProcess) -> ssl.SSLSocket:
    return server.client(timeout=30).connect()


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed the connection (fails if it stays open longer)."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, ssl.SSLError):
        pass
    except TimeoutError:
        pytest.fail(f"connection still open after {seconds}s")
    return time.monotonic() - start


@pytest.mark.slow
def test_stalled_clients_are_cut_off_without_blocking_others(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server("--request-timeout", "1.5", "--keep-alive-timeout", "3")
    headers_only = raw(server)
    headers_only.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 500\r\n\r\n{")
    half_headers = raw(server)
    half_headers.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nConte")
    silent = raw(server)
    # Meanwhile everyone else is served at once.
    client = server.client()
    for _ in range(20):
        started = time.monotonic()
        assert client.post("/validate", review(pool())).status == 200
        assert time.monotonic() - started < 1.0
    client.close()
    assert closed_within(headers_only, 5) < 5
    assert closed_within(half_headers, 5) < 5
    assert closed_within(silent, 6) >= 1.5  # idle, not stalled: the (longer) keep-alive timeout applies


def test_a_body_sent_a_byte_at_a_time_blocks_nobody(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server("--request-timeout", "30")
    body = json.dumps(review(pool())).encode()
    slow = raw(server)
    slow.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body))
    client = server.client()
    for i, byte in enumerate(body):
        slow.sendall(bytes([byte]))
        if i % 100 == 0:
            assert client.post("/mutate", review(pool())).status == 200
    reply = b""
    while b"allowed" not in reply:
        reply += slow.recv(4096)
    assert reply.startswith(b"HTTP/1.1 200") and b'"allowed":true' in reply
    slow.close()
    client.close()


def test_slow_body_past_the_deadline_is_cut_off(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server("--request-timeout", "1")
    body = json.dumps(review(pool())).encode()
    slow = raw(server)
    slow.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
    assert closed_within(slow, 5) < 5
    assert server.client().post("/validate", review(pool())).status == 200
