"""Operating the server: Prometheus metrics, structured logs, and clients that stall."""

from __future__ import annotations

import json
import os
import socket
import ssl
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509

from tests.support.commands import cli, make_certs
from tests.support.https import Client, free_port
from tests.support.metrics import https_metrics, sample, scrape
from tests.support.reviews import pool, review
from tests.support.servers import ServerProcess
from webhook import __version__
from webhook.serve.metrics import RequestStats

PREFIX = "connectionpool_webhook"


@pytest.fixture
def fresh_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A server of its own, so counters start at zero and logs hold only this test's lines."""
    servers: list[ServerProcess] = []

    def start(*args: str, cert_dir: Path | None = None) -> ServerProcess:
        server = ServerProcess(cert_dir or make_certs(tmp_path / f"pki{len(servers)}"), *args).wait_ready()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_request_metrics_by_webhook_operation_result_and_code(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server()
    client = server.client()
    client.post("/validate", review(pool()))
    client.post("/validate", review(pool(poolMode="bogus")))
    client.post("/validate", review(None, "DELETE"))
    client.post("/mutate", review(pool()))
    client.post("/mutate", review(pool(connInfoSecretTarget={"name": "x"}), "UPDATE"))
    client.post("/mutate", b"{not json")
    client.post("/validate", review(pool()), content_type="text/plain")
    client.close()
    m = https_metrics(server)
    total = f"{PREFIX}_requests_total"
    assert sample(m, total, webhook="validate", operation="CREATE", result="allowed", code="200") == 1
    assert sample(m, total, webhook="validate", operation="CREATE", result="denied", code="200") == 1
    assert sample(m, total, webhook="validate", operation="DELETE", result="allowed", code="200") == 1
    assert sample(m, total, webhook="mutate", operation="CREATE", result="patched", code="200") == 1
    assert sample(m, total, webhook="mutate", operation="UPDATE", result="allowed", code="200") == 1
    assert sample(m, total, webhook="mutate", operation="unknown", result="error", code="400") == 1
    assert sample(m, total, webhook="validate", operation="unknown", result="error", code="415") == 1
    # Buckets fine enough below the apiserver's 5 ms first bucket.
    buckets = {float(dict(labels)["le"]) for (name, labels) in m if name == f"{PREFIX}_latency_seconds_bucket"}
    assert {0.0005, 0.001, 0.002, 0.003, 0.005} <= buckets
    assert sample(m, f"{PREFIX}_latency_seconds_count", webhook="validate") == 4
    assert sample(m, f"{PREFIX}_requests_in_flight", webhook="validate") == 0
    assert sample(m, f"{PREFIX}_build_info", version=__version__) == 1


def test_certificate_expiry_and_reload_metrics(fresh_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    live = make_certs(tmp_path / "live")
    server = fresh_server("--tls-reload-interval", "0.2", cert_dir=live)
    first = x509.load_pem_x509_certificate((live / "tls.crt").read_bytes())
    m = https_metrics(server)
    assert sample(m, f"{PREFIX}_certificate_expiration_timestamp_seconds") == first.not_valid_after_utc.timestamp()
    assert sample(m, f"{PREFIX}_certificate_reloads_total") == 0

    def swap_in(source: Path, name: str) -> None:
        (live / f"{name}.new").write_bytes((source / name).read_bytes())
        os.replace(live / f"{name}.new", live / name)

    # A key that does not match the certificate: a failure, and the old certificate stays.
    swap_in(make_certs(tmp_path / "other"), "tls.key")
    deadline = time.monotonic() + 10
    while sample(https_metrics(server), f"{PREFIX}_certificate_reload_failures_total") < 1:
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.1)
    # A good pair with a 10-day lifetime: one reload, and the expiry gauge follows it.
    short = tmp_path / "short"
    assert cli("certs", "--out-dir", str(short), "--dns-name", "localhost", "--days", "10").returncode == 0
    swap_in(short, "tls.crt")
    swap_in(short, "tls.key")
    client = Client(server.port, short / "ca.crt", server_name="localhost")
    deadline = time.monotonic() + 10
    while True:
        try:
            m = scrape(client.request("GET", "/metrics").body.decode())
            break
        except ssl.SSLError:  # still the old certificate, which this client does not trust
            client.close()
            assert time.monotonic() < deadline
            time.sleep(0.1)
    client.close()
    expiry = x509.load_pem_x509_certificate((short / "tls.crt").read_bytes()).not_valid_after_utc.timestamp()
    assert sample(m, f"{PREFIX}_certificate_reloads_total") == 1
    assert sample(m, f"{PREFIX}_certificate_reload_failures_total") == 1
    assert sample(m, f"{PREFIX}_certificate_expiration_timestamp_seconds") == expiry


def test_metrics_port_serves_plain_http(fresh_server) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    server = fresh_server("--metrics-port", str(port))
    server.client().post("/validate", review(pool()))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        m = scrape(resp.read().decode())
    assert sample(m, f"{PREFIX}_requests_total", webhook="validate", operation="CREATE", result="allowed",
                  code="200") == 1


def test_metrics_are_summed_over_workers(fresh_server) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    server = fresh_server("--workers", "2", "--metrics-port", str(port))
    for _ in range(30):
        client = server.client()  # a new connection each time, so both workers get some
        assert client.post("/validate", review(pool())).status == 200
        client.close()

    def plain_http() -> dict:  # type: ignore[type-arg]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return scrape(resp.read().decode())

    # Workers publish their request metrics every second; both ways of scraping must reach the full sum.
    for scrape_once in (plain_http, lambda: https_metrics(server)):
        deadline = time.monotonic() + 10
        while (total := sample(scrape_once(), f"{PREFIX}_requests_total", webhook="validate", operation="CREATE",
                               result="allowed", code="200")) != 30:
            assert total < 30 and time.monotonic() < deadline, total
            time.sleep(0.2)
    assert sample(https_metrics(server), f"{PREFIX}_latency_seconds_count", webhook="validate") == 30


def log_lines(server: ServerProcess) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]


def test_one_json_log_line_per_admission_request(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server()
    secret = "do-not-log-this-value"
    client = server.client()
    obj = pool(project=secret, poolMode="bogus")
    body = review(obj, uid="uid-1")
    body["request"]["dryRun"] = True
    client.post("/validate", body)
    client.post("/mutate", review(pool(authSecretRef={"name": secret}), uid="uid-2"))
    client.close()
    time.sleep(0.2)
    entries = [e for e in log_lines(server) if e["msg"] == "admission review"]
    assert [e["uid"] for e in entries] == ["uid-1", "uid-2"]
    first = entries[0]
    assert {k: first[k] for k in ("webhook", "operation", "namespace", "name", "user", "dryRun", "decision",
                                  "errors", "patchOps")} == {
        "webhook": "validate", "operation": "CREATE", "namespace": "default", "name": "my-pool", "user": "admin",
        "dryRun": True, "decision": "denied", "errors": 1, "patchOps": 0}
    assert entries[1]["decision"] == "patched" and entries[1]["patchOps"] == 1
    assert all(isinstance(e["latencyMs"], float) and e["level"] == "info" for e in entries)
    assert secret not in server.logs()


def test_text_log_format_is_for_humans(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server("--log-format", "text")
    client = server.client()
    client.post("/validate", review(pool(), uid="uid-text"))
    client.close()
    time.sleep(0.2)
    line = next(line for line in server.logs().splitlines() if "uid-text" in line)
    assert not line.startswith("{")
    assert "admission review" in line and "decision=allowed" in line


# Slow and stuck clients


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


def test_an_exited_workers_counts_stay_but_its_in_flight_requests_do_not() -> None:
    worker = RequestStats()
    for _ in range(3):
        worker.started("mutate")
    worker.finished("mutate", "CREATE", "patched", 200, time.perf_counter())
    worker.finished("mutate", "made-up", "error", 400, time.perf_counter())
    snapshot = json.loads(json.dumps(worker.snapshot()))  # as published to the shared directory
    for live, in_flight in ((True, 1), (False, 0)):
        total = RequestStats()
        total.add(snapshot, live=live)
        assert total.counts == {("mutate", "CREATE", "patched", "200"): 1, ("mutate", "unknown", "error", "400"): 1}
        assert total.in_flight.get("mutate", 0) == in_flight
        assert sum(total.buckets["mutate"]) == 2
